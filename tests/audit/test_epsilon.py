"""The challenge's ε, F and final score equal a transcription of metric.py / main.py."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audit import transcriptions as ref
from unlearn_cli.audit import epsilon
from unlearn_cli.errors import InputError


def reference_epsilons(unlearned: np.ndarray, retrained: np.ndarray) -> np.ndarray:
    """metric.py:313-322 then `_get_epsilons`: the per-row ε of the transcription."""
    retrain_is_positive = np.median(retrained, axis=0) > np.median(unlearned, axis=0)
    positive = np.where(retrain_is_positive, retrained, unlearned)
    negative = np.where(retrain_is_positive, unlearned, retrained)
    return ref._get_epsilons(positive, negative, ref.DELTA)


def confidences(seed: int, models: int, rows: int, shift: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Unlearned and retrained φ with a per-row centre, a shift and unequal spreads."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(0, 2, rows)
    unlearned = rng.normal(centre + shift * rng.uniform(-1, 1, rows), rng.uniform(0.4, 1.5, rows), (models, rows))
    retrained = rng.normal(centre, rng.uniform(0.4, 1.5, rows), (models, rows))
    return unlearned, retrained


def with_special_rows(unlearned: np.ndarray, retrained: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every special case of metric.py in one matrix (the rest stay ordinary rows)."""
    unlearned, retrained = unlearned.copy(), retrained.copy()
    models = unlearned.shape[0]
    rng = np.random.default_rng(99)
    unlearned[:, 0] = retrained[:, 0] + 10  # perfect separation: ε = ∞ → 50
    unlearned[:, 1] = retrained[:, 1].mean() + rng.normal(0, 1e-4, models)  # peaky: range ratio < 1 %
    unlearned[:, 2], retrained[:, 2] = 1.0, 3.0  # both constant: 0/0 ratio, then separated
    unlearned[:, 3] = retrained[:, 3]  # identical: only one-zero thresholds and overlaps
    retrained[:, 4] = np.linspace(-3, 3, models)  # one side inside the other: many one-zero thresholds
    unlearned[:, 4] = np.linspace(-0.5, 0.5, models)
    return unlearned, retrained


@pytest.mark.parametrize("models", [5, 16])
def test_row_epsilons_equal_the_transcription(models: int) -> None:
    unlearned, retrained = with_special_rows(*confidences(models, models, 7))
    ours = epsilon.row_epsilons(unlearned, retrained)
    np.testing.assert_array_equal(ours, reference_epsilons(unlearned, retrained))
    assert ours[0] == ours[1] == ours[2] == epsilon.EPSILON_CAP  # separation, peaky, constant sides


def test_forget_score_equals_the_transcription() -> None:
    unlearned, retrained = with_special_rows(*confidences(1, 16, 6))
    assert epsilon.forget_score(unlearned, retrained) == ref.compute_forget_score_from_confs(unlearned, retrained)


def test_a_tie_of_medians_makes_the_unlearned_set_positive() -> None:
    # metric.py:319 compares strictly; a tie keeps the unlearned models as the positive class.
    retrained = np.random.default_rng(2).normal(0, 1, (9, 1))
    unlearned = retrained[::-1].copy() * 1.5  # same median (0 after centring), wider
    retrained -= np.median(retrained)
    unlearned -= np.median(unlearned)
    assert np.median(retrained) == np.median(unlearned)
    np.testing.assert_array_equal(epsilon.row_epsilons(unlearned, retrained), reference_epsilons(unlearned, retrained))


def test_threshold_rule_special_cases() -> None:
    # Rates as float32, the way metric.py's torch.mean returns them.
    fpr = np.array([0.0, 0.0, 0.5, 0.25, 1.0], dtype=np.float32)
    fnr = np.array([0.0, 0.5, 0.0, 0.5, 1.0], dtype=np.float32)
    eps = epsilon._threshold_epsilons(fpr, fnr, epsilon.DELTA)
    assert eps[0] == np.inf  # both zero: perfect separation
    assert np.isnan(eps[1]) and np.isnan(eps[2])  # exactly one zero: discarded
    one_minus_delta = np.float32(1 - 1e-5)
    expected = max(np.log(one_minus_delta - fpr[3]) - np.log(fnr[3]), np.log(one_minus_delta - fnr[3]) - np.log(fpr[3]))
    assert eps[3] == np.float32(expected)
    assert np.isnan(eps[4])  # both rates 1: both logs are of a negative number


def test_identical_constant_rows_fail_with_a_typed_error() -> None:
    # Every threshold has exactly one zero rate: the reference's assert fires (as intended).
    unlearned = np.ones((6, 2))
    retrained = np.ones((6, 2))
    unlearned[:, 1] = np.arange(6)
    retrained[:, 1] = np.arange(6)[::-1] + 0.5
    with pytest.raises(AssertionError):
        reference_epsilons(unlearned, retrained)
    with pytest.raises(InputError, match="forget row 0"):
        epsilon.row_epsilons(unlearned, retrained)


def test_the_references_assert_fails_whenever_several_thresholds_survive() -> None:
    # metric.py:285 `assert thr_eps, ...` on a numpy array: what we do not reproduce.
    surviving = np.array([0.3, 1.2], dtype=np.float32)
    with pytest.raises(ValueError, match="ambiguous"):
        assert surviving, "Something went wrong, all thresholds gave nan epsilon..."


