"""The one private Pulumi API the program relies on, isolated here: waiting for an engine answer synchronously.

An app stack must read its cluster stack's outputs before it registers anything (which resources it creates
depends on them, and a bad reference must stop the program with nothing created). The engine answers through
an awaitable while the program runs inside the SDK's event loop, and the SDK offers no public way to wait for
it there: `pulumi.runtime.sync_await._sync_await` is what the SDK itself uses. If an upgrade removes it,
`tests/program/test_sdk_private.py` fails, naming this module.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from pulumi.runtime.sync_await import _sync_await

T = TypeVar("T")


def resolve_now(awaitable: Awaitable[T]) -> T:
    """Wait for `awaitable` from synchronous program code running inside the SDK's event loop."""
    return _sync_await(awaitable)
