"""Percentile bootstrap intervals: seeded, per statistic, undefined resamples left out."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn_cli.audit.bootstrap import percentile_intervals


def test_interval_of_a_mean_is_seeded_and_sensible() -> None:
    sample = np.random.default_rng(0).normal(2.0, 1.0, 400)

    def mean(indices: np.ndarray) -> dict[str, float]:
        return {"mean": float(sample[indices].mean())}

    first = percentile_intervals(mean, sample.size, seed=1, resamples=300)
    assert first == percentile_intervals(mean, sample.size, seed=1, resamples=300)
    assert first != percentile_intervals(mean, sample.size, seed=2, resamples=300)
    low, high = first["mean"]
    assert low < sample.mean() < high
    # ±1.96 standard errors, to bootstrap precision.
    assert high - low == pytest.approx(2 * 1.96 * sample.std() / np.sqrt(sample.size), rel=0.2)


def test_undefined_resamples_are_left_out() -> None:
    calls = iter(range(10_000))

    def sometimes(indices: np.ndarray) -> dict[str, float]:
        value = next(calls)
        return {"odd_only": float(value) if value % 2 else float("nan"), "never": float("nan")}

    intervals = percentile_intervals(sometimes, 5, seed=0, resamples=100)
    low, high = intervals["odd_only"]
    assert low == pytest.approx(np.percentile(np.arange(1, 100, 2), 2.5))
    assert high == pytest.approx(np.percentile(np.arange(1, 100, 2), 97.5))
    assert np.isnan(intervals["never"]).all()


@pytest.mark.parametrize(("size", "resamples", "level"), [(0, 10, 0.95), (5, 0, 0.95), (5, 10, 1.0)])
def test_bad_arguments(size: int, resamples: int, level: float) -> None:
    with pytest.raises(ValueError):
        percentile_intervals(lambda indices: {}, size, seed=0, resamples=resamples, level=level)
