"""A real PostgreSQL (Debian's 15) on 127.0.0.1 for the offline tests, set up as kubeport sets up its in-cluster one.

The server runs as an unprivileged user on a free port with its socket in a private folder, speaks TLS with a
certificate kubeport's own issuer (components.certificate) made for `localhost`, and admits clients by the
pg_hba.conf components.postgres writes: TLS and SCRAM only over the network, the application's role and the
administrator only, to the application's database only. The application's role is then made by the roles Job's
own SQL (components.database_roles), run as the administrator over verified TLS, as the Job runs it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.certificate import issue
from components.database_roles import ROLES_SQL, app_role
from components.postgres import hba_conf

BIN = Path("/usr/lib/postgresql/15/bin")
ADMIN = "shop"
"""The administrator, named after the database, as kubeport names it."""
DATABASE = "shop"
ROLE = app_role(DATABASE)
ADMIN_PASSWORD = "admin-s3cret-for-the-test"
ROLE_PASSWORD = "role-s3cret-for-the-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require_postgres() -> None:
    if not (BIN / "initdb").exists():
        reason = f"PostgreSQL 15 not installed ({BIN}); toolchain/install-packages installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: a missing prerequisite is a failure)", pytrace=False)
        pytest.skip(reason)


def unprivileged() -> tuple[int, int] | None:
    """initdb refuses root: run PostgreSQL as the `postgres` user (or nobody) when the tests run as root."""
    if os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        account = pwd.getpwnam("nobody")
    return account.pw_uid, account.pw_gid


@dataclass(frozen=True)
class Server:
    home: Path
    port: int
    ca: Path
    """The CA that signed the server's certificate (for `localhost`)."""

    @property
    def socket_folder(self) -> Path:
        return self.home

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "PGHOST": "localhost",
            "PGPORT": str(self.port),
            "PGSSLMODE": "verify-full",
            "PGSSLROOTCERT": str(self.ca),
            "PGCONNECT_TIMEOUT": "5",
            **extra,
        }

    def psql(self, statement: str, *, database: str = DATABASE, user: str = ADMIN, socket: bool = True) -> str:
        """Rows as `a|b` lines; over the socket (the pod's own way in) unless `socket` is False (TLS, SCRAM)."""
        env = self.env(PGPASSWORD=ADMIN_PASSWORD if user == ADMIN else ROLE_PASSWORD)
        if user == ADMIN:
            # As migrate's own sessions: still able to write while the database is read-only for everyone else.
            env["PGOPTIONS"] = "-c default_transaction_read_only=off"
        host = ["-h", str(self.socket_folder)] if socket else []
        done = subprocess.run(
            [str(BIN / "psql"), *host, "-U", user, "-d", database, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", statement],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(done.stderr.strip())
        return done.stdout.strip()

    def make_role(
        self, env: Mapping[str, str] | None = None, admin: str = ADMIN, database: str = DATABASE, role: str = ROLE
    ) -> subprocess.CompletedProcess[str]:
        """The roles Job's SQL, as the Job runs it: over verified TLS, the passwords from the environment."""
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as sql:
            sql.write(ROLES_SQL)
            sql.flush()
            return subprocess.run(
                [str(BIN / "psql"), "-U", admin, "-d", database, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1",
                 f"--set=role={role}", f"--set=database={database}", f"--file={sql.name}"],
                env=self.env(PGPASSWORD=ADMIN_PASSWORD, KUBEPORT_APP_PASSWORD=ROLE_PASSWORD, **(env or {})),
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip


@contextmanager
def postgres_server() -> Iterator[Server]:
    require_postgres()
    # Not below pytest's own temporary folder: that is private to the user running the tests.
    home = Path(tempfile.mkdtemp(prefix="kubeport-postgres-"))
    owner = unprivileged()
    user, group = owner or (None, None)
    issued = issue("localhost", ["localhost"])
    (home / "ca.crt").write_text(issued.ca)
    (home / "server.crt").write_text(issued.certificate)
    (home / "server.key").write_text(issued.key)
    (home / "server.key").chmod(0o600)
    (home / "password").write_text(ADMIN_PASSWORD)
    (home / "pg_hba.conf").write_text(hba_conf(DATABASE, ROLE, ADMIN))
    if owner:
        for path in [home, *home.iterdir()]:
            os.chown(path, *owner)
    subprocess.run(
        [str(BIN / "initdb"), "-D", str(home / "data"), "-U", ADMIN, f"--pwfile={home / 'password'}",
         "--auth-local=trust", "--auth-host=scram-sha-256"],
        check=True, capture_output=True, timeout=120, user=user, group=group,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "postgres"), "-D", str(home / "data"), "-c", "listen_addresses=127.0.0.1", "-p", str(port),
         "-k", str(home), "-c", "ssl=on", "-c", f"ssl_cert_file={home / 'server.crt'}",
         "-c", f"ssl_key_file={home / 'server.key'}", "-c", f"hba_file={home / 'pg_hba.conf'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=user, group=group,
    )  # fmt: skip
    running = Server(home, port, home / "ca.crt")
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([str(BIN / "pg_isready"), "-h", str(home), "-p", str(port)], capture_output=True,
                             check=False).returncode:  # fmt: skip
            assert time.monotonic() < deadline, "PostgreSQL did not start within 30 s"
            time.sleep(0.3)
        running.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
        made = running.make_role()
        assert made.returncode == 0, made.stderr
        yield running
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
