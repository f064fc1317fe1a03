"""kubeport:releaseStrategy canary under mocks, on each stack of target existing (the clouds' own routing is in
test_canary_on_clouds.py), and refused with one message on minikube and app stacks of a cluster stack, and for
every key it needs.

What a release by canary adds beside the stable objects: a canary Deployment with the new pod template and no pods
at rest, its Service and NetworkPolicy, a Gateway of the configured class for the host, the HTTPRoute with the two
weighted backends, the judge that the stable Deployment waits for, and the promotion after it."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from components.canary import ABORTED
from components.pod_parts import RELEASE_ANNOTATION
from stacks.config import ConfigError, parse
from tests.support.workload import DEPLOYMENT, NETPOL, POD, SERVICE
from tools.stack_files import app_stack_names, stack_config
from tools.verify.fake_clouds import FakeCloud
from tools.verify.mock_runner import ProgramRun, Registered, run_program

HOST = "shop.example.com"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
DYNAMIC = "pulumi-python:dynamic:Resource"
CANARY = {
    "releaseStrategy": "canary",
    "host": HOST,
    "gatewayClass": "kubeport-local",
    "controllerMetrics": "http://10.250.0.2:8082/metrics",
    "canarySteps": "20,100",
    "canaryWindow": "15",
    "canaryMaxErrorRate": "2",
    "canaryMaxLatency": "250",
}
EXISTING = [s for s in app_stack_names() if stack_config(s)[0].get("kubeport:target") == "existing"]


def canary_run(stack: str, **extra: str) -> ProgramRun:
    run = run_program(stack, {**CANARY, **extra})
    assert run.error is None, f"{stack}: {run.error}"
    return run


def named(run: ProgramRun, type_: str, suffix: str) -> Registered:
    (found,) = [r for r in run.of_type(type_) if r.name.endswith(suffix)]
    return found


@pytest.fixture(params=EXISTING, scope="module")
def stack(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_the_canary_runs_the_new_template_with_no_pods_at_rest(stack: str) -> None:
    run = canary_run(stack)
    stable, canary = named(run, DEPLOYMENT, "web-deployment"), named(run, DEPLOYMENT, "web-canary-deployment")
    assert canary.inputs["spec"]["replicas"] == 0
    template, stable_template = canary.inputs["spec"]["template"], stable.inputs["spec"]["template"]
    assert template["spec"]["containers"] == stable_template["spec"]["containers"]
    assert (
        template["metadata"]["annotations"][RELEASE_ANNOTATION]
        == (stable_template["metadata"]["annotations"][RELEASE_ANNOTATION])
    )
    # Its pods are the canary's alone: neither the stable Service nor the stable Deployment selects them.
    canary_labels = template["metadata"]["labels"]
    assert canary_labels["app.kubernetes.io/component"] == "web-canary"
    stable_selector = named(run, SERVICE, "web-service").inputs["spec"]["selector"]
    assert not stable_selector.items() <= canary_labels.items()
    canary_service = named(run, SERVICE, "web-canary-service").inputs["spec"]
    assert canary_service["type"] == "ClusterIP" and canary_service["selector"].items() <= canary_labels.items()
    policy = named(run, NETPOL, "web-web-canary-netpol").inputs["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= canary_labels.items()
    assert policy["egress"] == [] and policy["policyTypes"] == ["Ingress", "Egress"]


def test_the_host_is_routed_by_weight_all_to_the_stable_release_at_rest(stack: str) -> None:
    run = canary_run(stack)
    gateway = run.one(GATEWAY).inputs
    assert gateway["spec"]["gatewayClassName"] == "kubeport-local"
    assert [(lst["name"], lst["port"], lst["hostname"]) for lst in gateway["spec"]["listeners"]] == [("http", 80, HOST)]
    route = run.one(ROUTE).inputs["spec"]
    assert route["hostnames"] == [HOST]
    assert route["parentRefs"] == [{"name": gateway["metadata"]["name"], "sectionName": "http"}]
    (rule,) = route["rules"]
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [("web", 100), ("web-canary", 0)]
    assert run.of_type(INGRESS) == [], "the route replaces the Ingress"
    assert run.outputs["url"].value == f"http://{HOST}"


def test_with_tls_the_gateway_terminates_it_and_port_80_redirects(stack: str) -> None:
    run = canary_run(stack, tlsSecret="shop-tls")
    listeners = {lst["name"]: lst for lst in run.one(GATEWAY).inputs["spec"]["listeners"]}
    assert listeners["https"]["port"] == 443
    assert listeners["https"]["tls"] == {
        "mode": "Terminate",
        "certificateRefs": [{"kind": "Secret", "name": "shop-tls"}],
    }
    routes = {r.name: r.inputs["spec"] for r in run.of_type(ROUTE)}
    assert routes["web-canary-route"]["parentRefs"][0]["sectionName"] == "https"
    (redirect,) = routes["web-canary-redirect-route"]["rules"]
    assert redirect["filters"] == [
        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
    ]
    assert run.outputs["url"].value == f"https://{HOST}"


def test_the_stable_deployment_waits_for_the_judge_and_the_promotion_for_the_rollout(stack: str) -> None:
    run = canary_run(stack)
    judge, promote = named(run, DYNAMIC, "web-canary-judge"), named(run, DYNAMIC, "web-canary-promote")
    stable = named(run, DEPLOYMENT, "web-deployment")
    assert judge.urn in stable.dependencies
    for before_judge in (named(run, DEPLOYMENT, "web-canary-deployment"), run.one(ROUTE)):
        assert before_judge.urn in judge.dependencies
    assert stable.urn in promote.dependencies and judge.urn in promote.dependencies
    smoke = [p for p in run.of_type(POD) if p.name.endswith("smoke")]
    assert all(pod.urn in promote.dependencies for pod in smoke)


def test_the_judge_gets_the_steps_bounds_metrics_and_release_of_the_stack(stack: str) -> None:
    run = canary_run(stack)
    judge = named(run, DYNAMIC, "web-canary-judge").inputs
    stable = named(run, DEPLOYMENT, "web-deployment").inputs
    assert (judge["phase"], judge["steps"], judge["window"]) == ("judge", [20, 100], 15)
    assert (judge["maxErrorRate"], judge["maxLatencyMs"]) == (2, 250)
    assert judge["metrics"] == "http://10.250.0.2:8082/metrics"
    assert judge["kubeContext"] == stack_config(stack)[0]["kubeport:kubeContext"]
    assert judge["release"] == stable["spec"]["template"]["metadata"]["annotations"][RELEASE_ANNOTATION]
    assert (judge["stable"], judge["canary"], judge["route"]) == ("web", "web-canary", "web")
    assert named(run, DYNAMIC, "web-canary-promote").inputs["phase"] == "promote"


class AbortedPhase(FakeCloud):
    """The verdict of one phase of the canary (`judge` or `promote`) comes back aborted, with `report`."""

    def __init__(self, phase: str, report: str) -> None:
        super().__init__()
        self.phase, self.report = phase, report

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        id_, state = super().new_resource(args)
        if args.typ == DYNAMIC and args.name.endswith(self.phase):
            state = {**state, "verdict": ABORTED, "report": self.report}
        return id_, state


def test_an_aborted_judge_fails_the_update_cleanly_before_the_stable_deployment_changes() -> None:
    run = run_program(
        EXISTING[0], CANARY, mocks=AbortedPhase("judge", "step 1 (20% of the traffic, 15s): error rate too high")
    )
    assert isinstance(run.error, pulumi.RunError), run.error
    assert "the canary release was aborted; the running release keeps serving" in str(run.error)
    assert "step 1 (20% of the traffic, 15s): error rate too high" in str(run.error)
    assert not [r for r in run.of_type(DEPLOYMENT) if r.name.endswith("web-deployment")]
    assert not [r for r in run.of_type(DYNAMIC) if r.name.endswith("promote")]


def test_a_promotion_that_could_not_put_the_traffic_back_fails_the_update_cleanly() -> None:
    run = run_program(EXISTING[0], CANARY, mocks=AbortedPhase("promote", "the API server answered 403 Forbidden"))
    assert isinstance(run.error, pulumi.RunError), run.error
    assert "the release rolled out, but its canary's promotion failed" in str(run.error)
    assert "403 Forbidden" in str(run.error)


def test_rolling_releases_have_no_canary_objects() -> None:
    run = run_program(EXISTING[0])
    assert run.error is None
    assert not run.of_type(DYNAMIC) and not run.of_type(ROUTE) and not run.of_type(GATEWAY)


def problems(**values: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse({f"kubeport:{k}": v for k, v in values.items()}, set())
    return err.value.problems


LOCAL = {"target": "existing", "kubeContext": "kubeport-node", "registryServer": "10.250.0.1:5443/kubeport"}


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"canaryWindow": "30"}, "kubeport:canaryWindow: only applies with kubeport:releaseStrategy canary"),
        ({"gatewayClass": "x"}, "kubeport:gatewayClass: only applies with kubeport:releaseStrategy canary"),
        ({"releaseStrategy": "blue-green"}, "kubeport:releaseStrategy: 'blue-green' is not accepted"),
        ({**CANARY, "host": ""}, "kubeport:releaseStrategy: canary needs kubeport:host"),
        ({**CANARY, "canarySteps": "50,10"}, "kubeport:canarySteps: '50,10' is not accepted; expected rising"),
        ({**CANARY, "canarySteps": "0,100"}, "kubeport:canarySteps: '0,100' is not accepted"),
        ({**CANARY, "canarySteps": "10,150"}, "kubeport:canarySteps: '10,150' is not accepted"),
        ({**CANARY, "gatewayClass": ""}, "kubeport:gatewayClass: is required with a canary on target existing"),
        ({**CANARY, "controllerMetrics": "traefik:9100"}, "kubeport:controllerMetrics: 'traefik:9100' is not"),
        ({**CANARY, "ingressClass": "nginx"}, "kubeport:ingressClass: does not apply with a canary"),
    ],
)
def test_a_canary_setting_that_cannot_work_is_refused_by_name(values: dict[str, str], says: str) -> None:
    found = problems(**LOCAL, **values)
    assert any(says in problem for problem in found), found


@pytest.mark.parametrize("target", ["minikube", "stackref"])
def test_targets_without_weighted_routing_refuse_a_canary(target: str) -> None:
    stack = next(s for s in app_stack_names() if stack_config(s)[0].get("kubeport:target") == target)
    run = run_program(stack, {"releaseStrategy": "canary", "host": HOST})
    assert isinstance(run.error, pulumi.RunError) and run.resources == []
    assert f"kubeport:releaseStrategy: canary is not offered on target {target} yet" in str(run.error)


@pytest.mark.parametrize(
    "metrics", ["kube-system/traefik:metrics", "traefik/traefik:9100", "http://10.250.0.2:8082/metrics"]
)
def test_the_controllers_metrics_are_a_service_of_the_cluster_or_a_url(metrics: str) -> None:
    values = {f"kubeport:{k}": v for k, v in {**LOCAL, **CANARY, "controllerMetrics": metrics}.items()}
    assert parse(values, set()).controller_metrics == metrics
