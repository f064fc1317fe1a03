"""`migrate` of an application (kubeport:application) and its data between two stacks.

preview target -> up target -> stop writes on the source's databases -> dump each one and restore it into the
target's -> verify every table's row count and checksum -> smoke-check each service of the target -> switch.

What happens to the data, plainly: each in-cluster PostgreSQL of the source is set read-only
(`default_transaction_read_only`, its open sessions ended, so every new transaction is read-only); `pg_dump`
in the source's database pod streams into `psql` in the target's (one transaction, `--clean`: the target's copy
is replaced, not merged); every table's row count and an md5 over its rows, ordered, must be the same on both
sides. Reads keep working on the source throughout; writes stop from the moment the source turns read-only until
the target has passed the checks, and that time is measured and printed. "Switch" means: the target is proven
to serve the same data, and traffic moves to its url (a DNS record or load balancer in front of both is the
user's). The source stays read-only until it is destroyed (`--destroy-source`), so nothing can write to the old
copy by mistake. When a step after the stop of writes fails, the source's databases are made writable again
and the message says so: the source is serving as before.

Databases are found by their labels (components.postgres: `app.kubernetes.io/name=postgres`, the instance
`<workload>-<resource>`, part-of the application), the same names on both sides because the workload files are
the same. The commands run inside the database pods with the credentials the pods already hold
(POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB from the Secret): no password leaves the cluster.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stacks.score import ScoreError, read_application
from tools.operations import (
    PAGE_MARKER,
    Fetch,
    Kubectl,
    OperationError,
    Workspace,
    changes,
    cluster_access,
    confirmed,
    http_get,
    run_kubectl,
)
from tools.stack_files import ROOT

DATABASE_PODS = "app.kubernetes.io/name=postgres"
CONTAINER = "postgres"
PSQL = (
    'PGPASSWORD="$POSTGRES_PASSWORD" PGOPTIONS="-c default_transaction_read_only=off" exec psql -h 127.0.0.1 '
    '-U "$POSTGRES_USER" -d "$POSTGRES_DB" -v ON_ERROR_STOP=1 -X -q -A -t'
)
"""psql inside the database pod, as the database's owner; `-c default_transaction_read_only=off`: kubeport's own
session may still change settings after the database turned read-only."""
DUMP = (
    'PGPASSWORD="$POSTGRES_PASSWORD" exec pg_dump -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" '
    "--clean --if-exists --no-owner --no-privileges"
)
RESTORE = PSQL.replace("-q -A -t", "-q --single-transaction")
TRANSFER_TIMEOUT = 900.0
SMOKE_ATTEMPTS = 30
SMOKE_INTERVAL = 2.0
TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
MANAGED_HINT = "docs/application.md#moving-the-data-between-clouds"


def declared_databases(folder: Path) -> list[str]:
    """The databases the application's workload files declare, by their instance name `<workload>-<resource>`."""
    try:
        application = read_application(folder)
    except ScoreError as err:
        raise OperationError(err.message()) from err
    return sorted(w.provisioned_name(r) for w in application.workloads for r in w.resources_of("postgres"))


@dataclass(frozen=True)
class Database:
    """One in-cluster database of a deployed application: its StatefulSet's instance name and pod."""

    instance: str
    pod: str


@dataclass(frozen=True)
class Side:
    """One stack's cluster, as kubectl reaches it, and the application's namespace there."""

    access: Sequence[str]
    namespace: str

    def kubectl(self, *args: str) -> list[str]:
        return [*self.access, "--namespace", self.namespace, *args]


def databases(side: Side, kubectl: Kubectl = run_kubectl) -> list[Database]:
    """The application's database pods in the namespace, by instance."""
    pods = json.loads(kubectl(side.kubectl("get", "pods", "-l", DATABASE_PODS, "-o", "json")))["items"]
    found = []
    for pod in pods:
        metadata = pod["metadata"]
        if metadata.get("deletionTimestamp"):
            continue
        found.append(Database(instance=metadata["labels"]["app.kubernetes.io/instance"], pod=metadata["name"]))
    return sorted(found, key=lambda d: d.instance)


def sql(side: Side, database: Database, statement: str, kubectl: Kubectl = run_kubectl) -> list[list[str]]:
    """Run SQL in the database's pod; its rows, `|`-separated columns as lists."""
    out = kubectl([*side.kubectl("exec", database.pod, "-c", CONTAINER, "--", "sh", "-c", f"{PSQL} -c \"$0\""),
                   statement])  # fmt: skip
    return [line.split("|") for line in out.splitlines() if line]


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _alter_current(setting: str) -> str:
    """ALTER DATABASE on the database psql is connected to (ALTER DATABASE takes a name, not an expression)."""
    return f"DO $$BEGIN EXECUTE format('ALTER DATABASE %I {setting}', current_database()); END$$"


def stop_writes(side: Side, database: Database, kubectl: Kubectl = run_kubectl) -> None:
    """Every new transaction read-only, and the open sessions (which kept the old default) ended."""
    sql(side, database, _alter_current("SET default_transaction_read_only = on"), kubectl)
    sql(
        side,
        database,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        kubectl,
    )


