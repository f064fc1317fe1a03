"""Who may talk to whom, asked of a real NetworkPolicy analyzer over every stack's rendered objects.

cyclonus (github.com/mattfenwick/cyclonus, built from its Go module by toolchain/build-toolchain) reads the
rendered NetworkPolicies and answers traffic questions with Kubernetes' own policy semantics. The pods in
the questions are the rendered ones: the Deployment's template, the smoke-check Pod, with their labels and
container ports. kwok runs no container, so this is where the traffic rules are checked for real.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import nginx_conf
from tools.render import render
from tools.stack_files import app_stack_names
from tools.toolchain import toolchain

OTHER_PORTS = (80, 443, 9090)
POD_IPS = {"web": "10.244.0.10", "smoke": "10.244.0.11", "neighbour": "10.244.0.12", "stranger": "10.244.1.13"}


def cyclonus() -> Path:
    path = toolchain().bin / "cyclonus"
    if not os.access(path, os.X_OK):
        reason = f"cyclonus not built ({path}); run `make toolchain`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: a missing prerequisite is a failure)", pytrace=False)
        pytest.skip(reason)
    return path


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
            "IP": POD_IPS[self.name],
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


@dataclass(frozen=True)
class Rendered:
    policies: Path
    web: Peer
    smoke: Peer
    app_port: int


def rendered(stack: str, out: Path) -> Rendered:
    render(stack, out / "all")
    docs = [yaml.safe_load(f.read_text()) for f in sorted((out / "all").glob("*.yaml"))]
    (out / "policies").mkdir()
    for doc in docs:
        if doc["kind"] == "NetworkPolicy":
            (out / "policies" / f"{doc['metadata']['name']}.yaml").write_text(yaml.safe_dump(doc))
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (pod,) = [d for d in docs if d["kind"] == "Pod"]
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    ports = {p["name"]: int(p["containerPort"]) for p in container["ports"]}
    namespace = deployment["metadata"]["namespace"]
    web = Peer("web", namespace, template["metadata"]["labels"], ports)
    smoke = Peer("smoke", namespace, pod["metadata"]["labels"], {})
    return Rendered(out / "policies", web, smoke, ports["http"])


@pytest.mark.parametrize("stack", app_stack_names())
def test_the_web_pods_take_the_app_port_only_and_reach_nothing_and_only_the_smoke_pod_calls_out(
    stack: str, tmp_path: Path
) -> None:
    cyclonus()
    r = rendered(stack, tmp_path)
    # The pods listen where nginx listens: the questions below are about the real port.
    assert r.app_port == nginx_conf.server().port
    neighbour = Peer("neighbour", r.web.namespace, {"app": "other"})
    stranger = Peer("stranger", "elsewhere", {"app": "other"})
    client = Peer("client", ip="203.0.113.7")
    expect: list[tuple[Question, bool]] = [
        # The smoke-check Pod reaches the web pods on the app port, and DNS; nothing else.
        (Question(r.smoke, r.web, r.app_port), True),
        (Question(r.smoke, stranger, 53, "UDP"), True),
        (Question(r.smoke, r.smoke, r.app_port), False),
        (Question(r.smoke, stranger, r.app_port), False),
        (Question(r.smoke, client, 443), False),
        *[(Question(r.smoke, r.web, port), False) for port in OTHER_PORTS],
        # A public web app: the app port is open to any source (load balancers, node ports); no other port is.
        *[(Question(source, r.web, r.app_port), True) for source in (neighbour, stranger, client)],
        *[(Question(source, r.web, port), False) for source in (neighbour, stranger, client) for port in OTHER_PORTS],
        # The web pods call nothing, not even DNS; nothing calls the smoke-check Pod.
        (Question(r.web, r.smoke, r.app_port), False),
        (Question(r.web, stranger, 53, "UDP"), False),
        (Question(r.web, client, 443), False),
        *[(Question(source, r.smoke, r.app_port), False) for source in (r.web, neighbour, stranger, client)],
    ]
    answers = ask(r.policies, [q for q, _ in expect], tmp_path)
    wrong = [
        f"{q}: analyzer says {'allowed' if got else 'denied'}"
        for (q, want), got in zip(expect, answers, strict=True)
        if got != want
    ]
    assert wrong == []
