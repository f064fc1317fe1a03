"""What the live files that move an application with its data between the two real nodes share: JSON requests to
a node port, and `python -m tools migrate` run as a user runs it, its stop of writes recorded."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.support.realnode import write_timing
from tools.localcluster import catalog
from tools.localcluster.realrun import Workbench

A, B = catalog.REAL_NODE, catalog.SECOND_REAL_NODE
ROUTED = 30.0
"""Seconds a node port may take to be routed after `up` or a move."""


def request(url: str, method: str = "GET") -> tuple[int, dict[str, object]]:
    """An HTTP call to a node port, retried for ROUTED seconds while the port is not routed yet."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + ROUTED
    while True:
        try:
            with opener.open(urllib.request.Request(url, method=method, data=b"" if method == "POST" else None),
                             timeout=10) as response:  # fmt: skip
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as err:
            return int(err.code), json.loads(err.read() or b"{}")
        except OSError:
            assert time.monotonic() < deadline, f"{url} not routed within {ROUTED} s"
            time.sleep(0.5)


def migrate(bench: Workbench, source: str, target: str, *flags: str) -> str:
    """A move that must succeed; its output. Records how long the move took and how long writes were stopped."""
    started = time.monotonic()
    done = bench.stacks_cli("migrate", "--from", source, "--to", target, *flags, timeout=1500)
    assert done.code == 0, done.describe()
    assert "Traceback" not in done.stdout + done.stderr
    stopped = re.search(r"writes were stopped for ([0-9.]+) s", done.stdout)
    assert stopped, done.stdout
    write_timing(f"migrate {source} -> {target}: the whole move", time.monotonic() - started)
    write_timing(f"migrate {source} -> {target}: writes stopped", float(stopped.group(1)))
    return done.stdout


def refused(bench: Workbench, source: str, target: str, *flags: str) -> str:
    """A move that must be refused before anything is stopped; what it said."""
    done = bench.stacks_cli("migrate", "--from", source, "--to", target, *flags, timeout=600)
    assert done.code == 1, done.describe()
    assert "Traceback" not in done.stdout + done.stderr, done.describe()
    return done.stderr


def destroy_all(bench: Workbench, *stacks: str) -> None:
    """`destroy` of the stacks at once, each by its own engine; every one must succeed."""
    with ThreadPoolExecutor(max_workers=len(stacks)) as destroys:
        done = list(destroys.map(lambda stack: bench.pulumi("destroy", "--yes", "--skip-preview", "--stack", stack,
                                                             timeout=600), stacks))  # fmt: skip
    for each in done:
        assert each.code == 0, each.describe()
