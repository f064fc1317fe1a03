"""The program's last step: its heap handed to the collector's permanent generation, for real runs only."""

from __future__ import annotations

import gc

import pytest
from pulumi.runtime import settings

import stacks
from stacks import environment
from tools.verify.mock_runner import run_program


@pytest.mark.parametrize("stack", ["local-a", "cluster-a", "walkthrough"])
def test_the_program_freezes_its_heap_once_after_its_outputs(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[set[str]] = []

    def spy() -> None:
        root = settings.get_root_resource()
        seen.append(set(getattr(root, "outputs", {})))

    monkeypatch.setattr(stacks, "keep_heap_until_exit", spy)
    run = run_program(stack)
    assert run.error is None, run.error
    assert seen == [set(run.outputs)]  # once, with every output already exported: nothing after it


def test_a_real_run_freezes_and_a_run_under_mocks_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.unfreeze()
    try:
        monkeypatch.setattr(environment, "under_mocks", lambda: True)
        environment.keep_heap_until_exit()
        assert gc.get_freeze_count() == 0  # the test process goes on: nothing may stay frozen in it
        monkeypatch.setattr(environment, "under_mocks", lambda: False)
        environment.keep_heap_until_exit()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
