"""desk: the library's public front. It keeps nothing: it asks the shelf."""

from __future__ import annotations

import os

from common import call, serve

SHELF = os.environ.get("SHELF_URL", "http://shelf:7000")


def front() -> tuple[int, dict[str, object]]:
    return 200, {"desk": "library", "shelf": call(f"{SHELF}/books")}


def lend() -> tuple[int, dict[str, object]]:
    return 201, {"desk": "library", "shelf": call(f"{SHELF}/books", "POST")}


def ping() -> tuple[int, dict[str, object]]:
    call(f"{SHELF}/books")
    return 200, {"ping": "pong"}


if __name__ == "__main__":
    serve(int(os.environ.get("LISTEN", "9090")), {"/": front, "/ping": ping, "/alive": lambda: (200, {"alive": True})},
          {"/books": lend})  # fmt: skip
