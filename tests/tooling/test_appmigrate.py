"""The application's migration, rule by rule and step by step (tools/ops/application_migrate.py), with both clusters'
databases stood in for by `FakeDatabases`: what migrate refuses before anything changes, what it changes in which order,
and that every failure after the first stop of writes undoes the stops. The database operations themselves run against a
real PostgreSQL in tests/tooling/test_appdata.py, and the whole move between two real nodes in
tests/live/test_application_migrates_with_its_data.py."""

from __future__ import annotations

import contextlib
import datetime
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stacks.application.parse import read_application
from tools.ops.application_data import Facts, Fingerprint, Record, Side
from tools.ops.application_migrate import Moved, migrate_application
from tools.ops.application_reach import Reach
from tools.ops.application_smoke import probes, routes
from tools.ops.operations import OperationError, Workspace
from tools.stack_files import ROOT

URL = "http://10.250.1.2:30030"
DB = "payments-db"


@dataclass
class Table:
    rows: list[str] = field(default_factory=list)


@dataclass
class FakeDatabase:
    system: str
    owner: str = "payments_app"
    read_only: bool = False
    tables: dict[str, list[str]] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)


class FakeDatabases:
    """One side's databases; `log` is shared by both sides, in the order things happened."""

    def __init__(self, side: str, databases: dict[str, FakeDatabase], log: list[tuple[str, ...]]) -> None:
        self.side, self.dbs, self.log = side, databases, log
        self.fail: dict[str, BaseException] = {}

    def _step(self, step: str, *args: str) -> None:
        self.log.append((self.side, step, *args))
        if step in self.fail:
            raise self.fail[step]

    def instances(self) -> list[str]:
        return sorted(self.dbs)

    def facts(self, instance: str) -> Facts:
        db = self.dbs[instance]
        with_rows = tuple(t for t, rows in db.tables.items() if rows)
        return Facts(db.system, "payments", db.owner, db.read_only, with_rows, db.records[-1] if db.records else None)

    def set_read_only(self, instance: str, read_only: bool) -> None:
        # As PodDatabases does it: the setting first, then the open sessions ended (which may fail after it).
        self.dbs[instance].read_only = read_only
        self._step("read-only" if read_only else "writable", instance)

    def fingerprint(self, instance: str) -> Fingerprint:
        self._step("fingerprint", instance)
        return {t: (len(rows), "|".join(rows)) for t, rows in self.dbs[instance].tables.items()}

    def record(self, instance: str, record: Record, source_system: str, target_system: str) -> None:
        self._step("record", instance, record.side)
        self.dbs[instance].records.append(record)

    def backup(self, instance: str, role: str, path: Path) -> None:
        self._step("backup", instance)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(repr(self.dbs[instance].tables))

    def prove_writable(self, instance: str) -> str:
        self._step("prove-writable", instance)
        if self.dbs[instance].read_only:
            raise OperationError(f"{instance}: cannot write")
        return f"{instance}: writes"

    def copy_into(self, instance: str, target: object, target_instance: str, role: str) -> None:
        assert isinstance(target, FakeDatabases)
        self._step("copy", instance)
        target._step("restore", target_instance)
        target.dbs[target_instance].tables = {t: list(r) for t, r in self.dbs[instance].tables.items()}


class FakeProber:
    def __init__(self, log: list[tuple[str, ...]], unanswered: Mapping[str, str] | None = None) -> None:
        self.log, self.unanswered = log, dict(unanswered or {})
        self.started: list[tuple[str, int]] = []
        self.fail: BaseException | None = None

    def cleanup(self) -> None:
        self.log.append(("target", "probe-cleanup"))

    def start(self, services: Sequence[tuple[str, int]]) -> None:
        self.log.append(("target", "probe-start"))
        self.started = list(services)

    def ask(self, urls: Sequence[str]) -> dict[str, str]:
        self.log.append(("target", "probe-ask", *urls))
        if self.fail is not None:
            raise self.fail
        return {u: self.unanswered[u] for u in urls if u in self.unanswered}


