"""What the app's nginx config promises: the port it listens on and what each exact location answers.

The workload's ports, probes, smoke check and url are held against this, so the numbers have one
source: `app/nginx/default.conf`, the file the image serves with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tools.stack_files import ROOT

CONF = ROOT / "app" / "nginx" / "default.conf"


@dataclass(frozen=True)
class Location:
    path: str
    status: int | None
    """The status of the location's unconditional `return`, or None when it serves a file."""


@dataclass(frozen=True)
class NginxServer:
    port: int
    locations: dict[str, Location]

    def answers_200(self, path: str) -> bool:
        location = self.locations.get(path)
        return location is not None and location.status in (200, None)


def _blocks(text: str, keyword: str) -> list[tuple[str, str]]:
    """(argument, body) of every `keyword <argument> { body }`, braces balanced."""
    found = []
    for match in re.finditer(rf"(?m)^\s*{keyword}\s+([^{{]*)\{{", text):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found.append((match.group(1).strip(), text[match.end() : i - 1]))
    return found


def _without_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


@cache
def server(conf: Path = CONF) -> NginxServer:
    """The single `server` block of the app's config."""
    ((_, body),) = _blocks(_without_comments(conf.read_text()), "server")
    ports = [int(p) for p in re.findall(r"(?m)^\s*listen\s+(?:[\d.]+:)?(\d+)[^;]*;", body)]
    if len(ports) != 1:
        raise AssertionError(f"expected one listen port in {conf.name}, found {ports}")
    locations = {}
    for argument, location_body in _blocks(body, "location"):
        exact = re.fullmatch(r"=\s*(\S+)", argument)
        if not exact:
            continue
        # The unconditional return: the last one, outside any `if` block.
        unconditional = re.sub(r"if\s*\([^)]*\)\s*\{[^}]*\}", "", location_body)
        returns = re.findall(r"return\s+(\d{3})", unconditional)
        locations[exact.group(1)] = Location(exact.group(1), int(returns[-1]) if returns else None)
    return NginxServer(port=ports[0], locations=locations)
