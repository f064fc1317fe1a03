"""`python -m tools rollback`: a stack's app back to the image and settings of an earlier successful update, taken
from the stack's own history, with nothing built.

Pulumi has no way back of its own (its answer is to revert the source and run `up`, which builds again). A DIY
backend keeps a record of every update and the checkpoint it ended with: the record holds the update's config, the
checkpoint the image it deployed (the stack's `image` output, pinned by digest). A rollback writes that update's
`kubeport:*` settings back into the stack file, with `kubeport:image` set to that digest and the keys that only
mean something to a build removed, then runs `up`: the same rolling update, rollout bound and smoke check as any
release. The stack file then says what runs, so the next preview shows no change.

It brings back neither the program's code nor app/ (they are the checkout's: version control reverts them) nor
config outside kubeport's namespace. docs/releases.md compares it with reverting the source.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from stacks.config import NAMESPACE, ConfigError, qualified
from stacks.config.keys import keys_by_name
from stacks.config.reader import Reader
from stacks.config.rules import BUILD_KEYS, parse
from tools.ops.backend_files import BackendFiles, backend_files
from tools.ops.operations import OperationError, backend_url, confirmed
from tools.processes import Done
from tools.stack_files import PROJECT, ROOT, SECRET_PLACEHOLDER

Value = tuple[str, bool]
"""A config value and whether it is a secret."""
IMAGE_KEY = qualified("image")
NOT_RESTORED = frozenset(qualified(name) for name in BUILD_KEYS)
"""Keys a rollback leaves out: they say how an image is built, and a rolled-back release is not built."""
HISTORY_PAGE = "1000000"
"""`pulumi stack history` lists 10 updates unless told otherwise: every update, on one page."""


class Pulumi(Protocol):
    """What a rollback needs of Pulumi: its CLI for the history and the config, and `up`."""

    def cli(self, *args: str, input_text: str | None = None) -> Done:
        """`pulumi ARGS` in the project with the workspace's backend and passphrase."""

    def up(self, stack: str) -> dict[str, Any]:
        """Deploy; return the stack outputs."""


@dataclass(frozen=True)
class Update:
    """One update in a stack's history: its number (1 is the stack's first), what it was, how it ended, the
    `kubeport:*` config it ran with, and the app image it left deployed ('' when it left none)."""

    number: int
    kind: str
    result: str
    started: datetime
    config: Mapping[str, Value]
    image: str

    @property
    def release(self) -> bool:
        """A successful update that left an app image: one a rollback can return to."""
        return self.kind == "update" and self.result == "succeeded" and bool(self.image)


@dataclass(frozen=True)
class Plan:
    """The config changes that bring a stack back to an update's release."""

    stack: str
    update: Update
    running: str
    sets: Mapping[str, Value]
    removes: tuple[str, ...]
    replaced: Mapping[str, Value]
    """The current values of the keys that change or go: how to put them back."""

    def lines(self) -> list[str]:
        """What the rollback does, secrets masked."""
        update = self.update
        out = [
            f"rollback of stack {self.stack!r} to update {update.number} ({update.started:%Y-%m-%d %H:%M:%S} UTC)",
            f"  image: {self.running or '(none)'}",
            f"      -> {update.image}",
        ]
        for key, value in self.sets.items():
            if key != IMAGE_KEY:
                before = self.replaced.get(key)
                out.append(f"  {key}: {shown(before) if before else '(unset)'} -> {shown(value)}")
        out.extend(f"  {key}: {shown(self.replaced[key])} -> (removed)" for key in self.removes)
        return out


def shown(value: Value) -> str:
    return SECRET_PLACEHOLDER if value[1] else value[0]


def settings(config: Mapping[str, Value]) -> dict[str, Value]:
    """The settings two releases are compared by: the config without its defaults, the image and the build's keys."""
    return {k: v for k, v in meaningful(config).items() if k != IMAGE_KEY and k not in NOT_RESTORED}


def choose(updates: Sequence[Update], to: int | None) -> Update:
    """The update to return to: number `to`, or by default the last good release when the newest update failed
    (a release stopped halfway), else the newest release before the running one that differs from it."""
    if to is not None:
        found = [u for u in updates if u.number == to]
        if not found:
            raise OperationError(f"the stack has no update {to} (it has 1 to {len(updates)}; --list shows them)")
        update = found[0]
        if update.kind != "update" or update.result != "succeeded":
            raise OperationError(
                f"update {to} is a {update.kind} that {update.result}: only a successful update can be returned to"
            )
        if not update.image:
            raise OperationError(
                f"update {to} left no app image (a cluster stack's update, or one that deployed no "
                "app): there is no release to return to"
            )
        return update
    releases = [u for u in updates if u.release]
    if not releases:
        raise OperationError("the stack has no successful update that deployed the app: nothing to return to")
    last_updates = [u for u in updates if u.kind == "update"]
    if last_updates and last_updates[-1].result != "succeeded":
        return releases[-1]
    running = releases[-1]
    for update in reversed(releases[:-1]):
        if update.image != running.image or settings(update.config) != settings(running.config):
            return update
    raise OperationError(
        f"no release before update {running.number} differs from it: every earlier successful update deployed "
        "the same image with the same settings"
    )