def resume_writes(side: Side, database: Database, kubectl: Kubectl = run_kubectl) -> None:
    sql(side, database, _alter_current("RESET default_transaction_read_only"), kubectl)


def fingerprint(side: Side, database: Database, kubectl: Kubectl = run_kubectl) -> dict[str, tuple[int, str]]:
    """Each table of the public schema: (row count, md5 over its rows in order)."""
    found = {}
    for (table,) in sql(side, database, TABLES, kubectl):
        rows = sql(
            side,
            database,
            "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') "
            f"FROM public.{quoted(table)} t",
            kubectl,
        )
        found[table] = (int(rows[0][0]), rows[0][1])
    return found


def transfer(source: Side, source_db: Database, target: Side, target_db: Database, binary: str = "kubectl") -> None:
    """pg_dump in the source's pod piped into psql in the target's (one transaction: all or nothing)."""
    dump_args = [binary, *source.kubectl("exec", source_db.pod, "-c", CONTAINER, "--", "sh", "-c", DUMP)]
    restore_args = [binary, *target.kubectl("exec", "-i", target_db.pod, "-c", CONTAINER, "--", "sh", "-c", RESTORE)]
    with subprocess.Popen(dump_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as dump:
        restore = subprocess.run(
            restore_args, stdin=dump.stdout, capture_output=True, timeout=TRANSFER_TIMEOUT, check=False
        )
        dump_err = dump.stderr.read() if dump.stderr else b""
        if dump.wait(timeout=TRANSFER_TIMEOUT) != 0:
            raise OperationError(f"pg_dump of {source_db.instance}: {dump_err.decode(errors='replace').strip()}")
    if restore.returncode != 0:
        raise OperationError(
            f"restore of {target_db.instance}: {restore.stderr.decode(errors='replace').strip()[-800:]}"
        )


def smoke(
    url: str, expected: Mapping[str, Mapping[str, tuple[int, str]]], *, fetch: Fetch = http_get,
    sleep: Callable[[float], None] = time.sleep, attempts: int = SMOKE_ATTEMPTS, interval: float = SMOKE_INTERVAL,
) -> str:  # fmt: skip
    """web answers (its page); payments answers through web and sees its database, with the migrated rows."""
    if not url.startswith(("http://", "https://")):
        raise OperationError(f"the target has no reachable url ({url!r}); cannot smoke-check web and payments")
    payments_rows = next((t["payments"][0] for t in expected.values() if "payments" in t), None)
    last = "no answer"
    for attempt in range(attempts):
        if attempt:
            sleep(interval)
        try:
            status, body = fetch(f"{url.rstrip('/')}/")
            if status != 200 or PAGE_MARKER not in body:
                last = f"web: / answered {status} without the app's page"
                continue
            status, body = fetch(f"{url.rstrip('/')}/payments/")
            answer = json.loads(body) if status == 200 else {}
        except (OSError, ValueError) as err:
            last = f"{type(err).__name__}: {err}"
            continue
        if answer.get("database") != "reachable":
            last = f"payments through web answered {status} {body[:120]!r}"
            continue
        if payments_rows is not None and answer.get("payments") != payments_rows:
            raise OperationError(
                f"payments through web counts {answer.get('payments')} payments, the source had {payments_rows}"
            )
        return f"web answers; payments answers through web and counts {answer.get('payments')} payments"
    raise OperationError(f"{url} did not pass the smoke check after {attempts} attempts: {last}")


def services_available(side: Side, services: Sequence[str], kubectl: Kubectl = run_kubectl) -> None:
    """Every service's Deployment has all its replicas available on the target (login has no public route)."""
    for service in services:
        found = json.loads(kubectl(side.kubectl("get", "deployments", "-l", f"app.kubernetes.io/instance={service}",
                                                "-o", "json")))["items"]  # fmt: skip
        if len(found) != 1:
            raise OperationError(f"{service}: {len(found)} Deployments on the target")
        status, wanted = found[0].get("status") or {}, int(found[0]["spec"].get("replicas", 1))
        if int(status.get("availableReplicas") or 0) < wanted:
            raise OperationError(f"{service}: {status.get('availableReplicas') or 0} of {wanted} replicas available")


@dataclass(frozen=True)
class Moved:
    """What a migration of an application did: per database, the tables and their row counts; the write stop."""

    tables: Mapping[str, Mapping[str, tuple[int, str]]]
    writes_stopped_seconds: float


def migrate_application(
    source: str,
    target: str,
    workspace: Workspace,
    *,
    destroy_source: bool = False,
    yes: bool = False,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
    kubectl: Kubectl = run_kubectl,
    fetch: Fetch = http_get,
    clock: Callable[[], float] = time.monotonic,
    root: Path = ROOT,
) -> Moved:
    """The application's migration (the module's docstring); raises OperationError at the first failure, with the
    source serving and writable again."""
    source_outputs = workspace.outputs(source)
    if not source_outputs.get("services"):
        raise OperationError(f"stack {source!r} has deployed no application: deploy it first, or use `up {target}`")
    source_config = workspace.config(source)
    declared = declared_databases(root / source_config.get("kubeport:application", ""))
    with cluster_access(workspace, source_config) as (source_access, _):
        in_cluster = {d.instance for d in databases(Side(source_access, str(source_outputs.get("namespace") or "")),
                                                    kubectl)} if source_access else set()  # fmt: skip
    elsewhere = [name for name in declared if name not in in_cluster]
    if elsewhere:
        raise OperationError(
            f"{', '.join(elsewhere)}: not an in-cluster database on {source!r} (a cloud's managed database, or not "
            f"running): migrate cannot move its rows yet, and would leave them behind. Nothing was changed. Move "
            f"them by dump and restore ({MANAGED_HINT})."
        )
    say(f"[1/7] preview {target}")
    try:
        summary = workspace.preview(target)
    except Exception as err:
        raise OperationError(f"preview of {target!r} failed: {err}\nNothing was changed.") from err
    say(f"      changes: {changes(summary) or 'none'}")
    say(f"[2/7] up {target}")
    try:
        outputs = workspace.up(target)
    except Exception as err:
        raise OperationError(
            f"up of {target!r} failed: {err}\n{source!r} is untouched and still serving (writes too). Fix the cause "
            f"and run migrate again, or `python -m tools destroy {target}`."
        ) from err
    with (
        cluster_access(workspace, source_config) as (source_access, _),
        cluster_access(workspace, workspace.config(target)) as (target_access, _),
    ):
        if not source_access or not target_access:
            raise OperationError("migrating an application's data needs both stacks' clusters (kubeport:kubeContext)")
        old = Side(source_access, str(source_outputs.get("namespace") or ""))
        new = Side(target_access, str(outputs.get("namespace") or ""))
        pairs = _pairs(databases(old, kubectl), databases(new, kubectl))
        say(f"[3/7] stop writes on {source}: {', '.join(d.instance for d, _ in pairs) or 'no database'} read-only")
        stopped = clock()
        for database, _ in pairs:
            stop_writes(old, database, kubectl)
        try:
            moved = _move(pairs, old=old, new=new, outputs=outputs, say=say, kubectl=kubectl, fetch=fetch)
        except (OperationError, subprocess.SubprocessError, ValueError) as err:
            for database, _ in pairs:
                resume_writes(old, database, kubectl)
            raise OperationError(
                f"{err}\n{source!r} is writable again and serving as before; {target!r} is up but its data is not "
                f"proven. Investigate it, then run migrate again (the target's copy is replaced), or "
                f"`python -m tools destroy {target}`."
            ) from err
        elapsed = clock() - stopped
    say(f"[7/7] switch: {target} serves the application with the source's data at {outputs.get('url')}; writes were "
        f"stopped for {elapsed:.1f} s; {source} stays read-only")  # fmt: skip
    result = Moved(tables=moved, writes_stopped_seconds=elapsed)
    if destroy_source and (yes or confirmed(f"Destroy stack {source!r} and everything in it?", ask)):
        say(f"      destroy {source}")
        workspace.destroy(source)
    return result


def _pairs(sources: Sequence[Database], targets: Sequence[Database]) -> list[tuple[Database, Database]]:
    by_instance = {d.instance: d for d in targets}
    missing = [d.instance for d in sources if d.instance not in by_instance]
    if missing:
        raise OperationError(f"the target has no database {', '.join(missing)}: its application differs")
    return [(d, by_instance[d.instance]) for d in sources]


def _move(
    pairs: Sequence[tuple[Database, Database]],
    *,
    old: Side,
    new: Side,
    outputs: Mapping[str, object],
    say: Callable[[str], None],
    kubectl: Kubectl,
    fetch: Fetch,
) -> dict[str, dict[str, tuple[int, str]]]:
    tables: dict[str, dict[str, tuple[int, str]]] = {}
    for source_db, target_db in pairs:
        say(f"[4/7] dump {source_db.instance} and restore it on the target")
        transfer(old, source_db, new, target_db, _kubectl_binary())
        say(f"[5/7] verify {source_db.instance}: row counts and checksums of every table")
        before, after = fingerprint(old, source_db, kubectl), fingerprint(new, target_db, kubectl)
        if before != after:
            differ = sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
            raise OperationError(
                f"{source_db.instance}: the restored copy differs in {', '.join(differ)}: source "
                f"{[before.get(t) for t in differ]}, target {[after.get(t) for t in differ]}"
            )
        say("      " + (", ".join(f"{t}: {n} rows" for t, (n, _) in before.items()) or "no tables"))
        tables[source_db.instance] = before
    listed = outputs.get("services")
    services = sorted(listed) if isinstance(listed, Mapping) else []
    say(f"[6/7] smoke-check {', '.join(services)}")
    services_available(new, services, kubectl)
    say("      " + smoke(str(outputs.get("url") or ""), tables, fetch=fetch))
    return tables


def _kubectl_binary() -> str:
    found = shutil.which("kubectl")
    if found is None:
        raise OperationError("kubectl is not installed; migrate moves the data with it")
    return found
