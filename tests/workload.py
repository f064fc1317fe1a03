"""Readers for the portable workload in a mocked program run (shared by every profile's tests)."""

from __future__ import annotations

from typing import Any

from stacks.offline import ProgramRun, Registered

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


def portable_view(run: ProgramRun) -> dict[str, Any]:
    """The workload's Kubernetes objects minus what the Platform legitimately carries.

    Removed: the image reference, its pull policy and the scanner waivers that follow from it (registry),
    the target name in the environment, the Service's type, node port and annotations (exposure).
    Whatever is left must be identical on every stack.
    """
    import copy

    view: dict[str, Any] = {}
    for obj in run.kubernetes_objects():
        inputs = copy.deepcopy(obj.inputs)
        annotations = inputs["metadata"].pop("annotations", None) or {}
        waivers = sorted(v for k, v in annotations.items() if k.startswith("checkov.io/skip"))
        inputs["metadata"]["waivers"] = [w for w in waivers if w.split("=")[0] not in ("CKV_K8S_43", "CKV_K8S_15")]
        other = {k: v for k, v in annotations.items() if not k.startswith("checkov.io/skip")}
        if other:
            inputs["metadata"]["annotations"] = other
        spec = inputs.get("spec") or {}
        pod_spec = spec.get("template", {}).get("spec") if obj.type == DEPLOYMENT else spec if obj.type == POD else None
        for container in (pod_spec or {}).get("containers", []):
            container.pop("image", None)
            container.pop("imagePullPolicy", None)
            for env in container.get("env", []):
                if env["name"] in ("KUBEPORT_TARGET", "KUBEPORT_IMAGE"):
                    env.pop("value", None)
        if obj.type == SERVICE:
            inputs["metadata"].pop("annotations", None)
            spec.pop("type", None)
            for port in spec.get("ports", []):
                port.pop("nodePort", None)
        view[f"{obj.type} {obj.name}"] = inputs
    return view
