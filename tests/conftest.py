"""Shared fixtures: one mocked program run per stack profile, reused by that profile's tests."""

from __future__ import annotations

import pytest

from tools.verify.mock_runner import ProgramRun, run_program


def _run(stack: str) -> ProgramRun:
    run = run_program(stack)
    assert run.error is None, f"stack {stack} failed under mocks: {run.error}"
    return run


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    """The real Pulumi.dev.yaml: target minikube."""
    return _run("dev")


@pytest.fixture(scope="module")
def kind() -> ProgramRun:
    """The real Pulumi.kind.yaml: target existing, pushing to kind's local registry."""
    return _run("kind")
