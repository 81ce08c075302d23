"""Accuracy metrics (docs/metrics.md): FA, RA, TA, UA and the class-wise test split.

FA and RA are measured against the labels the model was *trained with* (`train.labels`):
they say how well the model fits what it was shown. The corrective metrics
(`corrective.py`) use the *true* labels instead, because there the question is whether a
manipulation's wrong labels were undone.
"""

from __future__ import annotations

import logging

import numpy as np

from unlearn_cli.metrics.context import EvalContext
from unlearn_cli.metrics.outputs import Outputs
from unlearn_cli.metrics.registry import register_metric

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
    """FA, RA, TA and UA of one context (shared with the reference-gap metrics). In
    class-wise forgetting TA leaves out the forget test rows, as NatMU's class-wise
    scripts measure it (their "Test Acc" is on the test set without the forgotten class)."""
    fa = output_accuracy(ctx.forget_outputs)
    return {
        "FA": fa,
        "RA": output_accuracy(ctx.retain_outputs),
        "TA": output_accuracy(ctx.test_rest_outputs),
        "UA": 100.0 - fa,
    }


@register_metric(
    "accuracy",
    keys=("FA", "RA", "TA", "UA"),
    description="accuracy % on D_f (FA), D_r (RA) vs the trained-with labels, on test (TA; "
    "class-wise: the other test images, as NatMU), UA=100-FA; higher RA/TA is better, "
    "FA/UA should match retrain",
)
def accuracy(ctx: EvalContext) -> dict[str, float]:
    return accuracy_values(ctx)


def _has_forget_test(ctx: EvalContext) -> bool:
    return ctx.forget_test is not None


@register_metric(
    "classwise",
    keys=("TA_forget",),
    applies=_has_forget_test,
    requires="a class-wise forget set (make-forget-set --class or --subclass)",
    description="TA_forget: test accuracy % on the forgotten class's (or sub-class's) test "
    "images, NatMU's forget test set; lower = more forgotten, compare with retrain",
)
def classwise(ctx: EvalContext) -> dict[str, float]:
    forget_test = ctx.forget_test_outputs
    assert forget_test is not None  # guaranteed by `applies`
    if len(forget_test) == 0:
        log.warning("the test set has no image of the forgotten class; TA_forget is NaN")
    return {"TA_forget": output_accuracy(forget_test)}


def _has_validation(ctx: EvalContext) -> bool:
    return ctx.validation is not None


@register_metric(
    "validation",
    keys=("VA",),
    applies=_has_validation,
    requires="a model pretrained with a validation split (pretrain --val-fraction)",
    description="VA: accuracy % on the model's held-out validation rows (pretrain --val-fraction), "
    "true labels; what `tune` scores in place of TA",
)
def validation(ctx: EvalContext) -> dict[str, float]:
    outputs = ctx.validation_outputs
    assert outputs is not None  # guaranteed by `applies`
    return {"VA": output_accuracy(outputs)}
