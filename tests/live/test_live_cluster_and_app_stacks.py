"""Cluster stacks and an app stack, for real: the app moves between clusters by changing one reference.

cluster-a and cluster-b (Pulumi.cluster-*.yaml) are cluster stacks on the two local control planes; shop
(Pulumi.shop.yaml) is an app stack referencing one of them, pulling its image with credentials (kwok pulls
nothing, but the API server admits the pull secret and the pods reference it). Runs after test_real_runs.py,
in the same scratch project and backend, with a namespace of its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.support.live import (
    A,
    B,
    audit,
    by_pulumi,
    created_before_deleted,
    eventually,
    namespace_gone,
    ok,
    workload_is_serving,
)
from tools.localcluster.realrun import Workbench, preview_steps

pytestmark = pytest.mark.live

NAMESPACE = "shop"
TOKEN = "registry-read-token-for-the-live-test"


def test_cluster_stacks_export_what_an_app_needs_and_deploy_nothing(bench: Workbench) -> None:
    for stack, context in (("cluster-a", A), ("cluster-b", B)):
        bench.add_stack_file(stack)
        ok(bench.pulumi("stack", "init", stack))
        ok(bench.pulumi("up", "--yes", "--skip-preview", "--stack", stack))
        outputs = json.loads(ok(bench.pulumi("stack", "output", "--json", "--stack", stack)).stdout)
        assert outputs["kubeconfig"] == "[secret]"
        assert outputs["clusterIdentifier"] == f"context/{context}"
        assert outputs["kubeportCluster"]["ingress"]["className"] == "kubeport-local"
        kinds = {r["type"] for r in bench.state_resources(stack)}
        assert not any(kind.startswith("kubernetes:") and "providers" not in kind for kind in kinds), kinds


def test_an_app_stack_deploys_onto_its_cluster_stack_with_a_pull_secret(bench: Workbench) -> None:
    bench.add_stack_file("shop", {"registryServer": "docker.io", "registryUser": "kubeport-ci"})
    ok(bench.pulumi("stack", "init", "shop"))
    ok(bench.set_secret("shop", "kubeport:registryToken", TOKEN))
    ok(bench.pulumi("up", "--yes", "--skip-preview", "--stack", "shop"))
    workload_is_serving(bench, A, replicas=2, namespace=NAMESPACE)
    secret = bench.kubectl_json(A, "--namespace", NAMESPACE, "get", "secret", "web-pull")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    deployment = bench.kubectl_json(A, "--namespace", NAMESPACE, "get", "deployment", "web")
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "web-pull"}]
    smoke = bench.kubectl_json(A, "--namespace", NAMESPACE, "get", "pod", "web-smoke")
    assert smoke["spec"]["imagePullSecrets"] == [{"name": "web-pull"}]
    # The token is in the cluster (as the Secret's data) but never in plain text in Pulumi's state.
    exported = ok(bench.pulumi("stack", "export", "--stack", "shop")).stdout
    assert TOKEN not in exported
    outputs = json.loads(ok(bench.pulumi("stack", "output", "--json", "--stack", "shop")).stdout)
    assert outputs["clusterStack"] == "organization/kubeport/cluster-a" and outputs["namespace"] == NAMESPACE


def test_a_stack_file_that_still_names_the_old_target_app_previews_no_change_and_is_warned(bench: Workbench) -> None:
    ok(bench.pulumi("config", "set", "kubeport:target", "app", "--stack", "shop"))
    try:
        preview = ok(bench.pulumi("preview", "--expect-no-changes", "--stack", "shop"))
        said = preview.stdout + preview.stderr
        assert "kubeport:target 'app' is now called 'stackref'" in said, said
    finally:
        ok(bench.pulumi("config", "set", "kubeport:target", "stackref", "--stack", "shop"))
    preview = ok(bench.pulumi("preview", "--expect-no-changes", "--stack", "shop"))
    assert "is now called" not in preview.stdout + preview.stderr


def test_moving_the_app_stack_to_another_cluster_stack_is_one_line(bench: Workbench) -> None:
    ok(bench.pulumi("config", "set", "kubeport:clusterStack", "organization/kubeport/cluster-b", "--stack", "shop"))
    steps = preview_steps(ok(bench.pulumi("preview", "--json", "--stack", "shop")).stdout)
    ops = {s["urn"].rsplit("::", 1)[1]: s["op"] for s in steps}
    assert ops["cluster"] == "replace", "the Kubernetes provider follows the new cluster's identity"
    kubernetes = [s["urn"].rsplit("::", 1)[1] for s in steps if "$kubernetes:" in s["urn"]]
    assert kubernetes and all(ops[name] == "replace" for name in kubernetes), ops
    since = datetime.now(UTC)
    ok(bench.pulumi("up", "--yes", "--skip-preview", "--stack", "shop"))
    workload_is_serving(bench, B, replicas=2, namespace=NAMESPACE)
    eventually("cluster A without the shop", lambda: namespace_gone(bench, A, NAMESPACE))
    created_before_deleted(B, A, since, NAMESPACE)


def test_migrate_between_app_stacks_checks_through_the_cluster_stacks_kubeconfig(bench: Workbench) -> None:
    # shop (now on cluster-b) -> shop-a, the same app stack on cluster-a; then the source goes.
    bench.add_stack_file("shop-a", {"clusterStack": "organization/kubeport/cluster-a"}, like="shop")
    done = ok(bench.stacks_cli("migrate", "--from", "shop", "--to", "shop-a", "--destroy-source", "--yes"))
    assert "smoke-check through the API server of cluster stack organization/kubeport/cluster-a" in done.stdout
    assert "shop destroyed; shop-a is serving" in done.stdout, done.stdout
    workload_is_serving(bench, A, replicas=2, namespace=NAMESPACE)
    eventually("cluster B without the shop", lambda: namespace_gone(bench, B, NAMESPACE))
    assert bench.state_resources("shop") == []


def test_a_reference_that_cannot_serve_stops_before_any_resource(bench: Workbench) -> None:
    since = datetime.now(UTC)
    # A stack that does not exist: the engine refuses the read itself, naming the stack and the reference
    # (`StackReference (clusterStack)`); a stack that is not a cluster stack, kubeport's own message. Neither
    # with a Python traceback, however fast the engine stops the program (docs/security.md#a-failed-up).
    for stack, reference, says in (
        ("shop-nowhere", "organization/kubeport/nowhere", 'unknown stack "organization/kubeport/nowhere"'),
        ("shop-not-a-cluster", "organization/kubeport/shop-a", "is not a kubeport cluster stack"),
    ):
        bench.add_stack_file(
            stack, {"clusterStack": reference, "namespace": "shop-two", "nodePort": "30022"}, like="shop"
        )
        ok(bench.pulumi("stack", "init", stack))
        up = bench.pulumi("up", "--yes", "--skip-preview", "--stack", stack)
        output = up.stdout + up.stderr
        assert up.code != 0 and says in output and "clusterStack" in output, output
        assert "Traceback" not in output, output
        if stack == "shop-not-a-cluster":
            diagnostics = output.split("Diagnostics:", 1)[1]
            assert diagnostics.count("error:") == 1, output
        assert not any(r["type"].startswith("kubernetes:") for r in bench.state_resources(stack))
        ok(bench.pulumi("stack", "rm", "--yes", "--force", stack))
    for context in (A, B):
        assert namespace_gone(bench, context, "shop-two")
        assert by_pulumi(audit(context, since), "created", "shop-two") == []


def test_destroying_the_app_and_its_clusters_leaves_nothing(bench: Workbench) -> None:
    ok(bench.pulumi("destroy", "--yes", "--stack", "shop-a"))
    eventually("cluster A without the shop", lambda: namespace_gone(bench, A, NAMESPACE))
    for stack in ("shop-a", "shop", "cluster-a", "cluster-b"):
        ok(bench.pulumi("destroy", "--yes", "--stack", stack))
        assert bench.state_resources(stack) == []
        ok(bench.pulumi("stack", "rm", "--yes", stack))
