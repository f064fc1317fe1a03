"""Host routing over TLS, the Gateway API and autoscaling on load, for real, on kubeport-node.

The node runs Traefik (its ingress controller, also a Gateway API implementation) and metrics-server
(tools/localcluster/nodeaddons.py). A copy of the local stack with `kubeport:host`, `kubeport:tlsSecret` and
autoscaling on is deployed once; then:
- the host answers on the node's address on 443 with the Secret's certificate (curl verifying it against the test's
  own CA and pinning its key, and headless Chromium), port 80 redirects to 443, an unknown host gets 404;
- a Gateway and an HTTPRoute of class kubeport-local route another host name to the same Service;
- a bounded load against the node's address, under CPU pressure (busy processes beside it, bounded in time),
  scales the Deployment up from minReplicas with no failed request; after the load stops it scales back down
  within the configured window, still with no failed request. The replica counts and the autoscaler's events go
  in the run's output (with KUBEPORT_HPA_TIMELINE set, also into that file as JSON; with KUBEPORT_HPA_PLOT set,
  drawn into that SVG file: docs/scaling-and-routing.md's plot is made this way).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.app_serving import CHROMIUM, CHROMIUM_ARGS, require
from tests.support.live import eventually, ok
from tests.support.realnode import (
    NODE,
    PAGE_MARKER,
    RequestLoop,
    assert_served,
    clock,
    http_get,
    set_up_stack,
    why_requests_failed,
    write_report,
    write_timing,
)
from tools.bench.timeline_plot import timeline_svg
from tools.certificates import issue
from tools.localcluster import nodeaddons, nodeconfig
from tools.localcluster.realrun import Workbench

pytestmark = pytest.mark.live

STACK = NAMESPACE = "routed"
NODE_PORT = "30043"
HOST = "shop.kubeport.test"
"""Names under .test (RFC 2606) are never real hosts: curl and Chromium are told the node's address for them."""
GATEWAY_HOST = "gateway.kubeport.test"
UNKNOWN_HOST = "elsewhere.kubeport.test"
TLS_SECRET = "routed-tls"
ADDRESS = nodeconfig.NODES[NODE].ip
SCALE_DOWN_WINDOW = 15
"""Seconds (kubeport:scaleDownWindow): short, so the test sees the scale-down; the default is 300."""
CPU_TARGET = 30
LOAD_LIMIT = 240.0
"""Seconds the load may run at most (it stops HOLD seconds after the Deployment has scaled up)."""
HOLD = 15.0
"""Seconds the load goes on once every scaled-up pod is ready: the new pods take their share of it."""
LOAD_REQUESTS = 150_000
"""Requests the load may send at most."""
PRESSURE_PROCESSES = 2
"""Busy processes beside the node while the load runs: the machine's cores, each one taken."""


@dataclass(frozen=True)
class HostCertificates:
    """A CA of the test's own and the host's certificate it signed (the Secret's), on disk for curl."""

    ca: Path
    cert: Path
    key: Path
    pin: str
    """sha256//<base64 of the certificate's public key info>: curl's --pinnedpubkey."""
    spki: str
    """The same hash alone: Chromium's --ignore-certificate-errors-spki-list."""


def make_certificates(folder: Path) -> HostCertificates:
    issued = issue(folder, "kubeport live test CA", HOST, [x509.DNSName(HOST)])
    spki = base64.b64encode(
        hashlib.sha256(
            issued.leaf.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).digest()
    ).decode()
    return HostCertificates(issued.ca, issued.cert, issued.key, f"sha256//{spki}", spki)


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    """curl to the node's address only (--resolve), bounded in time; its last line is `<code> <redirect url>`."""
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--noproxy", "*", "--max-time", "10",
         "--write-out", "\n%{http_code} %{redirect_url}", *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def status_of(done: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    """(HTTP status, redirect target, body) of a curl run; status 0 when curl failed (its message as body)."""
    if done.returncode != 0:
        return 0, "", done.stderr.strip()
    body, _, last = done.stdout.rpartition("\n")
    code, _, redirect = last.partition(" ")
    return int(code), redirect, body


@pytest.fixture(scope="module")
def routed(bench: Workbench) -> Iterator[HostCertificates]:
    """The stack up with the host, its TLS Secret (made after the namespace, as a user would) and autoscaling."""
    set_up_stack(
        bench, STACK, namespace=NAMESPACE, nodePort=NODE_PORT, host=HOST, tlsSecret=TLS_SECRET,
        ingressClass=nodeaddons.CLASS_NAME, autoscaling="true", minReplicas="1", maxReplicas="3",
        cpuTarget=str(CPU_TARGET), scaleDownWindow=str(SCALE_DOWN_WINDOW),
    )  # fmt: skip
    try:
        done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=900)
        assert done.code == 0, done.describe()
        certificates = make_certificates(bench.base)
        ok(bench.kubectl(NODE, "--namespace", NAMESPACE, "create", "secret", "tls", TLS_SECRET,
                         f"--cert={certificates.cert}", f"--key={certificates.key}"))  # fmt: skip
        yield certificates
    finally:
        ok(bench.pulumi("destroy", "--yes", "--stack", STACK, timeout=600))
        ok(bench.pulumi("stack", "rm", "--yes", STACK))


