"""The walkthrough's application for real, on the node that runs containers (kubeport-node).

`pulumi up` of the walkthrough stack builds web, login and payments from their folders with BuildKit, pushes
them to the local registry, and deploys them with payments' PostgreSQL (the stand-in from Debian's package) on
a local volume. Every service answers (payments also through web's page); the database keeps its rows across
a restart of its pod; and the NetworkPolicies the files imply are enforced by kube-router's firewall on the
node: payments reaches its database, web and login do not, and a pod with no labels reaches none of the
internal services. The tests run in file order on one stack, which the last one destroys.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.live import ok
from tests.support.realnode import (
    APPLICATION_STACK,
    NODE,
    PAGE_MARKER,
    http_get,
    http_get_on_node,
    set_up_application,
    write_timing,
)
from tools.localcluster.realrun import Workbench

pytestmark = pytest.mark.live

STACK = APPLICATION_STACK
NAMESPACE = "walkthrough"
URL = "http://10.250.0.2:30030"
ROUTED = 10.0
"""Seconds after `up` within which the node port must answer."""
CONVERGE = 30.0
"""Seconds the enforcer may take to apply a rule to a new pod (it reacts to the API server's events)."""
CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
    "except OSError as err:\n"
    "    print(f'blocked: {err}')\n"
    "    sys.exit(3)\n"
    "print('open')\n"
)


def kubectl(bench: Workbench, *args: str, timeout: float = 60) -> str:
    return ok(bench.kubectl(NODE, "-n", NAMESPACE, *args, timeout=timeout)).stdout


def call(bench: Workbench, workload: str, url: str, method: str = "GET") -> dict[str, object]:
    """An HTTP call made from inside one of `workload`'s pods (a Python service: its own interpreter)."""
    script = (
        "import sys, urllib.request\n"
        "request = urllib.request.Request(sys.argv[1], method=sys.argv[2])\n"
        "print(urllib.request.urlopen(request, timeout=5).read().decode())\n"
    )
    data: dict[str, object] = json.loads(kubectl(bench, "exec", f"deploy/{workload}", "--", "python3", "-c", script,
                                                 url, method))  # fmt: skip
    return data


def reaches(bench: Workbench, pod: str, host: str, port: int) -> bool:
    """Whether a TCP connection from `pod` (one with Python) to host:port opens within 3 s."""
    done = bench.kubectl(NODE, "-n", NAMESPACE, "exec", pod, "--", "python3", "-c", CONNECT, host, str(port))
    assert done.code in (0, 3), done.describe()
    return done.code == 0


def web_reaches(bench: Workbench, host: str, port: int) -> bool:
    """The web pods run nginx (no Python): wget's own connect, 3 s at most."""
    done = bench.kubectl(NODE, "-n", NAMESPACE, "exec", "deploy/web", "--", "wget", "-T", "3", "-t", "1",
                         "-O", "/dev/null", f"http://{host}:{port}/")  # fmt: skip
    text = done.stdout + done.stderr
    # wget fails on PostgreSQL's answer too (it is not HTTP): what tells the cases apart is whether it connected.
    # The enforcer rejects (kube-router: "Connection refused"); a dropped packet would time out.
    assert "Connecting to" in text, done.describe()
    return done.code == 0 or not any(word in text for word in ("refused", "timed out", "unreachable"))


def settled(check: object, expected: bool) -> bool:
    """`check()` until it gives `expected` or CONVERGE seconds pass; its last answer."""
    deadline = time.monotonic() + CONVERGE
    while True:
        answer = check()  # type: ignore[operator]
        if answer == expected or time.monotonic() > deadline:
            return bool(answer)
        time.sleep(2)


