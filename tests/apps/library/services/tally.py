"""tally: a worker. Every few seconds it counts the shelf's books and, when the count changed, writes it into its
own database `ledger`. It answers /health on a port of its own (no Service has it)."""

from __future__ import annotations

import os
import threading
import time

from common import call, count, database, log, serve

SHELF = os.environ.get("SHELF_URL", "http://shelf:7000")
EVERY = 3.0
SCHEMA = "CREATE TABLE IF NOT EXISTS snapshots (id bigserial PRIMARY KEY, books integer NOT NULL, at timestamptz " \
         "NOT NULL DEFAULT now())"  # fmt: skip


def last_count() -> int | None:
    with database("LEDGER") as connection:
        if count(connection, "snapshots") == 0:
            return None
        row = connection.execute("SELECT books FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
    return int(str(row[0])) if row else None


def tally_once() -> None:
    books = int(str(call(f"{SHELF}/books")["books"]))
    if books and books != last_count():
        with database("LEDGER") as connection:
            connection.execute(SCHEMA)
            connection.execute("INSERT INTO snapshots (books) VALUES (%s)", (books,))
        log({"tallied": books})


def work() -> None:
    while True:
        try:
            tally_once()
        except Exception as err:  # a read-only ledger (migrate), a shelf not ready: said, and tried again
            log({"tally": "skipped", "why": str(err).strip().splitlines()[0] if str(err).strip() else repr(err)})
        time.sleep(EVERY)


def health() -> tuple[int, dict[str, object]]:
    with database("LEDGER") as connection:
        connection.execute("SELECT 1")
    return 200, {"healthy": True}


if __name__ == "__main__":
    threading.Thread(target=work, daemon=True).start()
    serve(int(os.environ.get("HEALTH", "7500")), {"/health": health}, {})
