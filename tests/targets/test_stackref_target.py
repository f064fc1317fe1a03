"""Cluster stacks and app stacks, joined by a stack reference; image pull secrets where nodes lack pull rights."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
from typing import Any, cast

import pulumi_kubernetes as k8s
import pytest

from components.platform import Exposure, IngressRoute, Platform
from stacks.config import parse
from stacks.config.target import cloud_sdks
from stacks.handoff import FACTS, IDENTITY, KUBECONFIG, SCHEMA, ClusterFacts, facts_of, read_facts
from tests.support.features import featured
from tests.support.workload import DEPLOYMENT, K8S_PROVIDER, POD, SERVICE, pod_template, smoke_pod, stack_run
from tools.stack_files import ROOT
from tools.verify.diff import config_changes, workload_differences
from tools.verify.fake_clouds import FakeCloud
from tools.verify.mock_runner import ProgramRun, run_program

SECRET = "kubernetes:core/v1:Secret"
CLUSTER_STACKS = ["cluster-a", "cluster-b", "eks-cluster", "gke-cluster"]
APP_STACKS = ["shop", "shop-eks", "shop-gke"]


@pytest.mark.parametrize("stack", CLUSTER_STACKS)
def test_a_cluster_stack_registers_no_workload_and_exports_what_apps_need(stack: str) -> None:
    run = stack_run(stack)
    assert run.kubernetes_objects() == [], [o.type for o in run.kubernetes_objects()]
    assert run.outputs[KUBECONFIG].secret and run.outputs[KUBECONFIG].value
    assert run.outputs[IDENTITY].value
    facts = run.outputs[FACTS].value
    assert facts["schema"] == SCHEMA and facts["imagePullPolicy"] in ("IfNotPresent", "Always")
    assert "url" not in run.outputs and "image" not in run.outputs


def cloud_types(run: ProgramRun) -> set[str]:
    return {r.type for r in run.resources if r.custom and not r.type.startswith(("kubernetes:", "pulumi:"))}


@pytest.mark.parametrize("stack", APP_STACKS)
def test_an_app_stack_registers_no_cloud_resource_and_takes_its_cluster_from_the_reference(stack: str) -> None:
    run = stack_run(stack)
    assert cloud_types(run) == set()
    cluster = stack_run(run.config["kubeport:clusterStack"].rsplit("/", 1)[-1])
    provider = run.one(K8S_PROVIDER)
    assert provider.inputs["clusterIdentifier"] == cluster.outputs[IDENTITY].value
    assert "kubeconfig" in provider.secret_inputs, "the reference's secret kubeconfig stays secret"
    assert provider.inputs["kubeconfig"] == cluster.outputs[KUBECONFIG].value
    for obj in run.kubernetes_objects():
        assert obj.provider.startswith(provider.urn + "::"), obj.type


IMPORTS = """
import json, sys
from tools.verify.fake_clouds import FakeCloud
from tools.verify.mock_runner import run_program
references = {name: (outputs, secrets) for name, (outputs, secrets) in json.loads(sys.argv[2]).items()}
run = run_program(sys.argv[1], mocks=FakeCloud(references=references))
assert run.error is None, run.error
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize(("stack", "cluster"), [("shop-eks", "eks-cluster"), ("shop-gke", "gke-cluster")])
def test_an_app_stack_imports_no_cloud_sdk(stack: str, cluster: str) -> None:
    # The reference is answered from the cluster stack's recorded outputs, so this interpreter runs the app
    # stack's program alone.
    references = json.dumps(references_for(cluster))
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS, stack, references],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "pulumi_kubernetes" in modules
    assert not modules & set(cloud_sdks().values())


def references_for(stack: str) -> dict[str, tuple[dict[str, Any], list[str]]]:
    run = stack_run(stack)
    outputs = {name: output.value for name, output in run.outputs.items()}
    return {f"organization/kubeport/{stack}": (outputs, [n for n, o in run.outputs.items() if o.secret])}


