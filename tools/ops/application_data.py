"""An application's in-cluster databases as `migrate` reaches them: `kubectl exec` into each PostgreSQL pod.

Inside the pod, kubeport signs in as the server's administrator over the pod's own socket (components/postgres.py:
`local all all trust`; `kubectl exec` is the way in), so no password leaves the cluster and none is on a command
line. Only the check that the target takes writes signs in over the network, as the application's own role, with
TLS verified against the database's CA (`sslmode=verify-full`): the role's password is read from its Secret and
handed to psql on its standard input.

What kubeport keeps of its own in a database: the schema `kubeport` (one table, `migrations`: each move a database
took part in, on both sides), which no dump copies and no fingerprint counts.

The move itself is plain SQL through a pipe: `pg_dump` in the source's pod writes the application's schemas
(`kubeport` left out, no owners, no privileges) followed by COMMIT when, and only when, it finished; psql in the
target's pod reads `BEGIN; SET ROLE <the application's role>; DROP OWNED BY <it>;` and then that stream. A dump that
breaks off never sends its COMMIT, and psql's end of input then rolls everything back: the target keeps what it
had. The restored objects belong to the application's role, which owns the target's database.

A process that `kubectl exec` started in a pod does not end when kubectl does: a dump whose restore failed would go
on holding its snapshot and its locks on every table of the source (a `DROP` or `ALTER` there would wait behind it,
and the application's queries behind that). So each dump and restore signs in under a name of its own
(`application_name`), and a transfer that fails ends the sessions of that name on both sides before it reports.
kubeport's short statements wait at most LOCK_TIMEOUT for a lock, so none of them queues in front of the
application's queries for long either.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tools import processes
from tools.ops import dumpstream
from tools.ops.operations import OperationError
from tools.ops.smoke import Kubectl, run_kubectl

DATABASE_PODS = "app.kubernetes.io/name=postgres"
CONTAINER = "postgres"
SOCKET = "/var/run/postgresql"
CA = "/etc/kubeport/tls/ca.crt"
"""The database's own CA, mounted beside its certificate (components/postgres.py)."""
TRANSFER_TIMEOUT = 3600.0
"""The longest a dump and restore, or a backup, may take before migrate gives up and undoes the stop."""
KEEP_WRITING = 'PGOPTIONS="-c default_transaction_read_only=off"'
"""kubeport's own sessions still write (its record, the settings, a restore) while the database is read-only for
everyone else."""
LOCK_TIMEOUT = "20s"
"""The longest one of kubeport's short statements waits for a lock (below run_kubectl's 60 s): it fails by name
instead of queueing in front of the application's queries."""
USER_SCHEMAS = "schemaname NOT IN ('pg_catalog', 'information_schema', 'kubeport') AND schemaname NOT LIKE 'pg\\_%'"
RECORD_TABLE = """CREATE SCHEMA IF NOT EXISTS kubeport;
CREATE TABLE IF NOT EXISTS kubeport.migrations (
  at timestamptz NOT NULL DEFAULT now(), side text NOT NULL, source text NOT NULL, target text NOT NULL,
  source_system text NOT NULL, target_system text NOT NULL, tables jsonb NOT NULL)"""


