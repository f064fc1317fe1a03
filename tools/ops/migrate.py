"""`migrate` of the web app between two stacks: preview the target, up the target, smoke-check it against the
source's build, then (asked, or with --yes) destroy the source. The source is never touched before that last step;
any failure stops with it untouched and says what to do next. An application with its data: application_migrate."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tools.ops.operations import OperationError, Workspace, cluster_access, confirmed, preview_and_up
from tools.ops.smoke import SmokeResult, cluster_smoke_check, smoke_check


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

    outputs = preview_and_up(source, target, workspace, say, steps=4)

    result = _smoke_target(
        source, target, workspace, outputs, source_image, say=say, check=check, cluster_check=cluster_check
    )
    digest_note = "same digest" if result.same_digest else "same build (content tag); rebuilt, so its digest differs"
    say(f"      {target} serves {result.image} ({digest_note})")

    if not destroy_source:
        say(f"[4/4] done: {target} is serving; {source} is kept (--destroy-source removes it)")
    elif not yes and not confirmed(f"Destroy stack {source!r} and everything in it?", ask):
        say(f"[4/4] {source} kept: nothing was destroyed")
    else:
        _destroy_source(source, target, workspace, say)


def _destroy_source(source: str, target: str, workspace: Workspace, say: Callable[[str], None]) -> None:
    """Step 4, when asked for: the source destroyed, the target serving."""
    say(f"[4/4] destroy {source}")
    try:
        workspace.destroy(source)
    except Exception as err:
        raise OperationError(
            f"destroy of {source!r} failed: {err}\n{target!r} is serving. Protected clusters and registries need "
            f"`pulumi config set kubeport:releaseProtection true` and `up` on {source!r} first."
        ) from err
    say(f"      {source} destroyed; {target} is serving")


def _smoke_target(
    source: str,
    target: str,
    workspace: Workspace,
    outputs: Mapping[str, Any],
    source_image: str,
    *,
    say: Callable[[str], None],
    check: Callable[[str, str], SmokeResult],
    cluster_check: Callable[[Sequence[str], str, str], SmokeResult],
) -> SmokeResult:
    """Step 3: the target serves the source's build, at its url or, when this machine cannot reach one, through
    its cluster's API server."""
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
    return result