def test_the_same_workload_as_an_all_in_one_stack() -> None:
    # The app's own settings aside (shop-eks runs in namespace shop), the objects are the same.
    differences = workload_differences(stack_run("eks"), run_program("shop-eks", {"namespace": "kubeport"}))
    assert [d.line() for d in differences if not d.carried_by] == []


def test_moving_an_app_stack_between_clouds_is_one_config_line() -> None:
    differences = workload_differences(stack_run("shop-eks"), stack_run("shop-gke"))
    assert [d.line() for d in differences if not d.carried_by] == []
    assert [c.line() for c in config_changes("shop-eks", "shop-gke")] == [
        "~ kubeport:clusterStack: organization/kubeport/eks-cluster -> organization/kubeport/gke-cluster"
    ]


# --- a reference that cannot serve -----------------------------------------------------------------------


def assert_refused(run: ProgramRun, key: str, says: str) -> None:
    assert run.error is not None
    assert key in str(run.error) and says in str(run.error), str(run.error)
    assert run.resources == []


MISSING = """
import json, sys
from tools.verify.mock_runner import run_program
run = run_program("shop", {"clusterStack": "organization/kubeport/nowhere"})
print(json.dumps({"error": str(run.error), "resources": len(run.resources)}))
"""


def test_a_missing_cluster_stack_stops_before_any_resource() -> None:
    # The engine itself refuses the reference, naming the stack (the real CLI's message: tests/live). A failed
    # read leaves the mock runtime unusable for later programs, so this one runs in an interpreter of its own.
    done = subprocess.run(
        [sys.executable, "-c", MISSING], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "unknown stack 'organization/kubeport/nowhere'" in result["error"]
    assert result["resources"] == 0


def test_a_stack_that_is_not_a_cluster_stack_stops_before_any_resource() -> None:
    run = run_program(
        "shop", {"clusterStack": "organization/kubeport/local-a"}, mocks=FakeCloud(references=references_for("local-a"))
    )
    assert_refused(run, "kubeport:clusterStack", "is not a kubeport cluster stack")


def test_a_cluster_stack_with_a_plain_text_kubeconfig_is_refused() -> None:
    refs = references_for("cluster-a")
    ((name, (outputs, _)),) = refs.items()
    run = run_program("shop", mocks=FakeCloud(references={name: (outputs, [])}))
    assert_refused(run, "kubeport:clusterStack", "in plain text")


def test_a_host_on_a_cluster_without_an_ingress_controller_is_refused() -> None:
    refs = references_for("cluster-a")
    ((name, (outputs, secrets)),) = refs.items()
    facts = {**outputs[FACTS], "ingress": None}
    run = run_program(
        "shop", {"host": "shop.example.com"}, mocks=FakeCloud(references={name: ({**outputs, FACTS: facts}, secrets)})
    )
    assert_refused(run, "kubeport:host", "offers no Ingress controller")


# --- image pull secrets: exactly where the nodes have no pull rights -------------------------------------


def pull_secret(run: ProgramRun) -> dict[str, Any] | None:
    secrets = run.of_type(SECRET)
    assert len(secrets) <= 1
    if not secrets:
        for spec in (pod_template(run)["spec"], smoke_pod(run).inputs["spec"]):
            assert not spec.get("imagePullSecrets")
        return None
    secret = secrets[0]
    assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
    assert any(path.startswith("stringData") for path in secret.secret_inputs), "the credentials stay secret"
    name = secret.inputs["metadata"]["name"]
    for spec in (pod_template(run)["spec"], smoke_pod(run).inputs["spec"]):
        assert spec["imagePullSecrets"] == [{"name": name}]
    assert secret.urn in run.one(DEPLOYMENT).dependencies and secret.urn in run.one(POD).dependencies
    auths: dict[str, Any] = json.loads(secret.inputs["stringData"][".dockerconfigjson"])["auths"]
    return auths


TOKEN = {"registryToken": "pull-token"}


@pytest.mark.parametrize(
    ("stack", "overrides", "secrets", "registry"),
    [
        ("kind", {"registryUser": "puller"}, TOKEN, "localhost:5001"),
        (
            "dev",
            {"registry": "dockerhub", "dockerhubUser": "acme"},
            {"dockerhubToken": "hub-pull-token"},
            "https://index.docker.io/v1/",
        ),
        ("eks", {"registry": "server", "registryServer": "ghcr.io/acme", "registryUser": "puller"}, TOKEN, "ghcr.io"),
        (
            "shop",
            {"image": "registry.example.com/acme/web:1", "registryServer": "registry.example.com", "registryUser": "u"},
            TOKEN,
            "registry.example.com",
        ),
    ],
)
def test_a_private_registry_the_nodes_have_no_rights_to_gets_a_pull_secret(
    stack: str, overrides: dict[str, str], secrets: dict[str, str], registry: str
) -> None:
    run = run_program(stack, overrides, secrets)
    assert run.error is None, run.error
    auths = pull_secret(run)
    assert auths is not None and list(auths) == [registry]
    (entry,) = auths.values()
    password = next(iter(secrets.values()))
    assert base64.b64decode(entry["auth"]).decode() == f"{entry['username']}:{password}"
    assert password not in repr(run.outputs)


PULL_ONLY = {"registryPullUser": "reader"}
PULL_ONLY_TOKEN = {"registryPullToken": "read-only-token"}


@pytest.mark.parametrize(
    ("stack", "overrides", "secrets", "registry"),
    [
        ("kind", {"registryUser": "pusher", **PULL_ONLY}, {"registryToken": "push-token", **PULL_ONLY_TOKEN},
         "localhost:5001"),
        ("dev", {"registry": "dockerhub", "dockerhubUser": "acme", **PULL_ONLY},
         {"dockerhubToken": "push-token", **PULL_ONLY_TOKEN}, "https://index.docker.io/v1/"),
        ("eks", {"registry": "server", "registryServer": "ghcr.io/acme", "registryUser": "pusher", **PULL_ONLY},
         {"registryToken": "push-token", **PULL_ONLY_TOKEN}, "ghcr.io"),
        ("shop", {"image": "registry.example.com/acme/web:1", "registryServer": "registry.example.com",
                  "registryUser": "pusher", **PULL_ONLY}, {"registryToken": "push-token", **PULL_ONLY_TOKEN},
         "registry.example.com"),
    ],
)  # fmt: skip
def test_with_a_pull_only_login_the_pods_get_it_and_the_stacks_own_login_stays_out_of_them(
    stack: str, overrides: dict[str, str], secrets: dict[str, str], registry: str
) -> None:
    run = run_program(stack, overrides, secrets)
    assert run.error is None, run.error
    auths = pull_secret(run)
    assert auths is not None and list(auths) == [registry]
    (entry,) = auths.values()
    assert entry["username"] == "reader"
    assert base64.b64decode(entry["auth"]).decode() == "reader:read-only-token"
    kubernetes = [r for r in run.resources if r.type.startswith("kubernetes:")]
    assert kubernetes and not any("push-token" in json.dumps(r.inputs) for r in kubernetes)
    if "image" in overrides:  # a prebuilt image: nothing is built
        assert run.of_type("docker-build:index:Image") == []
        return
    (image,) = run.of_type("docker-build:index:Image")  # the build pushes with the push login
    assert [(r["username"], r["password"]) for r in image.inputs["registries"]] == [
        ("pusher" if stack != "dev" else "acme", "push-token")
    ]


@pytest.mark.parametrize(
    ("stack", "overrides", "secrets"),
    [
        ("dev", {}, {}),  # built into minikube's own Docker
        ("kind", {}, {}),  # an anonymous registry
        ("eks", {}, {}),  # ECR: the node role may pull
        ("aks", {}, {}),  # ACR: AcrPull for the kubelet identity
        ("gke", {}, {}),  # Artifact Registry: reader for the node account
        ("local-a", {}, {}),  # a public prebuilt image
    ],
)
def test_no_pull_secret_where_the_nodes_may_pull(
    stack: str, overrides: dict[str, str], secrets: dict[str, str]
) -> None:
    run = run_program(stack, overrides, secrets)
    assert run.error is None, run.error
    assert pull_secret(run) is None


def test_an_app_stack_pulling_from_its_clusters_own_registry_needs_no_secret() -> None:
    registry = stack_run("eks-cluster").outputs["registry"].value
    image = f"{registry}:1.0.0@sha256:{'1' * 64}"
    host = registry.split("/", 1)[0]
    run = run_program("shop-eks", {"image": image, "registryServer": host, "registryUser": "AWS"}, TOKEN)
    assert run.error is None, run.error
    assert pull_secret(run) is None


def test_a_pull_secret_is_a_difference_the_platform_carries() -> None:
    private = run_program("kind", {"registryUser": "puller"}, TOKEN)
    differences = workload_differences(private, stack_run("eks"))
    assert [d.line() for d in differences if not d.carried_by] == []
    assert any(d.path == "Secret web-pull" for d in differences)


def test_every_fact_a_cluster_stack_knows_reaches_its_app_stacks() -> None:
    """Each field of the Platform a cluster stack hands over comes back equal on the app stack's side, after the
    JSON round trip the engine makes of stack outputs. (The node port is the app stack's own key.)"""
    behind_ingress = Exposure(
        "ClusterIP", annotations={"service.example/behind": "ingress"}, node_address="10.0.0.9", address_hint="h2"
    )
    route = IngressRoute(
        class_name="alb",
        annotations={"alb.ingress.kubernetes.io/scheme": "internet-facing"},
        service_annotations={"cloud.google.com/neg": '{"ingress": true}'},
        exposure=behind_ingress,
    )
    exposure = Exposure(
        "LoadBalancer", node_port=30999, annotations={"cloud.google.com/l4-rbs": "enabled"},
        node_address="203.0.113.9", address_hint="kubectl get service {service}",
    )  # fmt: skip
    platform = Platform(
        target="gke",
        provider=cast(k8s.Provider, None),  # facts_of never reads the provider: it is rebuilt from the kubeconfig
        image=None,
        exposure=exposure,
        image_pull_policy="Always",
        rollout_timeout="17m",
        ingress=route,
        nodes_pull_from=["europe-west1-docker.pkg.dev"],
    )
    exported = json.loads(json.dumps(facts_of(platform, ("linux/amd64",))))
    assert read_facts(exported) == ClusterFacts(
        target="gke",
        exposure=dataclasses.replace(exposure, node_port=None),
        image_pull_policy="Always",
        rollout_timeout="17m",
        ingress=route,
        nodes_pull_from=("europe-west1-docker.pkg.dev",),
        build_platforms=("linux/amd64",),
    )


def test_an_app_stack_on_gke_asks_for_container_native_load_balancing_like_an_all_in_one_stack() -> None:
    app = featured("shop-gke").one(SERVICE).inputs["metadata"]["annotations"]
    whole = featured("gke").one(SERVICE).inputs["metadata"]["annotations"]
    assert app == whole and json.loads(app["cloud.google.com/neg"]) == {"ingress": True}


@pytest.mark.parametrize(
    "reference",
    ["cluster-a", "kubeport/cluster-a", "organization/kubeport/cluster-a", "acme_co/kube.port/eks-cluster-2"],
)
def test_a_stack_reference_of_one_to_three_parts_is_accepted(reference: str) -> None:
    settings = parse(
        {"kubeport:target": "stackref", "kubeport:clusterStack": reference, "kubeport:image": "ghcr.io/a/b:1"}
    )
    assert settings.cluster_stack == reference


@pytest.mark.parametrize(
    "reference",
    [
        "a/b/c/d",  # four parts
        "organization/kubeport/cluster-a!",  # trailing junk
        "organization/kubeport/cluster-a/",
        "/kubeport/cluster-a",
        "organization//cluster-a",
        "organization/kubeport/cluster a",
        "organization/kube:port/cluster-a",
    ],
)
def test_a_malformed_stack_reference_is_refused_before_any_resource(reference: str) -> None:
    run = run_program("shop", {"clusterStack": reference})
    assert run.error is not None and "kubeport:clusterStack" in str(run.error), reference
    assert run.resources == []
