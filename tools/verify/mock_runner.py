"""Run the real program for one stack under Pulumi's mock monitor: no CLI, no cluster, no cloud.

The one mock runner of the project: tests, `render`, `check`, `diff` and `bench` use it. The engine is a
`RecordingMonitor`, which keeps every registration with its parent, provider and protect flag (the mock API
alone does not expose them); the clouds' answers come from `tools.verify.fake_clouds`, the config from
`tools.stack_files`.
"""

from __future__ import annotations

import asyncio
import gc
import runpy
import sys
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.rpc import UNKNOWN, deserialize_properties, is_rpc_secret
from pulumi.runtime.stack import run_pulumi_func

from stacks.config import qualified
from stacks.config.keys import RENAMED_TARGETS
from tools.stack_files import PROJECT, ROOT, stack_config
from tools.verify.fake_clouds import FakeCloud

PROGRAM = ROOT / "__main__.py"
T = TypeVar("T")


def dig(value: Any, *path: str | int) -> Any:
    """The value at `path` in nested resource properties (a key of a mapping, an index of a list); None where the
    path breaks."""
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


@dataclass
class Registered:
    """One resource registration as the engine saw it."""

    urn: str
    id: str
    type: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    provider: str
    """Provider reference `<provider urn>::<id>`; empty when none was given (default provider)."""
    parent: str
    protect: bool
    custom: bool
    dependencies: list[str] = field(default_factory=list)
    secret_inputs: list[str] = field(default_factory=list)
    """Paths of inputs sent as secrets, e.g. `registries[0].password`."""
    ignore_changes: list[str] = field(default_factory=list)
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    """create/update/delete durations the engine waits for the resource; only those that are set."""
    additional_secret_outputs: list[str] = field(default_factory=list)
    """Outputs the resource asked to keep secret in the state whatever its inputs (a generated password)."""
    replace_on_changes: list[str] = field(default_factory=list)
    """Input paths whose change replaces the resource instead of updating it."""
    delete_before_replace: bool = False


@dataclass
class StackOutput:
    value: Any
    secret: bool
    known: bool


