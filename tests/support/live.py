"""What the real-run tests ask of the CLI, the state and the API servers (shared by the tests in tests/live)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from tools.localcluster import clusters
from tools.localcluster.realrun import AuditEvent, Workbench, audit_events
from tools.processes import Done
from tools.verify.mock_runner import run_program

A, B = "kubeport-a", "kubeport-b"
NAMESPACE = "kubeport"
WEB_PODS = "app.kubernetes.io/name=kubeport,app.kubernetes.io/component=web"
WAIT = 120.0
"""Seconds for an object to appear or vanish after Pulumi returns (namespace termination, mostly)."""


def ok(done: Done) -> Done:
    assert done.code == 0, done.describe()
    return done


def expected_urns(bench: Workbench, stack: str) -> set[str]:
    """What the program registers for this stack, from the same program and stack file under mocks."""
    run = run_program(stack, config_root=bench.project)
    assert run.error is None, run.error
    by_urn = {r.urn: r for r in run.resources}

    def type_chain(urn: str) -> str:
        # The engine qualifies a type by every ancestor's type below the stack; the mock monitor names only
        # the parent's (and puts the Stack into top-level URNs), so the chain is rebuilt from the parents.
        res = by_urn.get(urn)
        if res is None:
            return ""
        above = type_chain(res.parent)
        return f"{above}${res.type}" if above else res.type

    urns = {f"urn:pulumi:{stack}::kubeport::{type_chain(r.urn)}::{r.name}" for r in run.resources}
    return urns | {f"urn:pulumi:{stack}::kubeport::pulumi:pulumi:Stack::kubeport-{stack}"}


def eventually(what: str, holds: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if holds():
            return
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def namespace_gone(bench: Workbench, context: str, namespace: str = NAMESPACE) -> bool:
    done = bench.kubectl(context, "get", "namespace", namespace)
    return done.code != 0 and "NotFound" in done.stderr


def audit(context: str, since: datetime) -> list[AuditEvent]:
    cluster = clusters.load(context)
    assert cluster is not None, f"{context} is not running"
    return audit_events(cluster.audit_log, since)


def by_pulumi(events: list[AuditEvent], change: str, namespace: str = NAMESPACE) -> list[AuditEvent]:
    """The app's objects the Kubernetes provider `created` or `deleted`, as the API server recorded it.

    The provider applies server-side: an object is created by a PATCH answered 201 Created.
    """
    ours = [
        e
        for e in events
        if e.user_agent.startswith("pulumi-kubernetes/")
        and (e.namespace == namespace or (e.resource == "namespaces" and e.name == namespace))
    ]
    if change == "created":
        return [e for e in ours if (e.verb == "create" and e.code < 300) or (e.verb == "patch" and e.code == 201)]
    return [e for e in ours if e.verb == "delete" and e.code < 300]


def created_before_deleted(new: str, old: str, since: datetime, namespace: str = NAMESPACE) -> None:
    """Every create on the `new` cluster before the first delete on the `old` one, by the API servers' clocks."""
    created = by_pulumi(audit(new, since), "created", namespace)
    deleted = by_pulumi(audit(old, since), "deleted", namespace)
    assert {e.resource for e in created} >= {"namespaces", "deployments", "services", "pods", "networkpolicies"}
    assert deleted, "nothing was deleted on the old cluster"
    assert max(e.at for e in created) < min(e.at for e in deleted), (created[-1], deleted[0])


def workload_is_serving(bench: Workbench, context: str, replicas: int, namespace: str = NAMESPACE) -> None:
    """Deployment available at `replicas`, the Service's endpoints list every web pod ready, smoke Pod Ready."""
    ns = ("--namespace", namespace)
    deployment = bench.kubectl_json(context, *ns, "get", "deployment", "web")
    conditions = {c["type"]: c["status"] for c in deployment["status"].get("conditions", [])}
    assert conditions.get("Available") == "True", deployment["status"]
    assert deployment["status"].get("availableReplicas") == replicas, deployment["status"]
    pods = bench.kubectl_json(context, *ns, "get", "pods", "-l", WEB_PODS)["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert len(live) == replicas

    def ready() -> set[str]:
        slices = bench.kubectl_json(context, *ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web")
        return {
            address
            for s in slices["items"]
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
            for address in e["addresses"]
        }

    # `up` returns once the smoke Pod got an answer through the Service; the endpoints controller lists the last pod
    # a moment later on a busy machine.
    pod_ips = {p["status"]["podIP"] for p in live}
    eventually("the Service's endpoints list every web pod ready", lambda: pod_ips == ready(), timeout=30)
    smoke = bench.kubectl_json(context, *ns, "get", "pod", "web-smoke")
    assert {c["type"]: c["status"] for c in smoke["status"]["conditions"]}["Ready"] == "True"
