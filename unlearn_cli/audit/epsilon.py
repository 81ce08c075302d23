"""The NeurIPS 2023 unlearning challenge's forgetting score F, its final score, and F_null.

A rule-for-rule numpy port of google-deepmind/unlearning_evaluation `metric.py` (commit
ffae0ff; line numbers below are that file's) and of the final score in its `main.py:337`.
Per forget row, N unlearned and N retrained models each give one φ (`phi.py`, plain query,
no flip). A family of threshold attacks tries to tell the two sets apart; the best
attack's (ε, δ = 1e-5) bound becomes the row's ε, ε becomes points, F is the mean.

Where the reference's numbers depend on its dtypes we keep them, so that ε agrees with it
value for value: its rates are float32 (`torch.mean` of `float32` indicators, lines
124-127 and 157-160), so is the ε arithmetic that reads them (lines 251-269: a Python float
minus a float32 array stays float32), and its single-threshold grid is `torch.linspace` in
torch's default float32 (line 144). We rebuild that grid with torch's own formula (halves
from each end, float32 step), which equals torch's CPU kernel bit for bit.

One deliberate difference: `metric.py:285` asserts `thr_eps` on a numpy array, which raises
for every row where more than one threshold survives. Its message says what it meant:
fail only when *no* threshold survives. We fail then, with a typed error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearn_cli.errors import InputError

DELTA = 1e-5  # metric.py:24
EPSILON_CAP = 50.0  # metric.py:25
THRESHOLDS_PER_UNIT = 100  # metric.py:26: one threshold per 1/100 of φ
THRESHOLD_BUFFER = 2.0  # metric.py:77: the double-threshold grid reaches 2.0 past the peaky side
PEAKY_RATIO = 0.01  # metric.py:188: a side whose range is < 1 % of the other's
BUCKET_WIDTH = 0.5  # metric.py:331: points halve every 0.5 of ε
MIN_MODELS = 4  # our floor: with fewer, ceil(ln(N−1)) ≤ 1 leaves at most two buckets


@dataclass(frozen=True)
class EpsilonAudit:
    """Everything the epsilon attack reports.

    `epsilons` and `points` are per forget row; `forget_score` is F; `forget_score_null` is
    F of retrained-vs-retrained halves (None with fewer than 2·MIN_MODELS retrains);
    `final_score` is F scaled by the accuracy ratios (None without accuracies).
    """

    epsilons: np.ndarray
    points: np.ndarray
    forget_score: float
    forget_score_null: float | None
    final_score: float | None


def check_confidences(unlearned: np.ndarray, retrained: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both φ matrices as float64 (models, rows), validated: same shape, enough models, finite."""
    unlearned = np.asarray(unlearned, dtype=np.float64)
    retrained = np.asarray(retrained, dtype=np.float64)
    if unlearned.ndim != 2 or unlearned.shape != retrained.shape:
        # metric.py:320-321 pairs the two sets model by model (np.where), so the shapes must match.
        raise ValueError(
            f"unlearned and retrained φ must both be (models, rows) of one shape, got {unlearned.shape} "
            f"and {retrained.shape}"
        )
    if unlearned.shape[0] < MIN_MODELS:
        raise InputError(
            f"the epsilon attack needs at least {MIN_MODELS} unlearned and {MIN_MODELS} retrained models, "
            f"got {unlearned.shape[0]}",
            hint="audit with more models (--models); the challenge used 512",
        )
    for name, confs in (("unlearned", unlearned), ("retrained", retrained)):
        if not np.isfinite(confs).all():
            raise InputError(
                f"some {name} models give a non-finite φ (NaN or infinite logits)",
                hint="a model diverged; retrain it or leave it out of the audit",
            )
    return unlearned, retrained


