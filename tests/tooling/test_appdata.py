"""migrate's database operations (tools/ops/application_data.py) against a real PostgreSQL, with kubectl stood in for.

`kubectl exec POD -c postgres -- sh -c SCRIPT ...` runs SCRIPT here instead of in a pod, with the pod's own
environment (POSTGRES_USER, POSTGRES_DB: the pod's name is the database's here); the server is set up as kubeport
sets up its in-cluster one (tests/support/postgres_server.py). So the dump, the restore in one transaction, the
stops of writes, the copy kept before a replace, the record and the role's write check run for real; only the way
into the pod differs. Between the two real nodes: tests/live/test_application_migrates_with_its_data.py.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres_server import ADMIN, BIN, DATABASE, ROLE, ROLE_PASSWORD, Server, postgres_server
from tools.ops import application_data
from tools.ops.application_data import PodDatabases, Record, Side
from tools.ops.operations import OperationError

FAKE_KUBECTL = """#!/bin/sh
# kubectl ... exec [-i] POD -c postgres -- COMMAND...: COMMAND here, as the pod POD would run it.
pod=""
while [ $# -gt 0 ]; do
  case "$1" in
    exec) shift; if [ "$1" = "-i" ]; then shift; fi; pod="$1"; shift ;;
    --) shift; break ;;
    *) shift ;;
  esac
done
export POSTGRES_USER=%(admin)s POSTGRES_DB="$pod"
exec "$@"
"""
OTHER = "copy"
"""A second database of the same server: the target of a move."""


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with postgres_server() as running:
        running.psql(f"CREATE DATABASE {OTHER} OWNER {ROLE}", database="postgres")
        yield running


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "kubectl"
    path.write_text(FAKE_KUBECTL % {"admin": ADMIN})
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{BIN}:{os.environ['PATH']}")
    return path


def databases(server: Server, kubectl: Path) -> PodDatabases:
    def run(args: list[str]) -> str:
        if "get" in args and "pods" in args:
            pods = [{"metadata": {"name": n, "labels": {"app.kubernetes.io/instance": n}}} for n in (DATABASE, OTHER)]
            return json.dumps({"items": pods})
        if "get" in args and "secret" in args:
            return json.dumps({"data": {"password": base64.b64encode(ROLE_PASSWORD.encode()).decode()}})
        done = subprocess.run([str(kubectl), *args], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise OperationError(done.stderr.strip())
        return done.stdout

    return PodDatabases(
        Side(["--context", "test"], "shop"), run, str(kubectl), socket=str(server.socket_folder), port=server.port,
        ca=str(server.ca), server_name=lambda _instance: "localhost",
    )  # fmt: skip


def seed(server: Server, database: str, rows: int) -> None:
    server.psql(
        f"SET ROLE {ROLE}; DROP TABLE IF EXISTS books; CREATE TABLE books (id bigserial PRIMARY KEY, title text); "
        f"INSERT INTO books (title) SELECT 'book ' || n FROM generate_series(1, {rows}) n",
        database=database,
    )


def test_a_move_replaces_the_targets_objects_with_the_sources_owned_by_the_applications_role(
    server: Server, kubectl: Path
) -> None:
    pods = databases(server, kubectl)
    seed(server, DATABASE, 50)
    server.psql(f"SET ROLE {ROLE}; DROP TABLE IF EXISTS stale; CREATE TABLE stale (x int); INSERT INTO stale "
                "VALUES (1)", database=OTHER)  # fmt: skip
    pods.copy_into(DATABASE, pods, OTHER, ROLE)
    assert pods.fingerprint(OTHER) == pods.fingerprint(DATABASE) != {}
    assert "public.stale" not in pods.fingerprint(OTHER), "a move makes the target a copy, not a merge"
    owners = server.psql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", database=OTHER)
    assert owners == ROLE


def test_a_dump_that_breaks_off_leaves_the_target_as_it_was(server: Server, kubectl: Path) -> None:
    pods = databases(server, kubectl)
    seed(server, DATABASE, 2000)
    seed(server, OTHER, 3)
    before = pods.fingerprint(OTHER)
    # The dump writes part of its output and then fails: no COMMIT follows it (the restore fails on what it got,
    # or, at a statement's end, rolls back at the end of its input).
    pods.dump = f"{pods.dump} | head -c 2000; false"
    with pytest.raises(OperationError, match=r"(dump|restore) of shop into the target failed"):
        pods.copy_into(DATABASE, pods, OTHER, ROLE)
    assert pods.fingerprint(OTHER) == before


def test_a_stream_that_loses_its_end_while_both_ends_succeed_is_refused(server: Server, kubectl: Path) -> None:
    """What a broken transport would do: the dump says it finished, the restore reads to its end and exits 0, but the
    COMMIT never arrived. The restore rolled back; the move says so instead of trusting the exit codes."""
    pods = databases(server, kubectl)
    seed(server, OTHER, 3)
    before = pods.fingerprint(OTHER)
    pods.dump = "printf 'SELECT 1;\\n'; exit 0"
    with pytest.raises(OperationError, match="arrived without its end"):
        pods.copy_into(DATABASE, pods, OTHER, ROLE)
    assert pods.fingerprint(OTHER) == before


def test_a_restore_that_fails_fails_the_move_at_once_and_rolls_back(
    server: Server, kubectl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pods = databases(server, kubectl)
    seed(server, DATABASE, 50_000)  # a dump far larger than a pipe's buffer
    seed(server, OTHER, 3)
    before = pods.fingerprint(OTHER)
    monkeypatch.setattr(application_data, "TRANSFER_TIMEOUT", 30.0)
    # The target's restore dies at its first statement: the dump must not block on a pipe nobody reads any more
    # (it would, if migrate kept an end of it open), and the move fails at once, not at the transfer's bound.
    started = time.monotonic()
    with pytest.raises(OperationError, match="restore of shop into the target failed"):
        pods.copy_into(DATABASE, pods, OTHER, "no_such_role")
    assert time.monotonic() - started < 15
    assert pods.fingerprint(OTHER) == before


def test_a_failed_move_ends_its_dump_in_the_source_though_the_dumps_process_outlives_kubectl(
    server: Server, kubectl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a pod: the dump's process does not end with the kubectl that started it. Its session (a snapshot, and a
    lock on every table) would stay, and the source's next DROP or ALTER wait behind it."""
    pods = databases(server, kubectl)
    seed(server, DATABASE, 50_000)
    monkeypatch.setattr(application_data, "TRANSFER_TIMEOUT", 30.0)
    # A stage after pg_dump that stops reading for a while: pg_dump sits in its transaction, blocked on a full pipe,
    # after kubectl (and the shell it ran) are gone.
    pods.dump = f"{pods.dump} | {{ head -c 65536; sleep 15; cat > /dev/null; }}"
    with pytest.raises(OperationError, match="restore of shop into the target failed"):
        pods.copy_into(DATABASE, pods, OTHER, "no_such_role")
    left = server.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'kubeport-%'",
                       database=DATABASE)  # fmt: skip
    assert left == "0"
    # Nothing holds the table: a lock that conflicts with every other is taken without waiting.
    server.psql("BEGIN; LOCK TABLE books IN ACCESS EXCLUSIVE MODE NOWAIT; ROLLBACK", database=DATABASE)


