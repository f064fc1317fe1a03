"""`migrate` of an application and its databases between the two clusters with real nodes, both ways.

Two applications, each on kubeport-node (A) and on the same files on kubeport-node-b (B, a node of its own in its
own network namespace, with its own kube-proxy, CoreDNS, kube-router and volumes): the walkthrough, and the library
of tests/apps/library (other names, ports and probe paths, two databases, a worker with no Service) that kubeport's
code has never heard of. For each: rows written on A; `python -m tools migrate` moves them to B (row counts and
hashes compared, the target's readiness probes asked through its Services from inside the cluster, its routes
through its public address, the application's role proven to write over verified TLS) and prints how long writes
were stopped; B takes new rows; a second run is refused; the move back (B to A, over A's old copy, kept in a file
first) brings every row home. For the walkthrough, a restore killed halfway leaves the source writable and the
target as it was. The tests run in file order; the last destroys every stack, and the session's teardown destroys
whatever a failed test left.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.live import ok
from tests.support.realnode import set_up_application, write_timing
from tools import localclusters
from tools.realrun import Workbench
from tools.stack_files import ROOT

pytestmark = pytest.mark.live

A, B = "kubeport-node", "kubeport-node-b"
WALK_A, WALK_B = "moved-from", "moved-to"
LIB_A, LIB_B = "library-a", "library-b"
NAMESPACES = {"walkthrough": "moved", "library": "library"}
URLS = {WALK_A: "http://10.250.0.1:30034", WALK_B: "http://10.250.1.2:30034",
        LIB_A: "http://10.250.0.1:30035", LIB_B: "http://10.250.1.2:30035"}  # fmt: skip
CONTEXTS = {WALK_A: A, WALK_B: B, LIB_A: A, LIB_B: B}
PAYMENTS = 7
ROUTED = 30.0
BALLAST_ROWS = 60_000
"""About 65 MB of rows in the walkthrough's database: a restore long enough to be killed halfway."""


def request(url: str, method: str = "GET") -> tuple[int, dict[str, object]]:
    """An HTTP call to a node port, retried for ROUTED seconds while the port is not routed yet."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + ROUTED
    while True:
        try:
            with opener.open(urllib.request.Request(url, method=method, data=b"" if method == "POST" else None),
                             timeout=10) as response:  # fmt: skip
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as err:
            return int(err.code), json.loads(err.read() or b"{}")
        except OSError:
            assert time.monotonic() < deadline, f"{url} not routed within {ROUTED} s"
            time.sleep(0.5)


def payments(stack: str) -> int:
    status, body = request(f"{URLS[stack]}/payments/")
    assert status == 200, body
    return int(str(body["payments"]))


def pay(stack: str) -> tuple[int, dict[str, object]]:
    return request(f"{URLS[stack]}/payments/payments", "POST")


def psql(bench: Workbench, stack: str, pod: str, statement: str, namespace: str = NAMESPACES["walkthrough"]) -> str:
    """SQL as the database's administrator, inside its pod (over its socket), able to write while it is read-only."""
    script = ('PGOPTIONS="-c default_transaction_read_only=off" exec psql -h /var/run/postgresql -U "$POSTGRES_USER" '
              '-d "$POSTGRES_DB" -XAtq -v ON_ERROR_STOP=1 -c "$0"')  # fmt: skip
    done = bench.kubectl(CONTEXTS[stack], "-n", namespace, "exec", pod, "-c", "postgres", "--", "sh", "-c", script,
                         statement, timeout=300)  # fmt: skip
    return ok(done).stdout.strip()


def read_only(bench: Workbench, stack: str, pod: str, namespace: str = NAMESPACES["walkthrough"]) -> bool:
    found = psql(bench, stack, pod, "SELECT EXISTS (SELECT FROM pg_db_role_setting s JOIN pg_database d ON "
                 "d.oid = s.setdatabase WHERE d.datname = current_database() AND "
                 "'default_transaction_read_only=on' = ANY (s.setconfig))", namespace)  # fmt: skip
    return found == "t"


def migrate(bench: Workbench, source: str, target: str, *flags: str) -> str:
    started = time.monotonic()
    done = bench.stacks_cli("migrate", "--from", source, "--to", target, *flags, timeout=1500)
    assert done.code == 0, done.describe()
    assert "Traceback" not in done.stdout + done.stderr
    stopped = re.search(r"writes were stopped for ([0-9.]+) s", done.stdout)
    assert stopped, done.stdout
    write_timing(f"migrate {source} -> {target}: the whole move", time.monotonic() - started)
    write_timing(f"migrate {source} -> {target}: writes stopped", float(stopped.group(1)))
    return done.stdout


