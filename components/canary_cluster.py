"""The Kubernetes side of a canary release (components.canary): the few API calls its judge and promotion make,
through the official client, each failure a CanaryError that says which call and why. Imported by the dynamic
provider's phases when they run, never by the program itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

ROUTE_API = ("gateway.networking.k8s.io", "v1", "httproutes")
WEIGHT_SETTLE_SECONDS = 3
"""How long the controller is given to apply new weights before a window's counters are read (Traefik applies a
changed route within its 2 s provider throttle)."""
POLL_SECONDS = 1.0
FIELD_MANAGER = "kubeport-canary"
"""Who the API server records for the weights and the canary's replica count the judge sets."""


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

    def await_release_alone(
        self, props: Mapping[str, Any], *, sleep: Callable[[float], None], clock: Callable[[], float]
    ) -> list[str]:
        """Waits (bounded by the timeout) until every pod the stable Deployment selects runs `release` and none is
        terminating (an old pod drains while the Deployment already counts as rolled out); the pods still in the way
        at the deadline, by name (none: it happened)."""
        namespace = props["namespace"]
        deployment = self._call("reading the stable Deployment", lambda: self.apps.read_namespaced_deployment(
            props["stable"], namespace))  # fmt: skip
        labels = (deployment.spec.selector.match_labels or {}) if deployment.spec else {}
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        deadline = clock() + int(props["timeoutSeconds"])
        while True:
            pods = self._call("listing the stable pods", lambda: self.core.list_namespaced_pod(
                namespace, label_selector=selector)).items  # fmt: skip
            others = [str(pod.metadata.name) for pod in pods if pod.metadata and (
                pod.metadata.deletion_timestamp is not None
                or (pod.metadata.annotations or {}).get("kubeport.dev/release") != props["release"])]  # fmt: skip
            if not others or clock() >= deadline:
                return others
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
