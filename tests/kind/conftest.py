"""Live-test fixtures: prerequisites, the kind stack deployed once per module, and where the app answers.

The kind stack (Pulumi.kind.yaml) deploys to the kubeconfig context kind-kubeport and pushes the image to
kind's local registry on localhost:5001. State goes to a temporary file backend, never the repo's .pulumi/.
Every wait is a loop with a deadline, every command has a timeout, and the stack is destroyed whatever
happened once `up` has started.

Without the prerequisites the tests skip and say which are missing. They deploy only when asked to with
KUBEPORT_KIND=1 (make test-kind), which also turns a missing prerequisite into a failure, so CI cannot pass
with the live test skipped.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import processes
from tools.processes import Done

ROOT = Path(__file__).resolve().parents[2]
STACK = "kind"
STACK_FILE = ROOT / f"Pulumi.{STACK}.yaml"
OPT_IN = "KUBEPORT_KIND"
# __main__.py creates WebApp("web", ...), whose Service is named after the component; it listens on port 80.
SERVICE = "web"
SERVICE_PORT = 80

UP_TIMEOUT = 20 * 60  # image build and push, rollout (up to 10 minutes on target existing), smoke-check Pod
PREVIEW_TIMEOUT = 5 * 60
DESTROY_TIMEOUT = 10 * 60
STOP_GRACE = 60  # after SIGINT, for Pulumi to cancel cleanly
PROBE_TIMEOUT = 20  # one quick command: kubectl, docker
HTTP_WAIT = 60  # for the app to answer through the NodePort once `up` has returned
PORT_FORWARD_WAIT = 30
HTTP_ERRORS = (OSError, http.client.HTTPException)

# Straight to the node or 127.0.0.1, never through an HTTP proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class KindSettings:
    """What the live test takes from Pulumi.kind.yaml, with Pulumi.yaml's defaults."""

    context: str
    namespace: str
    node_port: int
    registry: str


@dataclass(frozen=True)
class Deployed:
    """The kind stack after a successful `python -m tools up kind`."""

    settings: KindSettings
    env: dict[str, str]
    outputs: dict[str, Any]


