"""What the real-run benchmarks share: rounds of one measurement and their median, and the time of a command that
must succeed (a failed command stops the benchmark with its output, never counts as a time)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from tools import processes


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def ok(done: processes.Done) -> float:
    """The wall time of a command that must have succeeded."""
    if done.code != 0:
        raise RuntimeError(done.describe())
    return done.seconds
