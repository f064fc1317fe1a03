"""Target aks with the real Pulumi.aks.yaml, under mocks."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import mocks as pulumi_mocks

from components.aks import ACR_PULL_ROLE, acr_refresh_token
from tests.support import clouds
from tests.support.features import featured
from tests.support.local_http import QuietHandler, serving
from tests.support.workload import IMAGE, stack_run, transitive_dependencies
from tools.verify.fake_clouds import FakeCloud
from tools.verify.mock_runner import ProgramRun, Registered, run_program

CLUSTER = "azure-native:containerservice:ManagedCluster"
REGISTRY = "azure-native:containerregistry:Registry"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
PROTECTED = [CLUSTER, REGISTRY]


@pytest.fixture(scope="module")
def aks() -> ProgramRun:
    return clouds.run_stack("aks")


def test_cluster_identity_rbac_workload_identity_upgrades_and_network_policy(aks: ProgramRun) -> None:
    cluster = aks.one(CLUSTER).inputs
    assert cluster["identity"]["type"] == "SystemAssigned"
    assert cluster["enableRBAC"] is True and cluster["disableLocalAccounts"] is True
    assert cluster["aadProfile"] == {"managed": True, "enableAzureRBAC": True}
    assert cluster["oidcIssuerProfile"]["enabled"] is True
    assert cluster["securityProfile"]["workloadIdentity"]["enabled"] is True
    assert cluster["autoUpgradeProfile"]["upgradeChannel"] == "stable"
    assert cluster["networkProfile"]["networkPolicy"] == "cilium"
    assert cluster["apiServerAccessProfile"]["authorizedIPRanges"] == ["203.0.113.0/24"]
    assert cluster["apiServerAccessProfile"]["enablePrivateCluster"] is False
    pool = cluster["agentPoolProfiles"][0]
    assert pool["count"] == 2 and pool["mode"] == "System" and pool["enableNodePublicIP"] is False


def test_registry_has_no_admin_user(aks: ProgramRun) -> None:
    registry = aks.one(REGISTRY).inputs
    assert registry["adminUserEnabled"] is False and registry["anonymousPullEnabled"] is False


def test_kubelet_identity_can_pull_from_the_registry(aks: ProgramRun) -> None:
    cluster, registry = aks.one(CLUSTER), aks.one(REGISTRY)
    kubelet = cluster.state["identityProfile"]["kubeletidentity"]["objectId"]
    pulls = [a for a in aks.of_type(ROLE_ASSIGNMENT) if a.inputs["roleDefinitionId"].endswith(ACR_PULL_ROLE)]
    assert len(pulls) == 1
    assert pulls[0].inputs["principalId"] == kubelet
    assert pulls[0].inputs["principalType"] == "ServicePrincipal"
    assert pulls[0].inputs["scope"] == registry.id
    assert pulls[0].urn in aks.one("kubernetes:apps/v1:Deployment").dependencies


def test_kubeconfig_uses_kubelogin_with_the_azure_cli_not_a_device_code(aks: ProgramRun) -> None:
    config = yaml.safe_load(aks.outputs["kubeconfig"].value)
    exec_config = config["users"][0]["user"]["exec"]
    assert exec_config["command"] == "kubelogin"
    assert exec_config["args"][:3] == ["get-token", "--login", "azurecli"]
    assert "devicecode" not in exec_config["args"]
    assert exec_config["args"][exec_config["args"].index("--server-id") + 1] == "6dae42f8-4368-4678-94ff-3960e28e3630"


def test_push_uses_an_exchanged_token_not_the_admin_user(aks: ProgramRun) -> None:
    registry = aks.one("docker-build:index:Image").inputs["registries"][0]
    assert registry["username"] == "00000000-0000-0000-0000-000000000000"
    assert registry["address"].endswith(".azurecr.io")


@pytest.fixture
def exchange_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A stand-in for ACR's /oauth2/exchange endpoint on 127.0.0.1."""
    seen: list[dict[str, str]] = []

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server dispatches by this name
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            form = dict(urllib.parse.parse_qsl(body))
            seen.append({"path": self.path, **form})
            answer = {"refresh_token": "acr-refresh"} if form.get("access_token") == "entra" else {}
            self.reply(200, json.dumps(answer).encode())

    with serving(Handler) as base:
        yield base, seen


