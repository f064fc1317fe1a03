"""CanaryRelease: a release judged on a share of the host's real traffic before it takes all of it.

The WebApp declares, beside its (stable) Deployment and Service, a canary Deployment at zero replicas with the new
pod template, a canary Service, and one HTTPRoute whose two backends are the stable Service (weight 100) and the
canary one (weight 0). Two steps of this module run during `pulumi up`, in Pulumi's dynamic-provider process on the
machine that runs the update, as the Kubernetes provider's own awaits do:

- `judge`, before the stable Deployment changes: when the running release differs from the new one, it scales the
  canary to the stable replica count, moves the route's weights through the steps, and judges each step's window
  on the controller's own counters for the canary backend. A failed step puts every request back on the stable
  backend and scales the canary to zero at once; the stable Deployment is then never updated.
- `promote`, after the stable Deployment rolled out the release (and its smoke check passed): all traffic back on
  the stable backend, the canary at zero replicas, as Flagger leaves a promoted canary.

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

from components.options import Canary

Phase = Literal["judge", "promote"]
PROMOTED, UNCHANGED, FIRST, ABORTED = "promoted", "unchanged", "first release", "aborted"
"""Verdicts. Only ABORTED fails the update."""
ROUTE_API = ("gateway.networking.k8s.io", "v1", "httproutes")
WEIGHT_SETTLE_SECONDS = 3
"""How long the controller is given to apply new weights before a window's counters are read (Traefik applies a
changed route within its 2 s provider throttle)."""
POLL_SECONDS = 1.0
FIELD_MANAGER = "kubeport-canary"
"""Who the API server records for the weights and the canary's replica count the judge sets."""


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
            cluster.restore(props)
            verdict, report = PROMOTED, "all traffic on the stable release; the canary at 0 replicas"
        else:
            verdict, report = judge(cluster, props, sleep=time.sleep, clock=time.monotonic)
    except CanaryError as err:
        verdict, report = ABORTED, f"the canary's {props['phase']} step failed: {err}"
    outs = {key: value for key, value in props.items() if key != "kubeconfig"}
    return outs | {"verdict": verdict, "report": report}


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


class CanaryError(Exception):
    """The cluster did not do what a step needs (the canary never Ready, the route not the one declared, the metrics
    unreadable); the message says which."""


