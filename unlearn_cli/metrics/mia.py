"""Membership-inference attacks (SPEC §6.2): three published attacks, side by side.

They disagree on what they train on and on which direction is "good", so each keeps the
name and the direction of the paper it comes from:

- `mia_entropy` (NatMU, SCRUB, SSD): % of D_f predicted *member*; higher = the model still
  treats D_f like training data.
- `mia_confidence` (SalUn / Unlearn-Sparse "MIA-efficacy"): % of D_f predicted
  *non-member*; higher = more forgotten.
- `mia_loss` (NeurIPS 2023 unlearning-challenge kit): cross-validated accuracy of telling
  D_f from test data by loss; 50 % = indistinguishable.

Every fit is seeded with `ctx.seed`, so a run's scores are reproducible.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.svm import SVC

from unlearn_cli.metrics.base import EvalContext, register_metric

log = logging.getLogger(__name__)

# SalUn's attack: SVC(C=3, gamma="auto", kernel="rbf"). gamma="auto" is 1/n_features = 1;
# sklearn's default ("scale") would change the attack, so it is spelled out.
SVC_C = 3.0
SVC_GAMMA = "auto"
# An RBF SVM on 20k points takes ~15 s; on one feature, rounding it to 1e-4 and merging
# equal (value, class) pairs into one weighted point cuts that to ~1 s. The merge itself is
# exact (a point of weight k is k copies in the SVM objective); the rounding is far below
# the kernel's length scale of 1 and moved scores by < 0.05 points in our checks.
CONFIDENCE_QUANTUM = 1e-4
LOSS_FOLDS = 10


def _column(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1, 1)


def mia_entropy_score(ctx: EvalContext) -> float:
    """% of D_f that a D_r-vs-test entropy attack calls member."""
    members = ctx.retain_outputs.entropy
    non_members = ctx.test.entropy
    x = _column(np.concatenate([members, non_members]))
    y = np.concatenate([np.ones(len(members)), np.zeros(len(non_members))])
    # class_weight="balanced": D_r is usually several times larger than the test set, and
    # an unweighted fit would learn that prior instead of the entropy signal.
    attack = LogisticRegression(class_weight="balanced", random_state=ctx.seed).fit(x, y)
    predicted = attack.predict(_column(ctx.forget_outputs.entropy))
    return float(100.0 * np.mean(predicted == 1))


def _merge_weighted(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique (x, y) pairs and their counts, to fit as sample weights."""
    pairs, counts = np.unique(np.stack([x, y], axis=1), axis=0, return_counts=True)
    return pairs[:, :1], pairs[:, 1], counts.astype(np.float64)


def _quantise(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64) / CONFIDENCE_QUANTUM) * CONFIDENCE_QUANTUM


def mia_confidence_score(ctx: EvalContext) -> float:
    """% of D_f that a D_r-sample-vs-test true-class-probability SVM calls non-member."""
    rng = np.random.default_rng(ctx.seed)
    retain_prob = ctx.retain_outputs.true_prob
    n_test = len(ctx.test)
    if len(retain_prob) < n_test:
        log.warning("D_r has %d samples, fewer than the %d test samples; mia_confidence "
                    "uses all of D_r as members", len(retain_prob), n_test)
    members = rng.choice(retain_prob, size=min(n_test, len(retain_prob)), replace=False)
    non_members = ctx.test.true_prob
    x = _quantise(np.concatenate([members, non_members]))
    y = np.concatenate([np.ones(len(members)), np.zeros(len(non_members))])
    x_fit, y_fit, weights = _merge_weighted(x, y)
    attack = SVC(C=SVC_C, kernel="rbf", gamma=SVC_GAMMA, random_state=ctx.seed)
    attack.fit(x_fit, y_fit, sample_weight=weights)
    # Predict each distinct value once: D_f shares values after rounding just as well.
    values, inverse = np.unique(_quantise(ctx.forget_outputs.true_prob), return_inverse=True)
    predicted = attack.predict(_column(values))[inverse]
    return float(100.0 * np.mean(predicted == 0))


def mia_loss_score(ctx: EvalContext, n_splits: int = LOSS_FOLDS) -> float:
    """Cross-validated accuracy (%) of telling D_f from an equal-size test sample by loss."""
    rng = np.random.default_rng(ctx.seed)
    forget_loss = ctx.forget_outputs.loss
    test_loss = ctx.test.loss
    n = min(len(forget_loss), len(test_loss))
    folds = min(n_splits, n)
    if folds < 2:
        log.warning("mia_loss needs at least 2 forget samples, got %d; it is NaN", n)
        return float("nan")
    if folds < n_splits:
        log.warning("D_f has %d samples: mia_loss uses %d-fold instead of %d-fold "
                    "cross-validation", n, folds, n_splits)
    # Equal-size classes keep 50 % the chance level, as in the challenge kit.
    forget_part = rng.choice(forget_loss, size=n, replace=False)
    test_part = rng.choice(test_loss, size=n, replace=False)
    x = _column(np.concatenate([forget_part, test_part]))
    y = np.concatenate([np.ones(n), np.zeros(n)])
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=ctx.seed)
    scores = cross_val_score(LogisticRegression(random_state=ctx.seed), x, y, cv=cv,
                             scoring="accuracy")
    return float(100.0 * np.mean(scores))


@register_metric(
    "mia_entropy",
    description="% of D_f a D_r-vs-test entropy attack calls member (NatMU/SCRUB/SSD); "
    "higher = D_f still looks like training data; compare with retrain",
)
def mia_entropy(ctx: EvalContext) -> dict[str, float]:
    return {"mia_entropy": mia_entropy_score(ctx)}


@register_metric(
    "mia_confidence",
    description="% of D_f a true-class-prob SVM calls non-member (SalUn MIA-efficacy); "
    "higher = more forgotten",
)
def mia_confidence(ctx: EvalContext) -> dict[str, float]:
    return {"mia_confidence": mia_confidence_score(ctx)}


@register_metric(
    "mia_loss",
    description="10-fold CV accuracy % of a loss attack, D_f vs equal-size test sample "
    "(fewer folds if |D_f| < 10, NaN if < 2); 50 = indistinguishable",
)
def mia_loss(ctx: EvalContext) -> dict[str, float]:
    return {"mia_loss": mia_loss_score(ctx)}
