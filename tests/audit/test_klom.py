"""KLoM equals data-unlearning-bench's binned KL, in the direction its run.py computes it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audit import transcriptions as ref
from unlearn_cli.audit import klom
from unlearn_cli.errors import InputError


def margins(seed: int, models: int = 20, rows: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Retrained and unlearned margins with the edge cases of eval.py in a few rows."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(0, 5, rows)
    retrained = rng.normal(centre, rng.uniform(0.5, 3, rows), (models, rows))
    unlearned = rng.normal(centre + rng.normal(0, 2, rows), rng.uniform(0.5, 3, rows), (models, rows))
    retrained[:, 0] = rng.normal(150, 30, models)  # beyond the ±100 clip
    unlearned[:, 0] = rng.normal(90, 30, models)
    retrained[:, 1] = unlearned[:, 1] = 7.0  # one value everywhere: bins [7, 8]
    retrained[:, 2], unlearned[:, 2] = 2.0, rng.normal(0, 1, models)  # one side constant
    return retrained, unlearned


def test_equals_compute_binned_kl_div_as_run_py_calls_it() -> None:
    retrained, unlearned = margins(0)
    # run.py:142 passes the oracles (retrained) first: kl_from_margins(oracle_margins, margins).
    expected = ref.load_klom(retrained, unlearned)
    np.testing.assert_allclose(klom.klom_per_row(retrained, unlearned), expected, rtol=1e-12, atol=1e-15)


def test_direction_is_kl_of_retrained_against_unlearned() -> None:
    retrained, unlearned = margins(1)
    ours = klom.klom_per_row(retrained, unlearned)
    p_retrained = [ref.compute_binned_KL_div(retrained[:, i], unlearned[:, i]) for i in range(retrained.shape[1])]
    p_unlearned = [ref.compute_binned_KL_div(unlearned[:, i], retrained[:, i]) for i in range(retrained.shape[1])]
    np.testing.assert_allclose(ours, p_retrained, rtol=1e-12, atol=1e-15)
    # KL is not symmetric: swapping the arguments changes the values.
    swapped = klom.klom_per_row(unlearned, retrained)
    np.testing.assert_allclose(swapped, p_unlearned, rtol=1e-12, atol=1e-15)
    assert not np.allclose(ours, swapped)
    # kl_from_margins' own parameter names read the other way round: its first argument is p.
    np.testing.assert_allclose(ref.kl_from_margins(unlearned, retrained), swapped, rtol=1e-12, atol=1e-15)


def test_sets_of_different_sizes() -> None:
    retrained, unlearned = margins(2, models=30)
    unlearned = unlearned[:12]
    expected = [ref.compute_binned_KL_div(retrained[:, i], unlearned[:, i]) for i in range(retrained.shape[1])]
    np.testing.assert_allclose(klom.klom_per_row(retrained, unlearned), expected, rtol=1e-12, atol=1e-15)


def test_retrained_all_on_the_upper_edge_is_undefined_as_in_the_reference() -> None:
    # np.digitize puts a value equal to the last edge in no bin: an empty p histogram.
    retrained = np.full((6, 1), 5.0)
    unlearned = np.linspace(0, 5, 6)[:, None]
    with np.errstate(invalid="ignore"):
        expected = ref.compute_binned_KL_div(retrained[:, 0], unlearned[:, 0])
    assert np.isnan(expected)
    assert np.isnan(klom.klom_per_row(retrained, unlearned)[0])


def test_identical_sets_give_zero() -> None:
    retrained, _ = margins(3)
    np.testing.assert_allclose(klom.klom_per_row(retrained, retrained.copy()), 0.0, atol=1e-15)


def test_summary_per_split() -> None:
    values = np.array([0.1, 0.2, 0.3, np.nan, 1.0, 2.0, 5.0])
    splits = np.array(["forget", "forget", "forget", "forget", "retain", "retain", "test"])
    summary = klom.klom_summary(values, splits)
    assert summary["forget"] == {"median": pytest.approx(0.2), "p95": pytest.approx(0.29), "rows": 4, "undefined": 1}
    assert summary["retain"]["median"] == pytest.approx(1.5)
    assert summary["retain"]["p95"] == pytest.approx(np.percentile([1.0, 2.0], 95))
    assert summary["test"] == {"median": 5.0, "p95": 5.0, "rows": 1, "undefined": 0}
    assert set(klom.klom_summary(values[:4], splits[:4])) == {"forget"}


def test_errors() -> None:
    retrained, unlearned = margins(4)
    with pytest.raises(InputError, match="at least 4 unlearned"):
        klom.klom_per_row(retrained, unlearned[:3])
    unlearned[0, 0] = np.inf
    with pytest.raises(InputError, match="non-finite"):
        klom.klom_per_row(retrained, unlearned)
    with pytest.raises(ValueError):
        klom.klom_per_row(retrained, unlearned[:, :3])
    with pytest.raises(ValueError, match="unknown splits"):
        klom.klom_summary(np.zeros(2), np.array(["forget", "validation"]))
    with pytest.raises(ValueError):
        klom.klom_summary(np.zeros(2), np.array(["forget"]))
