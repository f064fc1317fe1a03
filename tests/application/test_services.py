"""The walkthrough's own services, for real on 127.0.0.1: payments against a real PostgreSQL (Debian's 15, run
as an unprivileged user on a free port, SCRAM-SHA-256 as the official image sets it up), login calling it."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.stack_files import ROOT

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "s3cret-for-the-test"
USER = "payments"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def as_unprivileged() -> tuple[int, int] | None:
    """initdb refuses root: run PostgreSQL as the `postgres` user (or nobody) when the tests run as root."""
    if os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        account = pwd.getpwnam("nobody")
    return account.pw_uid, account.pw_gid


def wait_for(url: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (OSError, urllib.error.HTTPError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def database() -> Iterator[int]:
    if not (POSTGRES_BIN / "initdb").exists():
        reason = f"PostgreSQL 15 not installed ({POSTGRES_BIN}); toolchain/install-packages installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: a missing prerequisite is a failure)", pytrace=False)
        pytest.skip(reason)
    # Not below pytest's own temporary folder: that is private to the user running the tests.
    home = Path(tempfile.mkdtemp(prefix="kubeport-postgres-"))
    owner = as_unprivileged()
    if owner:
        os.chown(home, *owner)
    (home / "password").write_text(PASSWORD)
    if owner:
        os.chown(home / "password", *owner)
    user, group = owner or (None, None)
    subprocess.run(
        [str(POSTGRES_BIN / "initdb"), "-D", str(home / "data"), "-U", USER, f"--pwfile={home / 'password'}",
         "--auth=scram-sha-256"],
        check=True, capture_output=True, timeout=120, user=user, group=group,
    )  # fmt: skip
    # TLS on, as the clouds' managed databases have it: the services' client must take it.
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(home / "data" / "server.key"), "-out", str(home / "data" / "server.crt")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (home / "data" / "server.key").chmod(0o600)
    if owner:
        for name in ("server.key", "server.crt"):
            os.chown(home / "data" / name, *owner)
    port = free_port()
    server = subprocess.Popen(
        [str(POSTGRES_BIN / "postgres"), "-D", str(home / "data"), "-c", "listen_addresses=127.0.0.1",
         "-p", str(port), "-k", str(home), "-c", "ssl=on"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=user, group=group,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(
            [str(POSTGRES_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True, check=False
        ).returncode:
            assert time.monotonic() < deadline, "PostgreSQL did not start within 30 s"
            time.sleep(0.3)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def start(service: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    folder = ROOT / "walkthrough" / service
    return subprocess.Popen(
        [sys.executable, str(folder / f"{service}.py")],
        cwd=folder,
        env={"PATH": os.environ["PATH"], "PORT": str(port), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def get(url: str, method: str = "GET") -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def db_env(port: int, password: str = PASSWORD) -> dict[str, str]:
    return {"DB_HOST": "127.0.0.1", "DB_PORT": str(port), "DB_NAME": "postgres", "DB_USER": USER,
            "DB_PASSWORD": password}  # fmt: skip


def test_payments_records_payments_in_its_database_and_login_sees_them(database: int) -> None:
    payments_port, login_port = free_port(), free_port()
    payments = start("payments", payments_port, db_env(database))
    login = start("login", login_port, {"PAYMENTS_URL": f"http://127.0.0.1:{payments_port}/"})
    try:
        wait_for(f"http://127.0.0.1:{payments_port}/healthz")
        wait_for(f"http://127.0.0.1:{login_port}/healthz")
        assert get(f"http://127.0.0.1:{payments_port}/readyz") == (200, {"status": "ready"})
        _, before = get(f"http://127.0.0.1:{payments_port}/")
        status, after = get(f"http://127.0.0.1:{payments_port}/payments", "POST")
        assert status == 201
        assert after["payments"] == int(str(before["payments"])) + 1
        status, page = get(f"http://127.0.0.1:{login_port}/")
        assert status == 200
        assert page["payments"] == {"service": "payments", "database": "reachable", "payments": after["payments"]}
    finally:
        for process in (payments, login):
            process.terminate()
            process.wait(timeout=10)


def test_payments_is_unready_with_a_wrong_password_and_says_why(database: int) -> None:
    port = free_port()
    payments = start("payments", port, db_env(database, "wrong"))
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        status, body = get(f"http://127.0.0.1:{port}/readyz")
        assert status == 503
        assert "password authentication failed" in str(body["database"])
    finally:
        payments.terminate()
        payments.wait(timeout=10)


def psql(port: int, database: str, statement: str) -> str:
    done = subprocess.run(
        [str(POSTGRES_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, "-d", database, "-XAtqc",
         statement],
        env={**os.environ, "PGPASSWORD": PASSWORD}, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_payments_reads_create_nothing_and_keep_working_while_writes_are_stopped(database: int) -> None:
    """What `migrate` relies on: a new database counts 0 without payments creating its table on a read, and once the
    database is read-only (migrate's stop of writes) reads still answer while a payment is refused, saying why."""
    psql(database, "postgres", "CREATE DATABASE shop")
    port = free_port()
    payments = start("payments", port, {**db_env(database), "DB_NAME": "shop"})
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        assert get(f"http://127.0.0.1:{port}/") == (200, {"service": "payments", "database": "reachable",
                                                          "payments": 0})  # fmt: skip
        assert psql(database, "shop", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"
        assert get(f"http://127.0.0.1:{port}/payments", "POST") == (201, {"service": "payments", "payments": 1})
        psql(database, "postgres", "ALTER DATABASE shop SET default_transaction_read_only = on")
        assert get(f"http://127.0.0.1:{port}/readyz") == (200, {"status": "ready"})
        assert get(f"http://127.0.0.1:{port}/")[1]["payments"] == 1
        status, body = get(f"http://127.0.0.1:{port}/payments", "POST")
        assert status == 503
        assert "read-only transaction" in str(body["database"])
        assert psql(database, "shop", "SELECT count(*) FROM payments") == "1"
    finally:
        payments.terminate()
        payments.wait(timeout=10)


def test_the_services_client_takes_tls_when_the_server_offers_it(database: int) -> None:
    """RDS for PostgreSQL 15+ and Azure's flexible server refuse plain connections: payments' own client asks for
    TLS first (libpq's sslmode=prefer), and the server sees an encrypted session."""
    sys.path.insert(0, str(ROOT / "walkthrough" / "payments"))
    try:
        from pgwire import Connection  # the service's own module, not a package of this repo
    finally:
        sys.path.pop(0)
    connection = Connection("127.0.0.1", database, user=USER, password=PASSWORD, database="postgres")
    try:
        assert connection.encrypted
        assert connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [("t",)]
    finally:
        connection.close()