def test_the_host_is_served_over_tls_with_the_secrets_certificate(bench: Workbench, routed: HostCertificates) -> None:
    outputs = json.loads(ok(bench.pulumi("stack", "output", "--json", "--stack", STACK)).stdout)
    assert outputs["url"] == f"https://{HOST}"
    # The address the controller reported on the Ingress, which Pulumi waited for: the node's own.
    assert outputs["ingressAddress"] == ADDRESS
    secure = ["--resolve", f"{HOST}:443:{ADDRESS}", "--cacert", str(routed.ca), "--pinnedpubkey", routed.pin]
    found: list[tuple[int, str, str]] = []

    def served() -> bool:
        # curl trusts only the test's CA and accepts only the Secret's key: Traefik's default certificate fails.
        found.append(status_of(curl(*secure, f"https://{HOST}/")))
        return found[-1][0] == 200

    try:
        eventually("the host served over TLS with the Secret's certificate", served, timeout=60)
    except AssertionError as err:
        code, _, said = found[-1]
        raise AssertionError(f"{err}; the last answer: {code or 'none'}: {said[:300]}") from None
    assert PAGE_MARKER in found[-1][2]
    code, _, body = status_of(curl(*secure, f"https://{HOST}/info"))
    assert code == 200 and json.loads(body)["namespace"] == NAMESPACE


def test_port_80_redirects_to_443_and_an_unknown_host_gets_404(routed: HostCertificates) -> None:
    code, location, _ = status_of(curl("--resolve", f"{HOST}:80:{ADDRESS}", f"http://{HOST}/info?from=80"))
    assert (code, location) == (308, f"https://{HOST}/info?from=80")
    # A host no Ingress names: no route on either port (on 443 Traefik's own certificate answers, so -k).
    assert status_of(curl("--resolve", f"{UNKNOWN_HOST}:80:{ADDRESS}", f"http://{UNKNOWN_HOST}/"))[0] == 404
    insecure = ["--insecure", "--resolve", f"{UNKNOWN_HOST}:443:{ADDRESS}", f"https://{UNKNOWN_HOST}/"]
    assert status_of(curl(*insecure))[0] == 404


def test_chromium_follows_the_redirect_and_gets_the_page_with_the_secrets_certificate(
    routed: HostCertificates,
) -> None:
    """A person typing the host name: the browser is sent to https, and accepts only the Secret's certificate."""
    require(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} not found: apt-get install chromium")
    from playwright.sync_api import expect, sync_playwright  # a dev-only package: imported where it is used

    args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {HOST} {ADDRESS}",
            f"--ignore-certificate-errors-spki-list={routed.spki}"]  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, timeout=30_000)
        try:
            page = browser.new_page()
            response = page.goto(f"http://{HOST}/", timeout=15_000)
            assert response is not None and response.status == 200
            assert page.url == f"https://{HOST}/"
            details = dict(response.security_details() or {})
            assert details.get("subjectName") == HOST and details.get("issuer") == "kubeport live test CA", details
            expect(page.locator('[data-info="node"]')).to_have_text(NODE, timeout=10_000)
        finally:
            browser.close()


def gateway_objects() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "web", "namespace": NAMESPACE},
            "spec": {
                "gatewayClassName": nodeaddons.CLASS_NAME,
                "listeners": [{"name": "http", "protocol": "HTTP", "port": 80, "hostname": GATEWAY_HOST}],
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "web", "namespace": NAMESPACE},
            "spec": {
                "parentRefs": [{"name": "web"}],
                "hostnames": [GATEWAY_HOST],
                "rules": [{"backendRefs": [{"name": "web", "port": 80, "weight": 100}]}],
            },
        },
    ]


