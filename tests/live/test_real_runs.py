"""What users do with kubeport, for real: preview, up, no drift, scale, a bad config, migrate, move, destroy.

The Pulumi CLI, its Python language host and the Kubernetes provider are the binaries built from their Go
modules (toolchain/build-toolchain); the clusters are real API servers with controllers and a scheduler,
kwok standing in for the kubelet (pods are marked Running and Ready; no container runs). Every step asserts
on the CLI's own output, the stack's state and the API servers' objects; orders of events come from the API
servers' audit logs. The tests run in file order on shared stacks: each step starts where the last ended.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.live import (
    NAMESPACE,
    WEB_PODS,
    A,
    B,
    audit,
    by_pulumi,
    created_before_deleted,
    eventually,
    expected_urns,
    namespace_gone,
    ok,
    workload_is_serving,
)
from tools import processes
from tools.localcluster import catalog, clusters, controlplane, nodeconfig, nodekinds, realnode
from tools.localcluster.realrun import Workbench, preview_steps
from tools.ops.operations import PREVIEW_ENV
from tools.stack_files import ROOT
from tools.verify.mock_runner import run_program

pytestmark = pytest.mark.live

OTHER_IMAGE = "docker.io/nginxinc/nginx-unprivileged:1.29.2-alpine@sha256:" + "0" * 64
HOST = "shop.kubeport.test"


def created_in_preview(stdout: str) -> set[str]:
    """URNs that `pulumi preview --diff` lists as created (`+ type: (create)` then `[urn=...]`)."""
    return set(re.findall(r"\+ \S+: \(create\)\s*\n\s*\[urn=(\S+)\]", stdout))


# --- one stack on cluster A -----------------------------------------------------------------------------


def test_preview_of_a_fresh_stack_lists_every_create(bench: Workbench) -> None:
    bench.add_stack_file("local-a")
    ok(bench.pulumi("stack", "init", "local-a"))
    preview = ok(bench.pulumi("preview", "--diff", "--stack", "local-a"))
    assert created_in_preview(preview.stdout) == expected_urns(bench, "local-a"), preview.stdout
    assert re.search(rf"\+ {len(expected_urns(bench, 'local-a'))} to create", preview.stdout), preview.stdout
    assert namespace_gone(bench, A), "a preview must not create anything"


def test_up_creates_the_workload_and_waits_until_it_serves(bench: Workbench) -> None:
    up = ok(bench.pulumi("up", "--yes", "--skip-preview", "--stack", "local-a"))
    assert "error" not in up.stdout.lower(), up.stdout
    workload_is_serving(bench, A, replicas=2)
    outputs = json.loads(ok(bench.pulumi("stack", "output", "--json", "--stack", "local-a")).stdout)
    mocked = run_program("local-a", config_root=bench.project).outputs
    assert outputs == {name: output.value for name, output in mocked.items()}
    assert outputs["target"] == "existing" and outputs["namespace"] == NAMESPACE
    state = {r["urn"] for r in bench.state_resources("local-a")}
    assert state == expected_urns(bench, "local-a")


def test_the_api_server_enforces_restricted_pod_security(bench: Workbench) -> None:
    labels = bench.kubectl_json(A, "get", "namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # The workload was admitted: its pods exist under that label...
    assert bench.kubectl_json(A, "--namespace", NAMESPACE, "get", "pods", "-l", WEB_PODS)["items"]
    # ...and a pod without the hardening is refused by the API server itself.
    refused = bench.kubectl(A, "--namespace", NAMESPACE, "run", "unhardened", "--image=busybox:1.36", "--restart=Never")
    assert refused.code != 0
    assert "Forbidden" in refused.stderr and 'violates PodSecurity "restricted:latest"' in refused.stderr
    assert bench.kubectl(A, "--namespace", NAMESPACE, "get", "pod", "unhardened").code != 0


def test_no_perpetual_diff_and_no_drift(bench: Workbench) -> None:
    ok(bench.pulumi("preview", "--diff", "--expect-no-changes", "--stack", "local-a"))
    ok(bench.pulumi("refresh", "--yes", "--expect-no-changes", "--stack", "local-a"))
    ok(bench.pulumi("preview", "--diff", "--expect-no-changes", "--stack", "local-a"))
    # As `make preview` runs it (no per-step state copies): the same verdict, and the state left as it was.
    before = bench.state_resources("local-a")
    ok(bench.pulumi("preview", "--diff", "--expect-no-changes", "--stack", "local-a", env=PREVIEW_ENV))
    assert bench.state_resources("local-a") == before


def test_scaling_updates_the_deployment_alone(bench: Workbench) -> None:
    ok(bench.pulumi("config", "set", "kubeport:replicas", "3", "--stack", "local-a"))
    for env in ({}, PREVIEW_ENV):  # plain, and as `make preview` runs it
        steps = preview_steps(ok(bench.pulumi("preview", "--json", "--stack", "local-a", env=env)).stdout)
        changed = [(s["op"], s["urn"].rsplit("::", 1)[1]) for s in steps if s["op"] != "same"]
        assert changed == [("update", "web-deployment")], changed
    ok(bench.pulumi("up", "--yes", "--skip-preview", "--stack", "local-a"))
    workload_is_serving(bench, A, replicas=3)


def test_a_bad_config_stops_with_one_message_and_creates_nothing(bench: Workbench) -> None:
    since = datetime.now(UTC)
    bench.add_stack_file("bad", {"replicas": "0", "namespace": "Not_A_Label"}, like="local-a")
    ok(bench.pulumi("stack", "init", "bad"))
    up = bench.pulumi("up", "--yes", "--skip-preview", "--stack", "bad")
    assert up.code != 0
    output = up.stdout + up.stderr
    # The CLI echoes a diagnostic in its progress lines as it happens, then lists each once under Diagnostics.
    diagnostics = output.split("Diagnostics:", 1)[1].split("Resources:", 1)[0]
    assert diagnostics.count("error:") == 1, diagnostics
    assert "invalid stack configuration; nothing was created" in diagnostics
    assert "kubeport:replicas" in diagnostics and "kubeport:namespace" in diagnostics
    assert "Traceback" not in output and "unhandled error" not in output
    kubernetes = [r for r in bench.state_resources("bad") if r["type"].startswith("kubernetes:")]
    assert kubernetes == []
    assert by_pulumi(audit(A, since), "created") == [] and by_pulumi(audit(B, since), "created") == []
    ok(bench.pulumi("stack", "rm", "--yes", "--force", "bad"))


# --- autoscaling and routing by host name ----------------------------------------------------------------


def replicas_of(bench: Workbench, context: str) -> int:
    deployment = bench.kubectl_json(context, "--namespace", NAMESPACE, "get", "deployment", "web")
    count: int = deployment["spec"]["replicas"]
    return count


def test_autoscaling_and_an_ingress_for_real(bench: Workbench) -> None:
    config = ["--stack", "local-a"]
    # A fixed count and an autoscaler would fight: the real CLI refuses the pair, naming the key.
    ok(bench.pulumi("config", "set", "kubeport:autoscaling", "true", *config))
    refused = bench.pulumi("preview", *config)
    assert refused.code != 0 and "kubeport:replicas" in refused.stdout + refused.stderr
    ok(bench.pulumi("config", "rm", "kubeport:replicas", *config))
    for key, value in (("host", HOST), ("ingressClass", nodekinds.INGRESS_CLASS_NAME), ("maxReplicas", "6")):
        ok(bench.pulumi("config", "set", f"kubeport:{key}", value, *config))
    steps = preview_steps(ok(bench.pulumi("preview", "--json", *config)).stdout)
    changed = {(s["op"], s["urn"].rsplit("::", 1)[1]) for s in steps if s["op"] != "same"}
    # The Deployment is untouched: its count (3, from the scaling step) is now the autoscaler's to change.
    assert changed == {("create", "web-hpa"), ("create", "web-ingress")}, changed

    ok(bench.pulumi("up", "--yes", "--skip-preview", *config))
    # Admitted by the API server, and Pulumi's Ingress await completed on the (simulated) controller's address.
    hpa = bench.kubectl_json(A, "--namespace", NAMESPACE, "get", "hpa", "web")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "web" and hpa["spec"]["maxReplicas"] == 6
    ingress = bench.kubectl_json(A, "--namespace", NAMESPACE, "get", "ingress", "web")
    assert ingress["spec"]["ingressClassName"] == nodekinds.INGRESS_CLASS_NAME
    outputs = json.loads(ok(bench.pulumi("stack", "output", "--json", *config)).stdout)
    assert outputs["url"] == f"http://{HOST}"
    assert outputs["ingressAddress"] == ingress["status"]["loadBalancer"]["ingress"][0]["ip"]
    # Handing the count to the autoscaler kept the running pods (no drop to a default of 1).
    assert replicas_of(bench, A) == 3

    # A scale made by hand, as the autoscaler would: not reverted by a preview, nor by an update of the
    # Deployment itself (a new image rolls out at the scaled size).
    ok(bench.kubectl(A, "--namespace", NAMESPACE, "scale", "deployment/web", "--replicas=4"))
    eventually("4 replicas", lambda: replicas_of(bench, A) == 4)
    ok(bench.pulumi("preview", "--diff", "--expect-no-changes", *config))
    image = json.loads(ok(bench.pulumi("config", "get", "kubeport:image", "--json", *config)).stdout)["value"]
    ok(bench.pulumi("config", "set", "kubeport:image", OTHER_IMAGE, *config))
    ok(bench.pulumi("up", "--yes", "--skip-preview", *config))
    assert replicas_of(bench, A) == 4
    workload_is_serving(bench, A, replicas=4)
    ok(bench.pulumi("config", "set", "kubeport:image", image, *config))
    ok(bench.pulumi("up", "--yes", "--skip-preview", *config))
    assert replicas_of(bench, A) == 4


# --- moving the app: migrate to another stack, then move a stack in place ------------------------------


def uids(bench: Workbench, context: str) -> dict[str, str]:
    """The app's own objects (a ReplicaSet's pods are its controller's, which may still be rolling a release)."""
    found = bench.kubectl_json(context, "--namespace", NAMESPACE, "get", "deployments,services,pods,networkpolicies")
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["uid"]
        for o in found["items"]
        if not o["metadata"].get("ownerReferences")
    }


