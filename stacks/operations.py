"""preview, up, destroy and migrate, on Pulumi's Automation API.

State lives in Pulumi's local file backend inside the repo (`.pulumi/`) unless PULUMI_BACKEND_URL says
otherwise. `migrate` never touches the source stack until the target is up and proven to serve the same
app; any failure stops with the source untouched and says what to do next.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from stacks.offline import ROOT

INSTALL_HINT = (
    "the Pulumi CLI is not installed; install it (https://www.pulumi.com/docs/install/, e.g. "
    "`curl -fsSL https://get.pulumi.com | sh`) and open a new shell"
)
SMOKE_ATTEMPTS = 30
SMOKE_INTERVAL = 10.0


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
        if "PULUMI_CONFIG_PASSPHRASE" not in os.environ and "PULUMI_CONFIG_PASSPHRASE_FILE" not in os.environ:
            # The local backend encrypts secrets with a passphrase; an empty one suits stacks without secrets.
            self.env["PULUMI_CONFIG_PASSPHRASE"] = ""

    def _stack(self, name: str) -> Any:
        from pulumi import automation as auto  # noqa: PLC0415 - only real operations need the Automation API

        options = auto.LocalWorkspaceOptions(work_dir=str(ROOT), env_vars=self.env)
        return auto.create_or_select_stack(stack_name=name, work_dir=str(ROOT), opts=options)

    def preview(self, stack: str) -> Mapping[str, int]:
        result = self._stack(stack).preview(on_output=self.echo, diff=True)
        return {str(k): int(v) for k, v in (result.change_summary or {}).items()}

    def up(self, stack: str) -> dict[str, Any]:
        result = self._stack(stack).up(on_output=self.echo)
        return {k: "[secret]" if v.secret else v.value for k, v in result.outputs.items()}

    def destroy(self, stack: str) -> None:
        self._stack(stack).destroy(on_output=self.echo)

    def outputs(self, stack: str) -> dict[str, Any]:
        return {k: "[secret]" if v.secret else v.value for k, v in self._stack(stack).outputs().items()}


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
    """`/healthz` answers and `/info` reports the source's image: the same build (content-hash tag).

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
            f"`python -m stacks destroy {target}`."
        ) from err

    url = str(outputs.get("url") or "")
    say(f"[3/4] smoke-check {url}")
    try:
        result = check(url, source_image)
    except OperationError as err:
        raise OperationError(
            f"smoke check of {target!r} failed: {err}\n{source!r} is untouched and still serving; {target!r} is up "
            f"but unproven. Investigate it, then run migrate again, or `python -m stacks destroy {target}`."
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
