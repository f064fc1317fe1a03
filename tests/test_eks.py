"""Target eks with the real Pulumi.eks.yaml, under mocks."""

from __future__ import annotations

import json

import pytest

from tests import clouds
from tools.offline import ProgramRun, run_program

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
REPOSITORY = "aws:ecr/repository:Repository"
PROTECTED = [CLUSTER, REPOSITORY]


@pytest.fixture(scope="module")
def eks() -> ProgramRun:
    return clouds.run_stack("eks")


def test_cluster_logs_encrypts_secrets_and_limits_its_public_endpoint(eks: ProgramRun) -> None:
    cluster = eks.one(CLUSTER).inputs
    assert set(cluster["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    encryption = cluster["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    key = eks.one("aws:kms/key:Key")
    assert encryption["provider"]["keyArn"] == key.state["arn"] and key.inputs["enableKeyRotation"] is True
    vpc = cluster["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_private_api_has_no_public_endpoint() -> None:
    run = run_program("eks", {"privateApi": "true", "allowedCidrs": "[]"})
    assert run.error is None, run.error
    vpc = run.one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False and "publicAccessCidrs" not in vpc


def test_network_spans_two_zones_with_nodes_in_private_subnets(eks: ProgramRun) -> None:
    subnets = {s.name: s.inputs for s in eks.of_type("aws:ec2/subnet:Subnet")}
    private = [v for k, v in subnets.items() if "private" in k]
    public = [v for k, v in subnets.items() if "public" in k]
    assert len(private) == 2 and len(public) == 2
    assert len({s["availabilityZone"] for s in private}) == 2
    assert all(not s.get("mapPublicIpOnLaunch") for s in subnets.values())
    node_group = eks.one(NODE_GROUP).inputs
    # Subnets register concurrently: compare which subnets, not in which order they were registered.
    private_ids = {s.id for s in eks.of_type("aws:ec2/subnet:Subnet") if "private" in s.name}
    assert set(node_group["subnetIds"]) == private_ids and len(node_group["subnetIds"]) == len(private_ids)
    assert node_group["scalingConfig"]["desiredSize"] == 2


def test_existing_vpc_creates_no_network() -> None:
    run = run_program(
        "eks",
        {"vpcId": "vpc-0123456789abcdef0", "subnetIds": '["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]'},
    )
    assert run.error is None, run.error
    assert run.of_type("aws:ec2/vpc:Vpc") == [] and run.of_type("aws:ec2/subnet:Subnet") == []
    assert run.one(NODE_GROUP).inputs["subnetIds"] == ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]


def test_nodes_require_imdsv2_through_their_launch_template(eks: ProgramRun) -> None:
    template = eks.one("aws:ec2/launchTemplate:LaunchTemplate")
    metadata = template.inputs["metadataOptions"]
    assert metadata["httpTokens"] == "required" and metadata["httpPutResponseHopLimit"] == 1
    assert eks.one(NODE_GROUP).inputs["launchTemplate"]["id"] == template.id


def test_node_role_can_read_ecr(eks: ProgramRun) -> None:
    node_group = eks.one(NODE_GROUP)
    node_role = next(r for r in eks.of_type("aws:iam/role:Role") if r.state["arn"] == node_group.inputs["nodeRoleArn"])
    assert json.loads(node_role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"
    }
    attached = {
        a.inputs["policyArn"]
        for a in eks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == node_role.state["name"]
    }
    assert "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly" in attached


def test_ecr_scans_on_push_keeps_tags_immutable_and_expires_old_images(eks: ProgramRun) -> None:
    repository = eks.one(REPOSITORY)
    assert repository.inputs["imageScanningConfiguration"]["scanOnPush"] is True
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repository.inputs["forceDelete"] is False
    policy = eks.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs
    assert policy["repository"] == repository.state["name"]
    assert {r["action"]["type"] for r in json.loads(policy["policy"])["rules"]} == {"expire"}


def test_kubeconfig_authenticates_with_aws_eks_get_token(eks: ProgramRun) -> None:
    config = json.loads(eks.outputs["kubeconfig"].value)
    exec_config = config["users"][0]["user"]["exec"]
    assert exec_config["command"] == "aws"
    assert exec_config["args"][:2] == ["eks", "get-token"] and "eu-west-1" in exec_config["args"]
    assert "token" not in config["users"][0]["user"]


def test_workload_and_image(eks: ProgramRun) -> None:
    clouds.assert_kubernetes_objects_use_the_cluster_provider(eks)
    clouds.assert_cloud_resources_use_one_explicit_provider(eks, "aws")
    clouds.assert_image_pushed_to_registry_and_run_by_digest(eks, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/")
    clouds.assert_load_balancer_service(eks, {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"})
    clouds.assert_replicas_at_least_two(eks)
    clouds.assert_outputs_and_secrets(eks)


def test_workload_waits_for_the_node_group(eks: ProgramRun) -> None:
    node_group = eks.one(NODE_GROUP)
    deployment = eks.one("kubernetes:apps/v1:Deployment")
    assert node_group.urn in deployment.dependencies


def test_cluster_and_registry_protected_unless_released(eks: ProgramRun) -> None:
    clouds.assert_protected(eks, PROTECTED)
    released = clouds.assert_release_protection_unprotects("eks", PROTECTED)
    assert released.one(REPOSITORY).inputs["forceDelete"] is True


def test_same_workload_as_minikube(eks: ProgramRun) -> None:
    clouds.assert_same_workload_as_minikube(eks)


def test_imports_only_pulumi_aws() -> None:
    clouds.assert_only_its_own_cloud_sdk("eks")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"region": "europe-west1"}, "kubeport:region"),
        ({"region": None}, "kubeport:region"),
        ({"allowedCidrs": "[]"}, "kubeport:allowedCidrs"),
        ({"allowedCidrs": '["10.0.0.1/8"]'}, "kubeport:allowedCidrs"),
        ({"vpcId": "vpc-0123456789abcdef0"}, "kubeport:subnetIds"),
        ({"project": "acme-prod"}, "kubeport:project"),
        ({"nodeCount": "0"}, "kubeport:nodeCount"),
        ({"registry": "local"}, "kubeport:registry"),
    ],
)
def test_bad_eks_config_is_rejected_before_any_resource(overrides: dict[str, str | None], key: str) -> None:
    clouds.assert_rejected_before_any_resource("eks", overrides, key)