def meaningful(config: Mapping[str, Value]) -> dict[str, Value]:
    """The keys that hold something other than their declared default (the CLI lists Pulumi.yaml's defaults with
    the stack's own values; a default is the same as no value). Keys kubeport does not declare are kept, for the
    config rules to name."""
    declared = keys_by_name()
    ours = {k.partition(":")[2]: v for k, v in config.items()}
    reader = Reader({name: value for name, (value, _) in ours.items()}, set(), declared)
    return {qualified(n): v for n, v in ours.items() if v[1] or n not in declared or reader.is_set(n)}


def plan_for(stack: str, current: Mapping[str, Value], update: Update, running: str) -> Plan:
    """The stack file's `kubeport:*` keys made those of `update`, with its image pinned (pure)."""
    now = meaningful(current)
    wanted = settings(update.config) | {IMAGE_KEY: (update.image, False)}
    sets = {k: v for k, v in wanted.items() if now.get(k) != v}
    removes = tuple(sorted(k for k in now if k not in wanted))
    replaced = {k: now[k] for k in (*sets, *removes) if k in now}
    return Plan(stack, update, running, sets, removes, replaced)


def check(plan: Plan, current: Mapping[str, Value]) -> None:
    """The config after the rollback, validated by the program's own rules before anything changes."""
    after = {k: v for k, v in current.items() if k not in plan.removes} | dict(plan.sets)
    try:
        parse({k: v[0] for k, v in after.items()}, {k for k, v in after.items() if v[1]})
    except ConfigError as err:
        raise OperationError(
            f"update {plan.update.number}'s settings are not valid config today, so nothing was changed:\n{err}"
        ) from err


def image_of(checkpoint: Mapping[str, Any]) -> str:
    """The `image` output of the stack resource in a checkpoint file's JSON ('' when it has none)."""
    latest = (checkpoint.get("checkpoint") or {}).get("latest") or {}
    for resource in latest.get("resources") or []:
        if resource.get("type") == "pulumi:pulumi:Stack":
            image = (resource.get("outputs") or {}).get("image")
            return image if isinstance(image, str) else ""
    return ""


def _json(data: bytes, name: str) -> Any:
    return json.loads(gzip.decompress(data) if name.endswith(".gz") else data)


def backend_history(files: BackendFiles, stack: str, project: str = PROJECT) -> list[tuple[int, str]]:
    """Each update of a DIY backend's stack, oldest first: when it started (Unix seconds) and the image its
    checkpoint left deployed. Pulumi writes `<stack>-<time>.history.json` beside `<stack>-<time>.checkpoint.json`
    under `.pulumi/history/<project>/<stack>/`, gzipped when PULUMI_DIY_BACKEND_GZIP is set. `files`: the backend's
    files (`backend_files(url)`)."""
    folder = f".pulumi/history/{project}/{stack}"
    names = set(files.names(folder))
    found: list[tuple[int, str]] = []
    for name in names:
        stamp, _, rest = name.removeprefix(f"{stack}-").partition(".")
        if name.startswith(f"{stack}-") and stamp.isdigit() and rest in ("history.json", "history.json.gz"):
            found.append((int(stamp), name))  # not the blob store's .attrs files
    history: list[tuple[int, str]] = []
    for _, name in sorted(found):
        checkpoint = name.replace(".history.json", ".checkpoint.json")
        image = image_of(_json(files.read(folder, checkpoint), checkpoint)) if checkpoint in names else ""
        history.append((int(_json(files.read(folder, name), name).get("startTime") or 0), image))
    return history


def _ours(config: Mapping[str, Any]) -> dict[str, Value]:
    """The `kubeport:*` keys of the CLI's JSON config ({key: {value, secret}}), values revealed."""
    out: dict[str, Value] = {}
    for key, entry in config.items():
        if key.startswith(f"{NAMESPACE}:") and isinstance(entry, Mapping):
            value = entry.get("value")
            text = value if isinstance(value, str) else json.dumps(value)
            out[key] = (text, bool(entry.get("secret")))
    return out


def _must(done: Done, what: str) -> str:
    if done.code != 0:
        raise OperationError(f"{what} failed: {done.first_line()}")
    return done.stdout


