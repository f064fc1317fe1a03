"""preview, up, destroy and migrate, on Pulumi's Automation API.

State lives in Pulumi's local file backend inside the repo (`.pulumi/`) unless PULUMI_BACKEND_URL says
otherwise. `migrate` never touches the source stack until the target is up and proven to serve the same
app; any failure stops with the source untouched and says what to do next.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tools.passphrase import PassphraseError, passphrase_env
from tools.stack_files import ROOT

INSTALL_HINT = (
    "the Pulumi CLI is not installed; install it (https://www.pulumi.com/docs/install/, e.g. "
    "`curl -fsSL https://get.pulumi.com | sh`) and open a new shell"
)
PAGE_MARKER = b"<title>kubeport</title>"
"""What the app's page carries (app/src/index.html): the smoke step checks the page itself, not just /healthz."""
SMOKE_ATTEMPTS = 30
SMOKE_INTERVAL = 10.0
PREVIEW_ENV = {"PULUMI_SKIP_CHECKPOINTS": "true"}
"""Set for previews only. A preview writes no state, yet the engine serializes the whole state after every step
and throws the copy away: quadratic in the resources, 30% of a 50-app preview (docs/benchmarks.md). `up` and
`destroy` keep their checkpoints: they are the record of what exists if the CLI dies midway."""


class OperationError(Exception):
    """A step failed; the message says what state things are in and what to do next."""


class Workspace(Protocol):
    """What kubeport needs from Pulumi: the Automation API in real use, a fake in tests."""

    def preview(self, stack: str) -> Mapping[str, int]:
        """Run a preview with a diff; return the change summary (`same`, `create`, `update`, `delete`, ...)."""

    def up(self, stack: str) -> dict[str, Any]:
        """Deploy; return the stack outputs (secrets as `[secret]`)."""

    def destroy(self, stack: str) -> None:
        """Delete every resource of the stack."""

    def outputs(self, stack: str) -> dict[str, Any]:
        """The stack's current outputs; empty if it was never deployed."""

    def config(self, stack: str) -> dict[str, str]:
        """The stack's configuration by full key (`kubeport:kubeContext`); secrets as `[secret]`."""

    def cluster_kubeconfig(self, reference: str) -> str:
        """The kubeconfig a cluster stack exports (a secret, revealed only for the smoke check)."""


def backend_url() -> str:
    return os.environ.get("PULUMI_BACKEND_URL") or f"file://{ROOT / '.pulumi'}"


