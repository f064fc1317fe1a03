"""Autoscaling (HorizontalPodAutoscaler) and routing by host name (Ingress), on every stack profile.

Each profile is run with the features on, under mocks, with its real stack file; the objects must be the
same everywhere apart from what the Platform carries (which Ingress controller, what it reads).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.features import HOST, HPA, INGRESS, expected_class, featured, features_for
from tests.support.workload import DEPLOYMENT, PDB, SERVICE, stack_run
from tools.stack_files import app_stack_names
from tools.verify.diff import workload_differences
from tools.verify.mock_runner import ProgramRun, run_program


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
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 6)
    (metric,) = spec["metrics"]
    assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 65}}
    # Utilisation is a share of the request: every container the autoscaler measures must request CPU.
    assert all(c["resources"]["requests"]["cpu"] for c in deployment["spec"]["template"]["spec"]["containers"])
    assert run.one(HPA).inputs["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    # It removes pods only after the load has stayed low for the configured window.
    assert spec["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 120}}


def test_the_scale_down_window_defaults_to_kubernetes_own() -> None:
    values = {k: v for k, v in features_for("dev").items() if k != "scaleDownWindow"}
    spec = run_program("dev", values).one(HPA).inputs["spec"]
    assert spec["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 300}}


def test_up_never_fights_the_autoscaler(stack: str) -> None:
    # The Deployment starts at the minimum and then ignores its replica count: an update sends the live count.
    deployment = featured(stack).one(DEPLOYMENT)
    assert deployment.inputs["spec"]["replicas"] == featured(stack).one(HPA).inputs["spec"]["minReplicas"] == 3
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


def test_without_the_features_nothing_changes(stack: str) -> None:
    run = stack_run(stack)
    assert run.of_type(HPA) == [] and run.of_type(INGRESS) == []
    assert "ingressAddress" not in run.outputs
    assert isinstance(run.one(DEPLOYMENT).inputs["spec"]["replicas"], float | int)


# --- what each cloud adds for the features ---------------------------------------------------------------


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
        ("dev", {"autoscaling": "true", "scaleDownWindow": "3601"}, "kubeport:scaleDownWindow"),
        ("dev", {"scaleDownWindow": "60"}, "kubeport:scaleDownWindow"),
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
