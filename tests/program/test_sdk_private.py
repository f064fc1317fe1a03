"""The private Pulumi APIs kubeport depends on, each isolated in one function, and nowhere else.

If a Pulumi upgrade removes or changes one, these fail first and name the module to rework.
"""

from __future__ import annotations

import asyncio
import re
from importlib.metadata import version

from stacks import sync
from tools.stack_files import ROOT

PRIVATE_USE = re.compile(r"\bpulumi[\w.]*\._[a-z]\w*|from pulumi[\w.]* import [^\n]*\b_[a-z]\w*")


def test_resolve_now_waits_inside_the_sdks_running_event_loop() -> None:
    async def engine_answer() -> str:
        await asyncio.sleep(0)
        return "outputs"

    async def program() -> str:
        # Program code is synchronous but runs inside the SDK's loop, as a Pulumi program does.
        return sync.resolve_now(engine_answer())

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(program()) == "outputs"
    finally:
        loop.close()


def test_the_private_api_still_exists_where_stacks_sync_takes_it() -> None:
    from pulumi.runtime import sync_await

    assert callable(getattr(sync_await, "_sync_await", None)), (
        f"pulumi {version('pulumi')} no longer has pulumi.runtime.sync_await._sync_await: rework stacks/sync.py"
    )


def test_no_other_module_uses_a_private_pulumi_api() -> None:
    users = {
        path.relative_to(ROOT).as_posix()
        for folder in ("stacks", "components", "tools", "policy")
        for path in (ROOT / folder).rglob("*.py")
        if PRIVATE_USE.search(path.read_text())
    }
    assert users == {"stacks/sync.py"}


def test_the_detector_sees_a_private_use() -> None:
    assert PRIVATE_USE.search("x = pulumi.runtime.rpc._special_sig_key")
    assert PRIVATE_USE.search("from pulumi.runtime.sync_await import _sync_await")
    assert not PRIVATE_USE.search("from pulumi.runtime.rpc import is_rpc_secret")
