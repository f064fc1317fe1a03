"""The canary's judge without a cluster: what it reads from the controller's counters, how it judges a step, which
failing requests it quotes, and the order in which it moves the route and the canary (a recording fake cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from components.canary import (
    ABORTED,
    FIRST,
    PROMOTED,
    UNCHANGED,
    judge,
    promote,
    unless_aborted,
)
from components.canary_cluster import WEIGHT_SETTLE_SECONDS, CanaryError
from components.canary_judge import Bounds, Traffic, failing_requests, judge_step, traffic_of, weights

NAMESPACE = "shop"


def exposition(stable: tuple[int, int, float], canary: tuple[int, int, float]) -> str:
    """Traefik's metrics for the two backends of the route: (2xx count, 5xx count, seconds summed) each."""
    lines = [
        "# HELP traefik_service_requests_total How many HTTP requests processed on a service, partitioned by status "
        "code, protocol, and method.",
        "# TYPE traefik_service_requests_total counter",
    ]
    durations = ["# TYPE traefik_service_request_duration_seconds histogram"]
    route = f"httproute-{NAMESPACE}-web-gw-{NAMESPACE}-web-ep-web-0-7c76f41cde2c55cc9ab6"
    for index, (service, (ok, failed, seconds)) in enumerate((("web", stable), ("web-canary", canary))):
        label = f'service="{route}-svc-{NAMESPACE}-{service}-{index}@kubernetesgateway"'
        lines.append(f'traefik_service_requests_total{{code="200",method="GET",protocol="http",{label}}} {ok}')
        lines.append(f'traefik_service_requests_total{{code="500",method="GET",protocol="http",{label}}} {failed}')
        for code, count in (("200", ok), ("500", failed)):
            common = f'code="{code}",method="GET",protocol="http",{label}'
            durations.append(f'traefik_service_request_duration_seconds_bucket{{{common},le="+Inf"}} {count}')
            share = seconds * count / (ok + failed) if ok + failed else 0
            durations.append(f"traefik_service_request_duration_seconds_sum{{{common}}} {share}")
            durations.append(f"traefik_service_request_duration_seconds_count{{{common}}} {count}")
    other = 'service="kube-system-metrics-http-80@kubernetesgateway"'
    lines.append(f'traefik_service_requests_total{{code="500",method="GET",protocol="http",{other}}} 99')
    return "\n".join([*lines, *durations, ""])


def test_the_counters_are_the_canary_backends_alone() -> None:
    # "shop-web-" is a prefix of the canary's label: the stable backend's counts must not swallow the canary's.
    stable = traffic_of(exposition((90, 0, 1.8), (8, 2, 0.5)), NAMESPACE, "web")
    canary = traffic_of(exposition((90, 0, 1.8), (8, 2, 0.5)), NAMESPACE, "web-canary")
    assert (stable.requests, stable.errors) == (90, 0)
    assert (canary.requests, canary.errors, canary.timed) == (10, 2, 10)
    assert canary.error_percent == pytest.approx(20.0)
    assert canary.mean_ms == pytest.approx(50.0)


def test_the_labels_of_earlier_traefik_releases_are_read_too() -> None:
    older = exposition((90, 0, 1.8), (8, 2, 0.5)).replace(
        f"httproute-{NAMESPACE}-web-gw-{NAMESPACE}-web-ep-web-0-7c76f41cde2c55cc9ab6-svc-{NAMESPACE}-web-canary-1",
        f"{NAMESPACE}-web-canary-http-80",
    )
    assert traffic_of(older, NAMESPACE, "web-canary").requests == 10


def test_a_step_is_judged_on_what_the_window_added() -> None:
    before = traffic_of(exposition((0, 0, 0), (100, 50, 5.0)), NAMESPACE, "web-canary")
    after = traffic_of(exposition((0, 0, 0), (200, 50, 6.0)), NAMESPACE, "web-canary")
    seen = after.since(before)
    assert (seen.requests, seen.errors) == (100, 0)
    assert seen.mean_ms == pytest.approx(10.0)


BOUNDS = Bounds(max_error_percent=1, max_latency_ms=300)


