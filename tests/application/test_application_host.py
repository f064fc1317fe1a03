"""`route` and `dns` with kubeport:host: the public workload behind an Ingress for the stack's host, as the single
web app is; routes that do not fit the host, and targets that serve no Ingress, refused before any resource."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import stacks.existing
from components.platform import Platform
from stacks.config.settings import Needs, Settings
from stacks.handoff import FACTS
from tests.support.application import INGRESS, NETPOL, named, only_container, run_files
from tests.support.workload import DEPLOYMENT, SERVICE, stack_run
from tools.verify.check import check_manifests
from tools.verify.fake_clouds import FakeCloud
from tools.verify.mock_runner import ProgramRun, run_program
from tools.verify.render import render

HOST = "shop.example.com"
WITH_HOST: dict[str, dict[str, str]] = {
    "walkthrough": {"host": HOST, "ingressClass": "kubeport-local"},
    "dev": {"application": "walkthrough", "host": HOST},
}
"""The walkthrough's stack (existing: the class is the cluster's) and dev (minikube: its ingress add-on)."""
CLASS = {"walkthrough": "kubeport-local", "dev": "nginx"}


def only_rule(run: ProgramRun) -> dict[str, Any]:
    (ingress,) = run.of_type(INGRESS)
    (rule,) = ingress.inputs["spec"]["rules"]
    return dict(rule)


@pytest.mark.parametrize("profile", WITH_HOST)
def test_the_public_workload_gets_an_ingress_for_the_host(profile: str) -> None:
    run = run_program(profile, WITH_HOST[profile])
    assert run.error is None, run.error
    (ingress,) = run.of_type(INGRESS)
    assert ingress.inputs["metadata"]["name"] == "web"
    assert ingress.inputs["spec"]["ingressClassName"] == CLASS[profile]
    assert "tls" not in ingress.inputs["spec"]
    rule = only_rule(run)
    (path,) = rule["http"]["paths"]
    assert (rule["host"], path["path"], path["pathType"]) == (HOST, "/", "Prefix")
    web = named(run, SERVICE)["web"].inputs
    assert path["backend"]["service"]["name"] == web["metadata"]["name"]
    assert {p["name"]: p["port"] for p in web["spec"]["ports"]}[path["backend"]["service"]["port"]["name"]] == 80
    assert named(run, SERVICE)["web"].urn in ingress.dependencies
    assert run.outputs["url"].value == f"http://{HOST}"
    assert run.outputs["services"].value["web"] == f"http://{HOST}"
    assert run.outputs["ingressAddress"].value
    # The Ingress controller reaches web as everything public does: from anywhere, on its target port only.
    web_policy = named(run, NETPOL)["web"].inputs["spec"]
    assert web_policy["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]


def test_tls_makes_the_url_https_with_the_secret() -> None:
    run = run_program("walkthrough", {**WITH_HOST["walkthrough"], "tlsSecret": "shop-tls"})
    assert run.error is None, run.error
    (ingress,) = run.of_type(INGRESS)
    assert ingress.inputs["spec"]["tls"] == [{"hosts": [HOST], "secretName": "shop-tls"}]
    assert run.outputs["url"].value == f"https://{HOST}"


def test_without_a_host_there_is_no_ingress() -> None:
    run = run_program("walkthrough")
    assert run.error is None, run.error
    assert run.of_type(INGRESS) == []
    assert "ingressAddress" not in run.outputs
    assert run.outputs["url"].value == "http://10.250.0.2:30030"


SHOP = """\
apiVersion: score.dev/v1b1
metadata: {name: shop}
containers:
  main:
    image: registry.example.com/shop:1.0.0
    variables:
      PUBLIC_URL: https://${resources.dns.host}/store/
    files:
      - target: /etc/shop/site.conf
        content: "server_name ${resources.dns.host};"
service:
  ports:
    http: {port: 80, targetPort: 8080}
    admin: {port: 8081, targetPort: 9090}
resources:
  dns: {type: dns}
  route:
    type: route
    params: {host: "%s", path: /store, port: 8081}
"""

API = """\
apiVersion: score.dev/v1b1
metadata: {name: api}
containers:
  main:
    image: registry.example.com/api:1.0.0
    variables:
      SELF: ${resources.dns.host}
service:
  ports:
    http: {port: 80, targetPort: 8080}
resources:
  dns: {type: dns}