def read_kind_settings() -> KindSettings:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    stack = yaml.safe_load(STACK_FILE.read_text())["config"]

    def value(key: str) -> Any:
        return stack.get(f"kubeport:{key}", project[key].get("default"))

    return KindSettings(
        context=str(value("kubeContext")),
        namespace=str(value("namespace")),
        node_port=int(value("nodePort")),
        registry=str(value("registryServer")),
    )


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    """Status and body of a GET; an HTTP error status is returned, not raised."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def quick(args: Sequence[str], timeout: float = PROBE_TIMEOUT) -> Done:
    """A short command with a deadline (tools.processes: a timeout is exit code 124, a missing binary 127)."""
    return processes.run(args, timeout=timeout)


def kubectl(settings: KindSettings, *args: str) -> Done:
    return quick(["kubectl", "--context", settings.context, "--request-timeout=10s", *args])


def registry_problem(registry: str) -> str | None:
    """Why a local registry (localhost:<port>) does not answer, if it does not; remote ones are not probed."""
    host = registry.split("/", 1)[0]
    if host.rsplit(":", 1)[0] not in ("localhost", "127.0.0.1"):
        return None
    try:
        status, _ = http_get(f"http://{host}/v2/", timeout=5)
    except HTTP_ERRORS as err:
        reason = getattr(err, "reason", err)  # URLError wraps the socket error
        return f"local registry {host} not answering ({reason}); see kind's local registry recipe"
    # 200, or 401 from a registry that wants a login: either way it is there.
    return None if status in (200, 401) else f"local registry {host} answered /v2/ with HTTP {status}"


def missing_prerequisites(settings: KindSettings) -> list[str]:
    missing = []
    if shutil.which("pulumi") is None:
        missing.append("pulumi CLI missing (https://www.pulumi.com/docs/install/)")
    if shutil.which("kubectl") is None:
        missing.append("kubectl missing")
    else:
        ready = kubectl(settings, "get", "--raw", "/readyz")
        if ready.code != 0:
            missing.append(f"context {settings.context} unreachable ({ready.first_line()})")
    if shutil.which("docker") is None:
        missing.append("docker missing (a Docker daemon builds the image)")
    else:
        info = quick(["docker", "info", "--format", "{{.ServerVersion}}"])
        if info.code != 0:
            missing.append(f"docker daemon unreachable ({info.first_line()})")
    problem = registry_problem(settings.registry)
    if problem:
        missing.append(problem)
    return missing


def require_live(settings: KindSettings) -> None:
    """Skip (or, with KUBEPORT_KIND=1, fail) unless this machine can run the live test right now."""
    requested = os.environ.get(OPT_IN) == "1"
    missing = missing_prerequisites(settings)
    if missing:
        reason = "live kind test not run: " + "; ".join(missing)
        if requested:
            pytest.fail(f"{reason} ({OPT_IN}=1 asks for the live test, so this is a failure)", pytrace=False)
        pytest.skip(reason)
    if not requested:
        pytest.skip(
            f"live kind test not run: prerequisites found, but it deploys to {settings.context}; "
            f"opt in with {OPT_IN}=1 (make test-kind)"
        )
    existing = kubectl(settings, "get", "namespace", settings.namespace, "--ignore-not-found", "-o", "name")
    if existing.code != 0:
        pytest.fail(f"cannot list namespaces in {settings.context}: {existing.first_line()}", pytrace=False)
    if existing.stdout.strip():
        pytest.fail(
            f"namespace {settings.namespace} already exists in {settings.context}; the live test deploys its own "
            "temporary stack there and would collide with it. Destroy that deployment first "
            "(python -m tools destroy kind --yes, with its PULUMI_BACKEND_URL).",
            pytrace=False,
        )


def stack_env(state: Path) -> dict[str, str]:
    """The environment of every `python -m tools` call: a temporary file backend of its own."""
    env = dict(os.environ)
    env["PULUMI_BACKEND_URL"] = f"file://{state}"
    if "PULUMI_CONFIG_PASSPHRASE" not in env and "PULUMI_CONFIG_PASSPHRASE_FILE" not in env:
        # A passphrase of this run's own for its temporary state: never an empty one (the program refuses it).
        env["PULUMI_CONFIG_PASSPHRASE"] = secrets.token_urlsafe(24)
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    env.setdefault("BUILDKIT_PROGRESS", "plain")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_stacks(args: Sequence[str], env: Mapping[str, str], timeout: float) -> Done:
    """`python -m tools ARGS` in the repo root, echoed as it runs (see it with -s), stopped at the deadline."""
    print(f"\n$ python -m tools {' '.join(args)}", flush=True)

    def echo(line: str) -> None:
        sys.stdout.write(f"  | {line}")
        sys.stdout.flush()

    return processes.run(
        [sys.executable, "-m", "tools", *args], timeout=timeout, env=env, cwd=ROOT, echo=echo, grace=STOP_GRACE
    )


def stack_outputs(run: Done) -> dict[str, Any]:
    """The JSON on the last `outputs: ` line that `python -m tools up` prints."""
    found = [line.removeprefix("outputs: ") for line in run.stdout.splitlines() if line.startswith("outputs: ")]
    assert found, f"no `outputs: {{...}}` line in the output of {run.describe()}"
    outputs = json.loads(found[-1])
    assert isinstance(outputs, dict), f"outputs are not a JSON object: {found[-1]}"
    return outputs


def diagnostics(settings: KindSettings) -> str:
    """What the cluster says about the workload, for a failure message."""
    parts = []
    for args in (
        ("get", "pods,services,endpointslices", "-o", "wide"),
        ("get", "events", "--sort-by=.lastTimestamp"),
    ):
        done = kubectl(settings, "--namespace", settings.namespace, *args)
        parts.append(f"$ kubectl --context {settings.context} -n {settings.namespace} {' '.join(args)}")
        parts.append((done.stdout + done.stderr).rstrip())
    return "\n".join(parts)


def restore_stack_file(original: bytes) -> None:
    """Undo the one change a new passphrase stack makes to Pulumi.kind.yaml: its `encryptionsalt` line."""
    current = STACK_FILE.read_bytes()
    if current == original:
        return

    def without_salt(text: bytes) -> list[bytes]:
        return [line for line in text.splitlines() if not line.startswith(b"encryptionsalt:")]

    if without_salt(current) == without_salt(original):
        STACK_FILE.write_bytes(original)
        print(f"restored {STACK_FILE.name}: the temporary stack had written its encryption salt into it")
    else:
        print(f"{STACK_FILE.name} changed during the live test beyond its encryption salt; left as it is")


def destroy_stack(settings: KindSettings, env: Mapping[str, str], original_stack_file: bytes) -> None:
    destroy = run_stacks(["destroy", STACK, "--yes"], env, DESTROY_TIMEOUT)
    restore_stack_file(original_stack_file)
    if destroy.code != 0:
        pytest.fail(
            f"{destroy.describe()}\nResources of the temporary stack may remain in {settings.context} "
            f"(namespace {settings.namespace}); its state: {env['PULUMI_BACKEND_URL']}",
            pytrace=False,
        )


def wait_for_app(bases: Sequence[str], seconds: float) -> str | None:
    """The first base URL whose /healthz answers 200 within the deadline, else None."""
    deadline = time.monotonic() + seconds
    while True:
        for base in bases:
            try:
                status, _ = http_get(f"{base}/healthz", timeout=3)
            except HTTP_ERRORS:
                continue
            if status == 200:
                return base
        if time.monotonic() >= deadline:
            return None
        time.sleep(2)


def node_urls(settings: KindSettings) -> list[str]:
    """http://<InternalIP>:<nodePort> for every node, then 127.0.0.1 (the kind config's extraPortMappings)."""
    done = kubectl(
        settings, "get", "nodes", "-o", 'jsonpath={.items[*].status.addresses[?(@.type=="InternalIP")].address}'
    )
    addresses = done.stdout.split() if done.code == 0 else []
    hosts = [f"[{ip}]" if ":" in ip else ip for ip in addresses] + ["127.0.0.1"]
    return [f"http://{host}:{settings.node_port}" for host in hosts]


