"""The toolchain's binaries a test needs (built from their Go modules): skipped when missing, a failure under CI."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.app_serving import require
from tools.toolchain import toolchain


def built(name: str, make: str = "make test-tools") -> Path:
    """The toolchain's `name`; when it is not built, the test skips naming `make` (CI=true: it fails)."""
    path = toolchain().bin / name
    require(os.access(path, os.X_OK), f"{name} not built ({path}); run `{make}`")
    return path
