"""What the real-node tests share: the local stack set up for this start of the registry, requests against the
Service in a bounded loop, and reading what runs on the node."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.live import ok
from tests.support.plants import Plant
from tools.localcluster import builder, catalog, nodeconfig, registry
from tools.localcluster.localstack import application_settings, stack_settings
from tools.localcluster.realrun import Workbench

NODE = catalog.REAL_NODE
STACK = "local"
NAMESPACE = "kubeport"
WEB_PODS = "app.kubernetes.io/name=kubeport,app.kubernetes.io/component=web"
PAGE_MARKER = "<title>kubeport</title>"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def node_registry() -> registry.Registry:
    return registry.Registry(catalog.registry_home())


def node_builder() -> builder.Builder:
    return builder.Builder(catalog.builder_home())


def set_up_stack(bench: Workbench, stack: str = STACK, **config: str) -> None:
    """The repo's Pulumi.local.yaml, with this registry's user, password (a secret) and the stand-in base."""
    base = builder.base_image(node_builder(), node_registry(), bench.tools, say=lambda _: None)
    plain, secret = stack_settings(node_registry(), base)
    bench.add_stack_file(stack, {**plain, **config}, like=STACK)
    ok(bench.pulumi("stack", "init", stack))
    for key, value in secret.items():
        ok(bench.set_secret(stack, key, value))


APPLICATION_STACK = "walkthrough"


def set_up_application(
    bench: Workbench, stack: str = APPLICATION_STACK, like: str = APPLICATION_STACK, **config: str
) -> None:
    """The repo's Pulumi.<like>.yaml with this registry's login and the stand-ins for the three images Docker
    Hub would give: nginx-unprivileged (web), python (login, payments) and postgres (the database)."""
    plain, secret = application_settings(bench.tools)
    bench.add_stack_file(stack, {**plain, **config}, like=like)
    ok(bench.pulumi("stack", "init", stack))
    for key, value in secret.items():
        ok(bench.set_secret(stack, key, value))


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode("utf-8", "replace")


_GET_FROM_INSIDE = """
import json, sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(sys.argv[1], timeout=float(sys.argv[2])) as response:
        status, body = response.status, response.read()
except urllib.error.HTTPError as err:
    status, body = err.code, err.read()
print(json.dumps([status, body.decode("utf-8", "replace")]))
"""


def http_get_on_node(url: str, node: str = NODE, timeout: float = 5) -> tuple[int, str]:
    """GET `url` from inside the node's network namespace, as the kubelet's probes come: a private service's pod
    admits no caller from this machine (its NetworkPolicy), only the node itself."""
    command = nodeconfig.NODES[node].inside([sys.executable, "-c", _GET_FROM_INSIDE, url, str(timeout)])
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 30, check=False)
    assert done.returncode == 0, f"GET {url} from {node}'s namespace: {done.stderr[-2000:]}"
    status, body = json.loads(done.stdout)
    return int(status), str(body)


@dataclass
class RequestLoop:
    """GETs `url` every `interval` seconds until stopped (or `limit` seconds pass): the outage a user would see."""

    url: str
    interval: float = 0.05
    limit: float = 900.0
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    images: set[str] = field(default_factory=set)
    """The builds that answered /info along the way (every 20th request asks it)."""

    def run(self, stop: threading.Event) -> None:
        deadline = time.monotonic() + self.limit
        count = 0
        while not stop.is_set() and time.monotonic() < deadline:
            count += 1
            path = "/info" if count % 20 == 0 else "/healthz"
            try:
                status, body = http_get(self.url + path, timeout=3)
            except OSError as err:
                self.failed.append(f"{clock()} {path}: {type(err).__name__}: {err}")
            else:
                if status == 200:
                    self.ok += 1
                    if path == "/info":
                        self.images.add(json.loads(body)["image"])
                else:
                    self.failed.append(f"{clock()} {path}: HTTP {status}")
            stop.wait(self.interval)


def clock() -> str:
    """The wall-clock time (UTC, to the millisecond) a failed request is recorded with: the events it is read
    against carry the same clock."""
    return datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S.%f")[:-3]


def why_requests_failed(bench: Workbench, namespace: str) -> str:
    """What the cluster recorded that can explain failed requests: the namespace's warnings and kills (probes
    failing, containers restarted or evicted), the node's pressure conditions, and which endpoints are ready now."""
    events = bench.kubectl_json(NODE, "--namespace", namespace, "get", "events")["items"]
    lines = [
        f"{e.get('lastTimestamp') or e.get('eventTime')} {e['involvedObject']['kind']}/{e['involvedObject']['name']} "
        f"{e['reason']} (x{e.get('count') or 1}): {e['message'][:200]}"
        for e in events
        if e.get("type") == "Warning" or e["reason"] in ("Killing", "Evicted", "Preempting")
    ]
    node = bench.kubectl_json(NODE, "get", "node", nodeconfig.NODES[NODE].name)
    pressure = [f"{c['type']}={c['status']}" for c in node["status"]["conditions"] if c["type"] != "Ready"]
    slices = bench.kubectl_json(NODE, "--namespace", namespace, "get", "endpointslices")["items"]
    ready = {
        found["metadata"]["name"]: sum(
            bool((e.get("conditions") or {}).get("ready")) for e in found.get("endpoints") or []
        )
        for found in slices
    }
    return "\n".join(["events:", *(lines or ["(no warning or kill)"]), f"node: {', '.join(pressure)}",
                      f"ready endpoints now: {ready}"])  # fmt: skip


