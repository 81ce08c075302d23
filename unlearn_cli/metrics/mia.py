"""Membership-inference attacks (docs/metrics.md): three published attacks, side by side.

They disagree on what they train on and on which direction is "good", so each keeps the
name and the direction of the paper it comes from:

- `mia_entropy` (NatMU, SCRUB, SSD): % of D_f predicted *member*; higher = the model still
  treats D_f like training data.
- `mia_confidence` (SalUn / Unlearn-Sparse "MIA-efficacy"): % of D_f predicted
  *non-member*; higher = more forgotten. `mia_confidence_spread` says how far other member
  draws move it.
- `mia_loss` (NeurIPS 2023 unlearning-challenge kit): accuracy of telling D_f from test
  data by loss, averaged over the kit's splits; 50 % = indistinguishable.

Every random draw is seeded with `ctx.seed`, so a run's scores are reproducible; the loss
attack's splits use the kit's fixed random_state=0.
"""

from __future__ import annotations

import importlib
import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from unlearn_cli.metrics.context import EvalContext
from unlearn_cli.metrics.registry import register_metric

if TYPE_CHECKING:
    from sklearn.model_selection import StratifiedShuffleSplit

# sklearn is imported when an attack first fits, not here: this module registers its metrics
# when `unlearn_cli.metrics` is imported, which every sweep and audit `--plan` does (to check
# metric names), and importing sklearn was a fifth of `unlearn audit --plan`'s CPU time.
_SKLEARN = {"LogisticRegression": "sklearn.linear_model", "SVC": "sklearn.svm",
            "StratifiedShuffleSplit": "sklearn.model_selection", "cross_val_score": "sklearn.model_selection"}


def __getattr__(name: str) -> Any:
    if name not in _SKLEARN:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SKLEARN[name]), name)
    globals()[name] = value
    return value


def _sk(name: str) -> Any:
    """The sklearn name, as this module holds it (a test may have replaced it here)."""
    return globals()[name] if name in globals() else __getattr__(name)

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
# NatMU, SCRUB and SSD fit LogisticRegression(class_weight="balanced", solver="lbfgs",
# multi_class="multinomial") (NatMU class-wise/utils/mia.py:51). On two classes that
# softmax has log-odds (w1 - w0)·x with w0 = -w1 at the optimum, so its penalty
# ½(|w0|² + |w1|²) is half a binary fit's ½|w1 - w0|²: it is the binary fit with C doubled.
# sklearn has dropped multi_class, so the same attack is spelled C=2.
ENTROPY_C = 2.0
# mia_confidence_spread: how far other member draws move the SalUn score.
SPREAD_DRAWS = 5
# The challenge kit's simple_mia: StratifiedShuffleSplit(n_splits=10, random_state=0) with
# sklearn's default test share (test_size=None means 0.1).
LOSS_SPLITS = 10
LOSS_SPLIT_STATE = 0
KIT_TEST_SHARE = 0.1


def _column(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1, 1)


# ------------------------------------------------------------------------- mia_entropy


def _fit_entropy_attack(ctx: EvalContext) -> float:
    members = ctx.retain_outputs.entropy
    non_members = ctx.test.entropy
    x = _column(np.concatenate([members, non_members]))
    y = np.concatenate([np.ones(len(members)), np.zeros(len(non_members))])
    # class_weight="balanced": D_r is usually several times larger than the test set, and
    # an unweighted fit would learn that prior instead of the entropy signal.
    attack = _sk("LogisticRegression")(C=ENTROPY_C, class_weight="balanced", random_state=ctx.seed).fit(x, y)
    predicted = attack.predict(_column(ctx.forget_outputs.entropy))
    return float(100.0 * np.mean(predicted == 1))


def mia_entropy_score(ctx: EvalContext) -> float:
    """% of D_f that a D_r-vs-test entropy attack calls member (fitted once per context:
    avg_gap reuses it)."""
    return ctx.memo("mia_entropy", lambda: _fit_entropy_attack(ctx))


# ---------------------------------------------------------------------- mia_confidence


