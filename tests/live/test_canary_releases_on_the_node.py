"""Releases by canary, for real, on kubeport-node: Traefik splits the host's traffic by the HTTPRoute's weights, and
the judge reads Traefik's own counters through the API server's service proxy.

A copy of the local stack with `kubeport:releaseStrategy canary`, a host, the node's GatewayClass and Traefik's
metrics is deployed once (the first release: nothing to judge). Then, with a bounded request loop on the host
through Traefik on the node's address the whole time:
- a page change promotes through 20% and 100% with no failed request, and ends with every request on the stable
  Deployment, the canary at 0 pods and `preview` showing no change;
- a release whose /info answers 500 aborts at its first step: `up` fails naming the step, the rate against its bound
  and failing requests; the users' failed share stays within the step's weight; all traffic is back on the
  running release; the next `preview` shows only the retry of the release;
- a release that answers slowly aborts the same way, on latency.
The promotion, each abort (from the first failed request to the last) and the return to the stable release are
timed.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from tests.support.live import ok
from tests.support.plants import ANSWERS_SLOWLY, INFO_FAILS, Plant
from tests.support.realnode import NODE, change_the_page, code_edited, set_up_stack, write_report, write_timing
from tools.localcluster import nodeaddons, nodeconfig
from tools.localcluster.realrun import Workbench

pytestmark = pytest.mark.live

STACK = NAMESPACE = "canary"
NODE_PORT = "30044"
HOST = "canary.kubeport.test"
"""Under .test (RFC 2606): never a real host; the loop sends it as the Host header to the node's address."""
ADDRESS = nodeconfig.NODES[NODE].ip
STEPS, WINDOW, MAX_ERROR_RATE, MAX_LATENCY_MS = (20, 100), 10, 1, 300
FIRST_STEP = STEPS[0]


@dataclass
class Answer:
    at: float
    path: str
    status: int
    """0: no answer (refused, reset, timed out)."""
    release: str = ""
    seconds: float = 0.0


@dataclass
class HostLoop:
    """GETs of the page and /info, in turn, for the host on the node's address (Traefik's port 80), from `threads`
    users at once, each waiting `interval` seconds between its requests, until stopped or `limit` seconds pass;
    every answer is kept with the release /info named. Several users: one slow answer holds up only its own."""

    interval: float = 0.1
    limit: float = 600.0
    threads: int = 3
    answers: list[Answer] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline, count = time.monotonic() + self.limit, 0
        while not stop.is_set() and time.monotonic() < deadline:
            count += 1
            path = "/info" if count % 2 else "/"
            request = urllib.request.Request(f"http://{ADDRESS}{path}", headers={"Host": HOST})
            started = time.monotonic()
            try:
                with opener.open(request, timeout=3) as response:
                    status, body = int(response.status), response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as err:
                status, body = int(err.code), ""
            except OSError:
                status, body = 0, ""
            release = json.loads(body).get("release", "") if path == "/info" and status == 200 else ""
            self.answers.append(Answer(started, path, status, release, time.monotonic() - started))
            stop.wait(self.interval)

    def failed(self, since: float = 0.0) -> list[Answer]:
        """Answers users would call failed: none at all, or a server error (a 404 is an answer)."""
        return [a for a in self.answers if a.at >= since and (a.status == 0 or a.status >= 500)]


@contextmanager
def traffic() -> Iterator[HostLoop]:
    loop = HostLoop()
    stop = threading.Event()
    users = [threading.Thread(target=loop.run, args=(stop,), daemon=True) for _ in range(loop.threads)]
    for user in users:
        user.start()
    try:
        yield loop
    finally:
        stop.set()
        for user in users:
            user.join(timeout=30)
        loop.answers.sort(key=lambda answer: answer.at)


def route_weights(bench: Workbench) -> list[tuple[str, int]]:
    route = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "httproute", "web")
    (rule,) = route["spec"]["rules"]
    return [(b["name"], b["weight"]) for b in rule["backendRefs"]]


def canary_replicas(bench: Workbench) -> int:
    deployment = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "deployment", "web-canary")
    return int(deployment["spec"]["replicas"])


def serving_release(loop: HostLoop, since: float) -> set[str]:
    return {a.release for a in loop.answers if a.at >= since and a.release}


def stable_release(bench: Workbench) -> str:
    deployment = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "deployment", "web")
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["kubeport.dev/release"])


def at_rest(bench: Workbench) -> None:
    """What a canary leaves behind, promoted or aborted: every request routed to the stable backend, no canary pod."""
    assert route_weights(bench) == [("web", 100), ("web-canary", 0)]
    assert canary_replicas(bench) == 0


