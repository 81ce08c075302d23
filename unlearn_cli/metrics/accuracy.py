"""Accuracy metrics (SPEC §6.1): FA, RA, TA, UA and the class-wise test split.

FA and RA are measured against the labels the model was *trained with* (`train.labels`):
they say how well the model fits what it was shown. The corrective metrics
(`corrective.py`) use the *true* labels instead, because there the question is whether a
manipulation's wrong labels were undone.
"""

from __future__ import annotations

import logging

import numpy as np

from unlearn_cli.metrics.base import EvalContext, Outputs, register_metric

log = logging.getLogger(__name__)


def percent_correct(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy in % (0..100); NaN for an empty set, so a missing subset never crashes."""
    if len(labels) == 0:
        return float("nan")
    return float(100.0 * np.mean(predictions == labels))


def output_accuracy(outputs: Outputs) -> float:
    """Accuracy in % of `outputs` against their own labels."""
    return percent_correct(outputs.predictions, outputs.labels)


def accuracy_values(ctx: EvalContext) -> dict[str, float]:
    """FA, RA, TA and UA of one context (shared with the reference-gap metrics)."""
    fa = output_accuracy(ctx.forget_outputs)
    return {
        "FA": fa,
        "RA": output_accuracy(ctx.retain_outputs),
        "TA": output_accuracy(ctx.test),
        "UA": 100.0 - fa,
    }


@register_metric(
    "accuracy",
    keys=("FA", "RA", "TA", "UA"),
    description="accuracy % on D_f (FA) and D_r (RA) vs the trained-with labels, on test "
    "(TA), UA = 100-FA; higher RA/TA is better, FA/UA should match retrain",
)
def accuracy(ctx: EvalContext) -> dict[str, float]:
    return accuracy_values(ctx)


def _has_forget_class(ctx: EvalContext) -> bool:
    return ctx.forget_class is not None


@register_metric(
    "classwise",
    keys=("TA_forget_class", "TA_other_classes"),
    applies=_has_forget_class,
    requires="a class-wise forget set (make-forget-set --class)",
    description="test accuracy % on the forgotten class (lower = forgotten) and on the "
    "other classes (higher = less collateral damage)",
)
def classwise(ctx: EvalContext) -> dict[str, float]:
    assert ctx.forget_class is not None  # guaranteed by `applies`
    in_class = ctx.test.labels == ctx.forget_class
    if not in_class.any():
        log.warning("the test set has no sample of forget class %d; TA_forget_class is NaN",
                    ctx.forget_class)
    test = ctx.test
    return {
        "TA_forget_class": percent_correct(test.predictions[in_class], test.labels[in_class]),
        "TA_other_classes": percent_correct(test.predictions[~in_class],
                                            test.labels[~in_class]),
    }