def _merge_weighted(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique (x, y) pairs and their counts, to fit as sample weights."""
    pairs, counts = np.unique(np.stack([x, y], axis=1), axis=0, return_counts=True)
    return pairs[:, :1], pairs[:, 1], counts.astype(np.float64)


def _quantise(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64) / CONFIDENCE_QUANTUM) * CONFIDENCE_QUANTUM


def svm_non_member_share(members: np.ndarray, non_members: np.ndarray, targets: np.ndarray,
                         seed: int) -> float:
    """% of `targets` that an RBF SVM (SalUn's settings) fitted on members (1) against
    non-members (0), all true-class probabilities, calls non-member."""
    x = _quantise(np.concatenate([members, non_members]))
    y = np.concatenate([np.ones(len(members)), np.zeros(len(non_members))])
    x_fit, y_fit, weights = _merge_weighted(x, y)
    attack = _sk("SVC")(C=SVC_C, kernel="rbf", gamma=SVC_GAMMA, random_state=seed)
    attack.fit(x_fit, y_fit, sample_weight=weights)
    # Predict each distinct value once: D_f shares values after rounding just as well.
    values, inverse = np.unique(_quantise(targets), return_inverse=True)
    predicted = attack.predict(_column(values))[inverse]
    return float(100.0 * np.mean(predicted == 0))


def _member_count(ctx: EvalContext) -> int:
    n_retain, n_test = int(ctx.retain.sum()), len(ctx.test)
    if n_retain < n_test:
        # SalUn's Subset(retain, range(test_len)) would fail here; all of D_r is the
        # nearest thing.
        log.warning("D_r has %d samples, fewer than the %d test samples; mia_confidence "
                    "uses all of D_r as members", n_retain, n_test)
    return min(n_retain, n_test)


def confidence_member_rows(ctx: EvalContext) -> np.ndarray:
    """Train rows SalUn's attack takes as members: the first len(test) rows of D_r in index
    order (main_forget.py: `Subset(retain_dataset, range(test_len))`)."""
    return np.flatnonzero(ctx.retain)[:_member_count(ctx)]


def mia_confidence_score(ctx: EvalContext) -> float:
    """% of D_f that a (first len(test) rows of D_r)-vs-test true-class-probability SVM
    calls non-member."""
    members = ctx.train.true_prob[confidence_member_rows(ctx)]
    return svm_non_member_share(members, ctx.test.true_prob, ctx.forget_outputs.true_prob,
                                ctx.seed)


def spread_member_rows(ctx: EvalContext, draws: int = SPREAD_DRAWS) -> list[np.ndarray]:
    """`draws` seeded random member sets of the same size, each drawn from all of D_r."""
    rng = np.random.default_rng(ctx.seed)
    retain_rows, count = np.flatnonzero(ctx.retain), _member_count(ctx)
    return [np.sort(rng.choice(retain_rows, size=count, replace=False)) for _ in range(draws)]


def mia_confidence_spread(ctx: EvalContext, draws: int = SPREAD_DRAWS) -> float:
    """max − min of mia_confidence over `draws` random member draws, in points."""
    scores = [svm_non_member_share(ctx.train.true_prob[rows], ctx.test.true_prob,
                                   ctx.forget_outputs.true_prob, ctx.seed)
              for rows in spread_member_rows(ctx, draws)]
    return float(max(scores) - min(scores))


# ---------------------------------------------------------------------------- mia_loss


def balanced_loss_sample(ctx: EvalContext) -> tuple[np.ndarray, np.ndarray]:
    """The loss attack's data: an equal-size random draw of test (label 0) and D_f (label
    1) losses, test first as the kit concatenates them. The kit only sub-samples D_f (its
    D_f is larger than its test set); here the larger side is sub-sampled, so 50 % stays
    the chance level either way."""
    rng = np.random.default_rng(ctx.seed)
    forget_loss, test_loss = ctx.forget_outputs.loss, ctx.test.loss
    n = min(len(forget_loss), len(test_loss))
    forget_part = rng.choice(forget_loss, size=n, replace=False)
    test_part = rng.choice(test_loss, size=n, replace=False)
    x = _column(np.concatenate([test_part, forget_part]))
    y = np.concatenate([np.zeros(n), np.ones(n)])
    return x, y


def loss_attack_splitter(n_samples: int) -> StratifiedShuffleSplit:
    """The kit's splitter. A sample so small that its 10 % test share (rounded up, as
    sklearn does) cannot hold one of each class gets a test part of 2 instead."""
    splitter = _sk("StratifiedShuffleSplit")
    if math.ceil(KIT_TEST_SHARE * n_samples) >= 2:
        return splitter(n_splits=LOSS_SPLITS, random_state=LOSS_SPLIT_STATE)
    log.warning("mia_loss: %d samples are too few for the kit's 10 %% test share; each "
                "split tests on 2", n_samples)
    return splitter(n_splits=LOSS_SPLITS, test_size=2, random_state=LOSS_SPLIT_STATE)


def mia_loss_score(ctx: EvalContext) -> float:
    """Accuracy (%) of telling D_f from an equal-size test sample by loss, averaged over the
    kit's 10 stratified shuffle splits."""
    x, y = balanced_loss_sample(ctx)
    if len(y) < 4:
        log.warning("mia_loss needs at least 2 forget samples, got %d; it is NaN", len(y) // 2)
        return float("nan")
    scores = _sk("cross_val_score")(_sk("LogisticRegression")(), x, y, cv=loss_attack_splitter(len(y)),
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
    keys=("mia_confidence", "mia_confidence_spread"),
    description="% of D_f a true-class-prob SVM (members: first len(test) rows of D_r) calls "
    "non-member (SalUn MIA-efficacy), higher = more forgotten; _spread: its max-min over 5 "
    "random member draws (how much the score means)",
)
def mia_confidence(ctx: EvalContext) -> dict[str, float]:
    return {"mia_confidence": mia_confidence_score(ctx),
            "mia_confidence_spread": mia_confidence_spread(ctx)}


@register_metric(
    "mia_loss",
    description="accuracy % of a loss attack, D_f vs equal-size test sample, mean over the "
    "kit's 10 stratified shuffle splits; 50 = indistinguishable (ours: the larger side is "
    "sub-sampled; splits test on 2 if |D_f| < 6, NaN if < 2)",
)
def mia_loss(ctx: EvalContext) -> dict[str, float]:
    return {"mia_loss": mia_loss_score(ctx)}
