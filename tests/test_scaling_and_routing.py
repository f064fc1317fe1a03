"""Autoscaling (HorizontalPodAutoscaler) and routing by host name (Ingress), on every stack profile.

Each profile is run with the features on, under mocks, with its real stack file; the objects must be the
same everywhere apart from what the Platform carries (which Ingress controller, what it reads).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from tests.workload import DEPLOYMENT, PDB, SERVICE, stack_run
from tools.diff import workload_differences
from tools.offline import ProgramRun, Registered, app_stack_names, run_program, stack_config

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HOST = "shop.example.com"
FEATURES = {"autoscaling": "true", "minReplicas": "2", "maxReplicas": "6", "cpuTarget": "65", "host": HOST}
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
    if config["kubeport:target"] == "app":
        return stack_config(config["kubeport:clusterStack"].rsplit("/", 1)[-1])[0]
    return config


def target_of(stack: str) -> str:
    return cluster_config(stack)["kubeport:target"]


def expected_class(stack: str) -> tuple[str | None, dict[str, str]]:
    own = stack_config(stack)[0]["kubeport:target"]
    if own == "app" and target_of(stack) == "existing":
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


@pytest.fixture(params=app_stack_names(), scope="module")
def stack(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_the_autoscaler_scales_the_deployment_within_its_bounds(stack: str) -> None:
    run = featured(stack)
    spec = run.one(HPA).inputs["spec"]
    deployment = run.one(DEPLOYMENT).inputs
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 6)
    (metric,) = spec["metrics"]
    assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 65}}
    # Utilisation is a share of the request: every container the autoscaler measures must request CPU.
    assert all(c["resources"]["requests"]["cpu"] for c in deployment["spec"]["template"]["spec"]["containers"])
    assert run.one(HPA).inputs["metadata"]["namespace"] == deployment["metadata"]["namespace"]


def test_up_never_fights_the_autoscaler(stack: str) -> None:
    # The Deployment starts at the minimum and then ignores its replica count: an update sends the live count.
    deployment = featured(stack).one(DEPLOYMENT)
    assert deployment.inputs["spec"]["replicas"] == featured(stack).one(HPA).inputs["spec"]["minReplicas"]
    assert deployment.ignore_changes == ["spec.replicas"]
    assert stack_run(stack).one(DEPLOYMENT).ignore_changes == []


def test_the_disruption_budget_leaves_the_minimum_running(stack: str) -> None:
    run = featured(stack)
    budget = run.one(PDB).inputs["spec"]
    assert budget["maxUnavailable"] < run.one(HPA).inputs["spec"]["minReplicas"]


def ingress_backend(run: ProgramRun) -> dict[str, Any]:
    (rule,) = run.one(INGRESS).inputs["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (rule["host"], path["path"], path["pathType"]) == (HOST, "/", "Prefix")
    backend: dict[str, Any] = path["backend"]["service"]
    return backend


def test_the_ingress_routes_the_host_to_the_service_port(stack: str) -> None:
    run = featured(stack)
    service = run.one(SERVICE).inputs
    backend = ingress_backend(run)
    assert backend["name"] == service["metadata"]["name"]
    named = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert backend["port"]["name"] in named


def test_the_ingress_goes_to_the_targets_controller(stack: str) -> None:
    run = featured(stack)
    ingress = run.one(INGRESS).inputs
    class_name, annotations = expected_class(stack)
    assert ingress["spec"].get("ingressClassName") == class_name
    assert annotations.items() <= (ingress["metadata"].get("annotations") or {}).items()


def test_the_url_is_the_host_and_the_dns_target_is_exported(stack: str) -> None:
    run = featured(stack)
    assert run.outputs["url"].value == f"http://{HOST}"
    (address,) = run.one(INGRESS).state["status"]["loadBalancer"]["ingress"]
    assert run.outputs["ingressAddress"].value == (address.get("ip") or address["hostname"])


def test_tls_makes_the_url_https_with_the_secret(stack: str) -> None:
    run = run_program(stack, features_for(stack, tlsSecret="shop-tls"))
    assert run.error is None, run.error
    assert run.one(INGRESS).inputs["spec"]["tls"] == [{"hosts": [HOST], "secretName": "shop-tls"}]
    assert run.outputs["url"].value == f"https://{HOST}"


@pytest.mark.parametrize("cloud", ["eks", "aks", "gke"])
def test_behind_an_ingress_a_cloud_service_is_cluster_internal(cloud: str) -> None:
    service = featured(cloud).one(SERVICE).inputs
    assert service["spec"]["type"] == "ClusterIP"
    assert not any("load-balancer" in k or "l4-rbs" in k for k in (service["metadata"].get("annotations") or {}))


def test_gke_asks_for_container_native_load_balancing_behind_its_ingress() -> None:
    annotations = featured("gke").one(SERVICE).inputs["metadata"]["annotations"]
    assert json.loads(annotations["cloud.google.com/neg"]) == {"ingress": True}


def test_without_the_features_nothing_changes(stack: str) -> None:
    run = stack_run(stack)
    assert run.of_type(HPA) == [] and run.of_type(INGRESS) == []
    assert "ingressAddress" not in run.outputs
    assert isinstance(run.one(DEPLOYMENT).inputs["spec"]["replicas"], float | int)


# --- what each cloud adds for the features ---------------------------------------------------------------


def one_named(run: ProgramRun, type_: str, name_part: str) -> Registered:
    (found,) = [r for r in run.of_type(type_) if name_part in r.name]
    return found


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


def test_aks_enables_application_routing_only_with_a_host() -> None:
    def profile(run: ProgramRun) -> Any:
        return run.one("azure-native:containerservice:ManagedCluster").inputs.get("ingressProfile")

    assert profile(featured("aks")) == {"webAppRouting": {"enabled": True}}
    assert profile(stack_run("aks")) is None


@pytest.mark.parametrize(("a", "b"), [("eks", "gke"), ("aks", "gke"), ("eks", "aks"), ("dev", "eks")])
def test_with_the_features_clouds_still_differ_only_by_the_platform(a: str, b: str) -> None:
    differences = workload_differences(featured(a), featured(b))
    assert [d.line() for d in differences if not d.carried_by] == []


# --- bad combinations stop before any resource --------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "values", "key"),
    [
        ("dev", {"autoscaling": "true", "minReplicas": "4", "maxReplicas": "3"}, "kubeport:maxReplicas"),
        ("dev", {"autoscaling": "true", "minReplicas": "0"}, "kubeport:minReplicas"),
        ("dev", {"autoscaling": "true", "replicas": "3"}, "kubeport:replicas"),
        ("dev", {"autoscaling": "true", "cpuTarget": "0"}, "kubeport:cpuTarget"),
        ("dev", {"autoscaling": "true", "cpuTarget": "101"}, "kubeport:cpuTarget"),
        ("dev", {"maxReplicas": "8"}, "kubeport:maxReplicas"),
        ("eks", {"autoscaling": "true", "minReplicas": "1"}, "kubeport:minReplicas"),
        ("dev", {"tlsSecret": "shop-tls"}, "kubeport:tlsSecret"),
        ("dev", {"host": "not a host"}, "kubeport:host"),
        ("dev", {"host": "localhost"}, "kubeport:host"),
        ("local-a", {"host": HOST}, "kubeport:ingressClass"),
        ("eks", {"host": HOST, "ingressClass": "nginx"}, "kubeport:ingressClass"),
    ],
)
def test_bad_combinations_are_refused_before_any_resource(stack: str, values: dict[str, str], key: str) -> None:
    run = run_program(stack, dict(values))
    assert run.error is not None, values
    assert key in str(run.error), str(run.error)
    assert run.resources == []
