"""`migrate` of the walkthrough's application and its database between the two clusters with real nodes.

The source is the walkthrough on kubeport-node, the target the same files on kubeport-node-b (a node of its own,
in its own network namespace, with its own kube-proxy, CoreDNS, kube-router and volumes). Payments are recorded
through web on the source; `python -m tools migrate` then stops writes on the source's database, dumps it,
restores it on the target, compares every table's row count and checksum, smoke-checks web and payments through
web on the target, and prints how long writes were stopped. Afterwards the target serves the same rows and takes
new ones; the source still answers reads and refuses writes, saying why.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from tests.support.live import ok
from tests.support.realnode import http_get, set_up_application, write_timing
from tools import localclusters
from tools.realrun import Workbench

pytestmark = pytest.mark.live

SOURCE, TARGET = "moved-from", "moved-to"
NAMESPACE = "moving"
SOURCE_URL = "http://10.250.0.1:30031"
TARGET_URL = "http://10.250.1.2:30031"
PAYMENTS = 7
ROUTED = 30.0


def post(url: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"{url}/payments/payments", method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return int(err.code), json.loads(err.read())


def answered(url: str) -> tuple[int, str]:
    """GET `url`, retried for ROUTED seconds while the node port is not routed yet."""
    deadline = time.monotonic() + ROUTED
    while True:
        try:
            return http_get(url)
        except OSError:
            assert time.monotonic() < deadline, f"{url} not routed within {ROUTED} s"
            time.sleep(0.5)


def test_migrate_moves_the_application_and_its_rows_to_the_other_real_node(bench: Workbench) -> None:
    assert localclusters.SECOND_REAL_NODE == "kubeport-node-b"
    settings = {"kubeport:namespace": NAMESPACE, "kubeport:nodePort": "30031"}
    set_up_application(bench, SOURCE, like="walkthrough", **settings)
    set_up_application(bench, TARGET, like="walkthrough-b", **settings)
    done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", SOURCE, timeout=900)
    assert done.code == 0, done.describe()
    status, text = answered(f"{SOURCE_URL}/payments/")
    assert status == 200 and json.loads(text)["payments"] == 0, text
    for number in range(1, PAYMENTS + 1):
        assert post(SOURCE_URL) == (201, {"service": "payments", "payments": number})

    started = time.monotonic()
    moved = bench.stacks_cli("migrate", "--from", SOURCE, "--to", TARGET, timeout=1500)
    write_timing("migrate of the application with its data (target up included)", time.monotonic() - started)
    assert moved.code == 0, moved.describe()
    assert f"payments: {PAYMENTS} rows" in moved.stdout, moved.stdout
    assert f"payments answers through web and counts {PAYMENTS} payments" in moved.stdout, moved.stdout
    stopped = re.search(r"writes were stopped for ([0-9.]+) s", moved.stdout)
    assert stopped, moved.stdout
    write_timing("writes stopped during migrate (stop, dump, restore, verify, smoke)", float(stopped.group(1)))

    # The target serves the source's rows and takes new ones.
    status, text = answered(f"{TARGET_URL}/payments/")
    assert status == 200 and json.loads(text)["payments"] == PAYMENTS, text
    assert post(TARGET_URL) == (201, {"service": "payments", "payments": PAYMENTS + 1})
    # The source still answers reads, and refuses writes, saying why: nothing can write to the old copy.
    status, text = http_get(f"{SOURCE_URL}/payments/")
    assert status == 200 and json.loads(text)["payments"] == PAYMENTS, text
    status, body = post(SOURCE_URL)
    assert status == 503 and "read-only transaction" in str(body["database"]), body
    # The two copies live on different nodes' volumes.
    where = ("-n", NAMESPACE, "get", "pod", "payments-db-0", "-o", "jsonpath={.spec.nodeName}")
    nodes = {context: ok(bench.kubectl(context, *where)).stdout for context in ("kubeport-node", "kubeport-node-b")}
    assert nodes == {"kubeport-node": "kubeport-node", "kubeport-node-b": "kubeport-node-b"}


def test_both_stacks_are_destroyed(bench: Workbench) -> None:
    for stack in (TARGET, SOURCE):
        done = bench.pulumi("destroy", "--yes", "--skip-preview", "--stack", stack, timeout=600)
        assert done.code == 0, done.describe()
