"""Changing `kubeport:target` on one stack: the new side is in the program, the old side is gone from it."""

from __future__ import annotations

from tools.verify.mock_runner import run_program

GKE_SETTINGS = {"target": "gke", "region": "europe-west1", "project": "acme-kubeport"}


def cloud_packages(run_types: list[str]) -> set[str]:
    return {t.split(":")[0] for t in run_types if t.split(":")[0] in ("aws", "azure-native", "gcp")}


def test_eks_stack_switched_to_gke_registers_only_the_gke_side() -> None:
    before = run_program("eks")
    after = run_program("eks", GKE_SETTINGS)
    assert before.error is None and after.error is None, after.error
    assert cloud_packages([r.type for r in before.resources]) == {"aws"}
    assert cloud_packages([r.type for r in after.resources]) == {"gcp"}
    assert len(after.of_type("gcp:container/cluster:Cluster")) == 1
    assert after.of_type("aws:eks/cluster:Cluster") == []
    # The workload moves with it: same objects, now on the GKE cluster's provider.
    provider = after.one("pulumi:providers:kubernetes")
    assert "gke" in provider.urn
    assert all(o.provider.startswith(provider.urn) for o in after.kubernetes_objects())
    assert after.outputs["image"].value.startswith("europe-west1-docker.pkg.dev/")


def test_minikube_stack_switched_to_eks_keeps_the_workloads_names() -> None:
    before = run_program("dev")
    after = run_program("dev", {"target": "eks", "region": "eu-west-1", "allowedCidrs": '["203.0.113.0/24"]'})
    assert after.error is None, after.error
    names = {(o.type, o.inputs["metadata"]["name"]) for o in before.kubernetes_objects()}
    assert {(o.type, o.inputs["metadata"]["name"]) for o in after.kubernetes_objects()} == names
    assert after.of_type("docker-build:index:Image")[0].inputs["push"] is True


def test_leftover_settings_of_the_old_target_stop_the_switch() -> None:
    # Switching eks -> aks while keeping an EKS-only key is refused before anything is registered.
    run = run_program(
        "eks",
        {
            "target": "aks",
            "region": "westeurope",
            "subscription": "00000000-0000-0000-0000-000000000000",
            "vpcId": "vpc-0123456789abcdef0",
        },
    )
    assert run.error is not None and "kubeport:vpcId" in str(run.error)
    assert run.resources == []
