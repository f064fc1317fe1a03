"""Facts about how the program is being run."""

from __future__ import annotations

from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor


def under_mocks() -> bool:
    """True when Pulumi's mock monitor stands in for the engine (tests, `python -m tools render`).

    Nothing is deployed then, so local tools (cloud CLIs, Docker) are not needed and nothing may call
    out to a cloud.
    """
    return isinstance(settings.SETTINGS.monitor, MockMonitor)
