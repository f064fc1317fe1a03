"""The canary's verdict: what the controller counted for each backend, and whether a step's share passes.

Pure functions over text (the controller's Prometheus exposition, the canary pods' access log) and numbers, so
they test without a cluster. The controller is Traefik v3: per backend service it counts requests by status
code (`traefik_service_requests_total`) and times them (`traefik_service_request_duration_seconds`); its
Gateway API provider names each backend of a route by the route, its gateway and the Service (backend_label).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "traefik_service_requests"
"""The counter family (the parser drops the sample's `_total`)."""
DURATION = "traefik_service_request_duration_seconds"
"""The histogram family: its `_sum` and `_count` give the mean."""
MIN_REQUESTS = 5
"""A step judged on fewer of the canary's requests than this is not judged: it fails, saying so."""
SAMPLE_LINES = 5
"""How many failing requests a verdict quotes."""


@dataclass(frozen=True)
class Traffic:
    """A backend's counters at one moment (they only grow; a step looks at the difference)."""

    requests: float = 0.0
    errors: float = 0.0
    """Requests answered 5xx."""
    seconds: float = 0.0
    """The time all its requests took, summed."""
    timed: float = 0.0
    """How many requests the duration histogram counted."""

    def since(self, earlier: Traffic) -> Traffic:
        return Traffic(
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            self.seconds - earlier.seconds,
            self.timed - earlier.timed,
        )

    @property
    def error_percent(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0

    @property
    def mean_ms(self) -> float:
        return 1000.0 * self.seconds / self.timed if self.timed else 0.0


def backend_label(namespace: str, service: str) -> re.Pattern[str]:
    """The `service` label Traefik's Gateway API provider gives a Service backend of a route in `namespace`:
    `httproute-<route's namespace and name>-gw-<gateway>-ep-<entry point>-<rule>-<hash>-svc-<namespace>-<service>-
    <backend's index>@kubernetesgateway` (Traefik 3.7), or `<namespace>-<service>-http-<port>@...` (earlier)."""
    name = f"{re.escape(namespace)}-{re.escape(service)}"
    return re.compile(rf"(httproute-.*-svc-{name}-[0-9]+|{name}-http(-[0-9]+)?)@kubernetesgateway")


def traffic_of(exposition: str, namespace: str, service: str) -> Traffic:
    """The counters of one Service backend, summed over its label sets (methods, codes, protocols)."""
    label = backend_label(namespace, service)
    requests = errors = seconds = timed = 0.0
    for family in text_string_to_metric_families(exposition):
        if family.name not in (REQUESTS, DURATION):
            continue
        for sample in family.samples:
            if not label.fullmatch(sample.labels.get("service", "")):
                continue
            if sample.name == f"{REQUESTS}_total":
                requests += sample.value
                if sample.labels.get("code", "").startswith("5"):
                    errors += sample.value
            elif sample.name == f"{DURATION}_sum":
                seconds += sample.value
            elif sample.name == f"{DURATION}_count":
                timed += sample.value
    return Traffic(requests, errors, seconds, timed)


def services_counted(exposition: str) -> list[str]:
    """The backends the controller has counted requests for (their `service` labels): what to compare the canary's
    against when none of its requests were counted."""
    return sorted(
        {
            sample.labels.get("service", "")
            for family in text_string_to_metric_families(exposition)
            if family.name == REQUESTS
            for sample in family.samples
        }
    )


@dataclass(frozen=True)
class Bounds:
    """What a step may show and still pass."""

    max_error_percent: int
    max_latency_ms: int
    min_requests: int = MIN_REQUESTS


@dataclass(frozen=True)
class StepVerdict:
    passed: bool
    reason: str
    """What was measured against which bound, for the update's output and, on failure, its error."""


def judge_step(step: int, weight: int, window: int, seen: Traffic, bounds: Bounds) -> StepVerdict:
    """Step `step` (1-based) at `weight`% over `window` seconds passes when the canary had traffic enough to judge,
    its share of 5xx answers is within the bound, and so is its mean response time."""
    where = f"step {step} ({weight}% of the traffic, {window}s)"
    measured = (
        f"{seen.error_percent:.1f}% of {seen.requests:.0f} requests failed (bound {bounds.max_error_percent}%), "
        f"mean {seen.mean_ms:.0f} ms (bound {bounds.max_latency_ms} ms)"
    )
    # What was counted is judged first: a slow release also gets fewer requests done in the window.
    if seen.error_percent > bounds.max_error_percent:
        return StepVerdict(False, f"{where}: error rate too high: {measured}")
    if seen.mean_ms > bounds.max_latency_ms:
        return StepVerdict(False, f"{where}: too slow: {measured}")
    if seen.requests < bounds.min_requests:
        return StepVerdict(
            False,
            f"{where}: the canary got {seen.requests:.0f} requests, fewer than the {bounds.min_requests} a verdict "
            "needs; a canary is judged on real traffic to kubeport:host",
        )
    return StepVerdict(True, f"{where}: passed: {measured}")


def weights(canary_percent: int) -> tuple[int, int]:
    """(stable, canary) backend weights for a step."""
    return 100 - canary_percent, canary_percent


def failing_requests(log_lines: Iterable[str], max_latency_ms: int, limit: int = SAMPLE_LINES) -> list[str]:
    """Up to `limit` of the canary's own access-log lines (nginx's JSON log) that failed or were too slow, each as
    `GET /path -> 500 in 12 ms`."""
    sample: list[str] = []
    for line in log_lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or "status" not in entry:
            continue
        status, took_ms = int(entry["status"]), float(entry.get("request_time", 0)) * 1000
        if status >= 500 or took_ms > max_latency_ms:
            sample.append(f"{entry.get('method', '?')} {entry.get('uri', '?')} -> {status} in {took_ms:.0f} ms")
            if len(sample) >= limit:
                break
    return sample
