"""shelf: the library's books and loans, in its database `store`. GET /books counts; POST /books adds a book, and
lends every third one."""

from __future__ import annotations

import os

from common import count, database, serve

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS books (id bigserial PRIMARY KEY, title text NOT NULL); "
    "CREATE TABLE IF NOT EXISTS loans (book bigint PRIMARY KEY REFERENCES books (id), since timestamptz NOT NULL "
    "DEFAULT now())"
)


def books() -> tuple[int, dict[str, object]]:
    with database("STORE") as connection:
        return 200, {"books": count(connection, "books"), "loans": count(connection, "loans")}


def add() -> tuple[int, dict[str, object]]:
    with database("STORE") as connection:
        connection.execute(SCHEMA)
        row = connection.execute("INSERT INTO books (title) VALUES ('a book') RETURNING id").fetchone()
        book = int(str(row[0])) if row else 0
        if book % 3 == 0:
            connection.execute("INSERT INTO loans (book) VALUES (%s)", (book,))
        return 201, {"books": count(connection, "books"), "loans": count(connection, "loans")}


def ready() -> tuple[int, dict[str, object]]:
    with database("STORE") as connection:
        connection.execute("SELECT 1")
    return 200, {"ready": True}


if __name__ == "__main__":
    serve(int(os.environ.get("LISTEN", "7070")),
          {"/books": books, "/ready-now": ready, "/still-alive": lambda: (200, {"alive": True})},
          {"/books": add})  # fmt: skip