class KubeCluster:
    """The few Kubernetes API calls a canary makes, through the official client."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client  # noqa: PLC0415

        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    @classmethod
    def connect(cls, props: Mapping[str, Any]) -> KubeCluster:
        import yaml  # noqa: PLC0415
        from kubernetes import config  # noqa: PLC0415

        try:
            if props.get("kubeconfig"):
                return cls(config.new_client_from_config_dict(yaml.safe_load(props["kubeconfig"])))  # type: ignore[no-untyped-call]
            return cls(config.new_client_from_config(context=props["kubeContext"] or None))  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError, yaml.YAMLError) as err:
            raise CanaryError(f"no access to the cluster: {err}") from None

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415
        from urllib3.exceptions import HTTPError  # noqa: PLC0415

        try:
            return call()
        except ApiException as err:
            raise CanaryError(f"{what}: the API server answered {err.status} {err.reason}") from None
        except (HTTPError, OSError) as err:
            raise CanaryError(f"{what}: {err}") from None

    def running_release(self, props: Mapping[str, Any]) -> str | None:
        """The release the stable Deployment runs, or None when it does not exist yet."""
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        try:
            deployment = self.apps.read_namespaced_deployment(props["stable"], props["namespace"])
        except ApiException as err:
            if err.status == 404:
                return None
            raise CanaryError(f"reading Deployment {props['stable']}: {err.status} {err.reason}") from None
        metadata = deployment.spec.template.metadata if deployment.spec else None
        return str(((metadata.annotations if metadata else None) or {}).get("kubeport.dev/release", ""))

    def start_canary(
        self, props: Mapping[str, Any], *, sleep: Callable[[float], None], clock: Callable[[], float]
    ) -> None:
        """The canary Deployment at the stable one's replica count, back when all its pods are Ready."""
        namespace, name = props["namespace"], props["canary"]
        stable = self._call("reading the stable Deployment", lambda: self.apps.read_namespaced_deployment_scale(
            props["stable"], namespace))  # fmt: skip
        replicas = max(1, int(stable.spec.replicas or 1))
        self._scale(props, replicas)
        deadline = clock() + int(props["timeoutSeconds"])
        while True:
            status = self._call("reading the canary", lambda: self.apps.read_namespaced_deployment_status(
                name, namespace)).status  # fmt: skip
            if (status.updated_replicas or 0) >= replicas and (status.available_replicas or 0) >= replicas:
                return
            if clock() >= deadline:
                raise CanaryError(
                    f"the canary Deployment {name} had {status.available_replicas or 0} of {replicas} pods available "
                    f"after {props['timeoutSeconds']}s (`kubectl -n {namespace} describe deployment {name}`)"
                )
            sleep(POLL_SECONDS)

    def _scale(self, props: Mapping[str, Any], replicas: int) -> None:
        self._call(f"scaling the canary to {replicas}", lambda: self.apps.patch_namespaced_deployment_scale(
            props["canary"], props["namespace"], {"spec": {"replicas": replicas}}, field_manager=FIELD_MANAGER,
            _content_type="application/merge-patch+json"))  # fmt: skip

    def set_weights(self, props: Mapping[str, Any], canary_percent: int) -> None:
        """The route's weights for a step, after checking that its backends are the ones kubeport declared."""
        from components.canary_judge import weights  # noqa: PLC0415

        group, version, plural = ROUTE_API
        stable_weight, canary_weight = weights(int(canary_percent))
        rule = "/spec/rules/0/backendRefs"
        patch = [
            {"op": "test", "path": f"{rule}/0/name", "value": props["stable"]},
            {"op": "test", "path": f"{rule}/1/name", "value": props["canary"]},
            {"op": "replace", "path": f"{rule}/0/weight", "value": stable_weight},
            {"op": "replace", "path": f"{rule}/1/weight", "value": canary_weight},
        ]
        self._call(f"setting HTTPRoute {props['route']} to {canary_percent}% canary", lambda: (
            self.custom.patch_namespaced_custom_object(group, version, props["namespace"], plural, props["route"],
                                                       patch, field_manager=FIELD_MANAGER,
                                                       _content_type="application/json-patch+json")))  # fmt: skip

    def restore(self, props: Mapping[str, Any]) -> None:
        """All traffic on the stable backend, then the canary retired; the second is tried even when the first
        fails, and the first failure is raised."""
        failures: list[CanaryError] = []
        steps: list[Callable[[], None]] = [lambda: self.set_weights(props, 0), lambda: self.retire_canary(props)]
        for step in steps:
            try:
                step()
            except CanaryError as err:
                failures.append(err)
        if failures:
            raise failures[0]

    def retire_canary(self, props: Mapping[str, Any]) -> None:
        """The canary at zero replicas, once the controller applied weights that send it nothing: its pods go only
        when no request is sent to them."""
        time.sleep(WEIGHT_SETTLE_SECONDS)
        self._scale(props, 0)

    def metrics(self, props: Mapping[str, Any]) -> str:
        """The controller's Prometheus exposition: at its URL, or through the API server's service proxy."""
        if str(props["metrics"]).startswith(("http://", "https://")):
            return read_url(str(props["metrics"]))
        namespace, rest = str(props["metrics"]).split("/", 1)
        service, port = rest.split(":", 1)
        text = self._call(
            f"reading the controller's metrics ({props['metrics']})",
            lambda: self.core.connect_get_namespaced_service_proxy_with_path(f"{service}:{port}", namespace, "metrics"),
        )
        return str(text)

    def canary_log(self, props: Mapping[str, Any], seconds: int) -> list[str]:
        """The canary pods' access-log lines of the last `seconds` (best effort: the verdict stands without them)."""
        selector = ",".join(f"{key}={value}" for key, value in props["canarySelector"].items())
        lines: list[str] = []
        try:
            pods = self._call("listing the canary pods", lambda: self.core.list_namespaced_pod(
                props["namespace"], label_selector=selector)).items  # fmt: skip
            for name in [str(pod.metadata.name) for pod in pods if pod.metadata]:
                lines += self._pod_log(name, props["namespace"], seconds)
        except CanaryError:
            return lines
        return lines

    def _pod_log(self, name: str, namespace: str, seconds: int) -> list[str]:
        text = self._call(
            f"reading pod {name}'s log",
            lambda: self.core.read_namespaced_pod_log(name, namespace, since_seconds=seconds),
        )
        return str(text).splitlines()


def read_url(url: str) -> str:
    """GET `url` (no proxy from the environment, a bounded wait; https verified against the system's CAs)."""
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return str(response.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as err:
        raise CanaryError(f"reading the controller's metrics at {url}: {err}") from None
