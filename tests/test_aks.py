"""Target aks with the real Pulumi.aks.yaml, under mocks."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest
import yaml

from components.aks import ACR_PULL_ROLE, acr_refresh_token
from tests import clouds
from tests.local_http import QuietHandler, serving
from tools.offline import ProgramRun

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
