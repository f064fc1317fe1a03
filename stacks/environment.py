"""Facts about how the program is being run."""

from __future__ import annotations

import gc

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