def quoted(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Record:
    """One move a database took part in, as kept in its `kubeport.migrations`."""

    at: str
    side: str
    """`source` or `target`."""
    source: str
    target: str
    tables: Mapping[str, int] = field(default_factory=dict)
    """Row count per table at the move."""

    def describe(self) -> str:
        return (f"was the {self.side} of a migration from {self.source!r} to {self.target!r} at {self.at}"
                f" ({sum(self.tables.values())} rows in {len(self.tables)} tables)")  # fmt: skip


@dataclass(frozen=True)
class Facts:
    """What migrate checks of one database before it changes anything."""

    system: str
    """The server's system identifier: the same on both sides means the same server."""
    name: str
    """The database's name."""
    owner: str
    """The role that owns it: the application's."""
    read_only: bool
    """Every new session is read-only (`default_transaction_read_only` set on the database: an earlier migrate)."""
    tables_with_rows: tuple[str, ...]
    last_record: Record | None


Fingerprint = dict[str, tuple[int, str]]
"""Each table (`schema.table`) of the application's schemas: (row count, a hash over its rows)."""


@dataclass(frozen=True)
class Side:
    """One stack's cluster, as kubectl reaches it, and the application's namespace there."""

    access: Sequence[str]
    namespace: str

    def kubectl(self, *args: str) -> list[str]:
        return [*self.access, "--namespace", self.namespace, *args]


class PodDatabases:
    """The application's databases on one side, through `kubectl exec` into their pods."""

    def __init__(
        self, side: Side, kubectl: Kubectl = run_kubectl, binary: str | None = None, *, socket: str = SOCKET,
        port: int = 5432, ca: str = CA, server_name: Callable[[str], str] | None = None,
    ) -> None:  # fmt: skip
        self.side = side
        self.run = kubectl
        self._binary = binary
        self._pods: dict[str, str] | None = None
        self.port, self.ca = port, ca
        self.server_name = server_name or (lambda instance: f"{instance}.{side.namespace}.svc")
        """The name a database's certificate is for: its Service's."""
        admin = f'-h {socket} -p {port} -U "$POSTGRES_USER" -d "$POSTGRES_DB"'
        short = f'PGOPTIONS="-c default_transaction_read_only=off -c lock_timeout={LOCK_TIMEOUT}"'
        self.admin_psql = f"{short} exec psql {admin} -v ON_ERROR_STOP=1 -X -q -A -t -F '|'"
        """psql inside the database pod, as the administrator, over the pod's own socket."""
        self.restore_psql = f"{KEEP_WRITING} psql {admin} -v ON_ERROR_STOP=1 -X -q -A -t"
        self.dump = f"pg_dump {admin} --no-owner --no-privileges --exclude-schema=kubeport"

    @property
    def binary(self) -> str:
        found = self._binary or shutil.which("kubectl")
        if found is None:
            raise OperationError("kubectl is not installed; migrate reaches the databases with it")
        return found

    def pods(self) -> dict[str, str]:
        """Instance (`<workload>-<resource>`) -> the pod that serves it now."""
        if self._pods is None:
            listed = json.loads(self.run(self.side.kubectl("get", "pods", "-l", DATABASE_PODS, "-o", "json")))
            self._pods = {
                p["metadata"]["labels"]["app.kubernetes.io/instance"]: p["metadata"]["name"]
                for p in listed["items"]
                if not p["metadata"].get("deletionTimestamp")
            }
        return self._pods

    def instances(self) -> list[str]:
        return sorted(self.pods())

    def exec_args(self, instance: str, script: str, *args: str, stdin: bool = False) -> list[str]:
        pod = self.pods()[instance]
        return self.side.kubectl("exec", *(["-i"] if stdin else []), pod, "-c", CONTAINER, "--", "sh", "-c",
                                 script, *args)  # fmt: skip

    def sql(self, instance: str, statement: str) -> list[list[str]]:
        """Rows of `statement`, run as the administrator; columns split on `|`."""
        out = self.run(self.exec_args(instance, f'{self.admin_psql} -c "$0"', statement))
        return [line.split("|") for line in out.splitlines() if line]

    def facts(self, instance: str) -> Facts:
        (system, name, owner, read_only), *_ = self.sql(
            instance,
            "SELECT (SELECT system_identifier FROM pg_control_system()), d.datname, pg_get_userbyid(d.datdba), "
            "EXISTS (SELECT FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0 "
            "AND 'default_transaction_read_only=on' = ANY (s.setconfig)) "
            "FROM pg_database d WHERE d.datname = current_database()",
        )
        tables = [row[0] for row in self.sql(instance, _tables_query())]
        with_rows: list[str] = []
        if tables:
            query = " UNION ALL ".join(f"SELECT {literal(t)} WHERE EXISTS (SELECT FROM {t})" for t in tables)
            with_rows = [row[0] for row in self.sql(instance, query)]
        return Facts(system, name, owner, read_only == "t", tuple(with_rows), self.last_record(instance))

    def last_record(self, instance: str) -> Record | None:
        rows = self.sql(
            instance,
            "SELECT json_build_object('at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', "
            "'side', side, 'source', source, 'target', target, 'tables', tables) FROM kubeport.migrations "
            "ORDER BY at DESC LIMIT 1"
            if self._has_records(instance)
            else "SELECT NULL WHERE false",
        )
        if not rows:
            return None
        data = json.loads("|".join(rows[0]))
        return Record(data["at"], data["side"], data["source"], data["target"],
                      {str(k): int(v) for k, v in (data["tables"] or {}).items()})  # fmt: skip

    def _has_records(self, instance: str) -> bool:
        return self.sql(instance, "SELECT to_regclass('kubeport.migrations') IS NOT NULL")[0][0] == "t"

    def set_read_only(self, instance: str, read_only: bool) -> None:
        """Read-only: every new transaction, and the open sessions (which kept the old default) are ended."""
        setting = "SET default_transaction_read_only = on" if read_only else "RESET default_transaction_read_only"
        statement = f"DO $$BEGIN EXECUTE format('ALTER DATABASE %I {setting}', current_database()); END$$"
        if read_only:
            statement += (
                "; SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        self.sql(instance, statement)

    def fingerprint(self, instance: str) -> Fingerprint:
        """Every table's row count and an order-free sum of its rows' md5s (constant memory, any size)."""
        tables = [row[0] for row in self.sql(instance, _tables_query())]
        if not tables:
            return {}
        row_hash = "('x' || left(md5(r::text), 16))::bit(64)::bigint::numeric"
        query = " UNION ALL ".join(
            f"SELECT {literal(t)}, count(*), coalesce(sum({row_hash}), 0) FROM {t} r" for t in tables
        )
        return {row[0]: (int(row[1]), row[2]) for row in self.sql(instance, query)}

    def record(self, instance: str, record: Record, source_system: str, target_system: str) -> None:
        self.sql(
            instance,
            f"{RECORD_TABLE}; INSERT INTO kubeport.migrations "
            "(side, source, target, source_system, target_system, tables) VALUES "
            f"({literal(record.side)}, {literal(record.source)}, {literal(record.target)}, {literal(source_system)}, "
            f"{literal(target_system)}, {literal(json.dumps(dict(record.tables)))}::jsonb)",
        )

    def restore_script(self, role: str) -> str:
        """What psql reads before the dump: one transaction, as the application's role, the old objects gone."""
        return f"BEGIN;\nSET ROLE {quoted(role)};\nDROP OWNED BY {quoted(role)};\n"

    def copy_into(self, instance: str, target: object, target_instance: str, role: str) -> None:
        """Dump this side's database into the target's, in one transaction (module docstring)."""
        if not isinstance(target, PodDatabases):
            raise OperationError(f"{instance}: the target's database is not in its cluster; nothing was copied")
        name = session_name("move")
        dump = self.exec_args(instance, f'PGAPPNAME={name} {self.dump} && printf "COMMIT;\\n"')
        # The dump's own output goes nowhere (\o); after it, one question that only a committed restore answers
        # `committed`: no transaction is open any more.
        restore = target.exec_args(
            target_instance,
            f'{{ printf "%s" "$0"; cat; printf "%s" "$1"; }} | PGAPPNAME={name} {target.restore_psql}',
            "\\o /dev/null\n" + self.restore_script(role),
            dumpstream.RESTORED_CHECK,
            stdin=True,
        )
        with self.ending_sessions(name, (self, instance), (target, target_instance)):
            said = dumpstream.pipe(
                [self.binary, *dump],
                [target.binary, *restore],
                what=f"{instance} into the target",
                timeout=TRANSFER_TIMEOUT,
            )
            if dumpstream.RESTORED not in said:
                raise OperationError(f"the restore of {instance} into the target did not commit (it said "
                                     f"{said[-300:]!r}): it was rolled back")  # fmt: skip

    @staticmethod
    @contextlib.contextmanager
    def ending_sessions(name: str, *where: tuple[PodDatabases, str]) -> Iterator[None]:
        """On a failure inside: end kubeport's sessions called `name` in each (databases, instance) before the
        failure is reported; one that cannot be ended is named in the report."""
        try:
            yield
        except BaseException as err:
            left = []
            for databases, instance in where:
                try:
                    databases.end_sessions(instance, name)
                except OperationError as why:
                    left.append(f"{instance} on {databases.side.namespace}: {why}")
            if left and isinstance(err, OperationError):
                raise OperationError(f"{err}; and kubeport's session {name!r} may still be open on "
                                     f"{'; '.join(left)}") from err  # fmt: skip
            raise

    def end_sessions(self, instance: str, name: str) -> None:
        """End the database's sessions called `name` (and so their transactions and locks)."""
        # Waits (up to 10 s each) for the session to be gone, so its locks are free when this returns.
        self.sql(instance, "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
                           f"WHERE application_name = {literal(name)}")  # fmt: skip

    def backup(self, instance: str, role: str, path: Path) -> None:
        """The database as one SQL script that puts it back as it is now (the same transaction as a move)."""
        header = (
            f"-- kubeport: a copy of {instance} in namespace {self.side.namespace}, taken by migrate before it "
            "replaced it.\n-- Restore it as docs/migration.md says (one transaction: all of it, or nothing).\n"
        )
        name = session_name("backup")
        args = self.exec_args(instance, f'printf "%s" "$0"; PGAPPNAME={name} {self.dump} && printf "COMMIT;\\n"',
                              header + self.restore_script(role))  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with path.open("xb") as out, self.ending_sessions(name, (self, instance)):
            path.chmod(0o600)
            done = dumpstream.run_to(out, [self.binary, *args], TRANSFER_TIMEOUT)
        if done != 0 or not path.read_bytes().endswith(b"COMMIT;\n"):
            raise OperationError(
                f"the copy of {instance} into {path} did not finish (exit {done}); nothing was changed"
            )

    def prove_writable(self, instance: str) -> str:
        """Sign in over TLS as the application's role, as its services do, and write something that is rolled back;
        returns what the role is (its name, and that it is not a superuser)."""
        facts = self.sql(instance, "SELECT current_database(), pg_get_userbyid(datdba) FROM pg_database "
                                   "WHERE datname = current_database()")  # fmt: skip
        database, role = facts[0]
        secret = json.loads(self.run(self.side.kubectl("get", "secret", instance, "-o", "json")))
        password = base64.b64decode(secret["data"]["password"]).decode()
        host = self.server_name(instance)
        check = (
            "BEGIN; CREATE TABLE kubeport_write_check (checked boolean); "
            "INSERT INTO kubeport_write_check VALUES (true); ROLLBACK; "
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        script = (
            f'IFS= read -r PGPASSWORD; export PGPASSWORD; exec psql "host=$0 hostaddr=127.0.0.1 port={self.port} '
            f'dbname=$1 user=$2 sslmode=verify-full sslrootcert={self.ca} connect_timeout=5" -v ON_ERROR_STOP=1 -X -q '
            '-A -t -F "|" -c "$3"'
        )
        done = processes.run(
            [self.binary, *self.exec_args(instance, script, host, database, role, check, stdin=True)],
            input_text=password + "\n", timeout=60,
        )  # fmt: skip
        if done.code != 0:
            raise OperationError(f"{instance}: the application's role {role!r} cannot write: "
                                 f"{done.stderr.strip()[-400:]}")  # fmt: skip
        user, superuser = (done.stdout.strip().splitlines() or ["|"])[-1].split("|")
        if superuser != "f":
            raise OperationError(f"{instance}: the services' role {user!r} is a superuser")
        return f"{instance}: {user} signs in over verified TLS and writes (rolled back)"


def session_name(job: str) -> str:
    """The `application_name` of one dump or restore of kubeport's: its job and a random part, so it names that
    transfer alone."""
    return f"kubeport-{job}-{secrets.token_hex(6)}"


def _tables_query() -> str:
    """The application's tables, `schema.table`, quoted where SQL needs it (format's %I)."""
    return f"SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE {USER_SCHEMAS} ORDER BY 1"