def test_up_deploys_every_service_and_each_answers(bench: Workbench) -> None:
    set_up_application(bench)
    done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=900)
    assert done.code == 0, done.describe()
    write_timing("application up (3 services built and pushed, postgres)", done.seconds)
    # No perpetual diff: images, the generated password, every object as deployed.
    again = bench.pulumi("preview", "--expect-no-changes", "--stack", STACK, timeout=600)
    assert again.code == 0, again.describe()
    outputs = json.loads(ok(bench.pulumi("stack", "output", "--json", "--stack", STACK)).stdout)
    assert outputs["url"] == URL
    assert outputs["services"]["payments"] == f"http://payments.{NAMESPACE}.svc:80"
    # The application's `up` ends when every pod is Ready on its probes; the node port is routed by kube-proxy a
    # moment later (the single app's smoke check waits for that; the application has none yet).
    returned = time.monotonic()
    while True:
        try:
            status, text = http_get(URL)
            break
        except OSError:
            assert time.monotonic() - returned < ROUTED, f"{URL} not routed {ROUTED} s after up"
            time.sleep(0.2)
    write_timing("node port routed after up returned", time.monotonic() - returned)
    assert status == 200 and PAGE_MARKER in text
    # payments answers through web (the location web's workload file adds to its nginx), its database reachable.
    status, text = http_get(f"{URL}/payments/")
    assert status == 200, text
    assert json.loads(text) == {"service": "payments", "database": "reachable", "payments": 0}
    # login answers, and so does payments behind it, with its database reachable.
    page = call(bench, "login", "http://127.0.0.1:8080/")
    assert page["service"] == "login"
    payments = page["payments"]
    assert isinstance(payments, dict) and payments["database"] == "reachable", page
    pods = json.loads(kubectl(bench, "get", "pods", "-o", "json"))["items"]
    # The roles Job's pod made payments' own role, as the administrator over verified TLS, and is done.
    (roles,) = [p for p in pods if p["metadata"]["labels"].get("app.kubernetes.io/name") == "postgres-roles"]
    assert roles["status"]["phase"] == "Succeeded", roles["status"]
    pods = [p for p in pods if p is not roles]
    assert {p["metadata"]["labels"].get("app.kubernetes.io/name") for p in pods} == {"web", "login", "payments",
                                                                                     "postgres"}  # fmt: skip
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert all(c["ready"] and c["restartCount"] == 0 for c in pod["status"]["containerStatuses"]), pod


def test_the_database_keeps_its_rows_across_a_restart_of_its_pod(bench: Workbench) -> None:
    payments = f"http://payments.{NAMESPACE}.svc/payments"
    for _ in range(3):
        recorded = call(bench, "login", payments, "POST")
    count = recorded["payments"]
    assert isinstance(count, int) and count >= 3
    started = time.monotonic()
    kubectl(bench, "delete", "pod", "payments-db-0", "--wait=true", timeout=120)
    kubectl(bench, "wait", "--for=condition=Ready", "pod/payments-db-0", "--timeout=120s", timeout=150)
    write_timing("database pod deleted, replaced and Ready again", time.monotonic() - started)
    # The new pod has a new address: DNS and the enforcer's sets follow within seconds. Until then payments
    # answers 503, or, once its readiness probe has said the same, has no ready pod behind its Service; never a
    # wrong count.
    deadline = time.monotonic() + CONVERGE
    while True:
        done = bench.kubectl(NODE, "-n", NAMESPACE, "exec", "deploy/login", "--", "python3", "-c",
                             "import urllib.request; print(urllib.request.urlopen('http://payments/', timeout=5)"
                             ".read().decode())")  # fmt: skip
        if done.code == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert done.code == 0, done.describe()
    write_timing("payments answering again after the database restart", time.monotonic() - started)
    assert json.loads(done.stdout)["payments"] == count, "the rows are on the volume, not in the pod"


def test_the_network_policies_are_enforced_on_the_node(bench: Workbench) -> None:
    db = f"payments-db.{NAMESPACE}.svc"
    payments_pod = kubectl(bench, "get", "pods", "-l", "app.kubernetes.io/name=payments", "-o",
                           "jsonpath={.items[0].metadata.name}")  # fmt: skip
    login_pod = kubectl(bench, "get", "pods", "-l", "app.kubernetes.io/name=login", "-o",
                        "jsonpath={.items[0].metadata.name}")  # fmt: skip
    # The declared calls go through...
    assert settled(lambda: reaches(bench, payments_pod, db, 5432), True), "payments must reach its database"
    assert settled(lambda: web_reaches(bench, f"payments.{NAMESPACE}.svc", 80), True), "web calls payments"
    # ...and nothing else does.
    assert not settled(lambda: web_reaches(bench, db, 5432), False), "web must not reach the database"
    assert not settled(lambda: reaches(bench, login_pod, db, 5432), False), "login must not reach the database"
    assert not settled(lambda: reaches(bench, payments_pod, f"login.{NAMESPACE}.svc", 80), False), (
        "payments does not call login"
    )
    # A pod with no labels, in the same namespace, under the same Pod Security: it reaches none of the services or
    # the database (the namespace denies what no file declares; web is public from outside, through its node port).
    image = json.loads(kubectl(bench, "get", "deploy/login", "-o", "json"))["spec"]["template"]["spec"]
    stranger = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stranger", "namespace": NAMESPACE},
        "spec": {
            "automountServiceAccountToken": False,
            "imagePullSecrets": image.get("imagePullSecrets"),
            "securityContext": image["securityContext"],
            "containers": [
                {
                    "name": "stranger",
                    "image": image["containers"][0]["image"],
                    "command": ["python3", "-c", "import time; time.sleep(600)"],
                    "securityContext": image["containers"][0]["securityContext"],
                    "resources": image["containers"][0]["resources"],
                }
            ],
        },
    }
    manifest = bench.tmp / "stranger.json"
    manifest.write_text(json.dumps(stranger))
    kubectl(bench, "apply", "-f", str(manifest))
    try:
        kubectl(bench, "wait", "--for=condition=Ready", "pod/stranger", "--timeout=60s", timeout=90)
        web_ip = json.loads(kubectl(bench, "get", "service", "web", "-o", "json"))["spec"]["clusterIP"]
        for host, port in ((db, 5432), (f"payments.{NAMESPACE}.svc", 80), (f"login.{NAMESPACE}.svc", 80), (web_ip, 80)):
            assert not settled(lambda h=host, p=port: reaches(bench, "stranger", h, p), False), f"stranger -> {host}"
        assert http_get(URL)[0] == 200, "web is public: its node port answers from outside the namespace"
    finally:
        bench.kubectl(NODE, "-n", NAMESPACE, "delete", "pod", "stranger", "--wait=false")


