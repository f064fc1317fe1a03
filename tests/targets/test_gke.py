"""Target gke with the real Pulumi.gke.yaml, under mocks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime import mocks as pulumi_mocks

from components.gke import gcp_id, nodes_per_zone
from tests.support import clouds
from tests.support.features import featured
from tests.support.workload import SERVICE
from tools.verify.fake_clouds import FakeCloud
from tools.verify.mock_runner import ProgramRun, Registered, run_program

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
REGISTRY = "gcp:artifactregistry/repository:Repository"
PROTECTED = [CLUSTER, REGISTRY]


@pytest.fixture(scope="module")
def gke() -> ProgramRun:
    return clouds.run_stack("gke")


def test_cluster_without_default_pool_on_a_release_channel_with_workload_identity(gke: ProgramRun) -> None:
    cluster = gke.one(CLUSTER).inputs
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["releaseChannel"]["channel"] == "REGULAR"
    assert cluster["workloadIdentityConfig"]["workloadPool"] == "acme-kubeport.svc.id.goog"
    assert cluster["enableShieldedNodes"] is True
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"  # enforces NetworkPolicy
    assert cluster["deletionProtection"] is True


def test_private_nodes_and_master_authorized_networks(gke: ProgramRun) -> None:
    cluster = gke.one(CLUSTER).inputs
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is False
    blocks = cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"]
    assert [b["cidrBlock"] for b in blocks] == ["203.0.113.0/24"]
    subnet = gke.one("gcp:compute/subnetwork:Subnetwork").inputs
    assert subnet["privateIpGoogleAccess"] is True


def test_node_pool_is_managed_shielded_and_runs_as_its_own_account(gke: ProgramRun) -> None:
    pool = gke.one(NODE_POOL).inputs
    account = gke.one("gcp:serviceaccount/account:Account")
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
    config = pool["nodeConfig"]
    assert config["serviceAccount"] == account.state["email"]
    assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert config["workloadMetadataConfig"]["mode"] == "GKE_METADATA"
    # The v1beta1 metadata endpoints leak instance credentials to pods: they stay off.
    assert config["metadata"]["disable-legacy-endpoints"] == "true"
    assert pool["nodeLocations"] == ["europe-west1-b", "europe-west1-c"]
    assert pool["nodeCount"] == 1  # two zones, two nodes in total
    roles = {m.inputs["role"] for m in gke.of_type("gcp:projects/iAMMember:IAMMember")}
    assert roles == {"roles/container.defaultNodeServiceAccount"}


def test_node_account_reads_the_registry(gke: ProgramRun) -> None:
    account, registry = gke.one("gcp:serviceaccount/account:Account"), gke.one(REGISTRY)
    (reader,) = gke.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert reader.inputs["role"] == "roles/artifactregistry.reader"
    assert reader.inputs["member"] == f"serviceAccount:{account.state['email']}"
    assert reader.inputs["repository"] == registry.state["name"]
    assert registry.inputs["dockerConfig"]["immutableTags"] is True
    assert registry.inputs["format"] == "DOCKER"


def test_kubeconfig_uses_the_gke_auth_plugin(gke: ProgramRun) -> None:
    config = json.loads(gke.outputs["kubeconfig"].value)
    exec_config = config["users"][0]["user"]["exec"]
    assert exec_config["command"] == "gke-gcloud-auth-plugin" and exec_config["provideClusterInfo"] is True
    assert config["clusters"][0]["cluster"]["server"] == "https://34.0.0.1"


class SentinelGoogle(FakeCloud):
    """The fake cloud, answering the deployer's access token with a value no other test uses."""

    TOKEN = "gcp-access-token-sentinel"

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        answer, failures = super().call(args)
        if args.token == "gcp:organizations/getClientConfig:getClientConfig":
            answer = {**answer, "accessToken": self.TOKEN}
        return answer, failures


def test_push_uses_the_deployers_oauth_token() -> None:
    run = run_program("gke", mocks=SentinelGoogle())
    assert run.error is None, run.error
    image = run.one("docker-build:index:Image")
    registry = image.inputs["registries"][0]
    assert registry == {
        "address": "europe-west1-docker.pkg.dev",
        "username": "oauth2accesstoken",
        "password": SentinelGoogle.TOKEN,
    }
    assert any(path.startswith("registries") for path in image.secret_inputs)
    assert SentinelGoogle.TOKEN not in repr(run.outputs)


def test_workload_and_image(gke: ProgramRun) -> None:
    clouds.assert_kubernetes_objects_use_the_cluster_provider(gke)
    clouds.assert_cloud_resources_use_one_explicit_provider(gke, "gcp")
    clouds.assert_image_pushed_to_registry_and_run_by_digest(
        gke, "europe-west1-docker.pkg.dev/acme-kubeport/kubeport-gke/kubeport-web:"
    )
    clouds.assert_load_balancer_service(gke, {"cloud.google.com/l4-rbs": "enabled"})
    clouds.assert_replicas_at_least_two(gke)
    clouds.assert_outputs_and_secrets(gke)


def test_cluster_and_registry_protected_unless_released(gke: ProgramRun) -> None:
    clouds.assert_protected(gke, PROTECTED)
    released = clouds.assert_release_protection_unprotects("gke", PROTECTED)
    assert released.one(CLUSTER).inputs["deletionProtection"] is False


def test_same_workload_as_minikube(gke: ProgramRun) -> None:
    clouds.assert_same_workload_as_minikube(gke)


def test_imports_only_pulumi_gcp() -> None:
    clouds.assert_only_its_own_cloud_sdk("gke")


def test_ids_fit_gcp_limits() -> None:
    assert gcp_id("kp", "gke", "Production_EU") == "kp-gke-production-eu"
    assert len(gcp_id("kp", "gke", "x" * 80)) == 30
    assert [nodes_per_zone(n) for n in (1, 2, 3, 4)] == [1, 1, 2, 2]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"project": None}, "kubeport:project"),
        ({"project": "Acme Prod"}, "kubeport:project"),
        ({"region": "eu-west-1"}, "kubeport:region"),
        ({"allowedCidrs": "203.0.113.0/24"}, "kubeport:allowedCidrs"),
        ({"nodeSize": "e2 standard"}, "kubeport:nodeSize"),
    ],
)
def test_bad_gke_config_is_rejected_before_any_resource(overrides: dict[str, str | None], key: str) -> None:
    clouds.assert_rejected_before_any_resource("gke", overrides, key)


def gke_needs(run: ProgramRun) -> dict[str, Registered]:
    return {
        "nodes": run.one("gcp:container/nodePool:NodePool"),
        "pull rights": run.one("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"),
    }


def test_gke_asks_for_container_native_load_balancing_behind_its_ingress() -> None:
    annotations = featured("gke").one(SERVICE).inputs["metadata"]["annotations"]
    assert json.loads(annotations["cloud.google.com/neg"]) == {"ingress": True}


def test_pods_wait_for_nodes_and_pull_rights(gke: ProgramRun) -> None:
    clouds.assert_pods_wait_for(gke, gke_needs(gke))
