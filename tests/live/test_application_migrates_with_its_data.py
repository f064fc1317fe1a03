"""`migrate` of the walkthrough and its database between the two clusters with real nodes, both ways.

The walkthrough on kubeport-node (A) and on the same files on kubeport-node-b (B, a node of its own in its own
network namespace, with its own kube-proxy, CoreDNS, kube-router and volumes): rows written on A;
`python -m tools migrate` moves them to B (row counts and hashes compared, the target's readiness probes asked
through its Services from inside the cluster, its routes through its public address, the application's role
proven to write over verified TLS) and prints how long writes were stopped; B takes new rows; a second run is
refused; a restore killed halfway leaves the source writable and the target as it was; the move back (B to A,
over A's old copy, kept in a file first) brings every row home. test_library_moves_with_its_data.py moves an
application kubeport's code has never heard of, beside this file. The tests run in file order; the last destroys
every stack, and the session's teardown destroys whatever a failed test left.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.live import ok
from tests.support.moving import A, B, destroy_all, migrate, refused, request
from tests.support.realnode import set_up_application
from tools.localcluster.realrun import Workbench
from tools.stack_files import ROOT

pytestmark = pytest.mark.live

WALK_A, WALK_B = "moved-from", "moved-to"
NAMESPACE = "moved"
URLS = {WALK_A: "http://10.250.0.2:30034", WALK_B: "http://10.250.1.2:30034"}
CONTEXTS = {WALK_A: A, WALK_B: B}
PAYMENTS = 7
BALLAST_ROWS = 60_000
"""About 65 MB of rows in the walkthrough's database: a restore long enough to be killed halfway."""


def payments(stack: str) -> int:
    status, body = request(f"{URLS[stack]}/payments/")
    assert status == 200, body
    return int(str(body["payments"]))


def pay(stack: str) -> tuple[int, dict[str, object]]:
    return request(f"{URLS[stack]}/payments/payments", "POST")


def psql(bench: Workbench, stack: str, pod: str, statement: str, namespace: str = NAMESPACE) -> str:
    """SQL as the database's administrator, inside its pod (over its socket), able to write while it is read-only."""
    script = ('PGOPTIONS="-c default_transaction_read_only=off" exec psql -h /var/run/postgresql -U "$POSTGRES_USER" '
              '-d "$POSTGRES_DB" -XAtq -v ON_ERROR_STOP=1 -c "$0"')  # fmt: skip
    done = bench.kubectl(CONTEXTS[stack], "-n", namespace, "exec", pod, "-c", "postgres", "--", "sh", "-c", script,
                         statement, timeout=300)  # fmt: skip
    return ok(done).stdout.strip()


def read_only(bench: Workbench, stack: str, pod: str, namespace: str = NAMESPACE) -> bool:
    found = psql(bench, stack, pod, "SELECT EXISTS (SELECT FROM pg_db_role_setting s JOIN pg_database d ON "
                 "d.oid = s.setdatabase WHERE d.datname = current_database() AND "
                 "'default_transaction_read_only=on' = ANY (s.setconfig))", namespace)  # fmt: skip
    return found == "t"


def test_the_walkthrough_moves_with_its_rows_to_the_other_real_node(bench: Workbench) -> None:
    settings = {"kubeport:namespace": NAMESPACE, "kubeport:nodePort": "30034"}
    set_up_application(bench, WALK_A, like="walkthrough", **settings)
    set_up_application(bench, WALK_B, like="walkthrough-b", **settings)
    ok(bench.pulumi("up", "--yes", "--skip-preview", "--stack", WALK_A, timeout=900))
    assert payments(WALK_A) == 0
    for number in range(1, PAYMENTS + 1):
        assert pay(WALK_A) == (201, {"service": "payments", "payments": number})

    said = migrate(bench, WALK_A, WALK_B)
    assert f"public.payments: {PAYMENTS} rows" in said, said
    # The smoke check, from the files: each readiness probe through its Service, inside the target cluster; the
    # route through the public address; the application's role, over verified TLS.
    for service in ("web", "login", "payments"):
        assert f"{service}: http://{service}.moved.svc:80/readyz answers" in said, said
    assert f"routes through {URLS[WALK_B]}: / 200" in said, said
    assert "payments-db: payments_app signs in over verified TLS and writes (rolled back)" in said, said

    # The target serves the source's rows and takes new ones; the source answers reads and refuses writes.
    assert payments(WALK_B) == PAYMENTS
    assert pay(WALK_B) == (201, {"service": "payments", "payments": PAYMENTS + 1})
    assert payments(WALK_A) == PAYMENTS
    status, body = pay(WALK_A)
    assert status == 503 and "read-only transaction" in str(body["database"]), body
    # Each side recorded the move.
    for stack, side in ((WALK_A, "source"), (WALK_B, "target")):
        record = psql(bench, stack, "payments-db-0", "SELECT side || ' ' || source || ' ' || target || ' ' || "
                      "(tables->>'public.payments') FROM kubeport.migrations ORDER BY at DESC LIMIT 1")  # fmt: skip
        assert record == f"{side} {WALK_A} {WALK_B} {PAYMENTS}"
    where = ("-n", NAMESPACE, "get", "pod", "payments-db-0", "-o", "jsonpath={.spec.nodeName}")
    assert {c: ok(bench.kubectl(c, *where)).stdout for c in (A, B)} == {A: A, B: B}