def written_by_pulumi(context: str, since: datetime) -> list[str]:
    """Every write the Kubernetes provider made to the app's namespace since then, as the API server recorded it.

    (The controllers' own status updates, which go on after an `up`, are not the provider's.)"""
    return [
        f"{e.verb} {e.resource}/{e.name}"
        for e in audit(context, since)
        if e.namespace == NAMESPACE and e.user_agent.startswith("pulumi-kubernetes/")
    ]


def test_migrate_through_the_automation_api_checks_the_target_before_anything_else(bench: Workbench) -> None:
    bench.add_stack_file("local-b")
    since = datetime.now(UTC)
    before = uids(bench, A)
    assert {"Deployment/web", "Service/web", "Pod/web-smoke"} <= set(before), before
    migrate = ok(bench.stacks_cli("migrate", "--from", "local-a", "--to", "local-b"))
    # kwok pods serve no HTTP and the NodePort has no address here: the smoke step asks B's API server.
    assert "smoke-check through the API server of kubeport-b" in migrate.stdout, migrate.stdout
    assert "local-a is kept" in migrate.stdout
    workload_is_serving(bench, B, replicas=2)
    # The source untouched: the same objects, none written by Pulumi
    assert uids(bench, A) == before
    assert written_by_pulumi(A, since) == []


