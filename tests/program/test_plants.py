"""Every mistake the live suite plants still finds the code it edits, exactly once (tests/support/plants.py)."""

from __future__ import annotations

import pytest

from tests.support.plants import PLANTS, Plant
from tools.stack_files import ROOT


@pytest.mark.parametrize("plant", PLANTS, ids=lambda p: f"{p.path}:{p.new[:30]!r}")
def test_a_planted_mistake_finds_its_text_exactly_once(plant: Plant) -> None:
    source = (ROOT / plant.path).read_text()
    assert source.count(plant.old) == 1, f"{plant.path} no longer holds {plant.old!r} exactly once"
    assert source.replace(plant.old, plant.new) != source
