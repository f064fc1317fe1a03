"""The smoke check is redone whenever anything it checks changes: the Service, the pod template, the image. A
change of each makes a new smoke Pod (its CHECKS, a digest of what it checks, is part of the Pod's spec, which
cannot change in place: Pulumi replaces the Pod), and a change of nothing keeps the same one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.workload import POD
from tools.verify.mock_runner import ProgramRun, run_program

STACK = "kind"
PREBUILT: dict[str, str | None] = {
    "image": "registry.example.com:5443/team/kubeport-web:1.0.0",
    "registry": None,
    "registryServer": None,
    "builder": None,
    "baseImage": None,
}
"""The kind stack with a prebuilt image from a public registry: no pull Secret."""
CHANGES: dict[str, tuple[dict[str, str | None], dict[str, str]]] = {
    "the image": ({"image": "registry.example.com:5443/team/kubeport-web:1.0.1"}, {}),
    "the Service": ({"nodePort": "30099"}, {}),
    "the pod template": (
        {"registryServer": "registry.example.com:5443/team", "registryUser": "puller"},
        {"registryToken": "t"},
    ),
}


def smoke(run: ProgramRun) -> dict[str, Any]:
    assert run.error is None, run.error
    (pod,) = [p for p in run.of_type(POD) if p.inputs["metadata"]["name"].endswith("-smoke")]
    return dict(pod.inputs)


def checks(pod: dict[str, Any]) -> str:
    (container,) = pod["spec"]["containers"]
    return str({e["name"]: e.get("value") for e in container["env"]}["CHECKS"])


def test_the_same_config_keeps_the_same_smoke_pod() -> None:
    assert smoke(run_program(STACK, PREBUILT)) == smoke(run_program(STACK, PREBUILT))


@pytest.mark.parametrize("what", CHANGES)
def test_a_change_of_what_the_check_covers_makes_a_new_smoke_pod(what: str) -> None:
    before = smoke(run_program(STACK, PREBUILT))
    plain, secret = CHANGES[what]
    after = smoke(run_program(STACK, {**PREBUILT, **plain}, secret))
    assert checks(after) != checks(before), f"{what} changed, and the smoke check would not run again"
