"""What the library's services share: JSON over HTTP, and PostgreSQL through psycopg, always verifying the server."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

Route = Callable[[], tuple[int, dict[str, object]]]


def database(prefix: str) -> psycopg.Connection[tuple[object, ...]]:
    """A connection to the database whose variables start with `prefix` (STORE, LEDGER), verify-full."""
    env = os.environ
    return psycopg.connect(
        host=env[f"{prefix}_HOST"], port=int(env[f"{prefix}_PORT"]), dbname=env[f"{prefix}_NAME"],
        user=env[f"{prefix}_USER"], password=env[f"{prefix}_PASSWORD"], sslmode="verify-full",
        sslrootcert=env[f"{prefix}_CA"], connect_timeout=5, application_name=prefix.lower(),
    )  # fmt: skip


def count(connection: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    """Rows of `table`; 0 while it does not exist (reads create nothing)."""
    try:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    except psycopg.errors.UndefinedTable:
        connection.rollback()
        return 0
    return int(str(row[0])) if row else 0


def call(url: str, method: str = "GET") -> dict[str, object]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, object] = json.loads(response.read())
    return answer


def log(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def serve(port: int, gets: dict[str, Route], posts: dict[str, Route]) -> None:
    """Answer GETs and POSTs by path with JSON; a route that raises answers 503 with why."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self, routes: dict[str, Route]) -> None:
            route = routes.get(self.path)
            body: dict[str, object]
            if route is None:
                status, body = 404, {"error": "not found"}
            else:
                try:
                    status, body = route()
                except (OSError, ValueError, psycopg.Error) as err:
                    why = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
                    status, body = 503, {"error": why}
                    log({"path": self.path, "error": why})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.answer(gets)

        def do_POST(self) -> None:
            self.answer(posts)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()
