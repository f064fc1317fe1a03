"""How `migrate`'s write stop grows with the data: the walkthrough moved between the two real nodes at three sizes.

For each size the walkthrough runs on kubeport-node (its database filled with that many bytes of rows, in a table
of its own beside payments) and moves to a fresh copy on kubeport-node-b with `python -m tools migrate`. Measured:
how long writes were stopped (migrate's own figure: the stop of writes to the switch) and the whole command (the
target's preview and up included). Between sizes the target stack is destroyed and the source made writable
again, so every move is a first one onto an empty target. Part of `make bench`; `python -m tools.bench.migratebench
--sizes 1 100` for a quicker look.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence

from tools.localcluster import catalog, realrun
from tools.localcluster.localstack import application_settings
from tools.processes import Done
from tools.text import columns

SOURCE, TARGET = "bench-move-a", "bench-move-b"
NAMESPACE = "bench-move"
ROW_BYTES = 1000
"""Each filler row: an id and 1,000 bytes of text."""
SIZES_MB = (1, 100, 1000)


def admin_sql(bench: realrun.Workbench, context: str, statement: str, timeout: float = 1800) -> str:
    """SQL as the database's administrator inside its pod, able to write while the database is read-only."""
    script = ('PGOPTIONS="-c default_transaction_read_only=off" exec psql -h /var/run/postgresql -U "$POSTGRES_USER" '
              '-d "$POSTGRES_DB" -XAtq -v ON_ERROR_STOP=1 -c "$0"')  # fmt: skip
    done = bench.kubectl(context, "-n", NAMESPACE, "exec", "payments-db-0", "-c", "postgres", "--", "sh", "-c",
                         script, statement, timeout=timeout)  # fmt: skip
    if done.code != 0:
        raise RuntimeError(done.describe())
    return done.stdout.strip()


def must(done: Done) -> Done:
    if done.code != 0:
        raise RuntimeError(done.describe())
    return done


def measure(bench: realrun.Workbench, megabytes: int) -> list[str]:
    rows = megabytes * 1_000_000 // ROW_BYTES
    admin_sql(bench, catalog.REAL_NODE, "RESET ROLE; DO $$BEGIN EXECUTE format('ALTER DATABASE %I RESET "
              "default_transaction_read_only', current_database()); END$$")  # fmt: skip
    admin_sql(bench, catalog.REAL_NODE, "SET ROLE payments_app; DROP TABLE IF EXISTS filler; CREATE TABLE filler "
              f"AS SELECT n, repeat('x', {ROW_BYTES - 8}) AS text FROM generate_series(1, {rows}) n")  # fmt: skip
    size = admin_sql(bench, catalog.REAL_NODE, "SELECT pg_size_pretty(pg_database_size(current_database()))")
    started = time.monotonic()
    done = must(bench.stacks_cli("migrate", "--from", SOURCE, "--to", TARGET, timeout=7200))
    whole = time.monotonic() - started
    stopped = re.search(r"writes were stopped for ([0-9.]+) s", done.stdout)
    must(bench.pulumi("destroy", "--yes", "--skip-preview", "--stack", TARGET, timeout=900))
    return [f"{megabytes} MB", f"{rows:,}", size, f"{float(stopped.group(1)) if stopped else float('nan'):.1f}",
            f"{whole:.1f}"]  # fmt: skip


def run(sizes: Sequence[int] = SIZES_MB, say: Callable[[str], None] = print) -> int:
    missing = realrun.missing_prerequisites()
    if missing:
        say(f"migrate at scale: not measured ({'; '.join(missing)})")
        return 0
    session = realrun.ClusterSession.open()
    try:
        with realrun.scratch("kubeport-migratebench-") as base:
            bench = realrun.Workbench(base, kubeconfig=session.kubeconfig)
            plain, secret = application_settings(bench.tools)
            config = {**plain, "kubeport:namespace": NAMESPACE, "kubeport:nodePort": "30033"}
            for stack, like in ((SOURCE, "walkthrough"), (TARGET, "walkthrough-b")):
                bench.add_stack_file(stack, config, like=like)
                must(bench.pulumi("stack", "init", stack))
                for key, value in secret.items():
                    must(bench.set_secret(stack, key, value))
            try:
                must(bench.pulumi("up", "--yes", "--skip-preview", "--stack", SOURCE, timeout=900))
                rows = [measure(bench, megabytes) for megabytes in sizes]
            finally:
                for stack in (TARGET, SOURCE):
                    bench.pulumi("destroy", "--yes", "--skip-preview", "--stack", stack, timeout=900)
            say(f"\n`migrate` of the walkthrough, {catalog.REAL_NODE} -> {catalog.SECOND_REAL_NODE}, "
                "by the size of its database")  # fmt: skip
            header = ["filler", "rows", "database", "writes stopped (s)", "whole migrate (s)"]
            say("\n".join(columns([header, *rows])))
            return 0
    finally:
        session.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.migratebench", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES_MB), help="megabytes of filler rows")
    args = parser.parse_args(argv)
    return run(args.sizes)


if __name__ == "__main__":
    sys.exit(main())
