"""Distance to the gold standard (docs/metrics.md): gaps between a run and its retrain reference.

Retraining from scratch without D_f is what unlearning approximates, so these metrics
measure how close a run lands to it: `avg_gap` (NatMU), `tow` (RUM's tug-of-war),
`kl_to_reference` (yields `kl_forget` and `kl_test`) and `rte` (relative time). Each is its
own registered metric, so each can be asked for by name; `kl_forget` / `kl_test` can also
be asked for alone (see `compute_metrics`).
"""

from __future__ import annotations

import logging

import numpy as np

from unlearn_cli.metrics.accuracy import accuracy_values
from unlearn_cli.metrics.context import EvalContext
from unlearn_cli.metrics.mia import mia_entropy_score
from unlearn_cli.metrics.outputs import Outputs
from unlearn_cli.metrics.registry import register_metric

log = logging.getLogger(__name__)

REFERENCE_NEEDED = "--reference (a retrain run on the same forget set)"


def _has_reference(ctx: EvalContext) -> bool:
    return ctx.reference is not None


def _reference(ctx: EvalContext) -> EvalContext:
    assert ctx.reference is not None  # guaranteed by `applies`
    return ctx.reference


def accuracy_gaps(ctx: EvalContext) -> dict[str, float]:
    """|X − X_ref| for X in TA, RA, FA, in percentage points."""
    this, ref = accuracy_values(ctx), accuracy_values(_reference(ctx))
    return {key: abs(this[key] - ref[key]) for key in ("TA", "RA", "FA")}


def mean_kl(reference: Outputs, this: Outputs) -> float:
    """Mean over samples of KL(reference ‖ this) between the softmax predictions, in nats."""
    p_ref = reference.probs
    kl = (p_ref * (reference.log_probs - this.log_probs)).sum(axis=1)
    return float(np.mean(kl))


@register_metric(
    "avg_gap",
    applies=_has_reference,
    requires=REFERENCE_NEEDED,
    description="mean of |TA-TA_ref|, |RA-RA_ref|, |FA-FA_ref|, |mia_entropy-ref| in "
    "points (NatMU); lower = closer to retrain",
)
def avg_gap(ctx: EvalContext) -> dict[str, float]:
    gaps = accuracy_gaps(ctx)
    mia_gap = abs(mia_entropy_score(ctx) - mia_entropy_score(_reference(ctx)))
    return {"avg_gap": (gaps["TA"] + gaps["RA"] + gaps["FA"] + mia_gap) / 4.0}


@register_metric(
    "tow",
    applies=_has_reference,
    requires=REFERENCE_NEEDED,
    description="tug-of-war (RUM): product of (1-|gap|/100) over FA, RA, TA; 1 = same as "
    "retrain, higher is better",
)
def tow(ctx: EvalContext) -> dict[str, float]:
    gaps = accuracy_gaps(ctx)
    value = 1.0
    for key in ("FA", "RA", "TA"):
        value *= 1.0 - gaps[key] / 100.0
    return {"tow": value}


@register_metric(
    "kl_to_reference",
    keys=("kl_forget", "kl_test"),
    applies=_has_reference,
    requires=REFERENCE_NEEDED,
    description="mean KL(retrain ‖ this run) of softmax outputs on D_f and on test, nats; "
    "0 = same predictions, lower is better",
)
def kl_to_reference(ctx: EvalContext) -> dict[str, float]:
    ref = _reference(ctx)
    return {
        "kl_forget": mean_kl(ref.forget_outputs, ctx.forget_outputs),
        "kl_test": mean_kl(ref.test, ctx.test),
    }


@register_metric(
    "rte",
    applies=_has_reference,
    requires=REFERENCE_NEEDED,
    description="run-time efficiency: retrain wall seconds / this run's (NaN if either is "
    "unknown); higher = cheaper than retraining",
)
def rte(ctx: EvalContext) -> dict[str, float]:
    ref_seconds, seconds = _reference(ctx).wall_seconds, ctx.wall_seconds
    if ref_seconds is None or seconds is None or ref_seconds <= 0 or seconds <= 0:
        # A missing or zero time is a gap in the record, not a reason to fail evaluation.
        log.warning("rte needs positive wall seconds for both runs (got %s and reference "
                    "%s); it is NaN", seconds, ref_seconds)
        return {"rte": float("nan")}
    return {"rte": ref_seconds / seconds}
