"""Percentile bootstrap intervals for statistics of one sample of scores."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


def percentile_intervals(
    statistics: Callable[[np.ndarray], dict[str, float]],
    size: int,
    *,
    seed: int,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
) -> dict[str, tuple[float, float]]:
    """(low, high) percentile interval of each statistic over `resamples` resamples.

    `statistics(indices)` computes every statistic on the items at `indices` (drawn with
    replacement from range(size)); a resample on which a statistic is undefined may give
    NaN, and is left out of that statistic's interval. The draws come from a seeded numpy
    Generator, so one seed gives one interval.
    """
    if size < 1:
        raise ValueError("cannot bootstrap an empty sample")
    if resamples < 1 or not 0 < level < 1:
        raise ValueError(f"need resamples ≥ 1 and 0 < level < 1, got {resamples} and {level}")
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(resamples):
        for name, value in statistics(rng.integers(0, size, size)).items():
            draws.setdefault(name, []).append(value)
    tail = 100 * (1 - level) / 2
    intervals = {}
    for name, values in draws.items():
        values_array = np.asarray(values, dtype=np.float64)
        values_array = values_array[~np.isnan(values_array)]
        if values_array.size == 0:
            intervals[name] = (float("nan"), float("nan"))
        else:
            low, high = np.percentile(values_array, [tail, 100 - tail])
            intervals[name] = (float(low), float(high))
    return intervals