def test_a_gateway_and_an_http_route_of_the_local_class_route_a_host(
    bench: Workbench, routed: HostCertificates
) -> None:
    items = json.dumps({"apiVersion": "v1", "kind": "List", "items": gateway_objects()})
    try:
        ok(bench.kubectl(NODE, "apply", "--filename=-", input_text=items))

        def programmed() -> bool:
            gateway = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "gateway", "web")
            conditions = {c["type"]: c["status"] for c in gateway.get("status", {}).get("conditions", [])}
            return conditions.get("Programmed") == "True"

        eventually("the Gateway programmed by Traefik", programmed, timeout=60)
        gateway = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "gateway", "web")
        assert [a["value"] for a in gateway["status"]["addresses"]] == [ADDRESS]
        eventually(
            "the HTTPRoute's host answered",
            lambda: status_of(curl("--resolve", f"{GATEWAY_HOST}:80:{ADDRESS}", f"http://{GATEWAY_HOST}/"))[0] == 200,
            timeout=60,
        )
    finally:
        bench.kubectl(NODE, "delete", "--ignore-not-found", "--filename=-", input_text=items)


# --- autoscaling on load ------------------------------------------------------------------------------------


@dataclass
class Timeline:
    """The Deployment's replica counts and the autoscaler's measured CPU, sampled every `interval` seconds."""

    bench: Workbench
    interval: float = 2.0
    started: float = field(default_factory=time.monotonic)
    samples: list[dict[str, Any]] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)

    def mark(self, what: str) -> None:
        self.marks.append((round(time.monotonic() - self.started, 1), what))

    def sample(self) -> dict[str, Any]:
        deployment = self.bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "deployment", "web")
        hpa = self.bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "hpa", "web")
        cpu = next((m["resource"]["current"].get("averageUtilization") for m in hpa["status"].get("currentMetrics")
                    or [] if m.get("type") == "Resource"), None)  # fmt: skip
        entry = {
            "t": round(time.monotonic() - self.started, 1),
            "replicas": deployment["spec"]["replicas"],
            "ready": deployment["status"].get("readyReplicas", 0),
            "desired": hpa["status"].get("desiredReplicas"),
            "cpu": cpu,
        }
        self.samples.append(entry)
        return entry

    def run(self, stop: threading.Event) -> None:
        deadline = time.monotonic() + 900
        while not stop.is_set() and time.monotonic() < deadline:
            self.sample()
            stop.wait(self.interval)


@dataclass
class Load:
    """GETs of the page on the node's address, a new connection each, from a few threads; at most `limit`
    requests and `seconds` seconds; every answer that is not 200 (or no answer) is kept."""

    url: str
    limit: int = LOAD_REQUESTS
    seconds: float = LOAD_LIMIT
    threads: int = 4
    sent: int = 0
    failed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def worker(self, stop: threading.Event, deadline: float) -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            with self.lock:
                if self.sent >= self.limit:
                    return
                self.sent += 1
            try:
                status, _ = http_get(self.url, timeout=5)
            except OSError as err:
                with self.lock:
                    self.failed.append(f"{clock()} {type(err).__name__}: {err}")
            else:
                if status != 200:
                    with self.lock:
                        self.failed.append(f"{clock()} HTTP {status}")


BUSY = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


def pressure(seconds: float) -> list[subprocess.Popen[bytes]]:
    """Busy processes in the node's network namespace (the node's CPUs are the machine's), each ending by itself."""
    command = nodeconfig.NODES[NODE].inside([sys.executable, "-c", BUSY, str(seconds)])
    return [subprocess.Popen(command) for _ in range(PRESSURE_PROCESSES)]


def replicas(bench: Workbench) -> int:
    count: int = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "deployment", "web")["spec"]["replicas"]
    return count


def all_ready(bench: Workbench) -> bool:
    deployment = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "deployment", "web")
    return bool(deployment["status"].get("readyReplicas", 0) == deployment["spec"]["replicas"])


