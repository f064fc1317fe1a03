"""What kubeport catches, for real and fast: three broken releases of the workload fail `up` in under 60 s, each
with a message that names the cause, on the node that runs containers.

The Service is not awaited by the provider's endpoint watch (with its 10 s settle); the smoke Pod, created after
the Deployment and the Service and replaced when either changes, proves that the app answers through them and
says why when it does not. Each case breaks the workload's code in the scratch project (as a bad commit would),
runs `up` with `kubeport:rolloutTimeout 30s`, then puts the code back and runs `up` again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support import plants
from tests.support.live import ok
from tests.support.plants import Plant
from tests.support.realnode import code_edited, http_get, service_url, set_up_stack, write_timing
from tools.localcluster.realrun import Workbench
from tools.processes import Done

pytestmark = pytest.mark.live

STACK = "fast"
NAMESPACE = "fast"
BOUND = 60.0
"""Seconds within which each broken release must fail `up` (the provider's own default is 10 minutes)."""


@pytest.fixture(scope="module")
def deployed(bench: Workbench) -> Iterator[Workbench]:
    set_up_stack(bench, STACK, namespace=NAMESPACE, nodePort="30041", rolloutTimeout="30s")
    done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=900)
    assert done.code == 0, done.describe()
    write_timing("up with the smoke check instead of the Service's settle (real node)", done.seconds)
    yield bench
    ok(bench.pulumi("destroy", "--yes", "--stack", STACK, timeout=600))
    ok(bench.pulumi("stack", "rm", "--yes", STACK))


def broken_up(bench: Workbench, plant: Plant, case: str) -> str:
    """Run `up` with one edit in the scratch project's code; return what `up` said. The code is put back and a
    good `up` follows, whatever happened."""
    done: Done | None = None
    try:
        with code_edited(bench, plant):
            done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=600)
    finally:
        repaired = bench.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=600)
        broken = done.describe()[-6000:] if done is not None else "(none)"
        assert repaired.code == 0, f"the broken release's up:\n{broken}\n\nthe repair:\n{repaired.describe()}"
    write_timing(f"{case}: up fails after", done.seconds)
    assert done.code != 0, done.describe()
    assert done.seconds < BOUND, f"{case}: up took {done.seconds:.0f} s to fail"
    said = done.stdout + done.stderr
    assert "Traceback" not in said and "unhandled exception" not in said, said[-4000:]
    return said


def test_a_service_whose_selector_matches_no_pod(deployed: Workbench) -> None:
    output = broken_up(deployed, plants.SELECTOR_MATCHES_NO_POD, "a Service whose selector matches no pod")
    assert "smoke check: http://web.fast.svc/healthz did not answer" in output, output[-3000:]
    assert "its selector matches no ready web pod" in output, output[-3000:]


def test_a_target_port_nginx_does_not_listen_on(deployed: Workbench) -> None:
    output = broken_up(deployed, plants.WRONG_TARGET_PORT, "a target port nginx does not listen on")
    assert "smoke check: http://web.fast.svc/healthz did not answer" in output, output[-3000:]
    assert "its targetPort is not the port nginx listens on (8080)" in output, output[-3000:]


def test_pods_that_never_turn_ready(deployed: Workbench) -> None:
    output = broken_up(deployed, plants.NEVER_READY, "pods that never turn Ready")
    # The Deployment's await names the unready containers. When a stale read ends that await early (the provider
    # can take the Deployment as it was before the update for the rolled-out one), the smoke check still refuses
    # the release: only pods of the earlier release answer.
    awaited = bool(re.search(r"containers with unready status: \[web\]", output)) and (
        "Minimum number of Pods to consider the application live was not attained" in output
    )
    refused = "answered only from pods of another release" in output and "the new pods never turned Ready" in output
    assert awaited or refused, output[-3000:]
    # The running release was never replaced (maxUnavailable 0): its pods still answer.
    assert http_get(service_url(deployed, NAMESPACE) + "/healthz")[0] == 200