@contextlib.contextmanager
def port_forward(settings: KindSettings) -> Iterator[str]:
    """`kubectl port-forward` to the Service on a free 127.0.0.1 port; yields its base URL."""
    proc = subprocess.Popen(
        [
            "kubectl",
            "--context",
            settings.context,
            "--namespace",
            settings.namespace,
            "port-forward",
            f"service/{SERVICE}",
            f":{SERVICE_PORT}",
            "--address",
            "127.0.0.1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    processes.follow(proc.stdout, lines.put)
    seen: list[str] = []
    try:
        deadline = time.monotonic() + PORT_FORWARD_WAIT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            seen.append(line)
            port = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
            if port:
                yield f"http://127.0.0.1:{port.group(1)}"
                return
        pytest.fail(f"kubectl port-forward gave no local port within {PORT_FORWARD_WAIT} s: {''.join(seen)}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def kind_settings() -> KindSettings:
    return read_kind_settings()


@pytest.fixture(scope="module")
def deployed(
    kind_settings: KindSettings, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Deployed:
    """`python -m tools up kind` once for the module; `destroy kind --yes` afterwards, even if `up` failed."""
    require_live(kind_settings)
    env = stack_env(tmp_path_factory.mktemp("pulumi-state"))
    # Registered before `up` starts: a finalizer runs even when the rest of this fixture fails.
    request.addfinalizer(functools.partial(destroy_stack, kind_settings, env, STACK_FILE.read_bytes()))
    up = run_stacks(["up", STACK], env, UP_TIMEOUT)
    if up.code != 0:
        pytest.fail(f"{up.describe()}\n{diagnostics(kind_settings)}", pytrace=False)
    return Deployed(kind_settings, env, stack_outputs(up))


@pytest.fixture(scope="module")
def app_url(deployed: Deployed) -> Iterator[str]:
    """Where the app answers through its Service: the NodePort on a node's IP, else a port-forward."""
    settings = deployed.settings
    base = wait_for_app(node_urls(settings), HTTP_WAIT)
    if base is not None:
        yield base
        return
    print(f"NodePort {settings.node_port} did not answer within {HTTP_WAIT} s; trying kubectl port-forward")
    with port_forward(settings) as forwarded:
        base = wait_for_app([forwarded], PORT_FORWARD_WAIT)
        if base is None:
            pytest.fail(
                f"the app did not answer /healthz through NodePort {settings.node_port} nor a port-forward\n"
                f"{diagnostics(settings)}",
                pytrace=False,
            )
        yield base