def test_load_scales_the_deployment_up_and_it_scales_back_down_without_a_failed_request(
    bench: Workbench, routed: HostCertificates
) -> None:
    hpa = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "hpa", "web")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == SCALE_DOWN_WINDOW
    assert replicas(bench) == 1

    # metrics-server serves the pods' CPU: `kubectl top` and the autoscaler read it.
    def measured() -> bool:
        current = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "hpa", "web")["status"]
        return any(m.get("type") == "Resource" for m in current.get("currentMetrics") or [])

    eventually("the autoscaler reading the pods' CPU from metrics-server", measured, timeout=90)
    top = ok(bench.kubectl(NODE, "--namespace", NAMESPACE, "top", "pods", "--no-headers"))
    assert "web-" in top.stdout, top.stdout

    url = f"http://{ADDRESS}:{NODE_PORT}/"
    timeline, load = Timeline(bench), Load(url)
    stop_sampling, stop_load = threading.Event(), threading.Event()
    sampler = threading.Thread(target=timeline.run, args=(stop_sampling,), daemon=True)
    sampler.start()
    busy = pressure(LOAD_LIMIT)
    deadline = time.monotonic() + LOAD_LIMIT
    workers = [threading.Thread(target=load.worker, args=(stop_load, deadline), daemon=True)
               for _ in range(load.threads)]  # fmt: skip
    try:
        timeline.mark("load and CPU pressure start")
        for worker in workers:
            worker.start()
        while time.monotonic() < deadline and not (replicas(bench) >= 2 and all_ready(bench)):
            time.sleep(1)
        scaled_up = time.monotonic() - timeline.started
        up_to = replicas(bench)
        timeline.mark(f"scaled to {up_to}, all ready")
        time.sleep(min(HOLD, max(0.0, deadline - time.monotonic())))
        timeline.mark("load and pressure stop")
    finally:
        stop_load.set()
        for worker in workers:
            worker.join(timeout=30)
        for process in busy:
            process.kill()
            process.wait(timeout=30)
    sent_under_load = load.sent
    assert up_to >= 2, f"no scale-up within {LOAD_LIMIT:.0f} s of load: {timeline.samples[-5:]}"
    assert load.failed == [], (
        f"{len(load.failed)} of {load.sent} requests failed under load: {load.failed[:10]}\n"
        + why_requests_failed(bench, NAMESPACE)
    )

    # Light traffic while it scales down: a user's requests, none of which may fail as pods go.
    loop, stop_loop = RequestLoop(url, interval=0.1, limit=300), threading.Event()
    looper = threading.Thread(target=loop.run, args=(stop_loop,), daemon=True)
    looper.start()
    started_down = time.monotonic()
    try:
        eventually("back to minReplicas", lambda: replicas(bench) == 1 and all_ready(bench),
                   timeout=SCALE_DOWN_WINDOW + 150)  # fmt: skip
        down_after = time.monotonic() - started_down
        timeline.mark("back to 1 replica")
        time.sleep(5)  # the last pod gone from the Service's endpoints, with requests still arriving
    finally:
        stop_loop.set()
        looper.join(timeout=30)
        stop_sampling.set()
        sampler.join(timeout=30)
    assert_served(bench, loop, NAMESPACE)

    about_the_hpa = "involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=web"
    events = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "events", "--field-selector", about_the_hpa)[
        "items"
    ]
    event_lines = [f"{e.get('lastTimestamp') or e.get('eventTime')}  {e['reason']}: {e['message']}" for e in events]
    assert any(e["reason"] == "SuccessfulRescale" for e in events), event_lines
    lines = [f"{s['t']:6.1f} s  replicas {s['replicas']}  ready {s['ready']}  desired {s['desired']}  cpu {s['cpu']}%"
             for s in timeline.samples]  # fmt: skip
    lines += [f"{t:6.1f} s  -- {what}" for t, what in timeline.marks] + event_lines
    lines.append(f"{sent_under_load} requests under load, {loop.ok} while scaling down; none failed")
    write_report("autoscaling under load and CPU pressure (replicas over time, the autoscaler's events)", lines)
    write_timing("autoscaling: from the load's start to every scaled-up pod ready", scaled_up)
    write_timing(f"autoscaling: back to 1 replica after the load stopped (window {SCALE_DOWN_WINDOW} s)", down_after)
    if os.environ.get("KUBEPORT_HPA_TIMELINE"):
        Path(os.environ["KUBEPORT_HPA_TIMELINE"]).write_text(
            json.dumps({"samples": timeline.samples, "marks": timeline.marks, "events": event_lines}, indent=1)
        )
    if os.environ.get("KUBEPORT_HPA_PLOT"):
        Path(os.environ["KUBEPORT_HPA_PLOT"]).write_text(timeline_svg(timeline.samples, timeline.marks))