def test_a_step_within_its_bounds_passes_and_says_what_it_measured() -> None:
    verdict = judge_step(2, 50, 30, Traffic(requests=400, errors=2, seconds=20.0, timed=400), BOUNDS)
    assert verdict.passed
    assert verdict.reason == (
        "step 2 (50% of the traffic, 30s): passed: 0.5% of 400 requests failed (bound 1%), mean 50 ms (bound 300 ms)"
    )


def test_an_error_rate_above_its_bound_fails_the_step_naming_rate_and_bound() -> None:
    verdict = judge_step(1, 10, 30, Traffic(requests=40, errors=8, seconds=0.4, timed=40), BOUNDS)
    assert not verdict.passed
    assert "step 1 (10% of the traffic, 30s): error rate too high: 20.0% of 40 requests failed (bound 1%)" in (
        verdict.reason
    )


def test_a_slow_release_fails_the_step_naming_its_latency_and_bound() -> None:
    verdict = judge_step(1, 10, 30, Traffic(requests=40, errors=0, seconds=48.0, timed=40), BOUNDS)
    assert not verdict.passed
    assert "too slow" in verdict.reason and "mean 1200 ms (bound 300 ms)" in verdict.reason


def test_a_step_without_traffic_enough_is_not_a_pass() -> None:
    verdict = judge_step(1, 10, 30, Traffic(requests=2, seconds=0.02, timed=2), BOUNDS)
    assert not verdict.passed
    assert "the canary got 2 requests, fewer than the 5 a verdict needs" in verdict.reason


def test_a_release_so_slow_that_few_requests_finish_is_judged_slow() -> None:
    verdict = judge_step(1, 10, 30, Traffic(requests=3, seconds=9.0, timed=3), BOUNDS)
    assert not verdict.passed and "too slow" in verdict.reason and "mean 3000 ms" in verdict.reason


def test_the_failing_requests_quoted_are_the_canary_logs_errors_and_slow_ones() -> None:
    log = [
        '{"method":"GET","uri":"/","status":200,"request_time":0.002}',
        "nginx: a line that is not JSON",
        '{"method":"GET","uri":"/info","status":500,"request_time":0.001}',
        '{"method":"GET","uri":"/big","status":200,"request_time":0.950}',
    ]
    assert failing_requests(log, max_latency_ms=300) == ["GET /info -> 500 in 1 ms", "GET /big -> 200 in 950 ms"]
    assert len(failing_requests(log * 10, max_latency_ms=300)) == 5


