"""kubeport:releaseStrategy canary on EKS, AKS and GKE, under mocks: the same judge and weighted HTTPRoute as on
target existing, routed by Traefik (components.traefik_gateway says why) with the Gateway API CRDs, behind each
cloud's layer-4 load balancer; the chart's values hold against the chart's own published schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from components import traefik_gateway
from components.traefik_gateway import GATEWAY_CLASS, METRICS, chart_values
from stacks import aks, eks, gke
from tools.stack_files import ROOT
from tools.verify.mock_runner import ProgramRun, Registered, run_program

HOST = "shop.example.com"
CANARY = {"releaseStrategy": "canary", "host": HOST, "canarySteps": "10,50,100"}
RELEASE = "kubernetes:helm.sh/v3:Release"
CRDS = "kubernetes:yaml/v2:ConfigFile"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
DYNAMIC = "pulumi-python:dynamic:Resource"
LOAD_BALANCER_ANNOTATIONS = {
    "eks": eks.SERVICE_ANNOTATIONS,
    # Azure's default TCP probe: an HTTP probe would ask Traefik for a host it does not route.
    "aks": {},
    "gke": gke.SERVICE_ANNOTATIONS,
}
SCHEMA = ROOT / "tests" / "schemas" / f"traefik-chart-{traefik_gateway.CHART_VERSION}.values.schema.json"


def canary_run(cloud: str, **extra: str) -> ProgramRun:
    run = run_program(cloud, {**CANARY, **extra})
    assert run.error is None, f"{cloud}: {run.error}"
    return run


def traefik(run: ProgramRun) -> Registered:
    (release,) = [r for r in run.of_type(RELEASE) if r.inputs.get("chart") == "traefik"]
    return release


@pytest.fixture(params=["eks", "aks", "gke"], scope="module")
def cloud(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_traefik_comes_from_its_pinned_chart_with_only_its_gateway_api_provider(cloud: str) -> None:
    release = traefik(canary_run(cloud)).inputs
    assert (release["chart"], release["version"]) == ("traefik", traefik_gateway.CHART_VERSION)
    assert release["repositoryOpts"] == {"repo": "https://traefik.github.io/charts"}
    assert (release["name"], release["namespace"]) == ("kubeport-traefik", "kubeport-traefik")
    values = release["values"]
    assert values["providers"] == {
        "kubernetesGateway": {"enabled": True},
        "kubernetesIngress": {"enabled": False},
        "kubernetesCRD": {"enabled": False},
    }
    # Never the cluster's default IngressClass, no Gateway of the chart's own, no dashboard.
    assert values["ingressClass"] == {"enabled": False} and values["gateway"] == {"enabled": False}
    assert values["api"] == {"dashboard": False}
    assert values["gatewayClass"] == {"enabled": True, "name": GATEWAY_CLASS}
    assert values["deployment"]["replicas"] == 2 and values["podDisruptionBudget"]["minAvailable"] == 1
    assert values["service"] == {"type": "LoadBalancer", "annotations": LOAD_BALANCER_ANNOTATIONS[cloud]}


def test_the_gateway_api_crds_come_first_at_the_local_nodes_version(cloud: str) -> None:
    run = canary_run(cloud)
    crds = run.one(CRDS)
    assert crds.inputs["file"] == (
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/"
        f"v{traefik_gateway.GATEWAY_API_VERSION}/standard-install.yaml"
    )
    assert crds.urn in traefik(run).dependencies
    gateway = run.one(GATEWAY)
    assert {crds.urn, traefik(run).urn} <= set(gateway.dependencies)
    for route in run.of_type(ROUTE):
        assert {crds.urn, traefik(run).urn} <= set(route.dependencies)


def test_the_hosts_gateway_listens_on_traefiks_entry_points_and_routes_by_weight(cloud: str) -> None:
    run = canary_run(cloud, tlsSecret="shop-tls")
    spec = run.one(GATEWAY).inputs["spec"]
    assert spec["gatewayClassName"] == GATEWAY_CLASS
    assert {lst["name"]: lst["port"] for lst in spec["listeners"]} == {"http": 8000, "https": 8443}
    ports = traefik(run).inputs["values"]["ports"]
    assert (ports["web"]["port"], ports["web"]["exposedPort"]) == (8000, 80)
    assert (ports["websecure"]["port"], ports["websecure"]["exposedPort"]) == (8443, 443)
    routes = {r.name: r.inputs["spec"] for r in run.of_type(ROUTE)}
    (rule,) = routes["web-canary-route"]["rules"]
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [("web", 100), ("web-canary", 0)]
    assert run.of_type(INGRESS) == [], "the Gateway replaces the cloud's Ingress"
    assert run.outputs["url"].value == f"https://{HOST}"
    assert "ingressAddress" in run.outputs, "where the host's DNS record points: Traefik's load balancer"


def test_the_judge_reads_traefiks_metrics_through_the_api_server_with_the_clusters_kubeconfig(cloud: str) -> None:
    run = canary_run(cloud)
    (judge,) = [r for r in run.of_type(DYNAMIC) if r.name.endswith("web-canary-judge")]
    assert judge.inputs["metrics"] == METRICS == "kubeport-traefik/kubeport-traefik-metrics:9100"
    assert judge.inputs["kubeContext"] == ""
    assert judge.inputs["kubeconfig"] and "kubeconfig" in judge.secret_inputs
    assert judge.inputs["steps"] == [10, 50, 100]
    metrics = traefik(run).inputs["values"]["metrics"]["prometheus"]
    assert metrics["addServicesLabels"] is True and metrics["service"] == {"enabled": True}


def test_only_the_canarys_routing_is_installed(cloud: str) -> None:
    rolling = run_program(cloud, {"host": HOST})
    assert rolling.error is None and not [r for r in rolling.of_type(RELEASE) if r.inputs.get("chart") == "traefik"]
    assert not rolling.of_type(CRDS) and not rolling.of_type(GATEWAY)
    if cloud == "eks":
        # The ALB controller serves Ingresses; with a canary the host needs none.
        charts = [r.inputs["chart"] for r in canary_run(cloud).of_type(RELEASE)]
        assert charts == ["traefik"], charts


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(Path(SCHEMA).read_text())
    return loaded


@pytest.mark.parametrize("annotations", [{}, eks.SERVICE_ANNOTATIONS, gke.SERVICE_ANNOTATIONS])
def test_the_chart_values_hold_against_the_charts_published_schema(annotations: dict[str, str]) -> None:
    jsonschema.Draft202012Validator(schema()).validate(chart_values(annotations))


def test_the_schema_refuses_a_misspelt_value() -> None:
    values = chart_values({})
    values["providers"]["kubernetesGateways"] = values["providers"].pop("kubernetesGateway")
    with pytest.raises(jsonschema.ValidationError, match="kubernetesGateways"):
        jsonschema.Draft202012Validator(schema()).validate(values)


def test_the_clouds_run_the_traefik_and_gateway_api_the_local_node_verifies() -> None:
    versions = dict(
        line.split("=", 1)
        for line in (ROOT / "toolchain" / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert versions["TRAEFIK_VERSION"] == traefik_gateway.TRAEFIK_VERSION
    assert versions["GATEWAY_API_VERSION"] == traefik_gateway.GATEWAY_API_VERSION
    assert aks.SERVICE_ANNOTATIONS, "the app's own Service keeps its HTTP probe on AKS"
