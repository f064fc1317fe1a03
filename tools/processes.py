"""Running other programs: the one process module of the tooling.

- `attached()`: a step a person runs on their terminal and watches (it may ask for a password), without a deadline.
- `run()`: a command with a deadline (the real runs, the live and kind suites). Every command runs in a process
  group of its own, so a deadline stops it and everything it started (Pulumi and its plugins, kubectl
  port-forwards): first SIGINT (Pulumi cancels cleanly on it), then SIGKILL. A missing program comes back as exit
  code 127 and a deadline as 124, never as an exception, so callers can report them.
- `spawn()`, `alive()`, `stop()`, `wait_for()`: the long-running servers of the local clusters (the control plane,
  the node's daemons, the registry, BuildKit), each a session of its own with its output in a log file, found again
  by its pid, stopped with TERM and then KILL, waited for with a deadline that also watches them die.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

TIMED_OUT = 124
NOT_FOUND = 127
STOP_GRACE = 30.0
"""Seconds a command has after SIGINT before it is killed."""


@dataclass(frozen=True)
class Done:
    """One finished command: its exit code, output and wall time."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    def describe(self, tail: int = 4000) -> str:
        ending = "timed out and was stopped" if self.timed_out else f"exit {self.code}"
        head = f"$ {' '.join(self.args)}\n{ending} after {self.seconds:.1f} s"
        return f"{head}\n{self.stdout[-tail:]}\n{self.stderr[-tail:]}"

    def first_line(self) -> str:
        """The first line of what it said (errors first), for a one-line report."""
        lines = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return lines[0] if lines else f"exit code {self.code}"


def _pump(stream: IO[str], into: list[str], echo: Callable[[str], None] | None) -> None:
    for line in stream:
        into.append(line)
        if echo is not None:
            echo(line)


def _stop(process: subprocess.Popen[str], grace: float) -> None:
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(
    args: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    echo: Callable[[str], None] | None = None,
    input_text: str | None = None,
    grace: float = STOP_GRACE,
) -> Done:
    """Run `args` until it exits or `timeout` seconds pass; `echo` sees each line of its output as it comes."""
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
    except OSError as err:
        return Done(tuple(args), NOT_FOUND, "", str(err), time.monotonic() - started)
    out: list[str] = []
    err_lines: list[str] = []
    assert process.stdout is not None and process.stderr is not None
    readers = [
        threading.Thread(target=_pump, args=(process.stdout, out, echo), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, err_lines, echo), daemon=True),
    ]
    for reader in readers:
        reader.start()
    if input_text is not None:
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(input_text)
        process.stdin.close()
    timed_out = False
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(process, grace)
        code = TIMED_OUT
    for reader in readers:
        reader.join(timeout=30)
    stderr = "".join(err_lines) + (f"\ntimed out after {timeout:.0f} s" if timed_out else "")
    return Done(tuple(args), code, "".join(out), stderr, time.monotonic() - started, timed_out)


def attached(args: Sequence[str]) -> int:
    """Run `args` on this terminal (its output shown as it comes; it may ask, as sudo does) until it exits; its exit
    code. For the steps a person runs and watches (`make up` building the toolchain), never for a test."""
    try:
        return subprocess.run(list(args), check=False).returncode
    except OSError:
        return NOT_FOUND


def follow(stream: IO[str], put: Callable[[str], None]) -> threading.Thread:
    """Hand every line of a long-running child's output to `put`, from a daemon thread, until it closes."""

    def pump() -> None:
        for line in stream:
            put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return reader


def spawn(args: Sequence[str], *, log: Path, cwd: Path, env: Mapping[str, str] | None = None) -> int:
    """Start a server in a session of its own, its output appended to `log`; its pid (it is not waited for)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def alive(pid: int) -> bool:
    """Whether process `pid` runs (one of this process's children that exited is reaped, and counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    return True


def stop(pid: int, grace: float) -> bool:
    """TERM the session `pid` leads, KILL it after `grace` seconds; True once the process is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not alive(pid):
                return True
            time.sleep(0.1)
    return not alive(pid)


def kill_now(pid: int) -> None:
    """KILL the session `pid` leads, and `pid` itself, without a grace period: what is left behind by a server that
    was stopped already (a container's shim). Nothing is said about a process that is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def wait_for(
    ready: Callable[[], bool],
    timeout: float,
    dead: Callable[[], str | None] = lambda: None,
    interval: float = 0.5,
    transient: tuple[type[BaseException], ...] = (OSError, subprocess.SubprocessError),
) -> str | None:
    """Poll `ready` until it holds (None), or say why not: what `dead` names (a process that exited), or the
    deadline. An exception of the `transient` kinds counts as not ready yet (a server still coming up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (why := dead()) is not None:
            return why
        with contextlib.suppress(*transient):
            if ready():
                return None
        time.sleep(interval)
    return f"not ready after {timeout:.0f} s"


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a server's log, for the message that says it exited."""
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