def test_migrate_keeps_the_source_when_the_target_fails_its_smoke_check(bench: Workbench) -> None:
    since = datetime.now(UTC)
    before = uids(bench, A)
    # A target that comes up fine but runs another build: the smoke step must refuse it.
    bench.add_stack_file(
        "other-b", {"namespace": "kubeport-other", "nodePort": "30021", "image": OTHER_IMAGE}, like="local-b"
    )
    failed = bench.stacks_cli("migrate", "--from", "local-a", "--to", "other-b", "--destroy-source", "--yes")
    assert failed.code == 1, failed.describe()
    assert "not the source's" in failed.stderr and "'local-a' is untouched and still serving" in failed.stderr
    assert uids(bench, A) == before
    assert written_by_pulumi(A, since) == []
    ok(bench.pulumi("destroy", "--yes", "--stack", "other-b"))
    ok(bench.pulumi("stack", "rm", "--yes", "other-b"))


def test_migrate_destroys_the_source_only_after_the_target_passed(bench: Workbench) -> None:
    done = ok(bench.stacks_cli("migrate", "--from", "local-a", "--to", "local-b", "--destroy-source", "--yes"))
    assert "local-a destroyed; local-b is serving" in done.stdout, done.stdout
    eventually("cluster A empty", lambda: namespace_gone(bench, A))
    assert bench.state_resources("local-a") == []
    workload_is_serving(bench, B, replicas=2)