"""


def shop_files(route_host: str = "${resources.dns.host}") -> dict[str, str]:
    return {"shop": SHOP % route_host, "api": API}


def env_of(run: ProgramRun, workload: str) -> dict[str, str]:
    return {e["name"]: e["value"] for e in only_container(named(run, DEPLOYMENT)[workload])["env"]}


def test_the_dns_host_is_the_stack_host_in_the_public_workloads_variables_and_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_files(monkeypatch, tmp_path, shop_files(), overrides={"host": HOST, "ingressClass": "kubeport-local"})
    assert run.error is None, run.error
    assert env_of(run, "shop") == {"PUBLIC_URL": f"https://{HOST}/store/"}
    (files,) = [r for r in run.of_type("kubernetes:core/v1:ConfigMap") if r.inputs["metadata"]["name"] == "shop-files"]
    assert list(files.inputs["data"].values()) == [f"server_name {HOST};"]
    # A dns resource of a workload that is not public keeps its in-cluster name: the host routes to shop only.
    assert env_of(run, "api") == {"SELF": "api.walkthrough.svc"}
    (path,) = only_rule(run)["http"]["paths"]
    assert (path["path"], path["pathType"], path["backend"]["service"]["port"]["name"]) == ("/store", "Prefix", "admin")


def test_without_a_host_the_dns_host_stays_in_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    run = run_files(monkeypatch, tmp_path, shop_files())
    assert run.error is None, run.error
    assert env_of(run, "shop") == {"PUBLIC_URL": "https://shop.walkthrough.svc/store/"}
    assert run.of_type(INGRESS) == []


def problems_of(run: ProgramRun) -> list[str]:
    """The problems one refusal lists, one a line."""
    assert run.error is not None
    return [line[4:] for line in str(run.error).splitlines() if line.startswith("  - ")]


WITH_CLASS = {"host": HOST, "ingressClass": "kubeport-local"}


@pytest.mark.parametrize(
    ("route_host", "shown"),
    [
        ("api.example.com", "'api.example.com'"),
        ("${resources.dns.host}.cdn.net", "'shop.example.com.cdn.net'"),
        ("${resources.db.host}", "'${resources.db.host}'"),
    ],
)
def test_a_route_to_another_host_is_refused_before_any_resource(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, route_host: str, shown: str
) -> None:
    run = run_files(monkeypatch, tmp_path, shop_files(route_host), overrides=WITH_CLASS)
    assert problems_of(run) == [
        f"shop.score.yaml: resources.route.params.host: {shown} is not the stack's host 'shop.example.com' "
        "(kubeport:host): the application's Ingress serves that host only; write it, or "
        "${resources.<dns resource>.host}"
    ]
    assert run.resources == []


@pytest.mark.parametrize("route_host", ["shop.example.com", "${metadata.name}.example.com"])
def test_a_route_that_names_the_host_itself_is_taken(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, route_host: str
) -> None:
    run = run_files(monkeypatch, tmp_path, shop_files(route_host), overrides=WITH_CLASS)
    assert run.error is None, run.error
    assert only_rule(run)["host"] == HOST


def test_a_host_with_nothing_public_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    run = run_files(monkeypatch, tmp_path, {"api": API}, overrides=WITH_CLASS)
    assert problems_of(run) == [
        "kubeport:host: 'shop.example.com' routes to nothing: no workload file declares a route resource"
    ]
    assert run.resources == []


def test_a_route_path_the_ingress_cannot_take_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files = {"shop": (SHOP % HOST).replace("path: /store", "path: store"), "api": API}
    run = run_files(monkeypatch, tmp_path, files, overrides=WITH_CLASS)
    assert problems_of(run) == [
        "shop.score.yaml: resources.route.params.path: 'store' is not a path for the Ingress; expected one "
        "starting with /"
    ]


def test_a_target_whose_platform_offers_no_ingress_refuses_the_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = stacks.existing.platform

    def without_ingress(settings: Settings, needs: Needs) -> Platform:
        return dataclasses.replace(real(settings, needs), ingress=None)

    monkeypatch.setattr(stacks.existing, "platform", without_ingress)
    run = run_files(monkeypatch, tmp_path, shop_files(), overrides=WITH_CLASS)
    assert problems_of(run) == ["kubeport:host: target 'existing' offers no Ingress controller for host "
                                "'shop.example.com'"]  # fmt: skip
    # Only the target's provider exists: not one object of the application.
    assert [r.type for r in run.resources] == ["pulumi:providers:kubernetes"]


def test_an_app_stack_on_a_cluster_without_an_ingress_controller_refuses_the_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = stack_run("cluster-a")
    outputs = {name: output.value for name, output in cluster.outputs.items()}
    secrets = [name for name, output in cluster.outputs.items() if output.secret]
    facts = {**outputs[FACTS], "ingress": None}
    references = {"organization/kubeport/cluster-a": ({**outputs, FACTS: facts}, secrets)}
    pushed = {"image": None, "registry": "server", "registryServer": "registry.example.com/team", "host": HOST}
    run = run_files(
        monkeypatch, tmp_path, shop_files(), stack="shop", overrides=pushed, mocks=FakeCloud(references=references)
    )
    assert problems_of(run) == [
        "kubeport:host: cluster stack 'organization/kubeport/cluster-a' offers no Ingress controller; set "
        "kubeport:ingressController true there (existing clusters: kubeport:ingressClass)"
    ]
    assert run.resources == []


def test_the_walkthrough_behind_a_host_is_still_valid_and_clean(tmp_path: Path) -> None:
    rendered = render("walkthrough", tmp_path, {**WITH_HOST["walkthrough"], "tlsSecret": "shop-tls"})
    assert "Ingress" in {d["kind"] for d in rendered.manifests.values()}
    report = check_manifests("walkthrough", tmp_path)
    assert report.findings == [], report.findings


@pytest.mark.parametrize(
    ("values", "key"), [({"autoscaling": "true"}, "kubeport:autoscaling"), ({"image": "nginx:1.29"}, "kubeport:image")]
)
def test_an_application_still_refuses_the_single_apps_image_and_autoscaler(values: dict[str, str], key: str) -> None:
    run = run_program("walkthrough", {**WITH_HOST["walkthrough"], **values})
    assert any(p.startswith(f"{key}: does not apply with kubeport:application") for p in problems_of(run)), run.error
    assert run.resources == []