@pytest.mark.parametrize(("models", "buckets"), [(16, 6), (512, 14), (4, 4), (3, 2), (2, 0)])
def test_points_follow_the_bucket_rule(models: int, buckets: int) -> None:
    # ⌈ln 15⌉ = 3 → 6 buckets of 0.5; ⌈ln 511⌉ = 7 → 14; edges included exactly.
    assert epsilon._bucket_count(models) == buckets
    grid = np.concatenate([np.arange(0, 8.01, 0.25), np.nextafter(np.arange(0.5, 8.01, 0.5), 0), [50.0]])
    points = epsilon.epsilon_points(grid, models)
    expected = [ref.forget_score_from_epsilons([e], models, 1) for e in grid]
    np.testing.assert_array_equal(points, expected)


def test_forget_score_with_512_models_applies_their_buckets() -> None:
    # The transcription's (models × thresholds) tiles are too big at 512 models; the bucket
    # rule at 512 is checked above, the ε rule at small N, and this checks the plumbing.
    unlearned, retrained = confidences(3, 512, 3, shift=0.2)
    eps = epsilon.row_epsilons(unlearned, retrained)
    assert epsilon.forget_score(unlearned, retrained) == ref.forget_score_from_epsilons(eps, 512, 3)


def test_final_score_equals_main_py() -> None:
    rng = np.random.default_rng(4)
    accs = {name: rng.uniform(0.6, 0.95, 10) for name in ("ra_u", "ta_u", "ra_r", "ta_r")}
    ours = epsilon.final_score(
        0.37,
        retain_acc_unlearned=accs["ra_u"],
        retain_acc_retrained=accs["ra_r"],
        test_acc_unlearned=accs["ta_u"],
        test_acc_retrained=accs["ta_r"],
    )
    assert ours == pytest.approx(
        ref.final_score(0.37, accs["ra_u"], accs["ta_u"], accs["ra_r"], accs["ta_r"]), rel=1e-15
    )


def test_identical_distributions_score_like_the_null() -> None:
    # Δ = 0: unlearned and retrained are draws of one distribution, so F measures only the
    # max-over-thresholds noise that F_null measures. Over 20 seeds (16 models a side, 50
    # rows) F = 0.173 ± 0.009 and F_null (8 v 8 retrains) = 0.189 ± 0.008 (docs/audits.md).
    rng = np.random.default_rng(5)
    centre = rng.normal(0, 3, 30)
    unlearned = rng.normal(centre, 1, (16, 30))
    retrained = rng.normal(centre, 1, (16, 30))
    audit = epsilon.epsilon_audit(unlearned, retrained, seed=0)
    assert 0.1 < audit.forget_score < 0.3  # far below 1: identical sets do not score "forgotten"
    assert audit.forget_score_null == pytest.approx(audit.forget_score, abs=0.06)
    assert audit.final_score is None


def test_forget_score_null_splits_the_retrains_by_seed() -> None:
    unlearned, retrained = confidences(6, 16, 6)
    first = epsilon.forget_score_null(retrained, seed=1)
    assert epsilon.forget_score_null(retrained, seed=1) == first
    order = np.random.default_rng(1).permutation(16)
    assert first == ref.compute_forget_score_from_confs(retrained[order[:8]], retrained[order[8:]])


def test_epsilon_audit_bundles_everything() -> None:
    unlearned, retrained = confidences(7, 8, 5)
    accuracies = {
        "retain_acc_unlearned": [0.9, 0.8],
        "retain_acc_retrained": [0.9, 0.9],
        "test_acc_unlearned": [0.7, 0.7],
        "test_acc_retrained": [0.8, 0.8],
    }
    audit = epsilon.epsilon_audit(unlearned, retrained, seed=3, accuracies=accuracies)
    np.testing.assert_array_equal(audit.epsilons, epsilon.row_epsilons(unlearned, retrained))
    assert audit.forget_score == pytest.approx(audit.points.mean())
    assert audit.final_score == pytest.approx(audit.forget_score * (0.85 / 0.9) * (0.7 / 0.8))
    assert audit.forget_score_null == epsilon.forget_score_null(retrained, seed=3)
    few = epsilon.epsilon_audit(unlearned[:6], retrained[:6], seed=3)
    assert few.forget_score_null is None  # halves of 3 are below the floor


def test_user_errors_are_typed() -> None:
    unlearned, retrained = confidences(8, 3, 4)
    with pytest.raises(InputError, match="at least 4"):
        epsilon.forget_score(unlearned, retrained)
    unlearned, retrained = confidences(8, 6, 4)
    with pytest.raises(InputError, match="at least 8 retrained"):
        epsilon.forget_score_null(retrained, seed=0)
    unlearned[2, 1] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        epsilon.forget_score(unlearned, retrained)
    with pytest.raises(InputError, match="zero retain or test accuracy"):
        epsilon.final_score(
            0.5, retain_acc_unlearned=[1], retain_acc_retrained=[0], test_acc_unlearned=[1], test_acc_retrained=[1]
        )


def test_caller_errors_are_value_errors() -> None:
    unlearned, retrained = confidences(9, 8, 4)
    with pytest.raises(ValueError):
        epsilon.forget_score(unlearned, retrained[:, :3])
    with pytest.raises(ValueError):
        epsilon.forget_score(unlearned[:, 0], retrained[:, 0])
    with pytest.raises(ValueError):
        epsilon.epsilon_points(np.array([-1.0]), 16)


def test_torch_linspace_float32_matches_the_transcribed_kernel() -> None:
    rng = np.random.default_rng(10)
    for _ in range(20):
        low, high = np.sort(rng.normal(0, 5, 2))
        steps = int(np.ceil((high - low) * 100))
        np.testing.assert_array_equal(
            epsilon.torch_linspace_float32(low, high, steps), ref.torch_linspace(low, high, steps)
        )
    assert epsilon.torch_linspace_float32(1.0, 1.0, 0).size == 0
    np.testing.assert_array_equal(epsilon.torch_linspace_float32(1.5, 2.0, 1), [1.5])