def test_acr_token_exchange_posts_the_entra_token(exchange_server: tuple[str, list[dict[str, str]]]) -> None:
    base, seen = exchange_server
    token = acr_refresh_token("kp.azurecr.io", "tenant-1", "entra", base_url=base)
    assert token == "acr-refresh"
    assert seen == [
        {
            "path": "/oauth2/exchange",
            "grant_type": "access_token",
            "service": "kp.azurecr.io",
            "tenant": "tenant-1",
            "access_token": "entra",
        }
    ]


def test_acr_token_exchange_without_a_token_fails_clearly(exchange_server: tuple[str, list[dict[str, str]]]) -> None:
    base, _ = exchange_server
    with pytest.raises(RuntimeError, match="did not return a refresh token"):
        acr_refresh_token("kp.azurecr.io", "tenant-1", "wrong", base_url=base)


def test_workload_and_image(aks: ProgramRun) -> None:
    clouds.assert_kubernetes_objects_use_the_cluster_provider(aks)
    clouds.assert_cloud_resources_use_one_explicit_provider(aks, "azure-native")
    login_server = aks.one(REGISTRY).state["loginServer"]
    clouds.assert_image_pushed_to_registry_and_run_by_digest(aks, f"{login_server}/kubeport-web:")
    clouds.assert_load_balancer_service(
        aks, {"service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/healthz"}
    )
    clouds.assert_replicas_at_least_two(aks)
    clouds.assert_outputs_and_secrets(aks)


def test_cluster_and_registry_protected_unless_released(aks: ProgramRun) -> None:
    clouds.assert_protected(aks, PROTECTED)
    clouds.assert_release_protection_unprotects("aks", PROTECTED)


def test_same_workload_as_minikube(aks: ProgramRun) -> None:
    clouds.assert_same_workload_as_minikube(aks)


def test_imports_only_pulumi_azure_native() -> None:
    clouds.assert_only_its_own_cloud_sdk("aks")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"subscription": "not-a-uuid"}, "kubeport:subscription"),
        ({"subscription": None}, "kubeport:subscription"),
        ({"region": "West Europe"}, "kubeport:region"),
        ({"allowedCidrs": '["203.0.113.0/33"]'}, "kubeport:allowedCidrs"),
        ({"vpcId": "vpc-0123456789abcdef0"}, "kubeport:vpcId"),
        ({"kubeContext": "aks-admin"}, "kubeport:kubeContext"),
    ],
)
def test_bad_aks_config_is_rejected_before_any_resource(overrides: dict[str, str | None], key: str) -> None:
    clouds.assert_rejected_before_any_resource("aks", overrides, key)


# Azure's built-in role definitions, by their documented ids.
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"


AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"


def role_assignment(run: ProgramRun, role: str) -> Registered:
    (found,) = [a for a in run.of_type(ROLE_ASSIGNMENT) if a.inputs["roleDefinitionId"].endswith(f"/{role}")]
    return found


def aks_needs(run: ProgramRun) -> dict[str, Registered]:
    # AKS's node pool is part of the managed cluster resource.
    return {
        "nodes": run.one("azure-native:containerservice:ManagedCluster"),
        "pull rights": role_assignment(run, ACR_PULL),
        "Kubernetes rights": role_assignment(run, AKS_RBAC_CLUSTER_ADMIN),
    }


