"""How the objects fit together, on every stack profile: ports, probes, smoke check, url, traffic rules, pulls.

Every number comes from one place: the port and the locations of `app/nginx/default.conf` (tests/support/nginx_conf.py)
or the registered objects themselves, never a literal repeated here.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

import pytest
from pulumi_kubernetes.core.v1.outputs import LoadBalancerIngress, LoadBalancerStatus, ServiceStatus
from pulumi_kubernetes.networking.v1.outputs import IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus

from components.exposure import reported_address
from tests.support import nginx_conf
from tests.support.netpol import PodView, allowed, policy_selects
from tests.support.variants import VARIANTS, run_of
from tests.support.workload import DEPLOYMENT, IMAGE, NETPOL, SERVICE, pod_template, smoke_pod, stack_run, web_container
from tools.stack_files import ROOT, app_stack_names
from tools.verify.mock_runner import ProgramRun

TEMPLATE = ROOT / "app" / "nginx" / "templates" / "kubeport" / "info.json.template"
# What each /info field means, as the page shows it: the downward-API field that must feed it.
INFO_FROM_DOWNWARD_API = {"pod": "metadata.name", "namespace": "metadata.namespace", "node": "spec.nodeName"}
PROBE_PORTS = range(1, 65536, 997)
"""A spread of ports (1, 998, ...) besides the app's own, for 'nothing else' questions."""


@pytest.fixture(params=app_stack_names(), scope="module")
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return stack_run(request.param)


def container_ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: int(p["containerPort"]) for p in container.get("ports") or [] if p.get("name")}


def resolve_port(port: int | str, container: dict[str, Any]) -> int:
    """A probe's or a Service's target port: a number, or the name of one of the container's ports."""
    return container_ports(container)[port] if isinstance(port, str) else int(port)


def service_port(run: ProgramRun) -> dict[str, Any]:
    ports = run.one(SERVICE).inputs["spec"]["ports"]
    assert len(ports) == 1, ports
    port: dict[str, Any] = ports[0]
    return port


def test_the_container_listens_where_nginx_listens(run: ProgramRun) -> None:
    container = web_container(run)
    assert [int(p["containerPort"]) for p in container["ports"]] == [nginx_conf.server().port]


def test_the_service_forwards_to_the_port_nginx_listens_on(run: ProgramRun) -> None:
    port = service_port(run)
    assert resolve_port(port["targetPort"], web_container(run)) == nginx_conf.server().port
    assert port.get("protocol", "TCP") == "TCP"


def test_probes_ask_nginx_locations_on_its_port(run: ProgramRun) -> None:
    container, nginx = web_container(run), nginx_conf.server()
    for kind in ("readinessProbe", "livenessProbe"):
        probe = container[kind]["httpGet"]
        assert resolve_port(probe["port"], container) == nginx.port, kind
        assert nginx.answers_200(probe["path"]), f"{kind} asks {probe['path']}, which nginx does not answer with 200"
    assert container["readinessProbe"]["httpGet"]["path"] != container["livenessProbe"]["httpGet"]["path"]


def test_the_smoke_pod_asks_the_service_on_its_port_for_locations_nginx_answers(run: ProgramRun) -> None:
    env = {e["name"]: e.get("value") for e in smoke_pod(run).inputs["spec"]["containers"][0]["env"]}
    service = run.one(SERVICE).inputs["metadata"]
    for name in ("URL", "INFO_URL"):  # its script's first question, then the one its readiness probe asks
        url = urllib.parse.urlsplit(env[name])
        assert url.scheme == "http"
        assert url.hostname == f"{service['name']}.{service['namespace']}.svc"
        assert (url.port or 80) == service_port(run)["port"]
        assert nginx_conf.server().answers_200(url.path), url.path


def test_the_url_output_reaches_the_service(run: ProgramRun) -> None:
    url = run.outputs["url"].value
    service = run.one(SERVICE)
    port = service_port(run)
    kind = service.inputs["spec"]["type"]
    if kind == "LoadBalancer":
        ingress = service.state["status"]["loadBalancer"]["ingress"][0]
        # http:// means port 80: the Service must listen there.
        assert url == f"http://{ingress.get('ip') or ingress['hostname']}"
        assert port["port"] == 80
    elif kind == "NodePort":
        found = re.search(r"http://[^/]*?:(\d+)", url)
        if found:  # a known node address, or a hint naming the port
            assert int(found.group(1)) == port["nodePort"], url
        else:
            assert url.startswith("minikube service") and service.inputs["metadata"]["name"] in url, url
    else:
        assert f"service/{service.inputs['metadata']['name']} " in url and f":{int(port['port'])}" in url, url