def test_a_server_presenting_a_certificate_for_another_name_is_refused(bench: Workbench) -> None:
    """payments verifies its database (sslmode=verify-full): pointed at the same server under another name (a Service
    of the test's, selecting the database's pod, as a server in the middle would answer), its new pod refuses it,
    says why in its log and on its readiness endpoint, and never becomes Ready; the old pods keep serving. Restored
    afterwards, whatever happens."""
    impostor = "impostor"
    before = json.loads(kubectl(bench, "get", "deployment", "payments", "-o", "json"))
    kubectl(bench, "create", "service", "clusterip", impostor, "--tcp=5432:5432")
    try:
        kubectl(bench, "set", "selector", "service", impostor, "app.kubernetes.io/instance=payments-db")
        kubectl(bench, "set", "env", "deployment/payments", f"DB_HOST={impostor}.{NAMESPACE}.svc")
        expected = f'does not match host name "{impostor}.{NAMESPACE}.svc"'
        deadline = time.monotonic() + 90
        while True:
            pods = json.loads(kubectl(bench, "get", "pods", "-l", "app.kubernetes.io/instance=payments", "-o",
                                      "json"))["items"]  # fmt: skip
            new = [p for p in pods if any(e.get("value", "").startswith(impostor) for c in p["spec"]["containers"]
                                          for e in c.get("env") or [])]  # fmt: skip
            logs = kubectl(bench, "logs", new[0]["metadata"]["name"]) if new and new[0]["status"].get("podIP") else ""
            reasons = [json.loads(line).get("reason", "") for line in logs.splitlines() if line.startswith("{")]
            if any(expected in reason for reason in reasons):
                break
            assert time.monotonic() < deadline, f"no refusal in the new pod's log within 90 s: {logs[-2000:]}"
            time.sleep(2)
        pod = new[0]
        assert not all(c["ready"] for c in pod["status"].get("containerStatuses") or [{"ready": False}])
        status, text = http_get_on_node(f"http://{pod['status']['podIP']}:8080/readyz")
        assert status == 503 and expected in json.loads(text)["database"], text
        # The release stalls on it (maxUnavailable 0): payments still answers through web, from the old pods.
        status, text = http_get(f"{URL}/payments/")
        assert status == 200 and json.loads(text)["database"] == "reachable", text
    finally:
        bench.kubectl(NODE, "-n", NAMESPACE, "rollout", "undo", "deployment/payments")
        bench.kubectl(NODE, "-n", NAMESPACE, "delete", "service", impostor, "--ignore-not-found")
        ok(bench.kubectl(NODE, "-n", NAMESPACE, "rollout", "status", "deployment/payments", "--timeout=120s",
                         timeout=150))  # fmt: skip
    after = json.loads(kubectl(bench, "get", "deployment", "payments", "-o", "json"))
    assert after["spec"]["template"]["spec"] == before["spec"]["template"]["spec"]


def test_destroy_removes_the_application(bench: Workbench) -> None:
    done = bench.pulumi("destroy", "--yes", "--skip-preview", "--stack", STACK, timeout=600)
    assert done.code == 0, done.describe()
    gone = bench.kubectl(NODE, "get", "namespace", NAMESPACE)
    assert gone.code != 0 or "Terminating" in gone.stdout, gone.stdout