class SentinelAzure(FakeCloud):
    """The fake cloud, with a deployer, a tenant and an Entra token no other test uses."""

    DEPLOYER = "deployer-object-id-sentinel"
    TENANT = "tenant-sentinel"
    ENTRA_TOKEN = "entra-token-sentinel"

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        answer, failures = super().call(args)
        if args.token == "azure-native:authorization:getClientConfig":
            answer = {**answer, "tenantId": self.TENANT, "objectId": self.DEPLOYER}
        if args.token == "azure-native:authorization:getClientToken":
            answer = {"token": self.ENTRA_TOKEN}
        return answer, failures


def test_aks_every_kubernetes_object_waits_for_the_deployers_cluster_rights() -> None:
    run = stack_run("aks")
    admin = role_assignment(run, AKS_RBAC_CLUSTER_ADMIN)
    for obj in run.kubernetes_objects():
        assert admin.urn in transitive_dependencies(run, obj), obj.type


def test_aks_role_assignments_give_each_identity_only_its_job() -> None:
    run = run_program("aks", mocks=SentinelAzure())
    assert run.error is None, run.error
    cluster = run.one("azure-native:containerservice:ManagedCluster")
    registry = run.one("azure-native:containerregistry:Registry")
    deployer = SentinelAzure.DEPLOYER
    kubelet = cluster.state["identityProfile"]["kubeletidentity"]["objectId"]
    granted = {
        (a.inputs["roleDefinitionId"].rsplit("/", 1)[1], a.inputs["principalId"], a.inputs["scope"])
        for a in run.of_type(ROLE_ASSIGNMENT)
    }
    assert granted == {
        (ACR_PULL, kubelet, registry.id),
        (ACR_PUSH, deployer, registry.id),
        (AKS_RBAC_CLUSTER_ADMIN, deployer, cluster.id),
    }


EXCHANGE_PROGRAM = """
import pulumi
from components.aks import AksCluster, AksClusterArgs

def exchange(login_server: str, tenant: str, token: str) -> str:
    return f"exchanged:{login_server}:{tenant}:{token}"

cluster = AksCluster("aks", AksClusterArgs(
    location="westeurope", subscription_id="00000000-0000-0000-0000-000000000000",
    allowed_cidrs=["203.0.113.0/24"], token_exchange=exchange))
pulumi.export("address", cluster.registry_login.address)
pulumi.export("username", cluster.registry_login.username)
pulumi.export("password", cluster.registry_login.password)
"""


def test_aks_push_token_is_exchanged_from_the_deployers_entra_token(tmp_path: Path) -> None:
    program = tmp_path / "exchange.py"
    program.write_text(EXCHANGE_PROGRAM)
    run = run_program("aks", program=program, mocks=SentinelAzure())
    assert run.error is None, run.error
    login_server = run.one("azure-native:containerregistry:Registry").state["loginServer"]
    assert run.outputs["address"].value == login_server
    password = run.outputs["password"]
    assert password.secret
    assert password.value == f"exchanged:{login_server}:{SentinelAzure.TENANT}:{SentinelAzure.ENTRA_TOKEN}"


def test_aks_image_logs_in_to_the_clusters_own_registry_with_a_secret() -> None:
    # Under mocks the full program switches the exchange off (it would call the registry); the login is the same.
    run = stack_run("aks")
    login = run.one(IMAGE).inputs["registries"][0]
    assert login["address"] == run.one("azure-native:containerregistry:Registry").state["loginServer"]
    assert any(path.startswith("registries") for path in run.one(IMAGE).secret_inputs)


def test_aks_enables_application_routing_only_with_a_host() -> None:
    def profile(run: ProgramRun) -> Any:
        return run.one("azure-native:containerservice:ManagedCluster").inputs.get("ingressProfile")

    assert profile(featured("aks")) == {"webAppRouting": {"enabled": True}}
    assert profile(stack_run("aks")) is None


def test_pods_wait_for_nodes_and_pull_rights(aks: ProgramRun) -> None:
    clouds.assert_pods_wait_for(aks, aks_needs(aks))
