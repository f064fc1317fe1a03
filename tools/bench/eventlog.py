"""Where a `pulumi up` or `preview` spends its time, from the engine's own events (`--event-log`).

The engine stamps its events in whole seconds, too coarse for steps that take milliseconds. So the command runs
with `--event-log FILE` and a reader thread follows the file as the engine writes it, stamping each event when it
arrives (the engine writes and syncs each event as it happens). From those: the time to the engine's first
event (CLI and engine start), to the first resource step (language host, program start, provider plugins), each
resource's step (its create or update and its await), and the end (summary, state written, exit).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import processes


@dataclass(frozen=True)
class Event:
    """One engine event and when it arrived, in seconds since the command started."""

    at: float
    kind: str
    body: dict[str, Any]

    @property
    def urn(self) -> str:
        return str((self.body.get("metadata") or {}).get("urn", ""))


@dataclass
class Follower:
    """Reads a growing event log, stamping each complete line as it appears."""

    path: Path
    started: float
    events: list[Event] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        while not self.path.exists() and not stop.is_set():
            stop.wait(0.002)
        with contextlib.suppress(FileNotFoundError), self.path.open() as log:
            pending = ""
            while True:
                chunk = log.readline()
                if chunk:
                    pending += chunk
                    if pending.endswith("\n"):
                        self.add(pending)
                        pending = ""
                    continue
                if stop.is_set():
                    break
                stop.wait(0.002)

    def add(self, line: str) -> None:
        record = json.loads(line)
        kind = next((k for k in record if k.endswith("Event")), "")
        self.events.append(Event(time.monotonic() - self.started, kind, record.get(kind) or {}))


def run_logged(
    run: Callable[[list[str]], processes.Done], args: list[str], log: Path
) -> tuple[processes.Done, list[Event]]:
    """Run a pulumi command (`run` takes its arguments) with --event-log, following the log as it grows."""
    log.unlink(missing_ok=True)
    follower = Follower(log, time.monotonic())
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop,), daemon=True)
    thread.start()
    try:
        done = run([*args, "--event-log", str(log)])
    finally:
        stop.set()
        thread.join(timeout=30)
    return done, follower.events


def short_name(urn: str) -> str:
    """`urn:pulumi:s::p::a$kubernetes:apps/v1:Deployment::web-deployment` -> `Deployment web-deployment`."""
    qualified, _, name = urn.rpartition("::")
    return f"{qualified.rpartition('$')[2].rpartition(':')[2]} {name}"


def op_of(event: Event) -> str:
    """The step's operation: create, update, same, delete-replaced, create-replacement, ..."""
    return str((event.body.get("metadata") or {}).get("op", ""))


@dataclass(frozen=True)
class Part:
    name: str
    start: float
    seconds: float


SERIAL = (
    "CLI and engine start, to the engine's first event",
    "language host, program and plugins, to the first resource step",
    "engine finish, to the summary",
    "after the summary: state written, exit",
)
"""The parts of a command no resource step overlaps: before the first step and after the last."""


def serial_seconds(parts: list[Part]) -> float:
    """The time of a command's serial parts: what any run of the same program on the same engine pays whatever its
    resources do (an `up` that changes nothing is little more)."""
    return sum(p.seconds for p in parts if p.name in SERIAL)


def proof_seconds(parts: list[Part], name: str = "Pod web-smoke") -> float:
    """The time of a release's smoke check: its Pod's steps (the old one deleted, the new one Ready only on an answer
    from the new release through the Service)."""
    return sum(p.seconds for p in parts if p.name.endswith(f" {name}"))


def release_floor(serial: float, by_hand: float, proof: float, release: float, goal: float = 1.5) -> str:
    """Why a Pulumi release is or is not within `goal` times the hand-made one (pure). A release pays the engine's
    serial parts (its start, the program to its first step, its finish), at least the hand-made work (the same
    build, push and rollout) and its smoke check, which the hand-made release does not do: their sum is its
    floor. Ratios are compared as they are printed, to two places."""
    bare = serial + by_hand
    floor = bare + proof
    ratio, bare_ratio = round(floor / by_hand, 2), round(bare / by_hand, 2)
    if ratio <= goal:
        verdict = f"within {goal}x: the release could gain {release - floor:.2f} s"
    elif bare_ratio <= goal:
        verdict = f"within {goal}x only without the smoke check, the proof the hand-made release lacks"
    else:
        verdict = f"out of reach on this engine: its serial parts alone are more than {goal - 1:.0%} of the hand-made"
    return (
        f"A release's floor: the engine's serial parts {serial:.2f} s (its start, the program, its finish) + the "
        f"hand-made release {by_hand:.2f} s + the smoke check {proof:.2f} s = {floor:.2f} s, {ratio:.2f}x the "
        f"hand-made ({bare_ratio:.2f}x without the check): {verdict}. The release took {release:.2f} s, "
        f"{release - floor:.2f} s above its floor: the engine's hand-offs between dependent steps (the image's digest "
        "back to the program, the Deployment registered after it) and its rollout's await against `rollout status`."
    )


def breakdown(events: list[Event], total: float) -> list[Part]:
    """The command's time, part by part, from its events (total: the command's wall time)."""
    if not events:
        return [Part("the whole command (no engine events)", 0.0, total)]
    parts = [Part("CLI and engine start, to the engine's first event", 0.0, events[0].at)]
    steps = [e for e in events if e.kind == "resourcePreEvent"]
    if steps:
        first = steps[0].at
        parts.append(Part("language host, program and plugins, to the first resource step", events[0].at,
                          first - events[0].at))  # fmt: skip
        # A replacement is several steps of one resource (delete-replaced, replace, create-replacement): each
        # step's end is the event of the same resource and operation.
        done = {(e.urn, op_of(e)): e for e in events if e.kind in ("resOutputsEvent", "resOpFailedEvent")}
        for pre in steps:
            post = done.get((pre.urn, op_of(pre)))
            if post is not None and op_of(pre) != "same":
                parts.append(Part(f"{op_of(pre)} {short_name(pre.urn)}", pre.at, post.at - pre.at))
    summary = next((e for e in events if e.kind == "summaryEvent"), None)
    last_step = max((e.at for e in events if e.kind in ("resOutputsEvent", "resOpFailedEvent")), default=None)
    if summary is not None and last_step is not None:
        parts.append(Part("engine finish, to the summary", last_step, summary.at - last_step))
    end = summary.at if summary is not None else events[-1].at
    parts.append(Part("after the summary: state written, exit", end, max(0.0, total - end)))
    return parts
