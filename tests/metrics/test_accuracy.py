"""FA / RA / TA / UA and the class-wise split on hand-made predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.metrics.helpers import NUM_CLASSES, mask, outputs
from unlearn_cli.metrics import EvalContext, Outputs, compute_metrics


def _ctx(forget_test: list[int] | None = None, test: Outputs | None = None) -> EvalContext:
    # Train rows 0..3 are D_f, 4..9 D_r. Row 1 was trained with a wrong label (true 3).
    train = outputs(predictions=[0, 1, 2, 0, 1, 1, 2, 3, 3, 0],
                    labels=[0, 1, 0, 0, 1, 1, 2, 3, 3, 3])
    true_labels = np.array([0, 3, 0, 0, 1, 1, 2, 3, 3, 3])
    if test is None:
        test = outputs(predictions=[0, 1, 2, 3, 0, 1, 2, 3],
                       labels=[0, 1, 2, 3, 1, 1, 1, 3])
    return EvalContext(train=train, true_train_labels=true_labels, forget=mask(10, range(4)),
                       manipulated=mask(10, []), test=test, test_triggered=None,
                       num_classes=NUM_CLASSES,
                       forget_test=None if forget_test is None else mask(len(test), forget_test))


def test_accuracy_by_hand() -> None:
    values = compute_metrics(_ctx(), ["accuracy"])
    # D_f: 3 of 4 right against the *train* labels (row 1 counts as right: predicted 1,
    # trained with 1, although its true label is 3).
    assert values == pytest.approx({"FA": 75.0, "RA": 500 / 6, "TA": 75.0, "UA": 25.0})
    assert list(values) == ["FA", "RA", "TA", "UA"]
    assert all(type(v) is float for v in values.values())


def test_class_forgetting_moves_the_forgotten_class_out_of_ta() -> None:
    # Test rows of class 1: indices 1, 4, 5, 6 (predictions 1, 0, 1, 2) → 2 of 4 right.
    # The other rows 0, 2, 3, 7 are all right. Without the split TA is 6/8 (above).
    values = compute_metrics(_ctx(forget_test=[1, 4, 5, 6]), ["accuracy", "classwise"])
    assert values["TA_forget"] == 50.0 and values["TA"] == 100.0
    assert values["FA"] == 75.0  # the train side does not change


def test_subclass_forgetting_splits_inside_a_class() -> None:
    # A fine class holding test rows 4 and 6 of coarse class 1 (predicted 0 and 2: both
    # wrong); rows 1 and 5 of the same coarse class stay in TA with the others.
    values = compute_metrics(_ctx(forget_test=[4, 6]), ["accuracy", "classwise"])
    assert values["TA_forget"] == 0.0 and values["TA"] == 100.0


def test_classwise_is_nan_when_the_class_has_no_test_sample() -> None:
    values = compute_metrics(_ctx(forget_test=[], test=outputs([1, 1], [1, 2])),
                             ["accuracy", "classwise"])
    assert math.isnan(values["TA_forget"]) and values["TA"] == 50.0
