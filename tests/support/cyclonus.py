"""cyclonus (github.com/mattfenwick/cyclonus, built from its Go module): a real NetworkPolicy analyzer, asked
traffic questions about rendered policies with Kubernetes' own semantics."""

from __future__ import annotations

import json
import re
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.built import built

POD_IPS = {"web": "10.244.0.10", "smoke": "10.244.0.11", "neighbour": "10.244.0.12", "stranger": "10.244.1.13"}


def cyclonus() -> Path:
    return built("cyclonus")


@dataclass(frozen=True)
class Peer:
    """A pod (namespace, labels, container ports by name) or, with `ip`, a client outside the cluster."""

    name: str
    namespace: str = ""
    labels: dict[str, str] | None = None
    ports: dict[str, int] | None = None
    ip: str = ""

    def as_traffic_peer(self) -> dict[str, Any]:
        if self.ip:
            return {"IP": self.ip}
        return {
            "Internal": {
                "PodLabels": self.labels or {},
                "NamespaceLabels": {"kubernetes.io/metadata.name": self.namespace},
                "Namespace": self.namespace,
            },
            "IP": POD_IPS.get(self.name) or f"10.244.2.{zlib.crc32(self.name.encode()) % 250 + 2}",
        }


@dataclass(frozen=True)
class Question:
    source: Peer
    destination: Peer
    port: int
    protocol: str = "TCP"

    def as_traffic(self) -> dict[str, Any]:
        names = {number: name for name, number in (self.destination.ports or {}).items()}
        return {
            "Source": self.source.as_traffic_peer(),
            "Destination": self.destination.as_traffic_peer(),
            "ResolvedPort": self.port,
            "ResolvedPortName": names.get(self.port, ""),
            "Protocol": self.protocol,
        }

    def __str__(self) -> str:
        return f"{self.source.name} -> {self.destination.name}:{self.port}/{self.protocol}"


def ask(policies: Path, questions: list[Question], workdir: Path) -> list[bool]:
    traffic = workdir / "traffic.json"
    traffic.write_text(json.dumps([q.as_traffic() for q in questions]))
    done = subprocess.run(
        [str(cyclonus()), "analyze", "--mode", "query-traffic", "--policy-path", str(policies),
         "--traffic-path", str(traffic)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    answers = re.findall(r"IS ALLOWED\?\s*\|\s*(TRUE|FALSE)", done.stdout)
    assert len(answers) == len(questions), done.stdout[-3000:]
    return [a == "TRUE" for a in answers]
