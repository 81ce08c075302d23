"""Corrective-unlearning metrics (Goel, Prabhu et al.; docs/metrics.md).

The model was trained on manipulated data; only part of it (D_f) is known. What matters is
whether the manipulation's *effect* is gone, so everything here is scored against the true
labels, never the manipulated ones.
"""

from __future__ import annotations

import logging

import numpy as np

from unlearn_cli.metrics.accuracy import output_accuracy, percent_correct
from unlearn_cli.metrics.context import EvalContext
from unlearn_cli.metrics.registry import register_metric

log = logging.getLogger(__name__)


def _poison_values(ctx: EvalContext, target: int) -> dict[str, float]:
    triggered = ctx.test_triggered
    assert triggered is not None  # EvalContext checks this for poison runs
    # acc_corr counts every triggered test image against its true label, target-class ones
    # included, as the corrective repository's logs/visualize.py does (test_acc on all of
    # adv_test): a fully backdoored model then scores the target class's share, about 1/C.
    # attack_success leaves the target class out: predicting the target there is no attack.
    other = triggered.labels != target
    preds = triggered.predictions[other]
    return {
        "acc_corr": output_accuracy(triggered),
        "attack_success": percent_correct(preds, np.full_like(preds, target)),
    }


def _interclass_values(ctx: EvalContext, classes: tuple[int, int]) -> dict[str, float]:
    test = ctx.test
    confused = np.isin(test.labels, classes)
    return {
        "acc_corr": percent_correct(test.predictions[confused], test.labels[confused]),
        "acc_retain": percent_correct(test.predictions[~confused], test.labels[~confused]),
    }


def _manipulated_values(ctx: EvalContext) -> dict[str, float]:
    preds = ctx.train.predictions
    out: dict[str, float] = {}
    for key, rows in (("acc_manip_known", ctx.manipulated & ctx.forget),
                      ("acc_manip_unknown", ctx.manipulated & ~ctx.forget)):
        if not rows.any():
            # Known fraction 1.0 leaves no unknown rows (and a forget set unrelated to the
            # manipulation has no known ones): the value is undefined, not an error.
            log.info("no %s manipulated train rows; %s is NaN", key.rsplit("_", 1)[1], key)
        out[key] = percent_correct(preds[rows], ctx.true_train_labels[rows])
    return out


def _has_manipulation(ctx: EvalContext) -> bool:
    return ctx.manipulation is not None


@register_metric(
    "corrective",
    keys=("acc_clean", "acc_corr", "attack_success", "acc_retain", "acc_manip_known",
          "acc_manip_unknown"),
    applies=_has_manipulation,
    requires="a manipulated forget set (make-forget-set --manipulation)",
    description="vs TRUE labels, %, higher is better: acc_clean, acc_corr (poison: all "
    "triggered test images, as the corrective repo), acc_retain, acc_manip_known/unknown; "
    "attack_success (poison, non-target images; not in the repo): lower is better",
)
def corrective(ctx: EvalContext) -> dict[str, float]:
    m = ctx.manipulation
    assert m is not None  # guaranteed by `applies`
    values = {"acc_clean": output_accuracy(ctx.test)}
    if m.kind == "poison":
        assert m.target is not None  # Manipulation checks this
        values.update(_poison_values(ctx, m.target))
    elif m.kind == "interclass":
        assert m.classes is not None  # Manipulation checks this
        values.update(_interclass_values(ctx, m.classes))
    values.update(_manipulated_values(ctx))
    return values
