"""The real-run session: the built toolchain, the local clusters, one scratch project and state backend.

`make test-live` (KUBEPORT_LIVE=1) or CI=true turns a missing prerequisite into a failure; anywhere else
these tests skip and say what is missing. Clusters already running (`make clusters`, or `python -m tools live`,
which `make test-live` runs) are used and left running; otherwise the session starts them and stops them at the
end. Whatever a failed test leaves in a stack is destroyed before the session ends.

`python -m tools live` runs the files in groups at once, each group in file order in a pytest of its own with a
scratch project and state of its own (tools/verify/livesuite.py).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.localcluster import realrun
from tools.verify.livesuite import TIMINGS_FILE, print_timings

OWN_TIMINGS = "KUBEPORT_LIVE_OWN_TIMINGS"


def pytest_configure(config: pytest.Config) -> None:
    """Where the tests' measured durations go: the suite's file (`python -m tools live` prints it at the end), or a
    file of this session's own, printed in its summary."""
    if TIMINGS_FILE not in os.environ:
        handle, path = tempfile.mkstemp(prefix="kubeport-live-timings-", suffix=".jsonl")
        os.close(handle)
        os.environ[TIMINGS_FILE] = os.environ[OWN_TIMINGS] = path


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
    """The durations the real-node tests measured, in CI's log (when this session owns the file)."""
    own = os.environ.get(OWN_TIMINGS)
    if own and Path(own).is_file():
        print_timings(Path(own), terminalreporter.write_line)
        Path(own).unlink()