def refused(bench: Workbench, source: str, target: str, *flags: str) -> str:
    done = bench.stacks_cli("migrate", "--from", source, "--to", target, *flags, timeout=600)
    assert done.code == 1, done.describe()
    assert "Traceback" not in done.stdout + done.stderr, done.describe()
    return done.stderr


def test_the_walkthrough_moves_with_its_rows_to_the_other_real_node(bench: Workbench) -> None:
    assert localclusters.SECOND_REAL_NODE == B
    settings = {"kubeport:namespace": NAMESPACES["walkthrough"], "kubeport:nodePort": "30034"}
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
    where = ("-n", NAMESPACES["walkthrough"], "get", "pod", "payments-db-0", "-o", "jsonpath={.spec.nodeName}")
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
        psql(bench, WALK_B, "payments-db-0", "DROP TABLE IF EXISTS ballast")
    assert killed == "true", f"the restore was not caught in flight: {out}\n{err}"
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


def test_the_library_moves_both_ways_without_a_change_to_kubeport(bench: Workbench) -> None:
    shutil.copytree(ROOT / "tests" / "apps" / "library", bench.project / "tests" / "apps" / "library",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    settings = {"kubeport:application": "tests/apps/library", "kubeport:namespace": NAMESPACES["library"],
                "kubeport:nodePort": "30035"}  # fmt: skip
    set_up_application(bench, LIB_A, like="walkthrough", **settings)
    set_up_application(bench, LIB_B, like="walkthrough-b", **settings)
    ok(bench.pulumi("up", "--yes", "--skip-preview", "--stack", LIB_A, timeout=900))
    for number in range(1, 6):
        status, body = request(f"{URLS[LIB_A]}/books", "POST")
        assert status == 201 and body["shelf"] == {"books": number, "loans": number // 3}, body
    # The worker tallies the shelf into its own database.
    deadline = time.monotonic() + 60
    tallied = ("exec", "tally-ledger-0", "-c", "postgres", "--", "psql", "-h", "/var/run/postgresql", "-U", "tally",
               "-d", "tally", "-XAtqc", "SELECT max(books) FROM snapshots")  # fmt: skip
    while bench.kubectl(A, "-n", NAMESPACES["library"], *tallied).stdout.strip() != "5":
        assert time.monotonic() < deadline, "tally never counted the shelf"
        time.sleep(2)

    said = migrate(bench, LIB_A, LIB_B)
    assert "public.books: 5 rows, public.loans: 1 rows" in said, said
    assert "desk: http://desk.library.svc:8000/ping answers" in said, said
    assert "shelf: http://shelf.library.svc:7000/ready-now answers" in said, said
    assert "tally: its probe's port is behind no Service (the kubelet asks it)" in said, said
    assert f"routes through {URLS[LIB_B]}: / 200" in said, said
    assert "shelf-store: shelf_app signs in over verified TLS" in said and "tally-ledger: tally_app" in said, said
    assert request(f"{URLS[LIB_B]}/")[1]["shelf"] == {"books": 5, "loans": 1}
    assert request(f"{URLS[LIB_B]}/books", "POST")[1]["shelf"] == {"books": 6, "loans": 2}

    said = migrate(bench, LIB_B, LIB_A, "--replace-target-data")
    assert "public.books: 6 rows, public.loans: 2 rows" in said, said
    assert request(f"{URLS[LIB_A]}/")[1]["shelf"] == {"books": 6, "loans": 2}
    assert request(f"{URLS[LIB_A]}/books", "POST")[1]["shelf"] == {"books": 7, "loans": 2}
    said = refused(bench, LIB_B, LIB_A, "--replace-target-data")
    assert "shelf-store, tally-ledger on 'library-b' is read-only already" in said, said
    assert request(f"{URLS[LIB_A]}/")[1]["shelf"] == {"books": 7, "loans": 2}


def test_every_stack_is_destroyed(bench: Workbench) -> None:
    with ThreadPoolExecutor(max_workers=4) as destroys:
        done = list(destroys.map(lambda stack: bench.pulumi("destroy", "--yes", "--skip-preview", "--stack", stack,
                                                             timeout=600), (LIB_B, LIB_A, WALK_B, WALK_A)))  # fmt: skip
    for each in done:
        assert each.code == 0, each.describe()
