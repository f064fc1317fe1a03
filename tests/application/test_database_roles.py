"""The application's own PostgreSQL role, made by the roles Job's SQL (components/database_roles.py) against a real
PostgreSQL: as the in-cluster superuser, and as an administrator that is not one (RDS's, Cloud SQL's and Azure's
master users have CREATEROLE and CREATEDB only); and the server's pg_hba.conf (components/postgres.py) holding."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.support.postgres_server import (
    ADMIN,
    BIN,
    DATABASE,
    ROLE,
    ROLE_PASSWORD,
    Server,
    postgres_server,
)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with postgres_server() as running:
        yield running


def connect(server: Server, user: str, password: str, sslmode: str = "verify-full") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "psql"), "-U", user, "-d", DATABASE, "-XAtqc", "SELECT current_user, ssl FROM pg_stat_ssl "
         "WHERE pid = pg_backend_pid()"],
        env=server.env(PGPASSWORD=password, PGSSLMODE=sslmode), capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip


def test_the_role_signs_in_over_verified_tls_owns_the_database_and_nothing_more(server: Server) -> None:
    done = connect(server, ROLE, ROLE_PASSWORD)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{ROLE}|t"
    flags = server.psql(
        f"SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles "
        f"WHERE rolname = '{ROLE}'"
    )
    assert flags == "t|f|f|f|f|f"
    assert server.psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{DATABASE}'") == ROLE
    # Its own tables it creates and writes; the server's files and programs stay the superuser's.
    made = subprocess.run(
        [str(BIN / "psql"), "-U", ROLE, "-d", DATABASE, "-Xqc", "CREATE TABLE mine (id int); DROP TABLE mine"],
        env=server.env(PGPASSWORD=ROLE_PASSWORD), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    refused = subprocess.run(
        [str(BIN / "psql"), "-U", ROLE, "-d", DATABASE, "-Xqc", "COPY (SELECT 1) TO PROGRAM 'true'"],
        env=server.env(PGPASSWORD=ROLE_PASSWORD), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "must be superuser" in refused.stderr


def test_the_roles_sql_is_idempotent_and_keeps_the_password_it_is_given(server: Server) -> None:
    for _ in range(2):
        again = server.make_role()
        assert again.returncode == 0, again.stderr
    assert connect(server, ROLE, ROLE_PASSWORD).returncode == 0


def test_a_role_with_more_rights_is_refused_the_database(server: Server) -> None:
    server.psql(f"ALTER ROLE {ROLE} SUPERUSER", database="postgres")
    try:
        refused = server.make_role()
        assert refused.returncode != 0
        assert "kubeport hands the database only to a role without such rights" in refused.stderr
    finally:
        server.psql(f"ALTER ROLE {ROLE} NOSUPERUSER", database="postgres")
    assert server.make_role().returncode == 0


def test_an_administrator_that_is_not_a_superuser_hands_over_the_database_and_its_tables(server: Server) -> None:
    """As on RDS, Cloud SQL and Azure: the master user has CREATEROLE and CREATEDB only; what it created while the
    services signed in as it (an earlier kubeport) becomes the application role's."""
    server.psql("CREATE ROLE master LOGIN CREATEROLE CREATEDB PASSWORD 'm'", database="postgres")
    server.psql("CREATE DATABASE ledger OWNER master", database="postgres")
    server.psql(
        "CREATE TABLE entries (id bigserial PRIMARY KEY, cents int); INSERT INTO entries (cents) VALUES (1); "
        "CREATE VIEW totals AS SELECT sum(cents) FROM entries",
        database="ledger",
        user="master",
    )
    done = server.make_role(env={"PGHOST": str(server.socket_folder)}, admin="master", database="ledger",
                            role="ledger_app")  # fmt: skip
    assert done.returncode == 0, done.stderr
    owners = server.psql(
        "SELECT relname || '=' || pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
        "AND relkind IN ('r', 'v', 'S') ORDER BY 1",
        database="ledger",
    )
    assert owners.splitlines() == ["entries=ledger_app", "entries_id_seq=ledger_app", "totals=ledger_app"]
    assert server.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'ledger'") == "ledger_app"
    assert server.psql("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'ledger_app'") == "f|f"


@pytest.mark.parametrize(
    ("user", "password", "sslmode", "says"),
    [
        (ROLE, ROLE_PASSWORD, "disable", "no encryption"),  # plain TCP: refused, whoever asks
        ("intruder", "intruder", "verify-full", "rejects connection"),  # a role of the server's, not admitted
    ],
)
def test_the_servers_rules_admit_only_tls_and_only_the_two_roles(
    server: Server, user: str, password: str, sslmode: str, says: str
) -> None:
    server.psql("DO $$BEGIN CREATE ROLE intruder LOGIN PASSWORD 'intruder'; EXCEPTION WHEN duplicate_object THEN "
                "NULL; END$$", database="postgres")  # fmt: skip
    refused = connect(server, user, password, sslmode)
    assert refused.returncode != 0
    assert says in refused.stderr, refused.stderr


def test_the_administrator_enters_over_tls_as_the_roles_job_does(server: Server) -> None:
    from tests.support.postgres_server import ADMIN_PASSWORD

    done = connect(server, ADMIN, ADMIN_PASSWORD)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{ADMIN}|t"
