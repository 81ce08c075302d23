"""U-LiRA: a per-example likelihood-ratio attack over many models (Hayes et al., SaTML 2025).

It is LiRA's online attack (tensorflow/privacy `research/mi_lira_2021/plot.py`, commit
03035d5; line numbers below are that file's) with the membership an audit defines: IN is a
model that trained on the row and then unlearned it (or, in the `fixed` design, an
unlearned model), OUT a model that never saw it (a retrained model). For every row and
query flip, a Gaussian is fitted to φ over the IN shadow models and one over the OUT
shadow models — the *median* as its centre and the population standard deviation as its
spread (`generate_ours`, plot.py:82-90) — and a target model's φ is scored by

    Λ = log N(φ; μ_in, σ_in) − log N(φ; μ_out, σ_out), averaged over the flips (plot.py:92-99).

LiRA holds out its last model(s) as the target (`do_plot`, plot.py:158-161); we go round
k folds of the models so that every model is a target once and is scored only by Gaussians
fitted without it. The fixed-variance variant replaces each σ by one per side, the
standard deviation of every shadow φ of that side pooled over all rows, models and flips
(plot.py:85-87), which is the stable choice with few models.

Where we differ from plot.py: it truncates every row to the smallest IN/OUT count of any
row (plot.py:76-80, to build a rectangular array) while we use every shadow a row has;
and its fixed variance sets `std_out = np.std(dat_in)` (plot.py:87), the IN spread on
both sides, where the variant it names has one σ per side: we use the OUT values for σ_out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import auc, roc_curve

from unlearn_cli.audit.bootstrap import DEFAULT_RESAMPLES, percentile_intervals
from unlearn_cli.errors import InputError

MIN_SHADOWS = 4  # fewer IN or OUT shadows and a row gets no score
# LiRA's README (research/mi_lira_2021/README.md:24-26) says 16 shadow models in all give
# "most of the gains"; a row with fewer than 16 on either side is worth a warning.
RECOMMENDED_SHADOWS = 16
SIGMA_FLOOR = 1e-30  # added to every σ, as plot.py:95-96, so a constant side stays finite
LOW_FPR_BOUNDS = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0_1pct_fpr": 0.001}
METRIC_NAMES = ("balanced_accuracy", "auc", *LOW_FPR_BOUNDS)


@dataclass(frozen=True)
class GaussianFit:
    """Per row and flip: the centre (median) and spread of φ on each side, and the counts.

    `mu_*` and `sigma_*` are (rows, flips); with fixed variance each `sigma_*` holds one
    value repeated. `n_in`/`n_out` are (rows,): how many shadow models each side had.
    """

    mu_in: np.ndarray
    sigma_in: np.ndarray
    mu_out: np.ndarray
    sigma_out: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray


@dataclass(frozen=True)
class UliraScores:
    """Λ of every (model, row) as a held-out target, and what it was computed from.

    `scores` is (models, rows), NaN where the (model, row) is absent or its row had fewer
    than MIN_SHADOWS IN or OUT shadows in the model's fold. `is_in`/`is_out` (models, rows)
    say which side each (model, row) is on (neither where absent). `fold` gives each
    model's fold. `n_in`/`n_out` count each row's IN/OUT models over all models;
    `fewest_in`/`fewest_out` the fewest shadows a fold had on that side for that row;
    `rows_below_recommended` counts the rows with fewer than RECOMMENDED_SHADOWS on a side
    in some fold (the caller warns about them).
    """

    scores: np.ndarray
    is_in: np.ndarray
    is_out: np.ndarray
    fold: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    fewest_in: np.ndarray
    fewest_out: np.ndarray
    rows_below_recommended: int


@dataclass(frozen=True)
class UliraAudit:
    """The attack's headline numbers, their bootstrap intervals, and per-row results.

    `metrics` maps METRIC_NAMES to values over every scored (target model, row);
    `intervals` maps them to (low, high) 95 % bootstrap intervals. `row_auc` and
    `row_balanced_accuracy` (rows,) are the same statistics over one row's targets (NaN
    where a row has no scored IN or no scored OUT target). `fit` is fitted on all models
    (a description of each row, not used to score anything).
    """

    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    row_auc: np.ndarray
    row_balanced_accuracy: np.ndarray
    scores: UliraScores
    fit: GaussianFit


# --- inputs ----------------------------------------------------------------------------------


def as_phi(phi: np.ndarray) -> np.ndarray:
    """φ as float64 (models, rows, flips); a 2-D array is one flip."""
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim == 2:
        phi = phi[..., None]
    if phi.ndim != 3 or 0 in phi.shape:
        raise ValueError(f"φ must be (models, rows) or (models, rows, flips), non-empty; got shape {phi.shape}")
    return phi


def membership_sides(membership: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is_in, is_out), bool (models, rows), from a membership array and φ (models, rows, flips).

    `membership` is bool (True = IN), or float with 1 = IN, 0 = OUT and NaN = neither. A
    (model, row) whose φ is not finite on every flip counts as absent: neither side.
    """
    membership = np.asarray(membership)
    if membership.shape != phi.shape[:2]:
        raise ValueError(f"membership must be (models, rows) = {phi.shape[:2]}, got {membership.shape}")
    if membership.dtype == np.bool_:
        is_in, is_out = membership.copy(), ~membership
    elif np.issubdtype(membership.dtype, np.floating):
        known = ~np.isnan(membership)
        if not np.isin(membership[known], (0.0, 1.0)).all():
            raise ValueError("a float membership holds only 1 (IN), 0 (OUT) or NaN (neither)")
        is_in, is_out = membership == 1.0, membership == 0.0
    else:
        raise ValueError(f"membership must be bool or float, got {membership.dtype}")
    present = np.isfinite(phi).all(axis=2)
    return is_in & present, is_out & present


