"""Target eks with the real Pulumi.eks.yaml, under mocks."""

from __future__ import annotations

import json

import pytest

from stacks.handoff import FACTS
from tests.support import clouds
from tests.support.features import INGRESS, featured, features_for, one_named
from tests.support.workload import stack_run
from tools.verify.mock_runner import ProgramRun, Registered, run_program

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


def test_network_policies_are_enforced_before_any_node_joins(eks: ProgramRun) -> None:
    """The VPC CNI add-on with its network policy agent on (EKS's default plugin admits NetworkPolicies and enforces
    none), taking over the self-managed plugin, and the node group waiting for it."""
    (cni,) = [a for a in eks.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "vpc-cni"]
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert cni.inputs["resolveConflictsOnCreate"] == cni.inputs["resolveConflictsOnUpdate"] == "OVERWRITE"
    assert cni.urn in eks.one(NODE_GROUP).dependencies


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


def eks_needs(run: ProgramRun) -> dict[str, Registered]:
    node_group = run.one("aws:eks/nodeGroup:NodeGroup")
    node_role = next(r for r in run.of_type("aws:iam/role:Role") if r.state["arn"] == node_group.inputs["nodeRoleArn"])
    (ecr_read,) = [
        a
        for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == node_role.state["name"] and a.inputs["policyArn"].endswith("ContainerRegistryReadOnly")
    ]
    return {"nodes": node_group, "pull rights": ecr_read}


def test_eks_installs_metrics_server_only_for_the_autoscaler() -> None:
    addons = {r.inputs["addonName"] for r in featured("eks").of_type("aws:eks/addon:Addon")}
    assert "metrics-server" in addons
    plain = {r.inputs["addonName"] for r in stack_run("eks").of_type("aws:eks/addon:Addon")}
    assert "metrics-server" not in plain


def test_eks_load_balancer_controller_gets_its_rights_through_pod_identity() -> None:
    run = featured("eks")
    (release,) = run.helm_releases()
    values = release.inputs["values"]
    association = run.one("aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs
    assert (association["namespace"], association["serviceAccount"]) == (
        release.inputs["namespace"],
        values["serviceAccount"]["name"],
    )
    role = next(r for r in run.of_type("aws:iam/role:Role") if r.state["arn"] == association["roleArn"])
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert values["enableServiceMutatorWebhook"] is False
    # The Ingress waits for the controller (its webhook admits Ingresses); the controller for its rights.
    assert release.urn in run.one(INGRESS).dependencies
    assert any("pod-identity" in urn for urn in release.dependencies)


def test_eks_load_balancer_controller_policy_is_least_privilege() -> None:
    run = featured("eks")
    policy = json.loads(one_named(run, "aws:iam/policy:Policy", "alb-controller").inputs["policy"])
    actions = [a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert all(not a.endswith(":*") and a != "*" for a in actions)
    assert not any(a.split(":")[0] in {"waf", "waf-regional", "wafv2", "shield", "cognito-idp"} for a in actions)
    mutating = [
        s
        for s in policy["Statement"]
        if any(a.startswith("elasticloadbalancing:Delete") for a in s["Action"]) and s["Resource"] == "*"
    ]
    assert mutating and all("Condition" in s for s in mutating), "deletes only what the controller tagged"


def test_an_eks_cluster_stack_prepares_metrics_and_the_ingress_controller_for_its_apps() -> None:
    run = stack_run("eks-cluster")
    assert "metrics-server" in {r.inputs["addonName"] for r in run.of_type("aws:eks/addon:Addon")}
    assert len(run.helm_releases()) == 1
    assert run.outputs[FACTS].value["ingress"]["className"] == "alb"
    assert run.outputs[FACTS].value["nodesPullFrom"] == [run.outputs["registry"].value.split("/", 1)[0]]


def test_pods_wait_for_nodes_and_pull_rights(eks: ProgramRun) -> None:
    clouds.assert_pods_wait_for(eks, eks_needs(eks))


def alb_listens_on(run: ProgramRun) -> set[tuple[str, int]]:
    """The (protocol, port) pairs the ALB listens on; the controller defaults to HTTP on 80."""
    annotations = run.one(INGRESS).inputs["metadata"]["annotations"]
    listed = json.loads(annotations.get("alb.ingress.kubernetes.io/listen-ports", '[{"HTTP": 80}]'))
    return {(protocol, port) for entry in listed for protocol, port in entry.items()}


@pytest.mark.parametrize("tls", [True, False])
def test_the_url_scheme_is_what_the_alb_listens_on(tls: bool) -> None:
    run = run_program("eks", {**features_for("eks"), **({"tlsSecret": "shop-tls"} if tls else {})})
    assert run.error is None, run.error
    url = run.outputs["url"].value
    listens = alb_listens_on(run)
    if url.startswith("https://"):
        assert ("HTTPS", 443) in listens, f"url {url} but the ALB listens on {listens}"
        redirect = run.one(INGRESS).inputs["metadata"]["annotations"].get("alb.ingress.kubernetes.io/ssl-redirect")
        assert redirect == "443", "plain HTTP is sent on to HTTPS"
    else:
        assert ("HTTP", 80) in listens
    assert url.startswith("https://") is tls
