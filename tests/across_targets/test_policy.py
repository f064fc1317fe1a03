"""The policy pack, without the CLI: every policy passes the real program's resources and catches a violation."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from tools.stack_files import ROOT, app_stack_names, stack_config, stack_names
from tools.verify.mock_runner import ProgramRun, Registered, run_program

sys.path.insert(0, str(ROOT / "policy"))
import kubeport_policies as kp

FEATURES = {"autoscaling": "true", "host": "shop.example.com"}


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    """Every stack as its file says, and again with autoscaling and an Ingress on."""
    result = {stack: run_program(stack) for stack in stack_names()}
    for stack in app_stack_names():
        extra = {"ingressClass": "nginx"} if stack_config(stack)[0]["kubeport:target"] == "existing" else {}
        result[f"{stack}+features"] = run_program(stack, {**FEATURES, **extra})
    assert all(r.error is None for r in result.values()), {k: r.error for k, r in result.items() if r.error}
    return result


def provider_of(reg: Registered) -> PolicyProviderResource | None:
    if not reg.provider:
        return None
    urn = reg.provider.rpartition("::")[0]
    return PolicyProviderResource(urn.split("::")[2].rsplit("$", 1)[-1], {}, urn, urn.rpartition("::")[2])


def options(reg: Registered, protect: bool | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=reg.protect if protect is None else protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=reg.parent,
    )


def resource_args(reg: Registered, props: dict[str, Any] | None = None, **changes: Any) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource_type=reg.type,
        props=reg.inputs if props is None else props,
        urn=reg.urn,
        name=reg.name,
        opts=options(reg, changes.get("protect")),
        provider=changes.get("provider", provider_of(reg)),
    )


def violations(validate: Callable[[Any, Any], None], args: Any) -> list[str]:
    found: list[str] = []
    validate(args, lambda message, urn=None: found.append(message))
    return found


def stack_args(run: ProgramRun, change: Callable[[str, dict[str, Any]], None] | None = None) -> StackValidationArgs:
    resources = []
    for reg in run.resources:
        props = copy.deepcopy(reg.inputs)
        if change:
            change(reg.type, props)
        resources.append(
            PolicyResource(reg.type, props, reg.urn, reg.name, options(reg), provider_of(reg), None, [], {})
        )
    return StackValidationArgs(resources)


RESOURCE_POLICIES = [
    kp.explicit_providers,
    kp.image_pinned,
    kp.restricted_pod_security,
    kp.probes_and_resources,
    kp.protected,
    kp.eks_cluster,
    kp.aks_cluster,
    kp.gke_cluster,
    kp.no_public_database,
    kp.encrypted_database_storage,
    kp.cloud_volumes,
    kp.cloud_caches,
    kp.cloud_buckets,
]


@pytest.mark.parametrize("validate", RESOURCE_POLICIES, ids=lambda f: f.__name__)
def test_every_resource_of_every_stack_passes(
    validate: Callable[[Any, Any], None], runs: dict[str, ProgramRun]
) -> None:
    for stack, run in runs.items():
        for reg in run.resources:
            assert violations(validate, resource_args(reg)) == [], f"{stack}: {reg.type} {reg.name}"


@pytest.mark.parametrize(
    "validate",
    [kp.cloud_availability, kp.eks_network_policy, kp.no_load_balancer_on_minikube, kp.complete_buckets],
    ids=lambda f: f.__name__,
)
def test_every_stack_passes_the_stack_policies(
    validate: Callable[[Any, Any], None], runs: dict[str, ProgramRun]
) -> None:
    for run in runs.values():
        assert violations(validate, stack_args(run)) == [], run.stack


def deployment(run: ProgramRun) -> Registered:
    return run.one("kubernetes:apps/v1:Deployment")


def container_of(props: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = props["spec"]["template"]["spec"]["containers"][0]
    return container


def test_default_provider_is_a_violation(runs: dict[str, ProgramRun]) -> None:
    reg = deployment(runs["dev"])
    default = PolicyProviderResource("pulumi:providers:kubernetes", {}, "urn:default", "default_4_34_2")
    assert violations(kp.explicit_providers, resource_args(reg, provider=default))


@pytest.mark.parametrize(
    ("stack", "image", "says"),
    [
        ("dev", "nginx", "no tag"),
        ("dev", "nginx:latest", "latest"),
        ("eks", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:abc", "by digest"),
    ],
)
def test_unpinned_images_are_violations(runs: dict[str, ProgramRun], stack: str, image: str, says: str) -> None:
    reg = deployment(runs[stack])
    props = copy.deepcopy(reg.inputs)
    container_of(props)["image"] = image
    found = violations(kp.image_pinned, resource_args(reg, props))
    assert any(says in v for v in found), found


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("allowPrivilegeEscalation", True),
        ("readOnlyRootFilesystem", False),
        ("capabilities", {"drop": []}),
        ("privileged", True),
    ],
)
def test_pod_security_violations(runs: dict[str, ProgramRun], field: str, value: Any) -> None:
    reg = deployment(runs["dev"])
    props = copy.deepcopy(reg.inputs)
    container_of(props)["securityContext"][field] = value
    assert violations(kp.restricted_pod_security, resource_args(reg, props))


def test_missing_probe_or_limits_are_violations(runs: dict[str, ProgramRun]) -> None:
    reg = deployment(runs["dev"])
    for remove in (["livenessProbe"], ["readinessProbe"], ["resources", "limits"]):
        props = copy.deepcopy(reg.inputs)
        holder = container_of(props)
        for key in remove[:-1]:
            holder = holder[key]
        del holder[remove[-1]]
        assert violations(kp.probes_and_resources, resource_args(reg, props)), remove


def test_unprotected_cluster_is_reported(runs: dict[str, ProgramRun]) -> None:
    for stack, cluster_type in (
        ("eks", "aws:eks/cluster:Cluster"),
        ("gke", "gcp:container/cluster:Cluster"),
        ("walkthrough-eks", kp.RDS),
        ("walkthrough-aks", kp.AZURE_POSTGRES),
        ("walkthrough-gke", kp.CLOUD_SQL),
    ):
        reg = runs[stack].one(cluster_type)
        assert violations(kp.protected, resource_args(reg, protect=False))


@pytest.mark.parametrize(
    ("stack", "type_", "path", "value", "validate"),
    [
        ("eks", "aws:eks/cluster:Cluster", ["enabledClusterLogTypes"], ["api"], kp.eks_cluster),
        ("eks", "aws:eks/cluster:Cluster", ["encryptionConfig"], None, kp.eks_cluster),
        ("eks", "aws:ec2/launchTemplate:LaunchTemplate", ["metadataOptions", "httpTokens"], "optional", kp.eks_cluster),
        ("eks", "aws:ecr/repository:Repository", ["imageTagMutability"], "MUTABLE", kp.eks_cluster),
        ("aks", "azure-native:containerservice:ManagedCluster", ["disableLocalAccounts"], False, kp.aks_cluster),
        ("aks", "azure-native:containerservice:ManagedCluster", ["securityProfile"], {}, kp.aks_cluster),
        ("aks", "azure-native:containerregistry:Registry", ["adminUserEnabled"], True, kp.aks_cluster),
        ("gke", "gcp:container/cluster:Cluster", ["workloadIdentityConfig"], None, kp.gke_cluster),
        ("gke", "gcp:container/cluster:Cluster", ["enableShieldedNodes"], False, kp.gke_cluster),
        ("gke", "gcp:container/nodePool:NodePool", ["management", "autoRepair"], False, kp.gke_cluster),
        ("gke", "gcp:artifactregistry/repository:Repository", ["dockerConfig", "immutableTags"], False, kp.gke_cluster),
        # The application's managed databases: a public endpoint, outside the private network, unencrypted.
        ("walkthrough-eks", kp.RDS, ["publiclyAccessible"], True, kp.no_public_database),
        ("walkthrough-eks", kp.RDS, ["dbSubnetGroupName"], None, kp.no_public_database),
        ("walkthrough-aks", kp.AZURE_POSTGRES, ["network", "publicNetworkAccess"], "Enabled", kp.no_public_database),
        ("walkthrough-aks", kp.AZURE_POSTGRES, ["network", "delegatedSubnetResourceId"], None, kp.no_public_database),
        ("walkthrough-gke", kp.CLOUD_SQL, ["settings", "ipConfiguration", "ipv4Enabled"], True, kp.no_public_database),
        (
            "walkthrough-gke",
            kp.CLOUD_SQL,
            ["settings", "ipConfiguration", "authorizedNetworks"],
            [{"value": "0.0.0.0/0"}],
            kp.no_public_database,
        ),
        ("walkthrough-eks", kp.RDS, ["storageEncrypted"], False, kp.encrypted_database_storage),
        ("walkthrough-eks", kp.RDS, ["kmsKeyId"], None, kp.encrypted_database_storage),
        ("walkthrough-aks", kp.AZURE_POSTGRES, ["dataEncryption"], None, kp.encrypted_database_storage),
    ],
)
def test_cloud_hardening_violations(
    runs: dict[str, ProgramRun],
    stack: str,
    type_: str,
    path: list[str],
    value: Any,
    validate: Callable[[Any, Any], None],
) -> None:
    reg = runs[stack].one(type_)
    props = copy.deepcopy(reg.inputs)
    target = props
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert violations(validate, resource_args(reg, props))


def test_the_rds_subnet_group_violation_says_what_is_checked(runs: dict[str, ProgramRun]) -> None:
    reg = runs["walkthrough-eks"].one(kp.RDS)
    props = {**copy.deepcopy(reg.inputs), "dbSubnetGroupName": None}
    (message,) = violations(kp.no_public_database, resource_args(reg, props))
    assert "dbSubnetGroupName" in message


def test_one_replica_or_no_pdb_on_a_cloud_is_a_violation(runs: dict[str, ProgramRun]) -> None:
    def one_replica(type_: str, props: dict[str, Any]) -> None:
        if type_ == "kubernetes:apps/v1:Deployment":
            props["spec"]["replicas"] = 1

    def other_pdb(type_: str, props: dict[str, Any]) -> None:
        if type_ == "kubernetes:policy/v1:PodDisruptionBudget":
            props["spec"]["selector"]["matchLabels"] = {"app": "other"}

    assert violations(kp.cloud_availability, stack_args(runs["aks"], one_replica))
    assert violations(kp.cloud_availability, stack_args(runs["gke"], other_pdb))
    # minikube may run a single replica.
    assert violations(kp.cloud_availability, stack_args(runs["dev"], one_replica)) == []


@pytest.mark.parametrize("stack", ["eks", "eks-cluster", "walkthrough-eks"])
def test_an_eks_cluster_without_network_policy_enforcement_is_a_violation(
    runs: dict[str, ProgramRun], stack: str
) -> None:
    def agent_off(type_: str, props: dict[str, Any]) -> None:
        if type_ == "aws:eks/addon:Addon" and props["addonName"] == "vpc-cni":
            props["configurationValues"] = '{"enableNetworkPolicy": "false"}'

    def no_addon(type_: str, props: dict[str, Any]) -> None:
        if type_ == "aws:eks/addon:Addon" and props["addonName"] == "vpc-cni":
            props["addonName"] = "coredns"

    for change in (agent_off, no_addon):
        (message,) = violations(kp.eks_network_policy, stack_args(runs[stack], change))
        assert "not enforced" in message


def test_load_balancer_on_minikube_is_a_violation(runs: dict[str, ProgramRun]) -> None:
    def load_balancer(type_: str, props: dict[str, Any]) -> None:
        if type_ == "kubernetes:core/v1:Service":
            props["spec"]["type"] = "LoadBalancer"

    assert violations(kp.no_load_balancer_on_minikube, stack_args(runs["dev"], load_balancer))
    assert violations(kp.no_load_balancer_on_minikube, stack_args(runs["eks"])) == []


def test_the_pack_holds_every_policy_once() -> None:
    names = [p.name for p in kp.POLICIES]
    assert len(names) == len(set(names)) == 17


def test_a_cloud_autoscaler_allowed_below_two_pods_is_a_violation(runs: dict[str, ProgramRun]) -> None:
    def to_one(type_: str, props: dict[str, Any]) -> None:
        if type_ == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler":
            props["spec"]["minReplicas"] = 1

    found = violations(kp.cloud_availability, stack_args(runs["gke+features"], to_one))
    assert any("at least 2 replicas" in v for v in found), found


@pytest.fixture(scope="module")
def volume_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ProgramRun]:
    """An application with a `volume` on each cloud (tests/application/test_volumes.py's)."""
    from tests.application.test_volumes import CLOUD_CLASSES, NOTES
    from tests.support.application import API, run_files

    found = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for stack in CLOUD_CLASSES:
            found[stack] = run_files(monkeypatch, tmp_path_factory.mktemp(stack), {"notes": NOTES, "api": API}, stack)
            assert found[stack].error is None, found[stack].error
    return found


def test_each_clouds_volume_class_passes_and_an_unsafe_one_is_a_violation(volume_runs: dict[str, ProgramRun]) -> None:
    unsafe = {
        "walkthrough-eks": [{"encrypted": "false"}, {"kmsKeyId": ""}],
        "walkthrough-aks": [{"networkAccessPolicy": "AllowAll"}, {"publicNetworkAccess": "Enabled"}],
        "walkthrough-gke": [],
    }
    for stack, run in volume_runs.items():
        (made,) = run.of_type(kp.STORAGE_CLASS)
        assert violations(kp.cloud_volumes, resource_args(made)) == [], stack
        deleted = copy.deepcopy(made.inputs) | {"reclaimPolicy": "Delete"}
        assert violations(kp.cloud_volumes, resource_args(made, deleted)), f"{stack}: a class that deletes its disks"
        for change in unsafe[stack]:
            props = copy.deepcopy(made.inputs)
            props["parameters"] = {**props["parameters"], **change}
            assert violations(kp.cloud_volumes, resource_args(made, props)), f"{stack}: {change}"
