"""The application's migration, step by step, with its failures (tools/appmigrate.py). The real move of a database
between two clusters with real nodes is tests/live/test_application_migrates_with_its_data.py; here a fake
kubectl answers like the two clusters' API servers and databases would, to show the order of the steps and what
happens to the source's writes when a step fails."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from tools import appmigrate
from tools.appmigrate import migrate_application
from tools.operations import Fetch, OperationError

URL = "http://10.250.1.2:30030"


class FakeWorkspace:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def preview(self, stack: str) -> Mapping[str, int]:
        self.calls.append(("preview", stack))
        return {"create": 30}

    def up(self, stack: str) -> dict[str, Any]:
        self.calls.append(("up", stack))
        return {"url": URL, "namespace": "walkthrough", "services": {"web": URL, "payments": "", "login": ""}}

    def destroy(self, stack: str) -> None:
        self.calls.append(("destroy", stack))

    def outputs(self, stack: str) -> dict[str, Any]:
        return {"namespace": "walkthrough", "services": {"web": "http://10.250.0.1:30030"}} if stack == "src" else {}

    def config(self, stack: str) -> dict[str, str]:
        context = {"src": "kubeport-node", "dst": "kubeport-node-b"}[stack]
        return {"kubeport:kubeContext": context, "kubeport:application": "walkthrough"}

    def cluster_kubeconfig(self, reference: str) -> str:
        raise AssertionError("not used")


class FakeClusters:
    """kubectl for both contexts: the database pods, the Deployments, and SQL against a table per context."""

    def __init__(self, rows: Mapping[str, int]) -> None:
        self.rows = dict(rows)
        self.statements: list[tuple[str, str]] = []

    def __call__(self, args: list[str]) -> str:
        context = args[args.index("--context") + 1]
        if "get" in args and "pods" in args:
            pod = {"metadata": {"name": "payments-db-0", "labels": {"app.kubernetes.io/instance": "payments-db"}}}
            return json.dumps({"items": [pod]})
        if "get" in args and "deployments" in args:
            return json.dumps({"items": [{"spec": {"replicas": 1}, "status": {"availableReplicas": 1}}]})
        statement = args[-1]
        self.statements.append((context, statement))
        if statement == appmigrate.TABLES:
            return "payments\n"
        if statement.startswith("SELECT count(*), coalesce(md5"):
            return f"{self.rows[context]}|checksum-{self.rows[context]}\n"
        return "\n"


def fetch_for(payments: int) -> Fetch:
    def fetch(url: str) -> tuple[int, bytes]:
        if url.endswith("/payments/"):
            return 200, json.dumps({"service": "payments", "database": "reachable", "payments": payments}).encode()
        return 200, b"<html><title>kubeport</title></html>"

    return fetch


def run(
    clusters: FakeClusters, fetch: Fetch, lines: list[str], workspace: FakeWorkspace | None = None
) -> appmigrate.Moved:
    ticks = iter([100.0, 112.5])
    return migrate_application(
        "src", "dst", workspace or FakeWorkspace(), say=lines.append, kubectl=clusters, fetch=fetch,
        clock=lambda: next(ticks),
    )  # fmt: skip


def writes(clusters: FakeClusters) -> list[tuple[str, str]]:
    """The statements that turn the source's writes off and on, in order."""
    return [(c, "off" if "= on" in s else "on") for c, s in clusters.statements if "default_transaction_read_only" in s]


def test_writes_stop_before_the_dump_and_the_measured_stop_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    clusters = FakeClusters({"kubeport-node": 7, "kubeport-node-b": 7})
    moved: list[Sequence[str]] = []
    monkeypatch.setattr(appmigrate, "transfer", lambda *a: moved.append([str(x) for x in a]))
    monkeypatch.setattr(appmigrate, "_kubectl_binary", lambda: "kubectl")
    lines: list[str] = []
    result = run(clusters, fetch_for(7), lines)
    assert writes(clusters) == [("kubeport-node", "off")], "the source stays read-only after the switch"
    assert len(moved) == 1
    assert result.tables == {"payments-db": {"payments": (7, "checksum-7")}}
    assert result.writes_stopped_seconds == 12.5
    assert any("writes were stopped for 12.5 s" in line for line in lines), lines
    assert any("payments: 7 rows" in line for line in lines), lines


def test_a_restored_copy_that_differs_fails_and_makes_the_source_writable_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clusters = FakeClusters({"kubeport-node": 7, "kubeport-node-b": 6})
    monkeypatch.setattr(appmigrate, "transfer", lambda *a: None)
    monkeypatch.setattr(appmigrate, "_kubectl_binary", lambda: "kubectl")
    with pytest.raises(OperationError) as raised:
        run(clusters, fetch_for(7), [])
    assert "payments-db: the restored copy differs in payments" in str(raised.value)
    assert "'src' is writable again and serving as before" in str(raised.value)
    assert writes(clusters) == [("kubeport-node", "off"), ("kubeport-node", "on")]


def test_a_failed_dump_makes_the_source_writable_again(monkeypatch: pytest.MonkeyPatch) -> None:
    clusters = FakeClusters({"kubeport-node": 7, "kubeport-node-b": 7})

    def broken(*_: object) -> None:
        raise OperationError("pg_dump of payments-db: connection refused")

    monkeypatch.setattr(appmigrate, "transfer", broken)
    monkeypatch.setattr(appmigrate, "_kubectl_binary", lambda: "kubectl")
    with pytest.raises(OperationError, match="pg_dump of payments-db: connection refused"):
        run(clusters, fetch_for(7), [])
    assert writes(clusters) == [("kubeport-node", "off"), ("kubeport-node", "on")]


def test_payments_counting_other_rows_through_web_fails_the_smoke_check(monkeypatch: pytest.MonkeyPatch) -> None:
    clusters = FakeClusters({"kubeport-node": 7, "kubeport-node-b": 7})
    monkeypatch.setattr(appmigrate, "transfer", lambda *a: None)
    monkeypatch.setattr(appmigrate, "_kubectl_binary", lambda: "kubectl")
    with pytest.raises(OperationError, match="payments through web counts 0 payments, the source had 7"):
        run(clusters, fetch_for(0), [])
    assert writes(clusters)[-1] == ("kubeport-node", "on")


def test_the_target_missing_a_database_is_refused_before_writes_stop() -> None:
    class NoDatabaseThere(FakeClusters):
        def __call__(self, args: list[str]) -> str:
            if "kubeport-node-b" in args and "pods" in args:
                return json.dumps({"items": []})
            return super().__call__(args)

    clusters = NoDatabaseThere({"kubeport-node": 7})
    with pytest.raises(OperationError, match="the target has no database payments-db"):
        run(clusters, fetch_for(7), [])
    assert writes(clusters) == []


def test_a_source_whose_database_is_not_in_its_cluster_is_refused_before_anything_changes() -> None:
    """On a cloud the walkthrough's payments-db is the managed database: no pod to dump from. Moving without it
    would leave the rows behind, so migrate refuses before the target's preview."""

    class ManagedSource(FakeClusters):
        def __call__(self, args: list[str]) -> str:
            if "kubeport-node" in args and "pods" in args:
                return json.dumps({"items": []})
            return super().__call__(args)

    clusters, workspace = ManagedSource({}), FakeWorkspace()
    with pytest.raises(OperationError) as raised:
        run(clusters, fetch_for(7), [], workspace)
    assert "payments-db: not an in-cluster database on 'src'" in str(raised.value)
    assert "Nothing was changed" in str(raised.value)
    assert workspace.calls == [] and writes(clusters) == []