def test_writes_stop_for_every_new_session_and_come_back(server: Server, kubectl: Path) -> None:
    pods = databases(server, kubectl)
    assert not pods.facts(DATABASE).read_only
    pods.set_read_only(DATABASE, True)
    try:
        assert pods.facts(DATABASE).read_only
        with pytest.raises(OperationError, match="cannot write"):
            pods.prove_writable(DATABASE)
    finally:
        pods.set_read_only(DATABASE, False)
    assert not pods.facts(DATABASE).read_only
    assert pods.prove_writable(DATABASE) == f"{DATABASE}: {ROLE} signs in over verified TLS and writes (rolled back)"


def test_facts_name_the_server_the_owner_and_the_tables_that_hold_rows(server: Server, kubectl: Path) -> None:
    pods = databases(server, kubectl)
    seed(server, DATABASE, 1)
    server.psql(f"SET ROLE {ROLE}; DROP TABLE IF EXISTS empty; CREATE TABLE empty (x int)", database=DATABASE)
    facts = pods.facts(DATABASE)
    assert facts.name == DATABASE and facts.owner == ROLE and facts.system.isdigit()
    assert facts.tables_with_rows == ("public.books",)


def test_a_record_on_each_side_is_read_back_and_never_moved(server: Server, kubectl: Path) -> None:
    pods = databases(server, kubectl)
    seed(server, DATABASE, 4)
    pods.record(DATABASE, Record("2026-12-06T10:00:00+00:00", "source", "a", "b", {"public.books": 4}), "1", "2")
    last = pods.facts(DATABASE).last_record
    assert last is not None and (last.side, last.source, last.target, last.tables) == (
        "source", "a", "b", {"public.books": 4}
    )  # fmt: skip
    assert "was the source of a migration from 'a' to 'b'" in last.describe()
    # kubeport's own schema is neither counted nor copied.
    assert "kubeport.migrations" not in pods.fingerprint(DATABASE)
    pods.copy_into(DATABASE, pods, OTHER, ROLE)
    assert server.psql("SELECT to_regclass('kubeport.migrations') IS NULL", database=OTHER) == "t"


def test_the_copy_kept_before_a_replace_is_private_and_puts_the_rows_back(
    server: Server, kubectl: Path, tmp_path: Path
) -> None:
    pods = databases(server, kubectl)
    seed(server, OTHER, 7)
    kept = pods.fingerprint(OTHER)
    path = tmp_path / "backups" / "copy.sql"
    pods.backup(OTHER, ROLE, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().endswith("COMMIT;\n")
    seed(server, DATABASE, 3)
    pods.copy_into(DATABASE, pods, OTHER, ROLE)
    assert pods.fingerprint(OTHER) != kept
    # Putting it back, as docs/migration.md says: the file into psql in the database's pod.
    subprocess.run(
        [str(BIN / "psql"), "-h", str(server.socket_folder), "-U", ADMIN, "-d", OTHER, "-X", "-q", "-v",
         "ON_ERROR_STOP=1", "-f", str(path)],
        env={**server.env(), "PGOPTIONS": "-c default_transaction_read_only=off"}, check=True, capture_output=True,
        timeout=60,
    )  # fmt: skip
    assert pods.fingerprint(OTHER) == kept
    with pytest.raises(FileExistsError):
        pods.backup(OTHER, ROLE, path)  # never over an earlier copy


def test_the_fingerprint_sees_a_changed_row(server: Server, kubectl: Path) -> None:
    pods = databases(server, kubectl)
    seed(server, DATABASE, 20)
    before = pods.fingerprint(DATABASE)
    server.psql(f"SET ROLE {ROLE}; UPDATE books SET title = 'changed' WHERE id = 7", database=DATABASE)
    after = pods.fingerprint(DATABASE)
    assert after["public.books"][0] == before["public.books"][0] == 20
    assert after != before
