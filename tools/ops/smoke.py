"""The web app's smoke check after an `up` or a `migrate`: its page served, by the build the source served, at the
stack's url or, where this machine cannot reach one, through the cluster's API server."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tools import processes
from tools.ops.operations import OperationError

PAGE_MARKER = b"<title>kubeport</title>"
"""What the app's page carries (app/src/index.html): the smoke step checks the page itself, not just /healthz."""


SMOKE_ATTEMPTS = 30


SMOKE_INTERVAL = 10.0


Fetch = Callable[[str], tuple[int, bytes]]


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return int(err.code), b""


def image_identity(ref: str) -> tuple[str, str]:
    """`repo:tag@sha256:d` -> (`tag`, `sha256:d`): the content-hash tag and the digest (may be empty)."""
    name, _, digest = ref.partition("@")
    tail = name.rsplit("/", 1)[-1]
    tag = tail.rsplit(":", 1)[1] if ":" in tail else ""
    return tag, digest


@dataclass(frozen=True)
class SmokeResult:
    image: str
    same_digest: bool


def retried(attempt: Callable[[], SmokeResult | str], what: str, *, attempts: int, interval: float,
            sleep: Callable[[float], None]) -> SmokeResult:  # fmt: skip
    """Up to `attempts` tries of `attempt`, `interval` seconds apart: its result, or, once it never passed, the
    last reason it gave (a string) in the error."""
    last = "not checked"
    for tried in range(attempts):
        if tried:
            sleep(interval)
        outcome = attempt()
        if isinstance(outcome, SmokeResult):
            return outcome
        last = outcome
    raise OperationError(f"{what} did not pass the smoke check after {attempts} attempts: {last}")


def smoke_check(
    url: str,
    source_image: str,
    *,
    fetch: Fetch = http_get,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = SMOKE_ATTEMPTS,
    interval: float = SMOKE_INTERVAL,
) -> SmokeResult:
    """`/healthz` answers, the page is the app's, and `/info` reports the source's image: the same build
    (content-hash tag).

    Retries a bounded number of times: a new load balancer's address can take minutes to answer.
    """
    if not url.startswith(("http://", "https://")):
        raise OperationError(f"the target has no reachable url yet ({url!r}); cannot smoke-check it")
    expected_tag, expected_digest = image_identity(source_image)

    def attempt() -> SmokeResult | str:
        try:
            status, body = fetch(f"{url.rstrip('/')}/healthz")
            if status != 200 or body.strip() != b"ok":
                return f"/healthz answered {status} {body[:40]!r}"
            status, body = fetch(f"{url.rstrip('/')}/")
            if status != 200 or PAGE_MARKER not in body:
                return f"/ answered {status} without the app's page ({body[:60]!r})"
            status, body = fetch(f"{url.rstrip('/')}/info")
            info = json.loads(body) if status == 200 else {}
        except (OSError, ValueError) as err:
            return f"{type(err).__name__}: {err}"
        image = str(info.get("image", ""))
        tag, digest = image_identity(image)
        if tag != expected_tag:
            raise OperationError(f"the target serves image {image!r}, not the source's {source_image!r}")
        return SmokeResult(image=image, same_digest=bool(digest) and digest == expected_digest)

    return retried(attempt, url, attempts=attempts, interval=interval, sleep=sleep)


Kubectl = Callable[[list[str]], str]
"""Runs kubectl with these arguments and returns its standard output; raises OperationError on failure."""


WEB_PODS = "app.kubernetes.io/name=kubeport,app.kubernetes.io/component=web"


def run_kubectl(args: list[str]) -> str:
    binary = shutil.which("kubectl")
    if binary is None:
        raise OperationError("kubectl is not installed; the smoke check asks the target's API server with it")
    done = processes.run([binary, *args], timeout=60)
    if done.timed_out:
        raise OperationError(f"kubectl {' '.join(args)} did not answer within 60 s")
    if done.code != 0:
        raise OperationError(f"kubectl {' '.join(args)}: {done.stderr.strip()[-500:]}")
    return done.stdout


def cluster_smoke_check(
    access: Sequence[str],
    namespace: str,
    source_image: str,
    *,
    kubectl: Kubectl = run_kubectl,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = SMOKE_ATTEMPTS,
    interval: float = SMOKE_INTERVAL,
) -> SmokeResult:
    """For a target whose url cannot be reached from here: ask its API server instead of the app.

    Passes when the web Deployment has every replica available, its Service's EndpointSlices list a ready
    endpoint for each, and every web pod runs the source's build (the same content-hash tag, or the same
    reference). What it cannot show is that nginx answers: that takes the HTTP check (a url) or the
    smoke-check Pod's own readiness on a cluster that runs containers.
    """
    expected_tag, expected_digest = image_identity(source_image)
    base = [*access, "--namespace", namespace]

    def attempt() -> SmokeResult | str:
        deployments = json.loads(kubectl([*base, "get", "deployments", "-l", WEB_PODS, "-o", "json"]))["items"]
        if len(deployments) != 1:
            return f"{len(deployments)} web Deployments in {namespace}"
        status, wanted = deployments[0].get("status") or {}, int(deployments[0]["spec"].get("replicas", 1))
        if int(status.get("availableReplicas") or 0) < wanted:
            return f"{status.get('availableReplicas') or 0} of {wanted} replicas available"
        pods = json.loads(kubectl([*base, "get", "pods", "-l", WEB_PODS, "-o", "json"]))["items"]
        running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        slices = json.loads(kubectl([*base, "get", "endpointslices", "-o", "json"]))["items"]
        ready_ips = {
            address
            for item in slices
            for endpoint in item.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready")
            for address in endpoint.get("addresses") or []
        }
        pod_ips = {p.get("status", {}).get("podIP") for p in running}
        if not pod_ips or not pod_ips <= ready_ips:
            return f"the Service's endpoints list {len(ready_ips & pod_ips)} of {len(pod_ips)} web pods as ready"
        images = {c["image"] for p in running for c in p["spec"]["containers"]}
        for image in images:
            tag, _ = image_identity(image)
            if image != source_image and tag != expected_tag:
                raise OperationError(f"the target runs image {image!r}, not the source's {source_image!r}")
        image = sorted(images)[0]
        _, digest = image_identity(image)
        return SmokeResult(image=image, same_digest=bool(digest) and digest == expected_digest)

    return retried(attempt, namespace, attempts=attempts, interval=interval, sleep=sleep)