def assert_served(bench: Workbench, loop: RequestLoop, namespace: str = NAMESPACE, at_least: int = 0) -> None:
    """Every request of the loop answered 200 (and more than `at_least` of them); else the failures with their
    times, and what the cluster recorded about them."""
    if loop.failed or loop.ok <= at_least:
        raise AssertionError(
            f"{len(loop.failed)} requests failed, {loop.ok} answered: {loop.failed[:10]}\n"
            + why_requests_failed(bench, namespace)
        )


@contextmanager
def code_edited(bench: Workbench, plant: Plant) -> Iterator[None]:
    """The scratch project's code with `plant` made (its text found exactly once), put back afterwards."""
    file = bench.project / plant.path
    original = file.read_text()
    assert original.count(plant.old) == 1, f"{plant.path} no longer holds {plant.old!r} exactly once"
    file.write_text(original.replace(plant.old, plant.new))
    try:
        yield
    finally:
        file.write_text(original)


@contextmanager
def requests_during(url: str) -> Iterator[RequestLoop]:
    """A bounded request loop in a thread for the duration of the block."""
    loop = RequestLoop(url)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        stop.set()
        thread.join(timeout=30)


def service_url(bench: Workbench, namespace: str = NAMESPACE) -> str:
    """The Service's own address (its ClusterIP: this machine routes the Service range into the node's namespace,
    where kube-proxy forwards it to a pod)."""
    service = bench.kubectl_json(NODE, "--namespace", namespace, "get", "service", "web")
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"


def web_pods(bench: Workbench, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    pods = bench.kubectl_json(NODE, "--namespace", namespace, "get", "pods", "-l", WEB_PODS)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def running_digests(bench: Workbench, namespace: str = NAMESPACE) -> set[str]:
    """The image digests the serving pods run: Ready containers, from the kubelet's status (not the spec)."""
    return {
        status["imageID"].rpartition("@")[2]
        for pod in web_pods(bench, namespace)
        for status in pod["status"].get("containerStatuses") or []
        if status.get("ready") and status.get("imageID")
    }


def settles_on(bench: Workbench, digest: str, namespace: str = NAMESPACE, timeout: float = 60) -> None:
    """Every serving pod runs `digest`, within `timeout` seconds: `up` returns once the new ReplicaSet is available,
    and the controller may not yet have marked the old one's last pod for deletion (a busy machine widens that)."""
    deadline = time.monotonic() + timeout
    while (found := running_digests(bench, namespace)) != {digest}:
        if time.monotonic() > deadline:
            raise AssertionError(f"the serving pods run {sorted(found)}, not only {digest}, {timeout:.0f} s after up")
        time.sleep(1)


def change_the_page(bench: Workbench, marker: str) -> None:
    """A new release: the page's text changes in the scratch project's built site (so its image's content hash)."""
    page = bench.project / "app" / "site" / "index.html"
    page.write_text(page.read_text().replace("Hello from kubeport", f"Hello from kubeport ({marker})"))


def write_timing(name: str, seconds: float) -> None:
    """A duration a real-node test measured, for the session's summary (tests/live/conftest.py prints it)."""
    path = os.environ.get("KUBEPORT_LIVE_TIMINGS")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"name": name, "seconds": round(seconds, 1)}) + "\n")


def write_report(name: str, lines: list[str]) -> None:
    """Lines a real-node test observed (a series over time, a controller's events), printed after the durations."""
    path = os.environ.get("KUBEPORT_LIVE_TIMINGS")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"name": name, "lines": lines}) + "\n")