def test_load_balancer_health_checks_ask_a_location_nginx_answers(run: ProgramRun) -> None:
    annotations = run.one(SERVICE).inputs["metadata"].get("annotations") or {}
    for key, value in annotations.items():
        if key.endswith("request-path"):
            assert nginx_conf.server().answers_200(value), f"{key}: {value}"


def pods(run: ProgramRun) -> tuple[PodView, PodView]:
    """The web pods (from the Deployment's template) and the smoke-check Pod, as the policies see them."""
    namespace = run.outputs["namespace"].value
    namespace_labels = {"kubernetes.io/metadata.name": namespace}
    template = pod_template(run)
    web = PodView(
        "web", namespace, template["metadata"]["labels"], namespace_labels, container_ports(web_container(run))
    )
    smoke = smoke_pod(run).inputs
    smoke_view = PodView("smoke", namespace, smoke["metadata"]["labels"], namespace_labels)
    return web, smoke_view


def policies(run: ProgramRun) -> list[dict[str, Any]]:
    return [p.inputs for p in run.of_type(NETPOL)]


def test_each_policy_selects_exactly_its_own_pods(run: ProgramRun) -> None:
    web, smoke = pods(run)
    by_name = {p["metadata"]["name"]: p for p in policies(run)}
    selected = {name: {pod.name for pod in (web, smoke) if policy_selects(p, pod)} for name, p in by_name.items()}
    assert sorted(selected.values(), key=sorted) == [{"smoke"}, {"web"}], selected


def test_the_smoke_pod_reaches_the_web_pods_on_the_app_port_and_nothing_else(run: ProgramRun) -> None:
    web, smoke = pods(run)
    rules, port = policies(run), nginx_conf.server().port
    assert allowed(rules, smoke, web, port)
    assert not allowed(rules, smoke, smoke, port), "the smoke Pod's egress must point at the web pods, not itself"
    for other in PROBE_PORTS:
        if other != port:
            assert not allowed(rules, smoke, web, other), other


def test_web_pods_take_the_app_port_only_and_reach_nothing(run: ProgramRun) -> None:
    web, smoke = pods(run)
    rules, port = policies(run), nginx_conf.server().port
    stranger = PodView("stranger", "elsewhere", {"app": "other"}, {"kubernetes.io/metadata.name": "elsewhere"})
    neighbour = PodView("neighbour", web.namespace, {"app": "other"}, smoke.namespace_labels)
    # A public web app: load balancers and node ports bring traffic from anywhere, so the app port is open to
    # any source (a pod denied here could come back in through the public address anyway); no other port is.
    for source in (stranger, neighbour):
        assert allowed(rules, source, web, port), source.name
        for other in PROBE_PORTS:
            if other != port:
                assert not allowed(rules, source, web, other), f"{source.name} reaches port {other}"
    for destination in (smoke, neighbour, stranger):
        assert not allowed(rules, web, destination, port), destination.name
        assert not allowed(rules, web, destination, 53, "UDP"), f"web resolves names through {destination.name}"
    for source in (web, neighbour, stranger):
        assert not allowed(rules, source, smoke, port), f"{source.name} reaches the smoke Pod"


def test_the_pull_policy_can_get_the_image(run: ProgramRun) -> None:
    images = run.of_type(IMAGE)
    pushed = not images or bool(images[0].inputs["push"])
    for spec in (pod_template(run)["spec"], smoke_pod(run).inputs["spec"]):
        for container in spec["containers"]:
            policy = container["imagePullPolicy"]
            if pushed:
                # From a registry: the node must be allowed to pull.
                assert policy in ("IfNotPresent", "Always"), policy
            else:
                # Loaded into the node's own Docker: pulling would fail.
                assert policy == "IfNotPresent", policy


def test_info_shows_the_pods_own_facts(run: ProgramRun) -> None:
    fields = {
        key: re.fullmatch(r"\$\{(\w+)\}", value).group(1)  # type: ignore[union-attr]
        for key, value in json.loads(TEMPLATE.read_text()).items()
    }
    env = {e["name"]: e for e in web_container(run)["env"]}
    for key, field_path in INFO_FROM_DOWNWARD_API.items():
        assert env[fields[key]]["valueFrom"]["fieldRef"]["fieldPath"] == field_path, key
    assert env[fields["image"]]["value"] == web_container(run)["image"]
    assert env[fields["target"]]["value"] == run.outputs["target"].value
    # KUBEPORT_VERSION is baked into the image; everything else the Deployment sets.
    assert set(fields.values()) - set(env) == {"KUBEPORT_VERSION"}