class FakeWorkspace:
    def __init__(self, target_deployed: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.target_deployed = target_deployed

    def preview(self, stack: str) -> Mapping[str, int]:
        self.calls.append(("preview", stack))
        return {"create": 30}

    def up(self, stack: str) -> dict[str, Any]:
        self.calls.append(("up", stack))
        return {"url": URL, "namespace": "walkthrough", "services": {"web": URL, "payments": "", "login": ""}}

    def destroy(self, stack: str) -> None:
        self.calls.append(("destroy", stack))

    def outputs(self, stack: str) -> dict[str, Any]:
        if stack == "src" or self.target_deployed:
            return {"namespace": "walkthrough", "services": {"web": "http://10.250.0.2:30030"}}
        return {}

    def config(self, stack: str) -> dict[str, str]:
        context = {"src": "kubeport-node", "dst": "kubeport-node-b"}[stack]
        return {"kubeport:kubeContext": context, "kubeport:application": "walkthrough"}

    def cluster_kubeconfig(self, reference: str) -> str:
        raise AssertionError("not used")


@dataclass
class Clusters:
    """Both sides, as migrate reaches them."""

    source: FakeDatabases
    target: FakeDatabases
    prober: FakeProber
    log: list[tuple[str, ...]]
    unavailable: list[str] = field(default_factory=list)
    same_server: bool = False
    unavailable_fails: BaseException | None = None

    def deployments(self, _application: str) -> list[str]:
        if self.unavailable_fails is not None:
            raise self.unavailable_fails
        return list(self.unavailable)

    def reach(self, _workspace: Workspace, config: Mapping[str, str], namespace: str) -> Any:
        source = config["kubeport:kubeContext"] == "kubeport-node"
        databases = self.source if source else self.target
        server = "https://10.250.0.1:6443" if source or self.same_server else "https://10.250.1.1:6443"

        @contextlib.contextmanager
        def opened() -> Iterator[Reach]:
            yield Reach(Side(["--context", config["kubeport:kubeContext"]], namespace), databases, server,
                        self.deployments, lambda _app, _image: self.prober)  # fmt: skip

        return opened()


def clusters(source_rows: int = 7, *, target: FakeDatabase | None = None, source: FakeDatabase | None = None,
             **extra: Any) -> Clusters:  # fmt: skip
    log: list[tuple[str, ...]] = []
    src = source or FakeDatabase("11", tables={"public.payments": [f"row {n}" for n in range(source_rows)]})
    dst = target or FakeDatabase("22")
    return Clusters(FakeDatabases("source", {DB: src}, log), FakeDatabases("target", {DB: dst}, log),
                    FakeProber(log), log, **extra)  # fmt: skip


def fetch(url: str) -> tuple[int, bytes]:
    return 200, b"<html>page</html>"


def migrate(found: Clusters, lines: list[str] | None = None, workspace: FakeWorkspace | None = None,
            tmp: Path | None = None, **options: Any) -> Moved:  # fmt: skip
    ticks = iter([100.0, 112.5])
    return migrate_application(
        "src", "dst", workspace or FakeWorkspace(), say=(lines if lines is not None else []).append,
        reach=found.reach, fetch=fetch, clock=lambda: next(ticks), backups=(tmp or Path("/nonexistent")) / "backups",
        now=lambda: datetime.datetime(2026, 12, 6, 10, 0, tzinfo=datetime.UTC), **options,
    )  # fmt: skip


def steps(found: Clusters, *names: str) -> list[tuple[str, ...]]:
    return [entry for entry in found.log if entry[1] in names]


# --- a move ---------------------------------------------------------------------------------------------------


def test_a_move_stops_both_sides_copies_verifies_proves_the_target_smoke_checks_and_records() -> None:
    found, lines = clusters(), list[str]()
    moved = migrate(found, lines)
    assert [e[:2] for e in found.log if e[1] != "probe-ask"] == [
        ("target", "probe-start"),
        ("target", "read-only"), ("source", "read-only"),
        ("source", "copy"), ("target", "restore"), ("source", "fingerprint"), ("target", "fingerprint"),
        ("target", "writable"), ("target", "prove-writable"),
        ("source", "record"), ("target", "record"),
        ("target", "probe-cleanup"),
    ]  # fmt: skip
    assert found.target.dbs[DB].tables == found.source.dbs[DB].tables
    assert found.source.dbs[DB].read_only, "the source stays read-only after the switch"
    assert not found.target.dbs[DB].read_only
    assert [r.side for r in found.source.dbs[DB].records] == ["source"]
    assert [(r.side, r.source, r.target) for r in found.target.dbs[DB].records] == [("target", "src", "dst")]
    assert moved.tables[DB]["public.payments"][0] == 7
    assert moved.writes_stopped_seconds == 12.5
    assert any("writes were stopped for 12.5 s" in line for line in lines), lines
    assert any("public.payments: 7 rows" in line for line in lines), lines


def test_the_smoke_check_asks_every_readiness_probe_through_its_service_and_every_route() -> None:
    found, lines = clusters(), list[str]()
    migrate(found, lines)
    (asked,) = steps(found, "probe-ask")
    assert set(asked[2:]) == {"http://login.walkthrough.svc:80/readyz", "http://payments.walkthrough.svc:80/readyz",
                              "http://web.walkthrough.svc:80/readyz"}  # fmt: skip
    assert sorted(found.prober.started) == [("login", 8080), ("payments", 8080), ("web", 8080)]
    assert any(f"routes through {URL}: / 200" in line for line in lines), lines


def test_the_probes_and_routes_come_from_the_files_not_from_the_walkthrough(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "desk.score.yaml").write_text(
        "apiVersion: score.dev/v1b1\nmetadata: {name: desk}\ncontainers:\n  main:\n    image: r.example/desk:1\n"
        "    readinessProbe: {httpGet: {path: /ping, port: 9090}}\nservice:\n  ports:\n"
        "    front: {port: 8000, targetPort: 9090}\nresources:\n  route: {type: route, params: {host: x, path: /shelf,"
        " port: 8000}}\n"
    )
    (folder / "tally.score.yaml").write_text(
        "apiVersion: score.dev/v1b1\nmetadata: {name: tally}\ncontainers:\n  main:\n    image: r.example/tally:1\n"
        "    readinessProbe: {httpGet: {path: /ok, port: 7000}}\n"
    )
    application = read_application(folder)
    found = [(p.workload, p.url, p.pod_port) for p in probes(application, "books")]
    assert found == [("desk", "http://desk.books.svc:8000/ping", 9090), ("tally", "", 7000)]
    assert routes(application) == ["/shelf"]


# --- refusals before anything changes ---------------------------------------------------------------------------


def test_the_same_stack_on_both_sides_is_refused() -> None:
    workspace = FakeWorkspace()
    with pytest.raises(OperationError, match=r"same stack.*nothing overrides this"):
        migrate_application("src", "src", workspace, reach=clusters().reach)
    assert workspace.calls == []


def test_the_same_database_on_both_sides_is_refused_before_anything_changes() -> None:
    found = clusters(target=FakeDatabase("11"))
    workspace = FakeWorkspace(target_deployed=True)
    with pytest.raises(OperationError, match=r"is the source's own database.*nothing overrides this"):
        migrate(found, workspace=workspace)
    assert workspace.calls == [] and found.log == []


def test_the_same_namespace_of_the_same_cluster_is_refused_before_anything_changes() -> None:
    class SameNamespace(FakeWorkspace):
        def config(self, stack: str) -> dict[str, str]:
            return {**super().config(stack), "kubeport:namespace": "walkthrough"}

    found = clusters(same_server=True)
    workspace = SameNamespace()
    with pytest.raises(OperationError, match="same namespace 'walkthrough' of the same cluster"):
        migrate(found, workspace=workspace)
    assert workspace.calls == [] and found.log == []


def test_a_read_only_source_is_refused_naming_its_last_move_and_the_flag() -> None:
    earlier = Record("2026-12-05 09:00:00 UTC", "source", "src", "dst", {"public.payments": 7})
    source = FakeDatabase("11", read_only=True, tables={"public.payments": ["a"]}, records=[earlier])
    found, workspace = clusters(source=source), FakeWorkspace()
    with pytest.raises(OperationError) as refused:
        migrate(found, workspace=workspace)
    message = str(refused.value)
    assert "read-only already" in message and "--allow-read-only-source" in message
    assert "was the source of a migration from 'src' to 'dst' at 2026-12-05 09:00:00 UTC" in message
    assert workspace.calls == [] and found.log == []


def test_a_read_only_source_moves_with_the_flag_and_is_left_read_only_on_failure() -> None:
    found = clusters(source=FakeDatabase("11", read_only=True, tables={"public.payments": ["a"]}))
    found.target.fail["restore"] = OperationError("restore broke")
    with pytest.raises(OperationError, match="restore broke"):
        migrate(found, allow_read_only_source=True)
    assert steps(found, "read-only", "writable") == [("target", "read-only", DB), ("target", "writable", DB)]
    assert found.source.dbs[DB].read_only, "it was read-only before migrate: it stays so"


def test_a_target_holding_rows_is_refused_naming_its_tables_its_story_and_the_flag() -> None:
    earlier = Record("2026-12-05 09:00:00 UTC", "source", "dst", "src", {"public.payments": 3})
    target = FakeDatabase("22", read_only=True, tables={"public.payments": ["x", "y", "z"]}, records=[earlier])
    found, workspace = clusters(target=target), FakeWorkspace(target_deployed=True)
    with pytest.raises(OperationError) as refused:
        migrate(found, workspace=workspace)
    message = str(refused.value)
    assert "payments-db holds rows in public.payments" in message and "--replace-target-data" in message
    assert "was the source of a migration from 'dst' to 'src'" in message
    assert workspace.calls == [] and found.log == [], "refused before the preview"


def test_rows_that_appear_on_the_target_after_its_up_are_refused_before_writes_stop() -> None:
    found = clusters(target=FakeDatabase("22", tables={"public.payments": ["seeded at start"]}))
    workspace = FakeWorkspace()
    with pytest.raises(OperationError, match="--replace-target-data"):
        migrate(found, workspace=workspace)
    assert workspace.calls == [("preview", "dst"), ("up", "dst")]
    assert steps(found, "read-only", "copy") == []


def test_with_the_flag_the_targets_rows_are_kept_in_a_file_before_the_source_stops(tmp_path: Path) -> None:
    target = FakeDatabase("22", read_only=True, tables={"public.payments": ["old"]})
    found, lines = clusters(target=target), list[str]()
    moved = migrate(found, lines, FakeWorkspace(target_deployed=True), tmp_path, replace_target_data=True)
    order = [e[:2] for e in steps(found, "backup", "read-only", "copy")]
    assert order == [("target", "backup"), ("source", "read-only"), ("source", "copy")]
    (kept,) = moved.backups
    assert kept == tmp_path / "backups" / "dst-payments-db-20261206T100000Z.sql"
    assert "old" in kept.read_text()
    assert any(str(kept) in line for line in lines), lines
    # It was a read-only former source: the move leaves it writable, proven.
    assert not found.target.dbs[DB].read_only and steps(found, "prove-writable")


UNMOVED_FILES = {
    "a volume": (
        "    volumes:\n      /data:\n        source: ${resources.data}\nresources:\n  data: {type: volume}\n",
        "notes.score.yaml: resources.data (notes-data)",
    ),
    "a cache": (
        "    variables:\n      CACHE: ${resources.cache.host}\nresources:\n  cache: {type: redis}\n",
        "notes.score.yaml: resources.cache (notes-cache)",
    ),
    "a bucket": (
        "    variables:\n      BUCKET: ${resources.files.bucket}\nresources:\n  files: {type: s3}\n",
        "notes.score.yaml: resources.files (notes-files)",
    ),
}


@pytest.mark.parametrize("kind", sorted(UNMOVED_FILES))
def test_an_application_with_data_migrate_does_not_move_is_refused_naming_it_before_anything_changes(
    kind: str, tmp_path: Path
) -> None:
    declared, named = UNMOVED_FILES[kind]
    folder = tmp_path / "walkthrough"
    folder.mkdir()
    (folder / "notes.score.yaml").write_text(
        "apiVersion: score.dev/v1b1\nmetadata: {name: notes}\ncontainers:\n  main:\n    image: r.example/notes:1\n"
        + declared
    )
    found, workspace = clusters(), FakeWorkspace()
    with pytest.raises(OperationError) as refused:
        migrate(found, workspace=workspace, root=tmp_path)
    message = str(refused.value)
    assert named in message
    assert "would be left behind" in message and "nothing overrides this" in message
    assert workspace.calls == [] and found.log == []


def test_a_cloud_target_and_a_managed_source_are_refused_before_anything_changes() -> None:
    class CloudTarget(FakeWorkspace):
        def config(self, stack: str) -> dict[str, str]:
            return {**super().config(stack), **({"kubeport:target": "gke"} if stack == "dst" else {})}

    workspace = CloudTarget()
    with pytest.raises(OperationError, match="'dst' is a cloud stack"):
        migrate(clusters(), workspace=workspace)
    found, plain = clusters(), FakeWorkspace()
    del found.source.dbs[DB]
    with pytest.raises(OperationError, match="payments-db: not an in-cluster database on 'src'"):
        migrate(found, workspace=plain)
    assert plain.calls == []


def test_a_target_missing_a_database_is_refused_before_writes_stop() -> None:
    found = clusters()
    del found.target.dbs[DB]
    with pytest.raises(OperationError, match="the target has no database payments-db"):
        migrate(found)
    assert steps(found, "read-only") == []


# --- every failure after the first stop undoes the stops ------------------------------------------------------


FAILURES: dict[str, Callable[[], BaseException]] = {
    "an error": lambda: OperationError("kubectl: connection refused"),
    "a timeout": lambda: subprocess.TimeoutExpired(["kubectl", "exec"], 60),
    "a malformed answer": lambda: ValueError("invalid literal for int() with base 10: 'garbage'"),
    "a missing field": lambda: KeyError("items"),
    "an interrupt": KeyboardInterrupt,
}
STEPS = [
    ("target", "read-only"),
    ("source", "read-only"),
    ("source", "copy"),
    ("target", "restore"),
    ("source", "fingerprint"),
    ("target", "fingerprint"),
    ("target", "writable"),
    ("target", "prove-writable"),
    ("source", "record"),
    ("target", "record"),
    ("target", "probe-ask"),
    ("target", "deployments"),
]


@pytest.mark.parametrize("kind", FAILURES)
@pytest.mark.parametrize(("side", "step"), STEPS)
def test_any_failure_after_the_stop_makes_both_sides_writable_again_and_says_what_each_holds(
    side: str, step: str, kind: str
) -> None:
    found = clusters()
    if step == "probe-ask":
        found.prober.fail = FAILURES[kind]()
    elif step == "deployments":
        found.unavailable_fails = FAILURES[kind]()
    else:
        (found.source if side == "source" else found.target).fail[step] = FAILURES[kind]()
    if step == "writable":
        # The first make-writable is the target's own step; the undo's must go through.
        found.target.fail.pop(step)
        failing = found.target.set_read_only
        calls = {"n": 0}

        def once(instance: str, read_only: bool) -> None:
            calls["n"] += 0 if read_only else 1
            if not read_only and calls["n"] == 1:
                found.log.append(("target", "writable", instance))
                raise FAILURES[kind]()
            failing(instance, read_only)

        found.target.set_read_only = once  # type: ignore[method-assign]
    with pytest.raises(OperationError) as failed:
        migrate(found)
    message = str(failed.value)
    assert not found.source.dbs[DB].read_only, "the source is writable again"
    assert not found.target.dbs[DB].read_only, "the target is as writable as it was"
    assert "'src' is writable again and serving as before" in message or (step, side) == ("read-only", "target")
    assert ("interrupted" in message) == (kind == "an interrupt")
    assert "Traceback" not in message
    assert found.log[-1] == ("target", "probe-cleanup"), "the probe Pod is removed"


def test_a_smoke_check_that_fails_undoes_the_stops_and_names_the_service() -> None:
    found = clusters()
    found.prober.unanswered = {"http://payments.walkthrough.svc:80/readyz": "wget: server returned error: 503"}
    with pytest.raises(OperationError, match=r"payments: http://payments.walkthrough.svc:80/readyz does not answer"):
        migrate(found)
    assert not found.source.dbs[DB].read_only
    found = clusters(unavailable=["payments: 0 of 2 replicas available"])
    with pytest.raises(OperationError, match="not every service is available on the target: payments: 0 of 2"):
        migrate(found)
    assert not found.source.dbs[DB].read_only


def test_a_copy_that_differs_fails_and_says_the_target_holds_an_unproven_copy() -> None:
    found = clusters()
    real_copy = found.source.copy_into

    def lossy(instance: str, target: object, target_instance: str, role: str) -> None:
        real_copy(instance, target, target_instance, role)
        found.target.dbs[DB].tables["public.payments"].pop()

    found.source.copy_into = lossy  # type: ignore[method-assign]
    with pytest.raises(OperationError) as failed:
        migrate(found)
    assert "payments-db: the restored copy differs in public.payments" in str(failed.value)
    assert "'dst' holds an unproven copy of payments-db" in str(failed.value)
    assert not found.source.dbs[DB].read_only


def test_the_probe_pod_removed_even_when_it_does_not_start() -> None:
    found = clusters()

    def broken(_services: Sequence[tuple[str, int]]) -> None:
        raise OperationError("ImagePullBackOff")

    found.prober.start = broken  # type: ignore[method-assign,assignment]
    with pytest.raises(OperationError, match=r"the probe Pod did not start in 'dst'.*ImagePullBackOff"):
        migrate(found)
    assert steps(found, "read-only") == [] and found.log[-1] == ("target", "probe-cleanup")


def test_the_application_of_the_walkthrough_is_what_the_fakes_stand_for() -> None:
    application = read_application(ROOT / "walkthrough", ROOT)
    declared = [w.provisioned_name(r) for w in application.workloads for r in w.resources_of("postgres")]
    assert declared == [DB]