def test_a_second_run_after_the_switch_is_refused_and_no_row_is_lost(bench: Workbench) -> None:
    said = refused(bench, WALK_A, WALK_B)
    assert "payments-db on 'moved-from' is read-only already" in said, said
    assert "was the source of a migration from 'moved-from' to 'moved-to'" in said, said
    assert "--allow-read-only-source" in said, said
    # Swapped by mistake: the old copy is not moved over the new one either.
    said = refused(bench, WALK_B, WALK_A)
    assert "payments-db holds rows in public.payments" in said and "--replace-target-data" in said, said
    assert payments(WALK_B) == PAYMENTS + 1 and payments(WALK_A) == PAYMENTS
    assert not read_only(bench, WALK_B, "payments-db-0"), "a refused run stops nothing"


def test_a_restore_killed_halfway_leaves_the_source_writable_and_the_target_as_it_was(bench: Workbench) -> None:
    target_before = psql(bench, WALK_A, "payments-db-0", "SELECT count(*) || ' ' || md5(string_agg(p::text, ',' "
                         "ORDER BY id)) FROM payments p")  # fmt: skip
    psql(bench, WALK_B, "payments-db-0", f"SET ROLE payments_app; CREATE TABLE ballast AS SELECT n, repeat('x', 1000) "
         f"AS filler FROM generate_series(1, {BALLAST_ROWS}) n")  # fmt: skip
    move = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "tools", "migrate", "--from", WALK_B, "--to", WALK_A,
         "--replace-target-data"],
        cwd=bench.project, env=bench.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        killed = ""
        deadline = time.monotonic() + 600
        while not killed and move.poll() is None and time.monotonic() < deadline:
            killed = psql(bench, WALK_A, "payments-db-0", "SELECT string_agg(pg_terminate_backend(pid)::text, ',') "
                          "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                          "AND query ILIKE 'COPY public.ballast%'") or ""  # fmt: skip
            time.sleep(0.3)
        out, err = move.communicate(timeout=600)
    finally:
        if move.poll() is None:
            move.kill()
            move.wait()
        # What the failed move left open on the source (nothing, if it ended its dump as it must), ended here so the
        # next test starts clean; then the ballast goes, which waits on no lock once nothing holds one.
        left = psql(bench, WALK_B, "payments-db-0", "SELECT string_agg(application_name, ',') FROM pg_stat_activity "
                    "WHERE application_name LIKE 'kubeport-%'")  # fmt: skip
        psql(bench, WALK_B, "payments-db-0", "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
             "WHERE application_name LIKE 'kubeport-%'")  # fmt: skip
        psql(bench, WALK_B, "payments-db-0", "SET lock_timeout = '30s'; DROP TABLE IF EXISTS ballast")
    assert killed == "true", f"the restore was not caught in flight: {out}\n{err}"
    assert left == "", f"the failed move left its sessions open on the source: {left}"
    assert move.returncode == 1, out + err
    assert "restore of payments-db into the target failed, and was rolled back" in err, err
    assert "'moved-to' is writable again and serving as before" in err, err
    assert "Traceback" not in out + err
    # The source takes writes again; the target holds exactly what it held, and is still the read-only old copy.
    assert pay(WALK_B) == (201, {"service": "payments", "payments": PAYMENTS + 2})
    target_after = psql(bench, WALK_A, "payments-db-0", "SELECT count(*) || ' ' || md5(string_agg(p::text, ',' "
                        "ORDER BY id)) FROM payments p")  # fmt: skip
    assert target_after == target_before
    assert psql(bench, WALK_A, "payments-db-0", "SELECT to_regclass('public.ballast') IS NULL") == "t"
    assert read_only(bench, WALK_A, "payments-db-0")


def test_the_walkthrough_moves_back_over_its_old_copy_which_is_kept_in_a_file(bench: Workbench) -> None:
    said = migrate(bench, WALK_B, WALK_A, "--replace-target-data")
    kept = re.search(r"payments-db: its rows are in (\S+\.sql)", said)
    assert kept, said
    backup = Path(kept.group(1))
    assert backup.stat().st_mode & 0o777 == 0o600
    assert backup.read_text().endswith("COMMIT;\n") and "COPY public.payments" in backup.read_text()
    assert payments(WALK_A) == PAYMENTS + 2
    assert pay(WALK_A) == (201, {"service": "payments", "payments": PAYMENTS + 3})
    status, body = pay(WALK_B)
    assert status == 503 and "read-only transaction" in str(body["database"]), body


def test_every_stack_is_destroyed(bench: Workbench) -> None:
    destroy_all(bench, WALK_B, WALK_A)
