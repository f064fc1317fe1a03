"""payments: records payments in its database and counts them. Only web and login may call it (the
NetworkPolicies of kubeport's walkthrough application), and only it may reach the database.

It talks to PostgreSQL through psycopg (libpq), always with `sslmode=verify-full`: the connection is encrypted,
and the server must present a certificate for the host it was asked for, signed by the CA at DB_SSLROOTCERT (the
one kubeport mounts for the database). A server that cannot, or that offers no TLS, is refused before the password
is sent; the reason is logged, and the readiness probe answers 503 with it."""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from psycopg import errors

SCHEMA = "CREATE TABLE IF NOT EXISTS payments (id bigserial PRIMARY KEY, cents integer NOT NULL CHECK (cents > 0))"


def connect() -> psycopg.Connection[tuple[object, ...]]:
    env = os.environ
    return psycopg.connect(
        host=env["DB_HOST"],
        port=int(env["DB_PORT"]),
        dbname=env["DB_NAME"],
        user=env["DB_USER"],
        password=env["DB_PASSWORD"],
        sslmode="verify-full",
        sslrootcert=env.get("DB_SSLROOTCERT") or env.get("PGSSLROOTCERT", ""),
        connect_timeout=5,
        application_name="payments",
    )


def count_payments() -> int:
    """Reads create nothing: they work on a read-only database too (while `migrate` moves the data)."""
    with connect() as connection:
        try:
            row = connection.execute("SELECT count(*) FROM payments").fetchone()
        except errors.UndefinedTable:
            return 0
    return int(str(row[0])) if row else 0


def record_payment() -> int:
    with connect() as connection:
        connection.execute(SCHEMA)
        connection.execute("INSERT INTO payments (cents) VALUES (100)")
        row = connection.execute("SELECT count(*) FROM payments").fetchone()
    return int(str(row[0])) if row else 0


def reason(err: Exception) -> str:
    """What went wrong, in libpq's and the server's words (first line only), with the SQLSTATE when there is one."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    code = getattr(err, "sqlstate", None)
    return f"{text} (SQLSTATE {code})" if code else text


def log(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    server_version = "payments"

    def reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def unreachable(self, err: Exception) -> None:
        why = reason(err)
        log({"error": "database", "path": self.path, "reason": why})
        self.reply(503, {"service": "payments", "database": f"unreachable: {why}"})

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.reply(200, {"status": "alive"})
            return
        try:
            count = count_payments()
        except (OSError, psycopg.Error) as err:
            self.unreachable(err)
            return
        if self.path == "/readyz":
            self.reply(200, {"status": "ready"})
        elif self.path in ("/", "/payments"):
            self.reply(200, {"service": "payments", "database": "reachable", "payments": count})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/payments":
            self.reply(404, {"error": "not found"})
            return
        try:
            count = record_payment()
        except (OSError, psycopg.Error) as err:
            self.unreachable(err)
            return
        self.reply(201, {"service": "payments", "payments": count})

    def log_message(self, format: str, *args: object) -> None:
        log({"request": self.requestline, "status": args[1] if len(args) > 1 else ""})


def main() -> None:
    server = ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