@pytest.fixture(scope="module")
def released(bench: Workbench) -> Iterator[None]:
    """The stack up by canary: its first release, with nothing running before it to judge against."""
    set_up_stack(
        bench, STACK, namespace=NAMESPACE, nodePort=NODE_PORT, host=HOST, releaseStrategy="canary",
        gatewayClass=nodeaddons.CLASS_NAME, controllerMetrics=nodeaddons.traefik_metrics_url(nodeconfig.NODES[NODE]),
        canarySteps=",".join(map(str, STEPS)), canaryWindow=str(WINDOW), canaryMaxErrorRate=str(MAX_ERROR_RATE),
        canaryMaxLatency=str(MAX_LATENCY_MS),
    )  # fmt: skip
    try:
        done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=900)
        assert done.code == 0, done.describe()
        yield
    finally:
        ok(bench.pulumi("destroy", "--yes", "--stack", STACK, timeout=600))
        ok(bench.pulumi("stack", "rm", "--yes", STACK))


def test_a_good_release_promotes_through_its_steps_with_no_failed_request(bench: Workbench, released: None) -> None:
    before = stable_release(bench)
    change_the_page(bench, "canary promoted")
    with traffic() as loop:
        started = time.monotonic()
        done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=900)
        promoted = time.monotonic() - started
        after_up = time.monotonic()
        time.sleep(3)
    assert done.code == 0, done.describe()
    write_timing("canary: a release promoted through 20% and 100% (build, steps, rollout)", promoted)
    after = stable_release(bench)
    assert after != before
    # The steps ran on real traffic: the judge's report is the judge resource's output, in the update's log.
    assert not loop.failed(), [(a.path, a.status) for a in loop.failed()[:10]]
    assert serving_release(loop, after_up) == {after}, "every answer after up comes from the stable release"
    assert {before, after} <= serving_release(loop, 0), "both releases answered during the steps"
    at_rest(bench)
    ok(bench.pulumi("preview", "--expect-no-changes", "--stack", STACK))


def aborted_release(bench: Workbench, plant: Plant, cause: str) -> tuple[HostLoop, str, float]:
    """`up` of the planted release under traffic: it must fail; (the loop, the update's output, when up returned)."""
    running = stable_release(bench)
    with code_edited(bench, plant), traffic() as loop:
        done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=900)
        returned = time.monotonic()
        time.sleep(5)
        retry = bench.pulumi("preview", "--json", "--stack", STACK, timeout=600)
    output = done.stdout + done.stderr
    assert done.code != 0, f"the {cause} release was promoted:\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    assert "the canary release was aborted; the running release keeps serving" in output, output[-3000:]
    assert f"step 1 ({FIRST_STEP}% of the traffic, {WINDOW}s)" in output, output[-3000:]
    assert "all traffic is back on the running release; the canary is at 0 replicas" in output
    at_rest(bench)
    assert stable_release(bench) == running, "the stable Deployment was never changed"
    assert serving_release(loop, returned) == {running}
    # The state describes what runs: the next preview retries the release and changes nothing else.
    steps = json.loads(ok(retry).stdout).get("steps", [])
    changed = {s["urn"].rsplit("::", 1)[-1] for s in steps if s.get("op") not in ("same", "read")}
    assert "web-canary-judge" in changed, changed
    assert changed <= {"web-canary-judge", "web-deployment", "web-smoke", "web-canary-promote"}, changed
    return loop, output, returned


def failed_share_and_abort_time(loop: HostLoop, failed: list[Answer]) -> tuple[float, float]:
    """The users' share of `failed` answers from the first to the last, and that span in seconds."""
    assert failed, "users saw no failed answer from a release that fails"
    first, last = failed[0].at, failed[-1].at
    seen = [a for a in loop.answers if first <= a.at <= last]
    return len(failed) / len(seen), last - first


def test_a_release_that_fails_on_some_paths_aborts_at_its_first_step(bench: Workbench, released: None) -> None:
    loop, output, _ = aborted_release(bench, INFO_FAILS, "failing")
    assert "error rate too high" in output and f"(bound {MAX_ERROR_RATE}%)" in output, output[-3000:]
    assert "failing requests: GET /info -> 500" in output, output[-3000:]
    share, span = failed_share_and_abort_time(loop, loop.failed())
    assert share <= FIRST_STEP / 100, f"{share:.1%} of the answers failed, above the first step's {FIRST_STEP}%"
    write_timing("canary abort on 500s: first failed request to all traffic on the stable release", span)
    write_report("canary abort on 500s", [f"failed share while it ran: {share:.1%}", *_verdict_lines(output)])


def test_a_release_that_answers_slowly_aborts_at_its_first_step(bench: Workbench, released: None) -> None:
    loop, output, _ = aborted_release(bench, ANSWERS_SLOWLY, "slow")
    assert "too slow" in output and f"(bound {MAX_LATENCY_MS} ms)" in output, output[-3000:]
    slow = [a for a in loop.answers if a.status == 0 or a.seconds * 1000 > MAX_LATENCY_MS]
    share, span = failed_share_and_abort_time(loop, slow)
    assert share <= FIRST_STEP / 100, f"{share:.1%} of the answers were slow, above the first step's {FIRST_STEP}%"
    write_timing("canary abort on latency: first slow answer to all traffic on the stable release", span)
    write_report("canary abort on latency", [f"slow share while it ran: {share:.1%}", *_verdict_lines(output)])


def _verdict_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if "step 1 (" in line or "failing requests" in line][:4]
