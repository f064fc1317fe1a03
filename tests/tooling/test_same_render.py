"""`python -m tools same-render`: what it calls the same, and what it reports as a difference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.verify.same_render import RESOURCES, compare, registered_inputs

BEFORE = {"dev": {"deployment-kubeport-web.yaml": b"a: 1\n", RESOURCES: b'["k8s", "web"]\n["pulumi", "x"]'}}


def test_identical_renders_are_the_same() -> None:
    assert compare(BEFORE, BEFORE) == ["dev: same (1 manifests and every registration)"]


def test_a_changed_added_or_removed_manifest_is_a_difference() -> None:
    changed = {"dev": {**BEFORE["dev"], "deployment-kubeport-web.yaml": b"a: 2\n"}}
    assert compare(BEFORE, changed) == ["dev: DIFFERS: changed deployment-kubeport-web.yaml"]
    added = {"dev": {**BEFORE["dev"], "service-kubeport-web.yaml": b"b: 1\n"}}
    assert compare(BEFORE, added) == ["dev: DIFFERS: added service-kubeport-web.yaml"]
    assert compare(added, BEFORE) == ["dev: DIFFERS: removed service-kubeport-web.yaml"]
    assert compare(BEFORE, {}) == ["dev: only before"]


def test_a_changed_registration_is_shown_unless_allowed() -> None:
    moved = {"dev": {**BEFORE["dev"], RESOURCES: b'["k8s", "web"]\n["pulumi", "x"]\n["kubeport:Smoke", "s"]'}}
    lines = compare(BEFORE, moved)
    assert lines[0].startswith("dev: DIFFERS") and lines[1] == '    + ["kubeport:Smoke", "s"]'
    assert compare(BEFORE, moved, re.compile("kubeport:Smoke")) == ["dev: same (1 manifests and every registration)"]


STUB_RUNNER = """
class Run:
    error = None
    resources = []


def run_program(stack):
    return Run()
"""


@pytest.mark.parametrize("module", [("verify", "mock_runner"), ("mock_runner",), ("offline",)])
def test_the_registrations_are_read_with_the_mock_runner_wherever_the_compared_tree_keeps_it(
    tmp_path: Path, module: tuple[str, ...]
) -> None:
    """A revision from before a move keeps its runner elsewhere: same-render reads each tree with its own."""
    runner = tmp_path.joinpath("tools", *module).with_suffix(".py")
    for folder in [p for p in runner.relative_to(tmp_path).parents if p != Path(".")]:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").touch()
    runner.write_text(STUB_RUNNER)
    assert registered_inputs(tmp_path, "dev") == b""
