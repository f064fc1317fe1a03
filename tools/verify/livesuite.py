"""`make test-live` (`python -m tools live`): the live suite, its files in groups that run at once.

The local clusters start once for the whole run (or are used, left running, when `make clusters` started them).
Each group of test files runs in a pytest of its own, `workers` groups at a time, each file in order with a
scratch project, file backend and PULUMI_HOME of its own (tests/live/conftest.py). No two groups take the same
namespace or node port of the same cluster (GROUPS says which each takes; `tests/tooling/test_live_groups.py`
holds every file to exactly one group and to what its group declares), and no file asserts on anything outside
its own namespaces, so groups running side by side never meet. Each group's output is printed
whole when it ends (lines of two pytests would interleave), then the durations the tests measured, then the exit
code: the worst of the groups'.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools import processes
from tools.processes import Done
from tools.stack_files import ROOT


@dataclass(frozen=True)
class Group:
    """Live test files that run one after the other, and what of the clusters they take: no other group takes the
    same namespace or node port of the same cluster."""

    files: tuple[str, ...]
    namespaces: frozenset[tuple[str, str]]
    """(cluster, namespace)."""
    node_ports: frozenset[tuple[str, int]]
    """(cluster, node port): the ports a NodePort Service of the group's takes."""


def _pairs(cluster: str, *names: str) -> frozenset[tuple[str, str]]:
    return frozenset((cluster, n) for n in names)


A, B, NODE, NODE_B = "kubeport-a", "kubeport-b", "kubeport-node", "kubeport-node-b"
GROUPS: Mapping[str, Group] = {
    # Longest first: the groups start in this order as slots free up.
    "walkthrough-moving": Group(
        ("test_application_migrates_with_its_data.py",),
        _pairs(NODE, "moved") | _pairs(NODE_B, "moved"),
        frozenset({(NODE, 30034), (NODE_B, 30034)}),
    ),
    "web-app-on-the-node": Group(
        ("test_app_on_a_real_node.py",),
        _pairs(NODE, "kubeport", "moving", "mine") | _pairs(A, "moving"),
        frozenset({(NODE, 30020), (NODE, 30031), (A, 30031), (NODE, 30042)}),
    ),
    "kwok-clusters": Group(
        ("test_live_cluster_and_app_stacks.py", "test_real_runs.py"),
        _pairs(A, "kubeport", "kubeport-other", "shop", "shop-two")
        | _pairs(B, "kubeport", "kubeport-other", "shop", "shop-two"),
        frozenset({(A, 30020), (B, 30020), (A, 30021), (B, 30021), (A, 30022), (B, 30022)}),
    ),
    "library-moving": Group(
        ("test_library_moves_with_its_data.py",),
        _pairs(NODE, "library") | _pairs(NODE_B, "library"),
        frozenset({(NODE, 30035), (NODE_B, 30035)}),
    ),
    "team-state": Group(
        ("test_team_state_on_an_object_store.py",),
        _pairs(A, "team") | _pairs(B, "team"),
        frozenset({(A, 30025), (B, 30025)}),
    ),
    "routing-on-the-node": Group(
        ("test_routing_and_autoscaling_on_the_node.py",), _pairs(NODE, "routed"), frozenset({(NODE, 30043)})
    ),
    "canary-on-the-node": Group(
        ("test_canary_releases_on_the_node.py",), _pairs(NODE, "canary"), frozenset({(NODE, 30044)})
    ),
    "failures-on-the-node": Group(("test_failures_fail_fast.py",), _pairs(NODE, "fast"), frozenset({(NODE, 30041)})),
    "application-on-the-node": Group(
        ("test_application_on_a_real_node.py", "test_volumes_on_a_real_node.py"),
        _pairs(NODE, "walkthrough", "notebook"),
        frozenset({(NODE, 30030)}),
    ),
}
"""Live test files by what of the clusters they take. kubeport-a and -b are kwok control planes; kubeport-node and
-node-b run containers, with one registry, one BuildKit and twelve local volumes each, which the groups share."""
TIMINGS_FILE = "KUBEPORT_LIVE_TIMINGS"
"""The environment variable naming the file the tests append their measured durations to (one JSON line each)."""
LIVE = ROOT / "tests" / "live"


def group_of(file_name: str) -> str:
    (group,) = [name for name, g in GROUPS.items() if file_name in g.files]
    return group


def print_timings(path: Path, say: Callable[[str], object]) -> None:
    """The durations the tests measured, then the reports they wrote (a series over time, a controller's events)."""
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    timings = [e for e in entries if "seconds" in e]
    if timings:
        say("=" * 26 + " measured on the real node " + "=" * 26)
        for entry in timings:
            say(f"{entry['seconds']:7.1f} s  {entry['name']}")
    for entry in (e for e in entries if "lines" in e):
        say(f"{'-' * 26} {entry['name']} {'-' * 26}")
        for line in entry["lines"]:
            say(f"  {line}")


def run(workers: int, pytest_args: Sequence[str], timeout: float, say: Callable[[str], object] = print) -> int:
    """Every group's files, `workers` groups at a time; the worst exit code (a group that did not finish: 124)."""
    handle, timings = tempfile.mkstemp(prefix="kubeport-live-timings-", suffix=".jsonl")
    os.close(handle)
    env = {**os.environ, "KUBEPORT_LIVE": "1", TIMINGS_FILE: timings}
    results: dict[str, Done] = {}
    gate = threading.Semaphore(max(1, workers))

    def one(group: str, files: Sequence[str]) -> None:
        with gate:
            command = [sys.executable, "-m", "pytest", "-m", "live", "-p", "no:cacheprovider",
                       *(str(LIVE / f) for f in files), *pytest_args]  # fmt: skip
            results[group] = processes.run(command, timeout=timeout, env=env, cwd=ROOT)

    threads = [threading.Thread(target=one, args=(name, g.files), name=name) for name, g in GROUPS.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for group, done in results.items():
        say(f"{'=' * 30} {group}: {', '.join(GROUPS[group].files)} {'=' * 30}")
        say(done.stdout.rstrip())
        if done.stderr.strip():
            say(done.stderr.rstrip())
        say(f"{group}: exit {done.code} after {done.seconds:.0f} s" + (" (stopped at the bound)" if done.timed_out
                                                                      else ""))  # fmt: skip
    print_timings(Path(timings), say)
    Path(timings).unlink(missing_ok=True)
    return max((d.code for d in results.values()), default=1)
