"""The walkthrough's own services, for real on 127.0.0.1, against a real PostgreSQL set up as kubeport sets up its
in-cluster one (tests/support/postgres_server.py): TLS only, its certificate from kubeport's issuer, the
application's role made by the roles Job's own SQL. payments talks to it through psycopg with verify-full."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.certificate import issue
from tests.support.postgres_server import ADMIN, DATABASE, ROLE, ROLE_PASSWORD, Server, free_port, postgres_server
from tools.stack_files import ROOT


@pytest.fixture(scope="module")
def database() -> Iterator[Server]:
    with postgres_server() as server:
        yield server


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


def start(service: str, port: int, env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    folder = ROOT / "walkthrough" / service
    return subprocess.Popen(
        [sys.executable, str(folder / f"{service}.py")],
        cwd=folder,
        env={"PATH": os.environ["PATH"], "PORT": str(port), "HOME": str(folder), **env},
        stdout=log.open("wb") if log else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def get(url: str, method: str = "GET") -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def db_env(server: Server, **changes: str) -> dict[str, str]:
    """What kubeport gives payments: its file's variables, the role's password from the Secret, the CA's path."""
    return {"DB_HOST": "localhost", "DB_PORT": str(server.port), "DB_NAME": DATABASE, "DB_USER": ROLE,
            "DB_PASSWORD": ROLE_PASSWORD, "DB_SSLROOTCERT": str(server.ca), **changes}  # fmt: skip


def stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_payments_records_payments_in_its_database_and_login_sees_them(database: Server) -> None:
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
        # The table is the application role's, and its session was encrypted.
        assert database.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'payments'") == ROLE
    finally:
        stop(payments, login)


def test_payments_session_is_encrypted_and_signed_in_as_the_applications_role(database: Server) -> None:
    port = free_port()
    payments = start("payments", port, db_env(database))
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        seen = database.psql(
            "SELECT DISTINCT a.usename, s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
            "WHERE a.application_name = 'payments'"
        )
        # Sessions close after each request; the statistics may show one still closing, or none.
        assert seen in ("", f"{ROLE}|t"), seen
        assert database.psql(f"SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = '{ROLE}'") == (
            "f|f|f"
        )
    finally:
        stop(payments)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"DB_PASSWORD": "wrong"}, "password authentication failed"),
        # A server whose certificate is for another name than the one asked for: the man in the middle.
        ({"DB_HOST": "127.0.0.1"}, 'does not match host name "127.0.0.1"'),
        # A CA that did not sign the server's certificate.
        ({"DB_SSLROOTCERT": "other-ca"}, "certificate verify failed"),
        # The server's administrator is not admitted from the network as the services' role would be: wrong password.
        ({"DB_USER": ADMIN}, "password authentication failed"),
    ],
)
def test_payments_is_unready_and_logs_why_when_it_cannot_trust_or_enter_the_database(
    database: Server, tmp_path: Path, changes: dict[str, str], says: str
) -> None:
    if changes.get("DB_SSLROOTCERT") == "other-ca":
        other = tmp_path / "other-ca.crt"
        other.write_text(issue("localhost", ["localhost"]).ca)
        changes = {**changes, "DB_SSLROOTCERT": str(other)}
    port, log = free_port(), tmp_path / "payments.log"
    payments = start("payments", port, db_env(database, **changes), log)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        status, body = get(f"http://127.0.0.1:{port}/readyz")
        assert status == 503
        assert says in str(body["database"]), body
    finally:
        stop(payments)
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(says in str(entry.get("reason")) for entry in logged), logged


def test_a_server_that_offers_no_tls_is_refused_before_the_password_is_sent(tmp_path: Path) -> None:
    """A server in the middle that answers "no TLS" to the client's SSLRequest gets nothing more: no startup
    message, no user name, no password (pgwire.py, which this replaced, sent them in the clear)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    received: list[bytes] = []

    def serve() -> None:
        for _ in range(3):  # libpq may try again; each attempt is answered the same way
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    received.append(conn.recv(8))
                    conn.sendall(b"N")
                    received.append(conn.recv(4096))
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = free_port()
    ca = tmp_path / "ca.crt"
    ca.write_text(issue("localhost", ["localhost"]).ca)
    server_port = str(listener.getsockname()[1])
    env = {"DB_HOST": "localhost", "DB_PORT": server_port, "DB_NAME": DATABASE, "DB_USER": ROLE,
           "DB_PASSWORD": "never-sent", "DB_SSLROOTCERT": str(ca)}  # fmt: skip
    payments = start("payments", port, env)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        status, body = get(f"http://127.0.0.1:{port}/readyz")
        assert status == 503
        assert "server does not support SSL" in str(body["database"]), body
    finally:
        stop(payments)
        listener.close()
        thread.join(timeout=10)
    sent = b"".join(received)
    assert sent, "payments never connected"
    assert b"never-sent" not in sent and ROLE.encode() not in sent, sent


def test_payments_reads_create_nothing_and_keep_working_while_writes_are_stopped(database: Server) -> None:
    """What `migrate` relies on: a new database counts 0 without payments creating its table on a read, and once the
    database is read-only (migrate's stop of writes) reads still answer while a payment is refused, saying why."""
    database.psql("DROP TABLE IF EXISTS payments")
    port = free_port()
    payments = start("payments", port, db_env(database))
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        assert get(f"http://127.0.0.1:{port}/") == (200, {"service": "payments", "database": "reachable",
                                                          "payments": 0})  # fmt: skip
        assert database.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"
        assert get(f"http://127.0.0.1:{port}/payments", "POST") == (201, {"service": "payments", "payments": 1})
        database.psql(f"ALTER DATABASE {DATABASE} SET default_transaction_read_only = on")
        try:
            assert get(f"http://127.0.0.1:{port}/readyz") == (200, {"status": "ready"})
            assert get(f"http://127.0.0.1:{port}/")[1]["payments"] == 1
            status, body = get(f"http://127.0.0.1:{port}/payments", "POST")
            assert status == 503
            assert "read-only transaction" in str(body["database"])
            assert database.psql("SELECT count(*) FROM payments") == "1"
        finally:
            database.psql(f"ALTER DATABASE {DATABASE} RESET default_transaction_read_only")
    finally:
        stop(payments)
