"""CanaryRelease: a release judged on a share of the host's real traffic before it takes all of it.

The WebApp declares, beside its (stable) Deployment and Service, a canary Deployment at zero replicas with the new
pod template, a canary Service, and one HTTPRoute whose two backends are the stable Service (weight 100) and the
canary one (weight 0). Two steps of this module run during `pulumi up`, in Pulumi's dynamic-provider process on the
machine that runs the update, as the Kubernetes provider's own awaits do:

- `judge`, before the stable Deployment changes: when the running release differs from the new one, it scales the
  canary to the stable replica count, moves the route's weights through the steps, and judges each step's window
  on the controller's own counters for the canary backend. A failed step puts every request back on the stable
  backend and scales the canary to zero at once; the stable Deployment is then never updated.
- `promote`, after the stable Deployment rolled out the release (and its smoke check passed): once no pod of another
  release is left behind the stable backend (the rollout's old pods drain after the Deployment counts as rolled
  out) and the controller was given time to drop their endpoints, all traffic back on the stable backend, then the
  canary at zero replicas, as Flagger leaves a promoted canary. So when `up` ends, only the new release answers.

Its verdict is an output; WebApp fails the update on an aborted one with a `pulumi.RunError` that names the step,
the measured rate against its bound and a sample of the failing requests (a dynamic provider's own exceptions
reach the user as Python tracebacks). An aborted verdict makes the next run judge again, so `preview` shows the
retry of the release and nothing else. The Kubernetes client and the judge's parsers are imported inside the
provider's methods: the program itself never loads them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi.dynamic

from components.canary_cluster import WEIGHT_SETTLE_SECONDS, CanaryError, KubeCluster
from components.options import Canary

Phase = Literal["judge", "promote"]
PROMOTED, UNCHANGED, FIRST, ABORTED = "promoted", "unchanged", "first release", "aborted"
"""Verdicts. Only ABORTED fails the update."""


@dataclass(frozen=True)
class CanaryObjects:
    """The names a canary release works on, all in one namespace."""

    namespace: pulumi.Input[str]
    stable: str
    """The stable Deployment (and Service: the route's first backend)."""
    canary: str
    """The canary Deployment (and Service: the route's second backend)."""
    route: str
    """The HTTPRoute whose weights split the host's traffic."""
    canary_selector: Mapping[str, str]
    """The canary pods' labels, for their logs."""


@dataclass(frozen=True)
class CanaryReleaseArgs:
    """Inputs of CanaryRelease."""

    phase: Phase
    objects: CanaryObjects
    release: pulumi.Input[str]
    """The release this update rolls out (the stable pod template's RELEASE_ANNOTATION)."""
    canary: Canary
    """Steps, window and bounds."""
    metrics: str
    """The controller's Prometheus metrics: `namespace/service:port`, read through the API server's service proxy,
    or a URL."""
    timeout_seconds: int
    """How long the canary pods may take to become Ready."""
    kube_context: str = ""
    kubeconfig: pulumi.Input[str] | None = None
    """Secret; where the target builds a kubeconfig instead of naming a context."""


class CanaryRelease(pulumi.dynamic.Resource):
    """One phase of a canary release (see the module's docstring); `verdict` and `report` say what it did."""

    verdict: pulumi.Output[str]
    """promoted | unchanged | first release | aborted."""
    report: pulumi.Output[str]
    """What each step measured against its bounds; on an abort, a sample of the failing requests too."""

    def __init__(self, name: str, args: CanaryReleaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "phase": args.phase,
            "namespace": args.objects.namespace,
            "stable": args.objects.stable,
            "canary": args.objects.canary,
            "route": args.objects.route,
            "canarySelector": dict(args.objects.canary_selector),
            "release": args.release,
            "steps": list(args.canary.steps),
            "window": args.canary.window,
            "maxErrorRate": args.canary.max_error_rate,
            "maxLatencyMs": args.canary.max_latency_ms,
            "metrics": args.metrics,
            "timeoutSeconds": args.timeout_seconds,
            "kubeContext": args.kube_context,
            "kubeconfig": pulumi.Output.secret(args.kubeconfig) if args.kubeconfig is not None else "",
            "verdict": None,
            "report": None,
        }
        super().__init__(CanaryProvider(), name, props, opts)


class CanaryProvider(pulumi.dynamic.ResourceProvider):
    """Runs a phase on create and update; changes nothing on delete (the WebApp's own objects go with the stack)."""

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in news if key not in ("verdict", "report", "kubeconfig") and olds.get(key) != news[key]]
        # An aborted release is judged again on the next run, whatever else changed.
        retry = olds.get("verdict") == ABORTED
        return pulumi.dynamic.DiffResult(changes=bool(changed) or retry, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=f"{props['namespace']}/{props['canary']}", outs=run_phase(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=run_phase(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


def unless_aborted(values: list[Any]) -> str:
    """The image, once the canary's judge let it through; an aborted release ends the update here, cleanly."""
    verdict, report, image = values
    if verdict == ABORTED:
        raise pulumi.RunError(f"the canary release was aborted; the running release keeps serving:\n{report}")
    return str(image)


def promoted_or_fail(values: list[Any]) -> str:
    """The promotion's verdict; one that could not put the traffic back ends the update, naming what to do."""
    verdict, report = values
    if verdict == ABORTED:
        raise pulumi.RunError(f"the release rolled out, but its canary's promotion failed:\n{report}")
    return str(verdict)


def run_phase(props: dict[str, Any]) -> dict[str, Any]:
    """The phase's outputs: the inputs (without the kubeconfig), the verdict and the report."""
    try:
        cluster = KubeCluster.connect(props)
        if props["phase"] == "promote":
            verdict, report = promote(cluster, props, sleep=time.sleep, clock=time.monotonic)
        else:
            verdict, report = judge(cluster, props, sleep=time.sleep, clock=time.monotonic)
    except CanaryError as err:
        verdict, report = ABORTED, f"the canary's {props['phase']} step failed: {err}"
    outs = {key: value for key, value in props.items() if key != "kubeconfig"}
    return outs | {"verdict": verdict, "report": report}


def promote(
    cluster: KubeCluster, props: Mapping[str, Any], *, sleep: Callable[[float], None], clock: Callable[[], float]
) -> tuple[str, str]:
    """The stable backend takes all traffic back only once its pods are the release's alone (bounded by the
    timeout: a pod that never goes is named, and the traffic moves anyway), after the controller's settle time; then
    the canary retires; (verdict, report)."""
    left = cluster.await_release_alone(props, sleep=sleep, clock=clock)
    sleep(WEIGHT_SETTLE_SECONDS)
    cluster.restore(props)
    lines = ["all traffic on the stable release; the canary at 0 replicas"]
    if left:
        lines.append(f"pods of an earlier release still behind {props['stable']} after {props['timeoutSeconds']}s: "
                     f"{', '.join(left)}")  # fmt: skip
    return PROMOTED, "\n".join(lines)


def judge(
    cluster: KubeCluster, props: Mapping[str, Any], *, sleep: Callable[[float], None], clock: Callable[[], float]
) -> tuple[str, str]:
    """Runs the canary through its steps; (verdict, report). Every path that does not promote restores the stable
    release's traffic before it returns."""
    from components.canary_judge import Bounds, judge_step, services_counted, traffic_of  # noqa: PLC0415

    release = props["release"]
    running = cluster.running_release(props)
    if running is None:
        return FIRST, "no release ran yet: nothing to judge against"
    if running == release:
        return UNCHANGED, f"release {release} already runs"
    bounds = Bounds(max_error_percent=int(props["maxErrorRate"]), max_latency_ms=int(props["maxLatencyMs"]))
    window = int(props["window"])
    steps = [int(step) for step in props["steps"]]  # numbers reach a dynamic provider as floats
    lines = [f"release {release} beside the running {running}"]
    try:
        cluster.start_canary(props, sleep=sleep, clock=clock)
        for number, weight in enumerate(steps, start=1):
            cluster.set_weights(props, weight)
            sleep(WEIGHT_SETTLE_SECONDS)
            before = traffic_of(cluster.metrics(props), props["namespace"], props["canary"])
            sleep(window)
            exposition = cluster.metrics(props)
            seen = traffic_of(exposition, props["namespace"], props["canary"]).since(before)
            verdict = judge_step(number, weight, window, seen, bounds)
            lines.append(verdict.reason)
            if seen.requests == 0:
                lines.append(
                    f"the controller counted requests for: {', '.join(services_counted(exposition)) or 'none'}"
                )
            if not verdict.passed:
                return ABORTED, "\n".join(lines + _stop_failed_step(cluster, props, window, bounds.max_latency_ms))
    except CanaryError as err:
        return ABORTED, "\n".join([*lines, f"the canary could not be judged: {err}", _restored(cluster, props)])
    return PROMOTED, "\n".join(lines)


def _stop_failed_step(cluster: KubeCluster, props: Mapping[str, Any], window: int, max_latency_ms: int) -> list[str]:
    """After a failed step: traffic back first, then the canary pods' failing requests read before they go, then
    the canary at 0 replicas; the report's lines."""
    from components.canary_judge import failing_requests  # noqa: PLC0415

    cluster.set_weights(props, 0)
    sample = failing_requests(cluster.canary_log(props, window + WEIGHT_SETTLE_SECONDS), max_latency_ms)
    cluster.retire_canary(props)
    lines = ["all traffic is back on the running release; the canary is at 0 replicas"]
    return lines + (["failing requests: " + "; ".join(sample)] if sample else [])


def _restored(cluster: KubeCluster, props: Mapping[str, Any]) -> str:
    """The stable release's traffic restored after an error, or what to do by hand when that fails too."""
    try:
        cluster.restore(props)
    except CanaryError as again:
        return (
            f"and the stable release's traffic could not be restored: {again}; check HTTPRoute {props['route']}'s "
            f"weights and scale Deployment {props['canary']} to 0 by hand"
        )
    return "all traffic is back on the running release; the canary is at 0 replicas"
