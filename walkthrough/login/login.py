"""login: answers who is signed in, and whether payments (the one service it calls) answers it."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "login"

    def reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path in ("/healthz", "/readyz"):
            self.reply(200, {"status": "ok"})
        elif self.path == "/":
            try:
                with urllib.request.urlopen(os.environ["PAYMENTS_URL"], timeout=3) as response:
                    payments: object = json.load(response)
            except (OSError, ValueError) as err:
                payments = f"unreachable: {err}"
            self.reply(200, {"service": "login", "user": "guest", "payments": payments})
        else:
            self.reply(404, {"error": "not found"})

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write(json.dumps({"request": self.requestline, "status": args[1] if len(args) > 1 else ""}) + "\n")


def main() -> None:
    server = ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
