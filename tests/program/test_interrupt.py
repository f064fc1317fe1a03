"""The engine ends a run with SIGINT to the program's process group: the program then stops with no traceback.

A failed `up` reads: the engine's error naming the cause, nothing else. When SIGINT reached the program while its
main thread waited in a gRPC call, Python's default handler printed a KeyboardInterrupt traceback of about 60
lines under it. The subprocess below stands in for pulumi-language-python-exec: an asyncio loop running the
program, `except Exception` around it, the main thread blocked in a call.
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time

import pytest

import stacks
from stacks import environment
from tools.stack_files import ROOT
from tools.verify.mock_runner import run_program

RUNNER = """
import asyncio, signal, sys, time
from stacks import environment
environment.under_mocks = lambda: False
# Python's own start-up handler (which it leaves out when the parent ignores SIGINT, as a background job's does).
signal.signal(signal.SIGINT, signal.default_int_handler)
if sys.argv[1] == "handled":
    environment.stop_quietly_when_interrupted()

class Finalized:
    def __del__(self) -> None:
        print("waiting", flush=True)
        time.sleep(20)  # a finalizer, where Python prints an exception raised in it and goes on

async def program() -> None:
    if sys.argv[2] == "finalizer":
        Finalized()
        print("went on", flush=True)
        return
    print("waiting", flush=True)
    time.sleep(20)  # as the main thread waits in a registration's gRPC call

loop = asyncio.new_event_loop()
try:
    loop.run_until_complete(program())
except Exception as err:
    print("the runner caught", type(err).__name__, file=sys.stderr)
finally:
    loop.close()
"""


def interrupted(mode: str, where: str = "call") -> subprocess.CompletedProcess[str]:
    """Run RUNNER, send it SIGINT once it waits, and return how it ended (10 s at most for each step)."""
    with subprocess.Popen(
        [sys.executable, "-c", RUNNER, mode, where], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        deadline = time.monotonic() + 10
        ready, _, _ = select.select([child.stdout], [], [], 10)
        assert ready and child.stdout.readline() == "waiting\n", "the runner did not start"
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=max(1.0, deadline - time.monotonic()))
        return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


@pytest.mark.parametrize("where", ["call", "finalizer"])
def test_an_interrupted_program_stops_at_once_with_no_traceback(where: str) -> None:
    done = interrupted("handled", where)
    assert done.returncode == environment.INTERRUPTED
    assert done.stderr == "" and "went on" not in done.stdout


def test_without_the_handler_the_same_interrupt_prints_a_traceback() -> None:
    # What the handler removes: the test above would see this.
    done = interrupted("default")
    assert "Traceback" in done.stderr and "KeyboardInterrupt" in done.stderr
    assert "the runner caught" not in done.stderr  # KeyboardInterrupt passes `except Exception`


@pytest.mark.parametrize("stack", ["local-a", "walkthrough"])
def test_the_program_asks_for_it_and_under_mocks_leaves_sigint_alone(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    real = stacks.stop_quietly_when_interrupted

    def spy() -> None:
        calls.append(True)
        real()

    monkeypatch.setattr(stacks, "stop_quietly_when_interrupted", spy)
    before = signal.getsignal(signal.SIGINT)
    run = run_program(stack)
    assert run.error is None, run.error
    assert calls == [True]
    assert signal.getsignal(signal.SIGINT) is before  # pytest's own Ctrl-C still works in tests and tools