def row_epsilons(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> np.ndarray:
    """ε of every forget row, clipped to [0, EPSILON_CAP] (metric.py:165-301, :313-322).

    Per row the positive class is whichever set has the larger median φ; a tie makes the
    unlearned set positive (`retrain_means > unlearned_means`, strict, metric.py:319).
    """
    unlearned, retrained = check_confidences(unlearned, retrained)
    retrain_is_positive = np.median(retrained, axis=0) > np.median(unlearned, axis=0)
    positive = np.where(retrain_is_positive, retrained, unlearned)
    negative = np.where(retrain_is_positive, unlearned, retrained)
    epsilons = np.array([_row_epsilon(positive[:, i], negative[:, i], delta, row=i) for i in range(positive.shape[1])])
    return np.clip(epsilons, 0.0, EPSILON_CAP)


def epsilon_points(epsilons: np.ndarray, num_models: int) -> np.ndarray:
    """Points of each ε (metric.py:324-346): 2^−k in bucket k = ⌊ε/0.5⌋, 0 past the last bucket.

    The buckets [0, 0.5), [0.5, 1), … run up to ⌈ln(N−1)⌉, "a back-of-the-envelope
    calculation for the max value of epsilon" with N models per side (metric.py:324-327).
    """
    epsilons = np.asarray(epsilons, dtype=np.float64)
    if epsilons.ndim != 1:
        raise ValueError(f"epsilons must be one per row, got shape {epsilons.shape}")
    if np.isnan(epsilons).any() or (epsilons < 0).any():
        raise ValueError("epsilons must be clipped to [0, cap] first")
    num_buckets = _bucket_count(num_models)
    bucket = np.floor(epsilons / BUCKET_WIDTH)
    return np.where(bucket < num_buckets, 0.5 ** np.minimum(bucket, num_buckets), 0.0)


def forget_score(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> float:
    """F: the mean points over the forget rows (`compute_forget_score_from_confs`, metric.py:304-349).

    Both arguments are φ of shape (models, rows), one column per forget row, the same
    number of models on each side.
    """
    epsilons = row_epsilons(unlearned, retrained, delta)
    return float(epsilon_points(epsilons, np.shape(unlearned)[0]).mean())


def forget_score_null(retrained: np.ndarray, seed: int, delta: float = DELTA) -> float:
    """F between two disjoint random halves of the retrained models: F when nothing differs.

    The max over thousands of thresholds finds *some* separation even between two samples
    of one distribution, so F of identical distributions is well below 1 (docs/audits.md
    gives the measured value). Each half has ⌊N/2⌋ models, so its bucket count is that of
    ⌊N/2⌋ models: compare F with F_null as a level, not as an exact null of F.
    """
    retrained = np.asarray(retrained, dtype=np.float64)
    if retrained.ndim != 2:
        raise ValueError(f"retrained φ must be (models, rows), got shape {retrained.shape}")
    half = retrained.shape[0] // 2
    if half < MIN_MODELS:
        raise InputError(
            f"F_null needs at least {2 * MIN_MODELS} retrained models (two halves of {MIN_MODELS}), "
            f"got {retrained.shape[0]}",
            hint=f"audit with --models {2 * MIN_MODELS} or more",
        )
    order = np.random.default_rng(seed).permutation(retrained.shape[0])
    return forget_score(retrained[order[:half]], retrained[order[half : 2 * half]], delta)


def final_score(
    forget: float,
    *,
    retain_acc_unlearned: np.ndarray,
    retain_acc_retrained: np.ndarray,
    test_acc_unlearned: np.ndarray,
    test_acc_retrained: np.ndarray,
) -> float:
    """F · (mean RA_U / mean RA_R) · (mean TA_U / mean TA_R), as `main.py:292-337`.

    Each accuracy argument holds one value per model (any consistent unit).
    """
    means = {
        name: float(np.mean(np.asarray(values, dtype=np.float64)))
        for name, values in (
            ("retain accuracy of the unlearned models", retain_acc_unlearned),
            ("retain accuracy of the retrained models", retain_acc_retrained),
            ("test accuracy of the unlearned models", test_acc_unlearned),
            ("test accuracy of the retrained models", test_acc_retrained),
        )
    }
    for name, value in means.items():
        if not np.isfinite(value):
            raise ValueError(f"the mean {name} is not finite (no models, or NaN)")
    retain_r = means["retain accuracy of the retrained models"]
    test_r = means["test accuracy of the retrained models"]
    if retain_r == 0 or test_r == 0:
        raise InputError(
            "the retrained models have zero retain or test accuracy, so the final score divides by zero",
            hint="the retraining recipe does not learn; check it with `unlearn evaluate` on one retrain",
        )
    return float(
        forget
        * (means["retain accuracy of the unlearned models"] / retain_r)
        * (means["test accuracy of the unlearned models"] / test_r)
    )


def epsilon_audit(
    unlearned: np.ndarray,
    retrained: np.ndarray,
    *,
    seed: int,
    accuracies: dict[str, np.ndarray] | None = None,
    delta: float = DELTA,
) -> EpsilonAudit:
    """ε, points, F, F_null and (given `accuracies`, the keyword arguments of `final_score`)
    the final score, in one call."""
    epsilons = row_epsilons(unlearned, retrained, delta)
    points = epsilon_points(epsilons, np.shape(unlearned)[0])
    forget = float(points.mean())
    null = forget_score_null(retrained, seed, delta) if np.shape(retrained)[0] >= 2 * MIN_MODELS else None
    final = None if accuracies is None else final_score(forget, **accuracies)
    return EpsilonAudit(epsilons, points, forget, null, final)


# --- one row ---------------------------------------------------------------------------------


def _bucket_count(num_models: int) -> int:
    """How many 0.5-wide buckets fit below ⌈ln(N−1)⌉ (metric.py:326-339)."""
    if num_models < 2:
        return 0  # ln(0) is −inf (ln(1) = 0 also leaves no bucket): every row scores 0
    return int(np.ceil(np.log(num_models - 1)) / BUCKET_WIDTH)


def _row_epsilon(positive: np.ndarray, negative: np.ndarray, delta: float, row: int) -> float:
    """The best ε over both decision-rule families for one row (metric.py:180-287), unclipped."""
    positive_range = positive.max() - positive.min()
    negative_range = negative.max() - negative.min()
    largest = max(positive_range, negative_range)
    smallest = min(positive_range, negative_range)
    # metric.py:184-188. Two constant sides give 0/0 = NaN, which is not < 0.01: such a row
    # goes on to the thresholds, as in the reference.
    with np.errstate(invalid="ignore", divide="ignore"):
        peaky = np.float64(smallest) / np.float64(largest) < PEAKY_RATIO
    if peaky:
        return EPSILON_CAP

    num = positive.shape[0]
    counts = [_double_threshold_counts(positive, negative), _single_threshold_counts(positive, negative)]
    false_positives = np.concatenate([c[0] for c in counts])
    false_negatives = np.concatenate([c[1] for c in counts])
    # ε depends on a threshold only through its two counts, each in 0…N: score every
    # (false positives, false negatives) pair that occurs once, not 160 000 thresholds.
    occurs = np.zeros((num + 1, num + 1), dtype=bool)
    occurs[false_positives, false_negatives] = True
    fp_count, fn_count = np.nonzero(occurs)
    epsilons = _threshold_epsilons(_rates(fp_count, num), _rates(fn_count, num), delta)
    kept = epsilons[~np.isnan(epsilons)]
    if kept.size == 0:
        raise InputError(
            f"forget row {row}: every threshold was discarded (the unlearned and retrained models give "
            "one and the same φ on it)",
            hint="the models are identical on this row; the epsilon attack cannot score it",
        )
    return float(kept.max())


def _threshold_epsilons(fpr: np.ndarray, fnr: np.ndarray, delta: float) -> np.ndarray:
    """ε per threshold from float32 rates (metric.py:220-287): ∞ for a perfect separation,
    NaN (discarded) where exactly one rate is 0, else
    max{log(1−δ−FPR) − log FNR, log(1−δ−FNR) − log FPR} clipped below at 0."""
    one_minus_delta = np.float32(1 - delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_fnr = np.log(one_minus_delta - fpr) - np.log(fnr)
        by_fpr = np.log(one_minus_delta - fnr) - np.log(fpr)
        # np.fmax is nanmax of two: NaN only where both are (a rate of 1 on both sides).
        epsilons = np.clip(np.fmax(by_fnr, by_fpr), 0, None)
    # tpr = 1 − fnr and tnr = 1 − fpr exactly (complementary counts over the same N), so
    # metric.py's test "fpr + fnr == 0 and tpr + tnr == 2" is "both rates are 0".
    both_zero = (fpr == 0) & (fnr == 0)
    one_zero = (fpr * fnr == 0) & ~both_zero
    epsilons = np.where(both_zero, np.float32(np.inf), epsilons)
    return np.where(one_zero, np.float32(np.nan), epsilons)


def _rates(count: np.ndarray, num: int) -> np.ndarray:
    """A count over N models as the reference's rate, a float32 mean of 0/1 indicators: the
    quotient rounded once to float32 (rounding the float64 quotient gives the same float32)."""
    return (count / num).astype(np.float32)


def _double_threshold_counts(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positives, false negatives) of "predict positive inside [left, right]" per
    threshold pair (metric.py:64-129).

    The interval's class is the *peakier* set (smaller range; the other one on a tie,
    metric.py:73-74), which may differ from the median-positive class of the row. Right
    ends span the peaky set's max ± 2.0 at 1/100 steps; for each, 400 left ends span
    right − width ± 2.0, width being the peaky set's range.
    """
    positive_range = positive.max() - positive.min()
    negative_range = negative.max() - negative.min()
    width = negative_range if positive_range > negative_range else positive_range
    if positive_range >= negative_range:
        positive, negative = negative, positive
    low = positive.min() + width - THRESHOLD_BUFFER
    high = positive.max() + THRESHOLD_BUFFER
    right = np.linspace(low, high, num=int(np.ceil((high - low) * THRESHOLDS_PER_UNIT)))
    num_left = int(np.ceil(2 * THRESHOLD_BUFFER * THRESHOLDS_PER_UNIT))
    # linspace over an array of ends gives, row by row, the same floats as metric.py:87-95's
    # one linspace per right end.
    left = np.linspace(right - width - THRESHOLD_BUFFER, right - width + THRESHOLD_BUFFER, num=num_left, axis=1)

    # How many of each set satisfy left ≤ φ ≤ right: one search of the merged sorted φ, whose
    # running counts per set turn "how many φ lie below" into a count for each set.
    merged = np.concatenate([positive, negative])
    order = np.argsort(merged, kind="stable")
    merged = merged[order]
    is_positive = order < positive.shape[0]
    positive_below = np.concatenate([[0], np.cumsum(is_positive)])
    negative_below = np.concatenate([[0], np.cumsum(~is_positive)])
    at_most_right = np.searchsorted(merged, right, side="right")[:, None]
    below_left = np.searchsorted(merged, left.reshape(-1), side="left").reshape(left.shape)
    true_positives = np.maximum(positive_below[at_most_right] - positive_below[below_left], 0)  # left > right: 0
    false_positives = np.maximum(negative_below[at_most_right] - negative_below[below_left], 0)
    return false_positives.reshape(-1), positive.shape[0] - true_positives.reshape(-1)


def _single_threshold_counts(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positives, false negatives) of "predict positive at φ ≥ t" (metric.py:132-162),
    t on a 1/100 grid over the range of both sets (float32, as `torch.linspace` makes it)."""
    everything = np.concatenate([positive, negative])
    low, high = everything.min(), everything.max()
    thresholds = torch_linspace_float32(low, high, int(np.ceil((high - low) * THRESHOLDS_PER_UNIT)))
    thresholds = thresholds.astype(np.float64)  # metric.py compares float64 φ with the float32 grid
    below_positive = np.searchsorted(np.sort(positive), thresholds, side="left")
    below_negative = np.searchsorted(np.sort(negative), thresholds, side="left")
    return negative.shape[0] - below_negative, below_positive


def torch_linspace_float32(start: float, end: float, steps: int) -> np.ndarray:
    """`torch.linspace(start, end, steps)` in torch's default float32, without torch.

    torch casts both ends to float32, takes a float32 step, and fills the first half
    forward from `start` and the second backward from `end`; each value is rounded once
    (checked equal to torch 2.x's CPU kernel on 16 million thresholds of random grids).
    """
    if steps <= 0:
        return np.empty(0, dtype=np.float32)
    first, last = np.float32(start), np.float32(end)
    if steps == 1:
        return np.array([first], dtype=np.float32)
    step = (last - first) / np.float32(steps - 1)
    index = np.arange(steps)
    forward = np.float64(first) + np.float64(step) * index
    backward = np.float64(last) - np.float64(step) * (steps - 1 - index)
    return np.where(index < steps // 2, forward, backward).astype(np.float32)