def test_moving_a_stack_in_place_creates_on_the_new_cluster_before_deleting_on_the_old(bench: Workbench) -> None:
    ok(bench.pulumi("config", "set", "kubeport:kubeContext", A, "--stack", "local-b"))
    steps = preview_steps(ok(bench.pulumi("preview", "--json", "--stack", "local-b")).stdout)
    ops = {s["urn"].rsplit("::", 1)[1]: s["op"] for s in steps}
    kubernetes = {s["urn"].rsplit("::", 1)[1] for s in steps if "$kubernetes:" in s["urn"]}
    assert kubernetes and all(ops[name] == "replace" for name in kubernetes), ops
    assert ops["existing"] == "replace", "the provider itself is replaced: a new cluster"

    since = datetime.now(UTC)
    ok(bench.pulumi("up", "--yes", "--skip-preview", "--stack", "local-b"))
    workload_is_serving(bench, A, replicas=2)
    eventually("cluster B empty", lambda: namespace_gone(bench, B))
    # The API servers' own timestamps: every create on the new cluster before the first delete on the old.
    created_before_deleted(A, B, since)


def test_destroy_leaves_nothing_in_the_cluster_or_the_state(bench: Workbench) -> None:
    ok(bench.pulumi("destroy", "--yes", "--stack", "local-b"))
    eventually("cluster A empty", lambda: namespace_gone(bench, A))
    assert namespace_gone(bench, B)
    assert bench.state_resources("local-b") == []
    ok(bench.pulumi("stack", "rm", "--yes", "local-b"))
    ok(bench.pulumi("stack", "rm", "--yes", "local-a"))


# --- the control planes themselves ------------------------------------------------------------------------


@pytest.mark.parametrize("context", [A, B])
def test_etcd_answers_only_the_api_servers_certificate(context: str) -> None:
    """etcd holds the whole cluster, Secrets included: over TLS with client certificates from its own CA, so a local
    user who reaches its port reads nothing, with no certificate, with the cluster's admin one, or over HTTP."""
    cluster = clusters.load(context)
    assert cluster is not None, f"{context} is not running"
    assert controlplane.etcd_health(cluster) == "true"
    for client in (None, "admin"):  # no certificate; one the cluster's main CA signed, not etcd's
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            controlplane.etcd_health(cluster, client=client)
    plain = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        plain.open(f"http://127.0.0.1:{cluster.etcd_port}/health", timeout=3).read()


def test_a_second_run_starting_kubeport_node_is_refused_and_the_running_one_keeps_its_network(
    bench: Workbench, tmp_path: Path
) -> None:
    """Another checkout's `clusters up kubeport-node` (a state folder of its own) while this run's node runs: one
    message, no traceback, and the running node keeps its namespace, its link and its Ready state."""
    node = nodeconfig.NODES[catalog.REAL_NODE]
    assert realnode.netns_in_use(node), "this run's kubeport-node is not running"
    env = {**os.environ, "KUBEPORT_CLUSTERS": str(tmp_path / "another-run")}
    done = processes.run([sys.executable, "-m", "tools", "clusters", "up", catalog.REAL_NODE], timeout=180,
                         env=env, cwd=ROOT)  # fmt: skip
    said = done.stdout + done.stderr
    assert done.code == 1 and f"network namespace {node.netns} exists already" in said, said[-3000:]
    assert "Traceback" not in said, said[-3000:]
    assert realnode.netns_in_use(node) and processes.run(["ip", "link", "show", node.link[0]], timeout=30).code == 0
    ready = bench.kubectl_json(catalog.REAL_NODE, "get", "node", node.name)["status"]["conditions"]
    assert {c["type"]: c["status"] for c in ready}["Ready"] == "True"