class FakeCluster:
    """Records what the judge does to the route and the canary; serves counters from a script of step results."""

    def __init__(self, running: str | None, per_step: list[tuple[int, int, float]], fail_start: bool = False) -> None:
        self.running, self.per_step, self.fail_start = running, per_step, fail_start
        self.calls: list[str] = []
        self.left: list[str] = []
        self.totals = Traffic()
        self.reads = 0

    def running_release(self, props: dict[str, Any]) -> str | None:
        return self.running

    def start_canary(self, props: dict[str, Any], **_: Any) -> None:
        if self.fail_start:
            raise CanaryError("the canary Deployment web-canary had 0 of 2 pods available after 60s")
        self.calls.append("canary up")

    def set_weights(self, props: dict[str, Any], percent: int) -> None:
        self.calls.append(f"weights {weights(percent)}")

    def restore(self, props: dict[str, Any]) -> None:
        self.calls.append("restore")

    def await_release_alone(self, props: dict[str, Any], **_: Any) -> list[str]:
        self.calls.append("old pods gone")
        return self.left

    def retire_canary(self, props: dict[str, Any]) -> None:
        self.calls.append("canary down")

    def metrics(self, props: dict[str, Any]) -> str:
        # Each step reads twice: before its window (as things stand) and after (with the step's traffic added).
        if self.reads % 2 == 1:
            ok, failed, seconds = self.per_step[self.reads // 2]
            self.totals = Traffic(
                self.totals.requests + ok + failed, self.totals.errors + failed, self.totals.seconds + seconds, 0
            )
        self.reads += 1
        ok_total = int(self.totals.requests - self.totals.errors)
        return exposition((0, 0, 0), (ok_total, int(self.totals.errors), self.totals.seconds))

    def canary_log(self, props: dict[str, Any], seconds: int) -> list[str]:
        return ['{"method":"GET","uri":"/info","status":500,"request_time":0.001}']


PROPS = {"release": "new", "steps": [10, 50, 100], "window": 30, "maxErrorRate": 1, "maxLatencyMs": 300,
         "namespace": NAMESPACE, "canary": "web-canary", "route": "web"}  # fmt: skip


def run_judge(cluster: FakeCluster) -> tuple[str, str]:
    return judge(cluster, PROPS, sleep=lambda _: None, clock=lambda: 0.0)  # type: ignore[arg-type]


def test_a_good_release_goes_through_every_step_and_stays_at_the_last() -> None:
    cluster = FakeCluster("old", [(50, 0, 0.5), (250, 0, 2.5), (500, 0, 5.0)])
    verdict, report = run_judge(cluster)
    assert verdict == PROMOTED, report
    assert cluster.calls == ["canary up", "weights (90, 10)", "weights (50, 50)", "weights (0, 100)"]
    assert report.count("passed") == 3


def test_a_failing_step_returns_all_traffic_to_the_stable_release_and_says_why() -> None:
    cluster = FakeCluster("old", [(40, 10, 0.5)])
    verdict, report = run_judge(cluster)
    assert verdict == ABORTED
    assert cluster.calls == ["canary up", "weights (90, 10)", "weights (100, 0)", "canary down"]
    assert "step 1 (10% of the traffic, 30s): error rate too high: 20.0% of 50 requests failed (bound 1%)" in report
    assert "failing requests: GET /info -> 500 in 1 ms" in report
    assert "all traffic is back on the running release" in report


def test_a_canary_that_never_starts_is_an_abort_with_the_traffic_restored() -> None:
    cluster = FakeCluster("old", [], fail_start=True)
    verdict, report = run_judge(cluster)
    assert verdict == ABORTED and cluster.calls == ["restore"]
    assert "the canary could not be judged: the canary Deployment web-canary had 0 of 2 pods available" in report


@pytest.mark.parametrize(("running", "expected"), [(None, FIRST), ("new", UNCHANGED)])
def test_nothing_is_judged_without_a_running_release_or_a_new_one(running: str | None, expected: str) -> None:
    cluster = FakeCluster(running, [])
    assert run_judge(cluster)[0] == expected
    assert cluster.calls == []


def test_a_promotion_moves_the_traffic_back_only_once_the_old_pods_are_gone_and_the_controller_settled() -> None:
    cluster = FakeCluster("old", [])
    verdict, report = promote(cluster, PROPS, sleep=lambda s: cluster.calls.append(f"sleep {s}"), clock=lambda: 0.0)  # type: ignore[arg-type]
    assert verdict == PROMOTED and report == "all traffic on the stable release; the canary at 0 replicas"
    assert cluster.calls == ["old pods gone", f"sleep {WEIGHT_SETTLE_SECONDS}", "restore"]
    # A pod that never goes is named; the traffic moves back all the same.
    cluster = FakeCluster("old", [])
    cluster.left = ["web-5d8f-abcde"]
    verdict, report = promote(cluster, {**PROPS, "stable": "web", "timeoutSeconds": 600}, sleep=lambda _: None,  # type: ignore[arg-type]
                              clock=lambda: 0.0)  # fmt: skip
    assert verdict == PROMOTED and cluster.calls[-1] == "restore"
    assert "pods of an earlier release still behind web after 600s: web-5d8f-abcde" in report


def test_an_aborted_verdict_ends_the_update_cleanly_and_any_other_lets_the_image_through() -> None:
    import pulumi

    with pytest.raises(pulumi.RunError, match="the canary release was aborted; the running release keeps serving"):
        unless_aborted([ABORTED, "step 1 ...", "registry/web@sha256:1"])
    for verdict in (PROMOTED, UNCHANGED, FIRST, None):
        assert unless_aborted([verdict, "", "registry/web@sha256:1"]) == "registry/web@sha256:1"
