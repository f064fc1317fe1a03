"""Every resource any stack registers is on an explicit provider of its own package: one check, no list.

Default providers are disabled project-wide, so on a real run a resource without an explicit provider is an
error, but under mocks it is not: this holds it offline. It walks every resource of every stack file, and of
every app stack again with autoscaling and an Ingress on, and with a private registry that needs a pull
Secret: whatever kind a future change adds is covered the day it is registered.
"""

from __future__ import annotations

import pytest

from tests.support.variants import VARIANTS, run_of
from tools.verify.mock_runner import ProgramRun, Registered


def package(type_token: str) -> str:
    return type_token.split(":", 1)[0]


def provider_of(run: ProgramRun, res: Registered) -> Registered | None:
    urn = res.provider.rpartition("::")[0]
    return next((r for r in run.resources if r.urn == urn), None)


@pytest.mark.parametrize("label", [v[0] for v in VARIANTS])
def test_every_resource_is_on_an_explicit_provider_of_its_own_package(label: str) -> None:
    run = run_of(label)
    for res in run.resources:
        if not res.custom or res.type.startswith(("pulumi:providers:", "pulumi:pulumi:", "pulumi-python:dynamic")):
            continue  # a dynamic resource (a generated password) runs in the program itself: no provider plugin
        provider = provider_of(run, res)
        where = f"{label}: {res.type} {res.name}"
        assert provider is not None, f"{where} has no explicit provider ({res.provider!r})"
        assert provider.type == f"pulumi:providers:{package(res.type)}", f"{where} is on {provider.type}"
        assert not provider.name.startswith("default"), where


@pytest.mark.parametrize("label", [v[0] for v in VARIANTS if "cluster" not in v[0]])
def test_all_kubernetes_objects_of_a_stack_go_to_one_cluster(label: str) -> None:
    """One Kubernetes provider per cluster: every object of the app lands on the same one."""
    run = run_of(label)
    used = {r.provider.rpartition("::")[0] for r in run.resources if r.custom and r.type.startswith("kubernetes:")}
    assert len(used) == 1, f"{label}: Kubernetes objects on {sorted(used)}"


def test_the_variants_register_every_kind_the_workload_can_have() -> None:
    """The walk above reaches each kind of object kubeport creates (so none escapes the check)."""
    kinds = {r.type for label, *_ in VARIANTS for r in run_of(label).resources if r.type.startswith("kubernetes:")}
    assert {
        "kubernetes:core/v1:Namespace",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:core/v1:Pod",
        "kubernetes:core/v1:Secret",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:helm.sh/v3:Release",
    } <= kinds
