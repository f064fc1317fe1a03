"""Facts about how the program is being run."""

from __future__ import annotations

import gc
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor


def under_mocks() -> bool:
    """True when Pulumi's mock monitor stands in for the engine (tests, `python -m tools render`).

    Nothing is deployed then, so local tools (cloud CLIs, Docker) are not needed and nothing may call
    out to a cloud.
    """
    return isinstance(settings.SETTINGS.monitor, MockMonitor)


def keep_heap_until_exit() -> None:
    """Hand everything the program has made so far to the garbage collector's permanent generation (gc.freeze).

    The SDKs' modules and the program's resources live until the process exits anyway. Frozen, they are not
    scanned again by the collections that run during the engine's resource steps, nor by the one at exit. That
    exit scan alone took 0.15 s of every real preview and up (docs/benchmarks.md). Under mocks the process
    goes on afterwards (tests, `python -m tools render`), so nothing is frozen there.
    """
    if not under_mocks():
        gc.freeze()


INTERRUPTED = 1
"""The program's exit code when the engine interrupts it."""


def stop_quietly_when_interrupted() -> None:
    """Make SIGINT end the program without a traceback (real runs only; tests keep pytest's own Ctrl-C).

    The engine stops a run by sending SIGINT to the language host's process group, the program included
    (cmdutil.TerminateProcessGroup in the Pulumi SDK). After a failed step that can arrive while the program still
    waits on resource registrations in flight: Python's default handler then raises KeyboardInterrupt inside
    gRPC, and the program prints a long KeyboardInterrupt traceback under the error the engine has already
    named. The engine has said why the run ends; the program only has to stop.
    """
    if not under_mocks():
        signal.signal(signal.SIGINT, _stop)


def _stop(signum: int, frame: FrameType | None) -> NoReturn:
    # Out at once, output flushed: a handler can run anywhere, also in a weakref callback or a finalizer, where a
    # raised SystemExit is printed as "Exception ignored" and the program goes on.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)