# --- Gaussians and the ratio ------------------------------------------------------------------


def fit_gaussians(
    phi: np.ndarray, is_in: np.ndarray, is_out: np.ndarray, *, fixed_variance: bool = False
) -> GaussianFit:
    """Fit each row's IN and OUT Gaussians over the given (shadow) models (plot.py:62-90).

    `phi` is float64 (models, rows, flips); `is_in`/`is_out` bool (models, rows), already
    False wherever φ is absent. A side with no model gets NaN.
    """
    mu_in, sigma_in, n_in = _side_fit(phi, is_in, fixed_variance)
    mu_out, sigma_out, n_out = _side_fit(phi, is_out, fixed_variance)
    return GaussianFit(mu_in, sigma_in, mu_out, sigma_out, n_in, n_out)


def log_likelihood_ratio(phi: np.ndarray, fit: GaussianFit, *, min_shadows: int = MIN_SHADOWS) -> np.ndarray:
    """Λ of each (model, row) of `phi` (models, rows, flips) under `fit`, mean over flips.

    plot.py:95-99 computes −logpdf_in − (−logpdf_out) and sweeps its negation; Λ is that
    negation. Rows whose fit had fewer than `min_shadows` on a side are NaN.
    """
    sigma_in = fit.sigma_in + SIGMA_FLOOR
    sigma_out = fit.sigma_out + SIGMA_FLOOR
    # log N(x; μ, σ) = −z²/2 − log σ − log √(2π); the constant cancels in the difference.
    z_in = (phi - fit.mu_in) / sigma_in
    z_out = (phi - fit.mu_out) / sigma_out
    per_flip = (0.5 * z_out**2 + np.log(sigma_out)) - (0.5 * z_in**2 + np.log(sigma_in))
    ratio = per_flip.mean(axis=2)
    enough = (fit.n_in >= min_shadows) & (fit.n_out >= min_shadows)
    ratio[:, ~enough] = np.nan
    return ratio


