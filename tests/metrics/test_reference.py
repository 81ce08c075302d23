"""Gaps to the retrain reference: zero against itself, hand-made gaps, KL direction, RTE."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from tests.metrics.helpers import NUM_CLASSES, full_context, mask, outputs, random_context
from unlearn_cli.metrics import EvalContext, Outputs, compute_metrics
from unlearn_cli.metrics.reference import mean_kl

REFERENCE_VALUES = ["avg_gap", "tow", "kl_to_reference", "rte"]


def _with_reference(ctx: EvalContext, reference: EvalContext) -> EvalContext:
    return replace(ctx, reference=reference)


def test_a_run_against_itself_has_no_gap() -> None:
    ctx = random_context(seed=1, wall_seconds=7.0)
    values = compute_metrics(_with_reference(ctx, ctx), REFERENCE_VALUES)
    assert values == {"avg_gap": 0.0, "tow": 1.0, "kl_forget": 0.0, "kl_test": 0.0,
                      "rte": 1.0}


def _small(train_preds: list[int], test_preds: list[int], wall: float | None) -> EvalContext:
    labels = [0, 1, 2, 3, 0, 1, 2, 3]
    return EvalContext(train=outputs(train_preds, labels), true_train_labels=np.array(labels),
                       forget=mask(8, range(4)), manipulated=mask(8, []),
                       test=outputs(test_preds, [0, 1, 2, 3]), test_triggered=None,
                       num_classes=NUM_CLASSES, wall_seconds=wall)


def test_accuracy_gaps_by_hand() -> None:
    # Reference: FA 0, RA 100, TA 100. Run: FA 50, RA 75, TA 75.
    ref = _small([1, 2, 3, 0, 0, 1, 2, 3], [0, 1, 2, 3], wall=60.0)
    run = _small([0, 1, 3, 0, 0, 1, 2, 0], [0, 1, 2, 0], wall=3.0)
    values = compute_metrics(_with_reference(run, ref), ["tow", "rte", "avg_gap"])
    assert values["tow"] == pytest.approx(0.5 * 0.75 * 0.75)
    assert values["rte"] == 20.0
    # avg_gap also holds |mia_entropy − ref|, read here from the metric itself.
    mia_gap = abs(compute_metrics(run, ["mia_entropy"])["mia_entropy"]
                  - compute_metrics(ref, ["mia_entropy"])["mia_entropy"])
    assert values["avg_gap"] == pytest.approx((25 + 25 + 50 + mia_gap) / 4)


def test_kl_is_reference_to_run() -> None:
    ref = Outputs(np.log(np.array([[0.5, 0.5], [0.9, 0.1]])), np.array([0, 0]))
    run = Outputs(np.log(np.array([[0.9, 0.1], [0.5, 0.5]])), np.array([0, 0]))
    row0 = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)  # KL(ref ‖ run), row 0
    row1 = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert mean_kl(ref, run) == pytest.approx((row0 + row1) / 2)
    assert mean_kl(ref, ref) == 0.0


def test_kl_values_are_on_forget_and_test() -> None:
    ctx = full_context()
    ref = ctx.reference
    assert ref is not None
    values = compute_metrics(ctx, ["kl_forget", "kl_test"])
    assert values["kl_forget"] == pytest.approx(mean_kl(ref.forget_outputs, ctx.forget_outputs))
    assert values["kl_test"] == pytest.approx(mean_kl(ref.test, ctx.test))
    assert values["kl_forget"] > 0.0 and values["kl_test"] > 0.0


@pytest.mark.parametrize(("run_wall", "ref_wall"), [(None, 10.0), (5.0, None), (0.0, 10.0)])
def test_rte_is_nan_without_both_times(run_wall: float | None, ref_wall: float | None) -> None:
    ref = random_context(wall_seconds=ref_wall)
    run = random_context(wall_seconds=run_wall, reference=ref)
    assert math.isnan(compute_metrics(run, ["rte"])["rte"])
