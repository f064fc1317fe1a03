"""Every field the Score specification requires, in every section kubeport reads, is refused when missing: the file
and the path named, nothing created. Which fields are required comes from the published schema
(stacks/application/schemas/score-v1b1.json), not from kubeport's own tables, so a field kubeport stopped requiring is
caught; where each of the schema's definitions sits in a file is written here, and a definition with required
fields that has no place here, and is not one kubeport refuses by name, fails the test."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.application.parse import read_workload
from tools.stack_files import ROOT

SCHEMA = json.loads((ROOT / "stacks" / "application" / "schemas" / "score-v1b1.json").read_text())

COMPLETE: dict[str, Any] = {
    "apiVersion": "score.dev/v1b1",
    "metadata": {"name": "shop", "annotations": {"kubeport.dev/build": "."}},
    "containers": {
        "main": {
            "image": "registry.example.com/shop:1.0.0",
            "command": ["/srv/shop"],
            "args": ["--serve"],
            "variables": {"DB": "${resources.db.host}"},
            "files": [{"target": "/etc/shop.conf", "content": "db=${resources.db.host}", "mode": "0444"}],
            "livenessProbe": {"httpGet": {"path": "/alive", "port": 8080}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
            "resources": {"requests": {"cpu": "50m"}, "limits": {"memory": "64Mi"}},
        }
    },
    "service": {"ports": {"http": {"port": 80, "targetPort": 8080}}},
    "resources": {
        "db": {"type": "postgres"},
        "api": {"type": "service-port", "params": {"workload": "api", "port": "http"}},
        "dns": {"type": "dns"},
        "route": {"type": "route", "params": {"host": "shop.example.com", "path": "/", "port": 80}},
    },
}
"""A file that uses every section kubeport supports, valid alone."""

WHERE: dict[str, list[tuple[str, ...]]] = {
    "(top)": [()],
    "metadata": [("metadata",)],
    "container": [("containers", "main")],
    # kubeport reads files as the array (each with its `target`), and of the specification's one-of, `content`.
    "containerFile": [("containers", "main", "files", "0")],
    "httpProbe": [
        ("containers", "main", "livenessProbe", "httpGet"),
        ("containers", "main", "readinessProbe", "httpGet"),
    ],
    "servicePort": [("service", "ports", "http")],
    "resource": [("resources", name) for name in COMPLETE["resources"]],
}
"""Each of the schema's definitions: where in a file it applies."""
REFUSED_BY_NAME = {"containerVolume": "containers.*.volumes", "execProbe": "exec probes"}
"""Definitions kubeport does not read: a file that uses them is refused by name (stacks/application/parse.py
NOT_SUPPORTED)."""
READ_ONE_OF = {"containerFile": "content"}
"""A definition the specification requires one of several fields of: the one kubeport reads."""


def required() -> Iterator[tuple[str, str]]:
    """(definition, field) for every field the published schema requires."""
    for field in SCHEMA["required"]:
        yield "(top)", field
    for field in SCHEMA["properties"]["metadata"]["required"]:
        yield "metadata", field
    for name, definition in SCHEMA["$defs"].items():
        for field in definition.get("required", []):
            yield name, field
        if any("required" in choice for choice in definition.get("oneOf", [])):
            yield name, READ_ONE_OF.get(name, "")


def dotted(path: tuple[str, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


CASES = [(name, location, field) for name, field in required() if field for location in WHERE.get(name, [])]


def test_the_complete_file_is_valid(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    workload, problems = read_workload(tmp_path / "shop.score.yaml", yaml.safe_dump(COMPLETE))
    assert problems == [] and workload is not None


def test_every_definition_with_a_required_field_has_a_place_here_or_is_refused_by_name() -> None:
    missing = sorted({name for name, _ in required()} - set(WHERE) - set(REFUSED_BY_NAME))
    assert missing == []
    assert all(field for name, field in required() if name in WHERE), "a one-of of which kubeport reads no field"


@pytest.mark.parametrize(("definition", "location", "field"), CASES, ids=[dotted((*c[1], c[2])) for c in CASES])
def test_a_missing_required_field_is_refused_naming_the_file_and_the_path(
    tmp_path: Path, definition: str, location: tuple[str, ...], field: str
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    document = copy.deepcopy(COMPLETE)
    node: Any = document
    for part in location:
        node = node[int(part)] if part.isdigit() else node[part]
    del node[field]
    workload, problems = read_workload(tmp_path / "shop.score.yaml", yaml.safe_dump(document))
    assert workload is None
    assert f"shop.score.yaml: {dotted((*location, field))}: required" in problems, (definition, problems)
