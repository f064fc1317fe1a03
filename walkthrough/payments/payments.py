"""payments: records payments in its database and counts them. Only web and login may call it (the
NetworkPolicies of kubeport's walkthrough application), and only it may reach the database."""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pgwire import Connection, DatabaseError

SCHEMA = "CREATE TABLE IF NOT EXISTS payments (id bigserial PRIMARY KEY, cents integer NOT NULL CHECK (cents > 0))"
UNDEFINED_TABLE = "42P01"
"""SQLSTATE of a table that does not exist: no payment was recorded yet."""


def connect() -> Connection:
    env = os.environ
    return Connection(
        env["DB_HOST"], int(env["DB_PORT"]), user=env["DB_USER"], password=env["DB_PASSWORD"], database=env["DB_NAME"]
    )


def run(sql: str) -> list[tuple[str | None, ...]]:
    connection = connect()
    try:
        return connection.query(sql)
    finally:
        connection.close()


def count_payments() -> int:
    try:
        return int(run("SELECT count(*) FROM payments")[0][0] or 0)
    except DatabaseError as err:
        if err.code == UNDEFINED_TABLE:
            return 0
        raise


class Handler(BaseHTTPRequestHandler):
    server_version = "payments"

    def reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.reply(200, {"status": "alive"})
            return
        try:
            # Reads create nothing: they work on a read-only database too (while `migrate` moves the data).
            count = count_payments()
        except (OSError, DatabaseError) as err:
            self.reply(503, {"service": "payments", "database": f"unreachable: {err}"})
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
            rows = run(f"{SCHEMA}; INSERT INTO payments (cents) VALUES (100); SELECT count(*) FROM payments")
        except (OSError, DatabaseError) as err:
            self.reply(503, {"service": "payments", "database": f"unreachable: {err}"})
            return
        self.reply(201, {"service": "payments", "payments": int(rows[0][0] or 0)})

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write(json.dumps({"request": self.requestline, "status": args[1] if len(args) > 1 else ""}) + "\n")


def main() -> None:
    server = ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