def _side_fit(phi: np.ndarray, on_side: np.ndarray, fixed_variance: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, population standard deviation and count of one side, per row and flip."""
    count = on_side.sum(axis=0)
    mask = np.broadcast_to(on_side[..., None], phi.shape)
    # The median of each column's present values: np.sort puts the NaN of absent models last,
    # so the present ones are the first `count`; their middle one or two give np.median.
    ordered = np.sort(np.where(mask, phi, np.nan), axis=0)
    lower = np.maximum((count - 1) // 2, 0)[None, :, None]
    upper = np.maximum(count // 2 - (count == 0), 0)[None, :, None]
    lower_values = np.take_along_axis(ordered, np.broadcast_to(lower, (1, *phi.shape[1:])), axis=0)[0]
    upper_values = np.take_along_axis(ordered, np.broadcast_to(upper, (1, *phi.shape[1:])), axis=0)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        median = (lower_values + upper_values) / 2
        median[count == 0] = np.nan
        if fixed_variance:
            pooled = phi[mask]
            sigma = np.full(phi.shape[1:], pooled.std() if pooled.size else np.nan)
        else:
            per_column = count[:, None]
            mean = np.where(mask, phi, 0.0).sum(axis=0) / per_column
            squares = np.where(mask, (phi - mean) ** 2, 0.0).sum(axis=0)
            sigma = np.sqrt(squares / per_column)
    return median, sigma, count


# --- folds ------------------------------------------------------------------------------------


def fold_assignment(num_models: int, folds: int | None, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Each model's fold: a seeded shuffle cut into `folds` near-equal parts; None = one
    model per fold (leave-one-out, the most shadows every target can have).

    With `groups` (one label per model), the groups are shuffled and cut instead, so models
    of one group share a fold: models that share an initialisation (an unlearned model and
    the retrain of the same original) are targets together and never shadows of each other,
    which would pull each one's score towards its twin's side."""
    labels = np.arange(num_models) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    num_groups = int(labels.max()) + 1
    if folds is None:
        folds = num_groups
    if not 2 <= folds <= num_groups:
        raise InputError(
            f"U-LiRA needs between 2 and {num_groups} folds (the number of models or groups), got {folds}",
            hint="leave the number of folds unset for leave-one-out",
        )
    order = np.random.default_rng(seed).permutation(num_groups)
    group_fold = np.empty(num_groups, dtype=np.int64)
    for index, members in enumerate(np.array_split(order, folds)):
        group_fold[members] = index
    return group_fold[labels]


def ulira_scores(
    phi: np.ndarray,
    membership: np.ndarray,
    *,
    fixed_variance: bool = False,
    folds: int | None = None,
    seed: int = 0,
    min_shadows: int = MIN_SHADOWS,
    groups: np.ndarray | None = None,
) -> UliraScores:
    """Score every model as a held-out target, fold by fold.

    `phi` is (models, rows[, flips]); `membership` (models, rows) as `membership_sides`
    reads it. A model's φ never enters the Gaussians that score it: its fold is fitted
    on the other folds' models only.
    """
    phi = as_phi(phi)
    is_in, is_out = membership_sides(membership, phi)
    num_models, num_rows, _ = phi.shape
    fold = fold_assignment(num_models, folds, seed, groups)
    scores = np.full((num_models, num_rows), np.nan)
    fewest_in = np.full(num_rows, num_models)
    fewest_out = np.full(num_rows, num_models)
    for index in np.unique(fold):
        target = fold == index
        shadow = ~target
        fit = fit_gaussians(phi[shadow], is_in[shadow], is_out[shadow], fixed_variance=fixed_variance)
        ratio = log_likelihood_ratio(phi[target], fit, min_shadows=min_shadows)
        present = is_in[target] | is_out[target]
        scores[target] = np.where(present, ratio, np.nan)
        fewest_in = np.minimum(fewest_in, fit.n_in)
        fewest_out = np.minimum(fewest_out, fit.n_out)
    below = int(((fewest_in < RECOMMENDED_SHADOWS) | (fewest_out < RECOMMENDED_SHADOWS)).sum())
    return UliraScores(
        scores=scores,
        is_in=is_in,
        is_out=is_out,
        fold=fold,
        n_in=is_in.sum(axis=0),
        n_out=is_out.sum(axis=0),
        fewest_in=fewest_in,
        fewest_out=fewest_out,
        rows_below_recommended=below,
    )


# --- statistics -------------------------------------------------------------------------------


def roc_sweep(scores: np.ndarray, is_member: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(FPR, TPR, AUC, balanced accuracy) of "member if Λ ≥ t" (`sweep`, plot.py:32-38).

    Balanced accuracy is the best threshold's 1 − (FPR + FNR)/2.
    """
    fpr, tpr, _ = roc_curve(np.asarray(is_member, dtype=bool), np.asarray(scores, dtype=np.float64))
    return fpr, tpr, float(auc(fpr, tpr)), float(np.max(1 - (fpr + (1 - tpr)) / 2))


def tpr_below_fpr(fpr: np.ndarray, tpr: np.ndarray, bound: float) -> float:
    """The largest TPR at an FPR strictly below `bound` (`do_plot`, plot.py:165)."""
    return float(tpr[np.nonzero(fpr < bound)[0][-1]])


def attack_metrics(scores: np.ndarray, is_member: np.ndarray) -> dict[str, float]:
    """Balanced accuracy, AUC and TPR at 1 % and 0.1 % FPR of one set of scores."""
    fpr, tpr, area, balanced = roc_sweep(scores, is_member)
    metrics = {"balanced_accuracy": balanced, "auc": area}
    metrics.update({name: tpr_below_fpr(fpr, tpr, bound) for name, bound in LOW_FPR_BOUNDS.items()})
    return metrics


def ulira_audit(
    phi: np.ndarray,
    membership: np.ndarray,
    *,
    fixed_variance: bool = False,
    folds: int | None = None,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    groups: np.ndarray | None = None,
) -> UliraAudit:
    """U-LiRA end to end: held-out scores, pooled metrics with bootstrap intervals (the
    (target model, row) scores resampled), per-row statistics and a descriptive fit."""
    scores = ulira_scores(phi, membership, fixed_variance=fixed_variance, folds=folds, seed=seed, groups=groups)
    scored = ~np.isnan(scores.scores)
    if not scored.any():
        raise InputError(
            f"no row has {MIN_SHADOWS} IN and {MIN_SHADOWS} OUT shadow models, so U-LiRA scores nothing "
            f"(the most any row has is {int(scores.fewest_in.max())} IN and {int(scores.fewest_out.max())} OUT)",
            hint="audit with more models (--models); LiRA's baseline is 16 shadow models",
        )
    values = scores.scores[scored]
    members = scores.is_in[scored]
    if members.all() or not members.any():
        raise InputError(
            "every scored (model, row) is on one side, so there is nothing to tell apart",
            hint="the audit needs models that are IN and models that are OUT for its rows",
        )
    metrics = attack_metrics(values, members)

    def resampled(indices: np.ndarray) -> dict[str, float]:
        picked = members[indices]
        if picked.all() or not picked.any():
            return dict.fromkeys(METRIC_NAMES, float("nan"))
        return attack_metrics(values[indices], picked)

    intervals = percentile_intervals(resampled, values.size, seed=seed, resamples=resamples)
    row_auc, row_balanced = _per_row(scores)
    phi3 = as_phi(phi)
    fit = fit_gaussians(phi3, scores.is_in, scores.is_out, fixed_variance=fixed_variance)
    return UliraAudit(metrics, intervals, row_auc, row_balanced, scores, fit)


def _per_row(scores: UliraScores) -> tuple[np.ndarray, np.ndarray]:
    """AUC and balanced accuracy of each row's own targets (NaN without both sides)."""
    num_rows = scores.scores.shape[1]
    row_auc = np.full(num_rows, np.nan)
    row_balanced = np.full(num_rows, np.nan)
    for row in range(num_rows):
        scored = ~np.isnan(scores.scores[:, row])
        members = scores.is_in[scored, row]
        if members.all() or not members.any():
            continue
        _, _, row_auc[row], row_balanced[row] = roc_sweep(scores.scores[scored, row], members)
    return row_auc, row_balanced
