"""Timing: medians of repeats within a time budget."""
from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any, Callable


@dataclasses.dataclass
class Timing:
    median_s: float  # median of the timed runs
    first_s: float  # the first (warm-up, compiling) run
    samples: list[float]


def measure(run: Callable[[], Any], block: Callable[[Any], Any], *, min_repeats: int, max_repeats: int,
            budget_s: float) -> Timing:
    """Run once to warm up, then at least ``min_repeats`` and at most ``max_repeats`` times, stopping once
    ``budget_s`` is spent; each run is timed until ``block`` returns on its result."""
    def once() -> float:
        start = time.perf_counter()
        block(run())
        return time.perf_counter() - start

    first = once()
    samples: list[float] = []
    spent = 0.0
    while len(samples) < max_repeats and (len(samples) < min_repeats or spent < budget_s):
        samples.append(once())
        spent += samples[-1]
    return Timing(statistics.median(samples), first, samples)