class AutomationWorkspace:
    """The real thing: Pulumi's Automation API over the CLI, progress streamed to the terminal."""

    def __init__(self, echo: Callable[[str], None] = print) -> None:
        if shutil.which("pulumi") is None:
            raise OperationError(INSTALL_HINT)
        self.echo = echo
        self.env = {"PULUMI_BACKEND_URL": backend_url()}
        if backend_url().startswith("file://"):
            (ROOT / ".pulumi").mkdir(exist_ok=True)
        # Secrets are encrypted with the user's passphrase, or the checkout's own; never an empty one.
        try:
            self.env.update(passphrase_env(os.environ))
        except PassphraseError as err:
            raise OperationError(str(err)) from err

    def _stack(self, name: str, env: Mapping[str, str] | None = None) -> Any:
        from pulumi import automation as auto  # noqa: PLC0415 - only real operations need the Automation API

        options = auto.LocalWorkspaceOptions(work_dir=str(ROOT), env_vars={**self.env, **(env or {})})
        return auto.create_or_select_stack(stack_name=name, work_dir=str(ROOT), opts=options)

    def preview(self, stack: str) -> Mapping[str, int]:
        result = self._stack(stack, PREVIEW_ENV).preview(on_output=self.echo, diff=True)
        return {str(k): int(v) for k, v in (result.change_summary or {}).items()}

    def up(self, stack: str) -> dict[str, Any]:
        result = self._stack(stack).up(on_output=self.echo)
        return {k: "[secret]" if v.secret else v.value for k, v in result.outputs.items()}

    def destroy(self, stack: str) -> None:
        self._stack(stack).destroy(on_output=self.echo)

    def outputs(self, stack: str) -> dict[str, Any]:
        return {k: "[secret]" if v.secret else v.value for k, v in self._stack(stack).outputs().items()}

    def config(self, stack: str) -> dict[str, str]:
        return {k: "[secret]" if v.secret else str(v.value) for k, v in self._stack(stack).get_all_config().items()}

    def cluster_kubeconfig(self, reference: str) -> str:
        done = subprocess.run(
            ["pulumi", "stack", "output", "kubeconfig", "--show-secrets", "--stack", reference, "--non-interactive"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0 or not done.stdout.strip():
            raise OperationError(f"cannot read the kubeconfig of cluster stack {reference!r}: {done.stderr.strip()}")
        return done.stdout


def changes(summary: Mapping[str, int]) -> dict[str, int]:
    """The non-trivial part of a change summary."""
    return {op: n for op, n in summary.items() if op != "same" and n}


# --- the smoke check ------------------------------------------------------------------------------

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
    last = "no answer"
    for attempt in range(attempts):
        if attempt:
            sleep(interval)
        try:
            status, body = fetch(f"{url.rstrip('/')}/healthz")
            if status != 200 or body.strip() != b"ok":
                last = f"/healthz answered {status} {body[:40]!r}"
                continue
            status, body = fetch(f"{url.rstrip('/')}/")
            if status != 200 or PAGE_MARKER not in body:
                last = f"/ answered {status} without the app's page ({body[:60]!r})"
                continue
            status, body = fetch(f"{url.rstrip('/')}/info")
            info = json.loads(body) if status == 200 else {}
        except (OSError, ValueError) as err:
            last = f"{type(err).__name__}: {err}"
            continue
        image = str(info.get("image", ""))
        tag, digest = image_identity(image)
        if tag != expected_tag:
            raise OperationError(f"the target serves image {image!r}, not the source's {source_image!r}")
        return SmokeResult(image=image, same_digest=bool(digest) and digest == expected_digest)
    raise OperationError(f"{url} did not pass the smoke check after {attempts} attempts: {last}")


Kubectl = Callable[[list[str]], str]
"""Runs kubectl with these arguments and returns its standard output; raises OperationError on failure."""
WEB_PODS = "app.kubernetes.io/name=kubeport,app.kubernetes.io/component=web"


def run_kubectl(args: list[str]) -> str:
    binary = shutil.which("kubectl")
    if binary is None:
        raise OperationError("kubectl is not installed; the smoke check asks the target's API server with it")
    try:
        done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as err:
        raise OperationError(f"kubectl {' '.join(args)} did not answer within 60 s") from err
    if done.returncode != 0:
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
    last = "not checked"
    for attempt in range(attempts):
        if attempt:
            sleep(interval)
        deployments = json.loads(kubectl([*base, "get", "deployments", "-l", WEB_PODS, "-o", "json"]))["items"]
        if len(deployments) != 1:
            last = f"{len(deployments)} web Deployments in {namespace}"
            continue
        status, wanted = deployments[0].get("status") or {}, int(deployments[0]["spec"].get("replicas", 1))
        if int(status.get("availableReplicas") or 0) < wanted:
            last = f"{status.get('availableReplicas') or 0} of {wanted} replicas available"
            continue
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
            last = f"the Service's endpoints list {len(ready_ips & pod_ips)} of {len(pod_ips)} web pods as ready"
            continue
        images = {c["image"] for p in running for c in p["spec"]["containers"]}
        for image in images:
            tag, _ = image_identity(image)
            if image != source_image and tag != expected_tag:
                raise OperationError(f"the target runs image {image!r}, not the source's {source_image!r}")
        image = sorted(images)[0]
        _, digest = image_identity(image)
        return SmokeResult(image=image, same_digest=bool(digest) and digest == expected_digest)
    raise OperationError(f"{namespace} did not pass the smoke check after {attempts} attempts: {last}")


@contextlib.contextmanager
def cluster_access(workspace: Workspace, config: Mapping[str, str]) -> Iterator[tuple[list[str], str]]:
    """kubectl's arguments to reach a stack's cluster, and its name: the context of a stack on an existing
    cluster, or an app stack's cluster stack's kubeconfig (in a private temporary file, removed afterwards).
    Empty for a cloud stack: its url is the check."""
    context = config.get("kubeport:kubeContext", "")
    reference = config.get("kubeport:clusterStack", "")
    if context:
        yield ["--context", context], context
    elif reference:
        with tempfile.TemporaryDirectory(prefix="kubeport-smoke-") as folder:
            path = Path(folder) / "kubeconfig"
            path.write_text(workspace.cluster_kubeconfig(reference))
            path.chmod(0o600)
            yield ["--kubeconfig", str(path)], f"cluster stack {reference}"
    else:
        yield [], ""


def confirmed(question: str, ask: Callable[[str], str] = input) -> bool:
    """Ask a yes/no question; only `y` or `yes` (any case) is a yes."""
    return ask(f"{question} [y/N] ").strip().lower() in ("y", "yes")


# --- migrate --------------------------------------------------------------------------------------


def migrate(
    source: str,
    target: str,
    workspace: Workspace,
    *,
    destroy_source: bool = False,
    yes: bool = False,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
    check: Callable[[str, str], SmokeResult] = smoke_check,
    cluster_check: Callable[[Sequence[str], str, str], SmokeResult] = cluster_smoke_check,
) -> None:
    """preview target -> up target -> smoke-check target -> (asked or --yes) destroy source.

    Raises OperationError at the first failure; the source stack is never touched before the last step.
    """
    if source == target:
        raise OperationError("source and target are the same stack")
    source_outputs = workspace.outputs(source)
    source_image = str(source_outputs.get("image") or "")
    if not source_image:
        raise OperationError(f"stack {source!r} has no `image` output: deploy it first, or use `up {target}`")

    say(f"[1/4] preview {target}")
    try:
        summary = workspace.preview(target)
    except Exception as err:
        raise OperationError(
            f"preview of {target!r} failed: {err}\nNothing was changed. Fix the target's config and run migrate again."
        ) from err
    say(f"      changes: {changes(summary) or 'none'}")

    say(f"[2/4] up {target}")
    try:
        outputs = workspace.up(target)
    except Exception as err:
        raise OperationError(
            f"up of {target!r} failed: {err}\n{source!r} is untouched and still serving. {target!r} may be partly "
            f"created: fix the cause and run migrate again (up resumes), or remove it with "
            f"`python -m tools destroy {target}`."
        ) from err

    url = str(outputs.get("url") or "")
    config = workspace.config(target)
    try:
        with cluster_access(workspace, config) as (access, where):
            if url.startswith(("http://", "https://")) or not access:
                say(f"[3/4] smoke-check {url}")
                result = check(url, source_image)
            else:
                # No address this machine can reach (a NodePort without kubeport:nodeAddress): ask the API server.
                namespace = str(outputs.get("namespace") or "")
                say(f"[3/4] smoke-check through the API server of {where} (no reachable url: {url})")
                result = cluster_check(access, namespace, source_image)
    except OperationError as err:
        raise OperationError(
            f"smoke check of {target!r} failed: {err}\n{source!r} is untouched and still serving; {target!r} is up "
            f"but unproven. Investigate it, then run migrate again, or `python -m tools destroy {target}`."
        ) from err
    digest_note = "same digest" if result.same_digest else "same build (content tag); rebuilt, so its digest differs"
    say(f"      {target} serves {result.image} ({digest_note})")

    if not destroy_source:
        say(f"[4/4] done: {target} is serving; {source} is kept (--destroy-source removes it)")
        return
    if not yes and not confirmed(f"Destroy stack {source!r} and everything in it?", ask):
        say(f"[4/4] {source} kept: nothing was destroyed")
        return
    say(f"[4/4] destroy {source}")
    try:
        workspace.destroy(source)
    except Exception as err:
        raise OperationError(
            f"destroy of {source!r} failed: {err}\n{target!r} is serving. Protected clusters and registries need "
            f"`pulumi config set kubeport:releaseProtection true` and `up` on {source!r} first."
        ) from err
    say(f"      {source} destroyed; {target} is serving")


def echo_error(err: Exception) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 1
