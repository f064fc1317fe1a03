"""The workspace every operation runs on: preview, up, destroy, outputs and config of a stack, on Pulumi's
Automation API, and a stack's cluster as kubectl reaches it.

State lives in Pulumi's local file backend inside the repo (`.pulumi/`) unless PULUMI_BACKEND_URL says
otherwise. The smoke checks are in tools/ops/smoke.py, `migrate` in tools/ops/migrate.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from tools import processes
from tools.passphrase import PassphraseError, passphrase_env
from tools.stack_files import ROOT

INSTALL_HINT = (
    "the Pulumi CLI is not installed; install it (https://www.pulumi.com/docs/install/, e.g. "
    "`curl -fsSL https://get.pulumi.com | sh`) and open a new shell"
)
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

    def cli(self, *args: str, input_text: str | None = None) -> processes.Done:
        """`pulumi ARGS` in the project, on this workspace's backend and passphrase, with a deadline."""
        return processes.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            timeout=120,
            input_text=input_text,
        )

    def cluster_kubeconfig(self, reference: str) -> str:
        done = self.cli("stack", "output", "kubeconfig", "--show-secrets", "--stack", reference)
        if done.code != 0 or not done.stdout.strip():
            raise OperationError(f"cannot read the kubeconfig of cluster stack {reference!r}: {done.stderr.strip()}")
        return done.stdout


def changes(summary: Mapping[str, int]) -> dict[str, int]:
    """The non-trivial part of a change summary."""
    return {op: n for op, n in summary.items() if op != "same" and n}


def preview_and_up(
    source: str, target: str, workspace: Workspace, say: Callable[[str], None], *, steps: int
) -> Mapping[str, Any]:
    """A migrate's first two steps (of `steps`): the target previewed, then brought up; its outputs. Whatever
    fails, the source is untouched, and the message says so and what to do next."""
    say(f"[1/{steps}] preview {target}")
    try:
        summary = workspace.preview(target)
    except Exception as err:
        raise OperationError(
            f"preview of {target!r} failed: {err}\nNothing was changed. Fix the target's config and run migrate again."
        ) from err
    say(f"      changes: {changes(summary) or 'none'}")
    say(f"[2/{steps}] up {target}")
    try:
        return workspace.up(target)
    except Exception as err:
        raise OperationError(
            f"up of {target!r} failed: {err}\n{source!r} is untouched and still serving. {target!r} may be partly "
            f"created: fix the cause and run migrate again (up resumes), or remove it with "
            f"`python -m tools destroy {target}`."
        ) from err


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


def echo_error(err: Exception) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 1
