"""Bad stack config stops the real program before any resource is registered, naming the key."""

from __future__ import annotations

import pulumi
import pytest

from tools.verify.mock_runner import run_program

CASES = [
    ({"target": None}, "kubeport:target"),
    ({"target": "ecs"}, "kubeport:target"),
    ({"target": "gke"}, "kubeport:region"),
    ({"replicas": "two"}, "kubeport:replicas"),
    ({"replicas": "0"}, "kubeport:replicas"),
    ({"nodePort": "80"}, "kubeport:nodePort"),
    ({"namespace": "Shop_Front"}, "kubeport:namespace"),
    ({"namespace": "kube-system"}, "kubeport:namespace"),
    ({"registry": "artifactory"}, "kubeport:registry"),
    ({"registry": "dockerhub"}, "kubeport:dockerhubUser"),
    ({"replica": "3"}, "kubeport:replica is not a known key; did you mean kubeport:replicas?"),
    ({"nodeport": "30001"}, "did you mean kubeport:nodePort?"),
]


@pytest.mark.parametrize(("overrides", "named"), CASES, ids=[str(c[0]) for c in CASES])
def test_bad_config_stops_before_any_resource(overrides: dict[str, str], named: str) -> None:
    run = run_program("dev", overrides)
    assert isinstance(run.error, pulumi.RunError), run.error  # reported as a message, not a traceback
    assert named in str(run.error)
    assert run.resources == []


def test_existing_profile_without_context_is_stopped() -> None:
    run = run_program("kind", {"kubeContext": None})
    assert isinstance(run.error, pulumi.RunError)
    assert "kubeport:kubeContext" in str(run.error) and run.resources == []


def test_message_names_the_stack() -> None:
    run = run_program("dev", {"replicas": "0"})
    assert str(run.error).startswith("kubeport stack 'dev': invalid stack configuration")
