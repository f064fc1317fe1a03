"""`migrate` of an application kubeport's code has never heard of, with its two databases, between the two clusters
with real nodes, both ways.

The library of tests/apps/library (other names, ports and probe paths, two databases, a worker with no Service)
on kubeport-node (A) and on the same files on kubeport-node-b (B): rows written on A and tallied by the worker;
`python -m tools migrate` moves both databases to B (row counts, the target's probes through its Services, its
routes, each database's role over verified TLS); B takes new rows; the move back over A's old copy brings every
row home; a third run is refused. It runs beside test_application_migrates_with_its_data.py (the walkthrough), in
a namespace and on a node port of its own. The last test destroys both stacks, and the session's teardown
destroys whatever a failed test left.
"""

from __future__ import annotations

import shutil
import time

import pytest

from tests.support.live import ok
from tests.support.moving import A, destroy_all, migrate, refused, request
from tests.support.realnode import set_up_application
from tools.localcluster.realrun import Workbench
from tools.stack_files import ROOT

pytestmark = pytest.mark.live

LIB_A, LIB_B = "library-a", "library-b"
NAMESPACE = "library"
URLS = {LIB_A: "http://10.250.0.2:30035", LIB_B: "http://10.250.1.2:30035"}


def test_the_library_moves_both_ways_without_a_change_to_kubeport(bench: Workbench) -> None:
    shutil.copytree(ROOT / "tests" / "apps" / "library", bench.project / "tests" / "apps" / "library",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    settings = {"kubeport:application": "tests/apps/library", "kubeport:namespace": NAMESPACE,
                "kubeport:nodePort": "30035"}  # fmt: skip
    set_up_application(bench, LIB_A, like="walkthrough", **settings)
    set_up_application(bench, LIB_B, like="walkthrough-b", **settings)
    ok(bench.pulumi("up", "--yes", "--skip-preview", "--stack", LIB_A, timeout=900))
    for number in range(1, 6):
        status, body = request(f"{URLS[LIB_A]}/books", "POST")
        assert status == 201 and body["shelf"] == {"books": number, "loans": number // 3}, body
    # The worker tallies the shelf into its own database.
    deadline = time.monotonic() + 60
    tallied = ("exec", "tally-ledger-0", "-c", "postgres", "--", "psql", "-h", "/var/run/postgresql", "-U", "tally",
               "-d", "tally", "-XAtqc", "SELECT max(books) FROM snapshots")  # fmt: skip
    while bench.kubectl(A, "-n", NAMESPACE, *tallied).stdout.strip() != "5":
        assert time.monotonic() < deadline, "tally never counted the shelf"
        time.sleep(2)

    said = migrate(bench, LIB_A, LIB_B)
    assert "public.books: 5 rows, public.loans: 1 rows" in said, said
    assert "desk: http://desk.library.svc:8000/ping answers" in said, said
    assert "shelf: http://shelf.library.svc:7000/ready-now answers" in said, said
    assert "tally: its probe's port is behind no Service (the kubelet asks it)" in said, said
    assert f"routes through {URLS[LIB_B]}: / 200" in said, said
    assert "shelf-store: shelf_app signs in over verified TLS" in said and "tally-ledger: tally_app" in said, said
    assert request(f"{URLS[LIB_B]}/")[1]["shelf"] == {"books": 5, "loans": 1}
    assert request(f"{URLS[LIB_B]}/books", "POST")[1]["shelf"] == {"books": 6, "loans": 2}

    said = migrate(bench, LIB_B, LIB_A, "--replace-target-data")
    assert "public.books: 6 rows, public.loans: 2 rows" in said, said
    assert request(f"{URLS[LIB_A]}/")[1]["shelf"] == {"books": 6, "loans": 2}
    assert request(f"{URLS[LIB_A]}/books", "POST")[1]["shelf"] == {"books": 7, "loans": 2}
    said = refused(bench, LIB_B, LIB_A, "--replace-target-data")
    assert "shelf-store, tally-ledger on 'library-b' is read-only already" in said, said
    assert request(f"{URLS[LIB_A]}/")[1]["shelf"] == {"books": 7, "loans": 2}


def test_both_stacks_are_destroyed(bench: Workbench) -> None:
    destroy_all(bench, LIB_B, LIB_A)
