"""The real-run session: the built toolchain, both local clusters, one scratch project and state backend.

`make test-live` (KUBEPORT_LIVE=1) or CI=true turns a missing prerequisite into a failure; anywhere else
these tests skip and say what is missing. Clusters already running (`make clusters`) are used and left
running; otherwise the session starts both and stops them at the end. Whatever a failed test leaves in a
stack is destroyed before the session ends.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tools import realrun


def live_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("KUBEPORT_LIVE") == "1"


@pytest.fixture(scope="session")
def bench() -> Iterator[realrun.Workbench]:
    missing = realrun.missing_prerequisites()
    if missing:
        reason = "real runs not possible: " + "; ".join(missing)
        if live_required():
            pytest.fail(f"{reason} (CI=true or KUBEPORT_LIVE=1 asks for them, so this is a failure)", pytrace=False)
        pytest.skip(reason)
    clusters = realrun.ClusterSession.open()
    with realrun.scratch("kubeport-live-") as base:
        workbench = realrun.Workbench(base, kubeconfig=clusters.kubeconfig)
        try:
            yield workbench
        finally:
            leftover = workbench.pulumi("stack", "ls", "--json", timeout=60)
            if leftover.code == 0:
                for stack in json.loads(leftover.stdout or "[]"):
                    if stack.get("resourceCount"):
                        workbench.pulumi("destroy", "--yes", "--stack", stack["name"], timeout=600)
            clusters.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The durations the real-node tests measured, in CI's log."""
    from tests.support.realnode import TIMINGS

    if TIMINGS:
        terminalreporter.section("measured on the real node")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{seconds:7.1f} s  {name}")
