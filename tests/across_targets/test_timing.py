"""The pod spec's timing relations, for every pod template the program registers on every stack variant and every
application stack: a container's drain (its preStop sleep) ends before its grace period does, so nginx finishes
what it has in flight before it is killed; and every readiness probe reaches its verdict within the time Pulumi
waits for the object (its custom timeout), also at the shortest rollout bound kubeport accepts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stacks.config.keys import keys_by_name
from tests.support.variants import APPLICATIONS, VARIANTS, application_run, run_of
from tools.verify.mock_runner import ProgramRun, Registered, run_program

WORKLOADS = ("Deployment", "StatefulSet", "Job", "Pod")
SHORTEST = f"{(keys_by_name()['rolloutTimeout'].bounds or (30, None))[0]}s"


def seconds(duration: str) -> int:
    """`45s`, `10m`, `1h` (Pulumi's custom timeouts) -> seconds."""
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def pod_specs(run: ProgramRun) -> Iterator[tuple[Registered, dict[str, Any]]]:
    """Every pod template of the run: a workload's `spec.template.spec`, or a Pod's own `spec`."""
    for resource in run.kubernetes_objects():
        kind = resource.type.rsplit(":", 1)[-1]
        if kind == "Pod":
            yield resource, resource.inputs["spec"]
        elif kind in WORKLOADS:
            yield resource, resource.inputs["spec"]["template"]["spec"]


def problems(run: ProgramRun) -> list[str]:
    found = []
    specs = list(pod_specs(run))
    # A cluster stack deploys no workload; every other stack does.
    assert specs or run.config.get("kubeport:part") == "cluster", f"{run.stack}: no pod template registered"
    for resource, spec in specs:
        name = f"{resource.type.rsplit(':', 1)[-1]} {resource.inputs['metadata'].get('name', resource.name)}"
        grace = int(spec.get("terminationGracePeriodSeconds", 30))
        bound = seconds(resource.custom_timeouts.get("create", "10m"))
        for container in spec["containers"]:
            sleep = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep")
            if sleep is not None and int(sleep["seconds"]) >= grace:
                found.append(
                    f"{name}: the drain ({int(sleep['seconds'])} s) does not end before the grace period ({grace} s)"
                )
            probe = container.get("readinessProbe")
            if probe is None:
                continue
            verdict = int(
                probe.get("initialDelaySeconds", 0)
                + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
                + probe.get("timeoutSeconds", 1)
            )
            if verdict >= bound:
                found.append(f"{name}: its readiness probe's verdict takes up to {verdict} s, Pulumi waits {bound} s")
    return found


@pytest.mark.parametrize("label", [v[0] for v in VARIANTS])
def test_every_pod_drains_before_its_grace_period_and_is_judged_within_the_rollout_bound(label: str) -> None:
    assert problems(run_of(label)) == []


@pytest.mark.parametrize("stack", APPLICATIONS)
def test_every_application_pod_too(stack: str) -> None:
    assert problems(application_run(stack)) == []


@pytest.mark.parametrize("stack", ["dev", "walkthrough"])
def test_at_the_shortest_rollout_bound_accepted(stack: str) -> None:
    run = run_program(stack, {"rolloutTimeout": SHORTEST})
    assert run.error is None, run.error
    assert {r.custom_timeouts.get("create") for r, _ in pod_specs(run)} == {SHORTEST}
    assert problems(run) == []


def test_the_checker_sees_a_drain_longer_than_the_grace_period_and_a_slow_probe() -> None:
    run = run_program("dev", {"rolloutTimeout": SHORTEST})
    (deployment,) = [r for r, _ in pod_specs(run) if r.type.endswith(":Deployment")]
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    container["lifecycle"]["preStop"]["sleep"]["seconds"] = 25
    container["readinessProbe"]["failureThreshold"] = 10
    found = problems(run)
    assert any("the drain (25 s) does not end before the grace period (20 s)" in p for p in found), found
    assert any("its readiness probe's verdict takes up to 52 s, Pulumi waits 30 s" in p for p in found), found