@dataclass
class ProgramRun:
    """What one program run registered and exported, or the error that stopped it."""

    stack: str
    resources: list[Registered]
    outputs: dict[str, StackOutput]
    error: BaseException | None
    config: dict[str, str]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Registered:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {len(found)}: {[r.name for r in found]}")
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def kubernetes_objects(self) -> list[Registered]:
        """Kubernetes API objects; a Helm release is a provider operation, not an object."""
        return [
            r
            for r in self.resources
            if r.type.startswith("kubernetes:") and r.custom and not r.type.startswith("kubernetes:helm.sh/")
        ]

    def helm_releases(self) -> list[Registered]:
        return [r for r in self.resources if r.type.startswith("kubernetes:helm.sh/")]


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, keeping what each registration asked for (parent, provider, protect)."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        properties = deserialize_properties(request.object)
        inputs = _plain(properties)
        state = self.resources[response.urn].state if response.urn in self.resources else {}
        self.registered.append(
            Registered(
                urn=response.urn,
                id=response.id,
                type=request.type,
                name=request.name,
                inputs=inputs,
                state=_plain(state),
                provider=request.provider,
                parent=request.parent,
                protect=bool(request.protect),
                custom=bool(request.custom),
                dependencies=list(request.dependencies),
                secret_inputs=_secret_paths(properties),
                ignore_changes=list(request.ignoreChanges),
                custom_timeouts={
                    op: str(getattr(request.customTimeouts, op))
                    for op in ("create", "update", "delete")
                    if request.HasField("customTimeouts") and getattr(request.customTimeouts, op)
                },
                additional_secret_outputs=list(request.additionalSecretOutputs),
                replace_on_changes=list(request.replaceOnChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
            )
        )
        return response


def _secret_paths(value: Any, path: str = "") -> list[str]:
    if is_rpc_secret(value):
        return [path]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _secret_paths(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _secret_paths(v, f"{path}[{i}]")]
    return []


def _plain(value: Any) -> Any:
    """Deserialized properties as plain JSON-like data (secrets unwrapped, unknowns as None)."""
    if is_rpc_secret(value):
        return _plain(value.get("value"))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value == UNKNOWN:
        return None
    return value


def run_program(
    stack: str,
    overrides: Mapping[str, str | None] | None = None,
    secret_overrides: Mapping[str, str] | None = None,
    *,
    preview: bool = False,
    program: Path = PROGRAM,
    config_root: Path = ROOT,
    mocks: pulumi_mocks.Mocks | None = None,
) -> ProgramRun:
    """Run `program` for `stack` under mocks and return what it registered and exported.

    The stack's config comes from `config_root` (the repo: `Pulumi.yaml` and `Pulumi.<stack>.yaml`).

    `overrides` replace stack values (full or bare `kubeport` keys); `secret_overrides` do the same as
    encrypted values. A value of None in `overrides` removes the key.
    """
    config, secrets = stack_config(stack, config_root)
    changes: dict[str, str | None] = {**(overrides or {}), **(secret_overrides or {})}
    for key, value in changes.items():
        full_key = qualified(key)
        secrets.discard(full_key)
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value
    secrets |= {qualified(k) for k in (secret_overrides or {})}

    monitor = RecordingMonitor(mocks or FakeCloud(references=cluster_references(config, config_root)))
    pulumi_settings.ROOT.set(None)
    set_all_config(config, sorted(secrets))
    pulumi_mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    def main() -> None:
        runpy.run_path(str(program), run_name="__main__")

    error: BaseException | None = None
    try:
        run_to_completion(run_pulumi_func(main))
    except Exception as err:
        error = err
    _drop_unfinished_rpcs(failed=error is not None)

    outputs: dict[str, StackOutput] = {}
    root = pulumi_settings.get_root_resource()
    if error is None and root is not None:
        for name, value in getattr(root, "outputs", {}).items():
            outputs[name] = _resolve(value)
    return ProgramRun(stack=stack, resources=list(monitor.registered), outputs=outputs, error=error, config=config)


def _drop_unfinished_rpcs(*, failed: bool) -> None:
    """A program that failed mid-way leaves registrations and outputs waiting on the failed one; the SDK keeps
    them, and their error, on this thread's loop, in its process-wide RPC manager and among its outputs, where the
    next run in this process would fail on them."""
    manager = pulumi_settings.SETTINGS.rpc_manager
    loop = asyncio.get_event_loop()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    manager.clear()
    with pulumi_settings.SETTINGS.lock:
        pulumi_settings.SETTINGS.outputs.clear()
    if failed:
        # Their futures hold the error unretrieved: collected later, at any allocation (inside ast.parse, say), each
        # would log it from its finalizer. Retrieved here, they go quietly.
        for obj in gc.get_objects():
            if isinstance(obj, asyncio.Future) and obj.done() and not obj.cancelled():
                obj.exception()
        gc.collect()


def cluster_references(config: Mapping[str, str], root: Path) -> dict[str, tuple[dict[str, Any], list[str]]]:
    """For an app stack: its cluster stack's outputs, from that stack's own file run offline first."""
    reference = config.get(f"{PROJECT}:clusterStack", "")
    stack_file = root / f"Pulumi.{reference.rsplit('/', 1)[-1]}.yaml"
    target = config.get(f"{PROJECT}:target", "")
    if RENAMED_TARGETS.get(target, target) != "stackref" or not reference or not stack_file.exists():
        return {}
    cluster = run_program(reference.rsplit("/", 1)[-1], config_root=root)
    if cluster.error is not None:
        return {}
    outputs = {name: output.value for name, output in cluster.outputs.items()}
    return {reference: (outputs, [name for name, output in cluster.outputs.items() if output.secret])}


def _resolve(value: Any) -> StackOutput:
    output = pulumi.Output.from_input(value)

    async def read() -> StackOutput:
        known = await output.is_known()
        secret = await output.is_secret()
        resolved = await output.future(with_unknowns=True) if known else None
        return StackOutput(value=_plain(resolved), secret=secret, known=known)

    return run_to_completion(read())


def run_to_completion(awaitable: Awaitable[T]) -> T:
    """Run a coroutine on this thread's event loop (the one the SDK's mocks use), made if there is none."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop.run_until_complete(awaitable)
