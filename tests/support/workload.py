"""Readers for the portable workload in a mocked program run (shared by every profile's tests)."""

from __future__ import annotations

from functools import cache
from typing import Any

from tools.verify.mock_runner import ProgramRun, Registered, run_program

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
POD = "kubernetes:core/v1:Pod"
NAMESPACE = "kubernetes:core/v1:Namespace"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
K8S_PROVIDER = "pulumi:providers:kubernetes"
IMAGE = "docker-build:index:Image"


def pod_template(run: ProgramRun) -> dict[str, Any]:
    template: dict[str, Any] = run.one(DEPLOYMENT).inputs["spec"]["template"]
    return template


def web_container(run: ProgramRun) -> dict[str, Any]:
    containers = pod_template(run)["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def smoke_pod(run: ProgramRun) -> Registered:
    return run.one(POD)


@cache
def stack_run(stack: str) -> ProgramRun:
    """One mocked run of a stack's real stack file, shared by every test that only reads it."""
    run = run_program(stack)
    assert run.error is None, f"stack {stack} failed under mocks: {run.error}"
    return run


def transitive_dependencies(run: ProgramRun, resource: Registered) -> set[str]:
    """Every URN `resource` waits for, directly or through what it waits for."""
    seen: set[str] = set()
    todo = list(resource.dependencies)
    while todo:
        urn = todo.pop()
        if urn in seen:
            continue
        seen.add(urn)
        todo.extend(next((r.dependencies for r in run.resources if r.urn == urn), []))
    return seen