def test_the_deployment_selects_its_own_template(run: ProgramRun) -> None:
    spec = run.one(DEPLOYMENT).inputs["spec"]
    web, smoke = pods(run)
    selector = spec["selector"]
    assert policy_selects({"metadata": {"namespace": web.namespace}, "spec": {"podSelector": selector}}, web)
    assert not policy_selects({"metadata": {"namespace": web.namespace}, "spec": {"podSelector": selector}}, smoke)


@pytest.mark.parametrize(
    ("ingress", "expected"),
    [
        ([LoadBalancerIngress(hostname="lb.example.net")], "lb.example.net"),  # EKS: a hostname only
        ([LoadBalancerIngress(ip="198.51.100.7")], "198.51.100.7"),  # AKS, GKE: an IP
        ([], ""),  # not provisioned yet
    ],
)
def test_the_load_balancer_address_is_its_ip_or_hostname(ingress: list[LoadBalancerIngress], expected: str) -> None:
    status = ServiceStatus(load_balancer=LoadBalancerStatus(ingress=ingress))
    assert reported_address(status) == expected
    # An Ingress controller reports its address in the same shape, read by the same function.
    entries = [IngressLoadBalancerIngress(ip=i.ip, hostname=i.hostname) for i in ingress]
    assert reported_address(IngressStatus(load_balancer=IngressLoadBalancerStatus(ingress=entries))) == expected


@pytest.mark.parametrize("label", [v[0] for v in VARIANTS if v[0].endswith("+private")])
def test_the_pull_secret_is_in_the_namespace_of_the_pods_that_name_it(label: str) -> None:
    """Pods can use only Secrets of their own namespace: the pull Secret is created where they run."""
    run = run_of(label)
    (secret,) = run.of_type("kubernetes:core/v1:Secret")
    meta = secret.inputs["metadata"]
    assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
    deployment = run.one(DEPLOYMENT).inputs
    pods = [
        (deployment["metadata"]["namespace"], deployment["spec"]["template"]["spec"]),
        (smoke_pod(run).inputs["metadata"]["namespace"], smoke_pod(run).inputs["spec"]),
    ]
    for namespace, spec in pods:
        assert [s["name"] for s in spec["imagePullSecrets"]] == [meta["name"]], label
        assert meta["namespace"] == namespace, (
            f"{label}: the pull Secret is in {meta['namespace']}, pods in {namespace}"
        )
    registries = json.loads(secret.inputs["stringData"][".dockerconfigjson"])["auths"]
    assert list(registries) == ["registry.example.com:5443"], "keyed by the registry host the image names"


def duration(text: str) -> int:
    return int(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]


@pytest.mark.parametrize("label", [v[0] for v in VARIANTS if "cluster" not in v[0]])
def test_pulumi_waits_for_addresses_and_leaves_routing_to_the_smoke_check(label: str) -> None:
    """No Service or Ingress runs the provider's built-in await (endpoints, then a 10 s settle on every update):
    a Service waits for its address (and a load balancer's), an Ingress for its controller's address; the smoke
    Pod, created after the Deployment and the Service, proves that the app answers through them."""
    run = run_of(label)
    for service in run.of_type(SERVICE):
        wait = service.inputs["metadata"]["annotations"]["pulumi.com/waitFor"]
        kind = service.inputs["spec"]["type"]
        expected = {"LoadBalancer": "jsonpath={.status.loadBalancer.ingress[0]}"}.get(
            kind, "jsonpath={.spec.clusterIP}"
        )
        assert wait == expected
    for ingress in run.of_type("kubernetes:networking.k8s.io/v1:Ingress"):
        assert (
            ingress.inputs["metadata"]["annotations"]["pulumi.com/waitFor"]
            == "jsonpath={.status.loadBalancer.ingress[0]}"
        )
    pods = run.of_type("kubernetes:core/v1:Pod")
    if not pods:
        return
    (smoke,) = pods
    assert {run.one(DEPLOYMENT).urn, run.one(SERVICE).urn} <= set(smoke.dependencies)
    (container,) = smoke.inputs["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    service = run.one(SERVICE).inputs["metadata"]
    assert env["URL"] == f"http://{service['name']}.{service['namespace']}.svc/healthz"
    assert container["terminationMessagePolicy"] == "File"
    # Its verdict (and why) is in the Pod's status well before Pulumi stops waiting for it.
    assert 10 <= int(env["WINDOW"]) <= duration(smoke.custom_timeouts["create"]) // 3
    assert smoke.inputs["spec"]["restartPolicy"] == "Never", "one verdict per release, kept with its reason"