def read_updates(stack: str, pulumi: Pulumi, url: str) -> list[Update]:
    """The stack's history, oldest first: the CLI's records (config with secrets revealed, kept in memory only)
    paired with the backend's checkpoints, which hold the images."""
    records = json.loads(
        _must(
            pulumi.cli("stack", "history", "--json", "--show-secrets", "--page-size", HISTORY_PAGE, "--stack", stack),
            f"reading the history of stack {stack!r}",
        )
        or "[]"
    )
    records.reverse()  # the CLI lists the newest first
    backend = backend_history(backend_files(url), stack)
    if len(backend) != len(records):
        raise OperationError(
            f"the history of stack {stack!r} has {len(records)} updates, its backend's folder "
            f"{len(backend)} checkpoints: it cannot tell which image each update deployed"
        )
    updates: list[Update] = []
    for number, (record, (started, image)) in enumerate(zip(records, backend, strict=True), start=1):
        when = datetime.fromisoformat(str(record.get("startTime")).replace("Z", "+00:00"))
        if abs(when.timestamp() - started) > 1:
            raise OperationError(
                f"update {number} of stack {stack!r} started at {when:%H:%M:%S} by its record and "
                f"at {datetime.fromtimestamp(started, UTC):%H:%M:%S} by its checkpoint: they do "
                "not belong together"
            )
        updates.append(
            Update(
                number,
                str(record.get("kind")),
                str(record.get("result")),
                when,
                _ours(record.get("config") or {}),
                image,
            )
        )
    return updates


def listing(updates: Sequence[Update]) -> list[str]:
    """The stack's updates, newest first, the default target marked."""
    try:
        default = choose(updates, None).number
    except OperationError:
        default = 0
    lines = []
    for u in reversed(updates):
        mark = "  <- default" if u.number == default else ""
        lines.append(f"{u.number:>4}  {u.started:%Y-%m-%d %H:%M:%S}  {u.kind:<8} {u.result:<11} {u.image or '-'}{mark}")
    return lines


def apply(plan: Plan, pulumi: Pulumi, stack_file: Path) -> None:
    """Write the plan into the stack file through the CLI (values on its standard input, never its command line);
    if any step fails, the file is put back as it was."""
    saved = stack_file.read_bytes() if stack_file.exists() else None
    try:
        for key, (value, secret) in plan.sets.items():
            # The value on standard input, secret or not: never on the command line, where `-5` would be a flag.
            flags = ("--secret",) if secret else ("--plaintext",)
            _must(pulumi.cli("config", "set", *flags, "--stack", plan.stack, key, input_text=value), f"setting {key}")
        for key in plan.removes:
            _must(pulumi.cli("config", "rm", "--stack", plan.stack, key), f"removing {key}")
    except OperationError as err:
        if saved is not None:
            stack_file.write_bytes(saved)
        raise OperationError(f"{err}; {stack_file.name} is as it was and nothing was deployed") from err


def rollback(
    stack: str,
    pulumi: Pulumi,
    *,
    to: int | None = None,
    yes: bool = False,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
    url: str | None = None,
    stack_file: Path | None = None,
) -> None:
    """Return `stack` to an earlier release: plan, check, ask, write the stack file, `up`. `url` is the backend
    (default PULUMI_BACKEND_URL's), `stack_file` Pulumi.<stack>.yaml (default the project's)."""
    updates = read_updates(stack, pulumi, url or backend_url())
    update = choose(updates, to)
    current = _ours(
        json.loads(
            _must(
                pulumi.cli("config", "--json", "--show-secrets", "--stack", stack),
                f"reading the config of stack {stack!r}",
            )
        )
    )
    application = qualified("application")
    if current.get(application, ("", False))[0] or update.config.get(application, ("", False))[0]:
        raise OperationError(
            "rollback returns one app's image; an application's services (kubeport:application) "
            "take their images from their workload files, which version control reverts"
        )
    running = str(
        json.loads(
            _must(pulumi.cli("stack", "output", "--json", "--stack", stack), f"reading the outputs of stack {stack!r}")
            or "{}"
        ).get("image")
        or ""
    )
    plan = plan_for(stack, current, update, running)
    if not plan.sets and not plan.removes:
        say(f"stack {stack!r} already has update {update.number}'s image and settings: nothing to roll back")
        return
    check(plan, current)
    for line in plan.lines():
        say(line)
    if not yes and not confirmed(f"Roll stack {stack!r} back to update {update.number}?", ask):
        say("nothing was changed")
        return
    apply(plan, pulumi, stack_file or ROOT / f"Pulumi.{stack}.yaml")
    started = time.monotonic()
    try:
        pulumi.up(stack)
    except Exception as err:
        raise OperationError(
            f"up of the rollback failed: {err}\nPulumi.{stack}.yaml holds update {update.number}'s settings: fix the "
            f"cause and run `pulumi up --stack {stack}` again, or put the file back from version control."
        ) from err
    say(
        f"stack {stack!r} runs update {update.number}'s release again ({time.monotonic() - started:.0f} s, nothing "
        f"built): {update.image}"
    )
    say(f"kubeport:image pins it. To release from the source again: {' && '.join(back_to_source(plan))}")


def back_to_source(plan: Plan) -> list[str]:
    """The commands that undo the pin: the image key removed, the build's keys the rollback removed set again."""
    commands = [f"pulumi config rm kubeport:image --stack {plan.stack}"]
    for key in sorted(k for k in plan.replaced if k in NOT_RESTORED):
        value, secret = plan.replaced[key]
        commands.append(
            f"pulumi config set --secret {key} --stack {plan.stack}"
            if secret
            else f"pulumi config set {key} {value} --stack {plan.stack}"
        )
    return commands
