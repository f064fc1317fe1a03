"""Autoscaling and routing turned on for a stack, under mocks: what the cross-target and per-target tests share."""

from __future__ import annotations

from functools import cache

from tools.stack_files import stack_config
from tools.verify.mock_runner import ProgramRun, Registered, run_program

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


HOST = "shop.example.com"


# minReplicas differs from the default kubeport:replicas (2), so a Deployment started at the wrong one shows.
FEATURES = {
    "autoscaling": "true",
    "minReplicas": "3",
    "maxReplicas": "6",
    "cpuTarget": "65",
    "scaleDownWindow": "120",
    "host": HOST,
}


# Which controller serves the Ingress on each target, and how it is named there.
EXPECTED_CLASS: dict[str, tuple[str | None, dict[str, str]]] = {
    "minikube": ("nginx", {}),
    "existing": ("kubeport-test", {}),
    "eks": ("alb", {"alb.ingress.kubernetes.io/scheme": "internet-facing"}),
    "aks": ("webapprouting.kubernetes.azure.com", {}),
    "gke": (None, {"kubernetes.io/ingress.class": "gce"}),
}


def cluster_config(stack: str) -> dict[str, str]:
    """The config of the stack that owns the cluster: the stack itself, or an app stack's cluster stack."""
    config = stack_config(stack)[0]
    if config["kubeport:target"] == "stackref":
        return stack_config(config["kubeport:clusterStack"].rsplit("/", 1)[-1])[0]
    return config


def target_of(stack: str) -> str:
    return cluster_config(stack)["kubeport:target"]


def expected_class(stack: str) -> tuple[str | None, dict[str, str]]:
    own = stack_config(stack)[0]["kubeport:target"]
    if own == "stackref" and target_of(stack) == "existing":
        return cluster_config(stack)["kubeport:ingressClass"], {}  # the class the cluster stack hands over
    return EXPECTED_CLASS[target_of(stack)]


def features_for(stack: str, **extra: str) -> dict[str, str | None]:
    values: dict[str, str | None] = {**FEATURES, **extra}
    if stack_config(stack)[0]["kubeport:target"] == "existing":
        values["ingressClass"] = "kubeport-test"
    return values


@cache
def featured(stack: str) -> ProgramRun:
    run = run_program(stack, features_for(stack))
    assert run.error is None, f"{stack}: {run.error}"
    return run


def one_named(run: ProgramRun, type_: str, name_part: str) -> Registered:
    (found,) = [r for r in run.of_type(type_) if name_part in r.name]
    return found


DISABLED_DEFAULT_PROVIDERS = ["kubernetes", "docker-build", "aws", "azure-native", "gcp"]
"""Every provider package kubeport uses, never as a default provider (Pulumi.yaml); the built-in pulumi-python
(the program's dynamic resources) is not among them."""
