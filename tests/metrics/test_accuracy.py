"""FA / RA / TA / UA and the class-wise split on hand-made predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.metrics.helpers import NUM_CLASSES, mask, outputs
from unlearn_cli.metrics import EvalContext, Outputs, compute_metrics


def _ctx(forget_class: int | None = None, test: Outputs | None = None) -> EvalContext:
    # Train rows 0..3 are D_f, 4..9 D_r. Row 1 was trained with a wrong label (true 3).
    train = outputs(predictions=[0, 1, 2, 0, 1, 1, 2, 3, 3, 0],
                    labels=[0, 1, 0, 0, 1, 1, 2, 3, 3, 3])
    true_labels = np.array([0, 3, 0, 0, 1, 1, 2, 3, 3, 3])
    if test is None:
        test = outputs(predictions=[0, 1, 2, 3, 0, 1, 2, 3],
                       labels=[0, 1, 2, 3, 1, 1, 1, 3])
    return EvalContext(train=train, true_train_labels=true_labels, forget=mask(10, range(4)),
                       manipulated=mask(10, []), test=test, test_triggered=None,
                       num_classes=NUM_CLASSES, forget_class=forget_class)


def test_accuracy_by_hand() -> None:
    values = compute_metrics(_ctx(), ["accuracy"])
    # D_f: 3 of 4 right against the *train* labels (row 1 counts as right: predicted 1,
    # trained with 1, although its true label is 3).
    assert values == pytest.approx({"FA": 75.0, "RA": 500 / 6, "TA": 75.0, "UA": 25.0})
    assert list(values) == ["FA", "RA", "TA", "UA"]
    assert all(type(v) is float for v in values.values())


def test_classwise_splits_test_accuracy_by_the_forget_class() -> None:
    values = compute_metrics(_ctx(forget_class=1), ["classwise"])
    # Test rows of class 1: indices 1, 4, 5, 6 → right at 1 and 5. Others: 0, 2, 3, 7 → all.
    assert values == {"TA_forget_class": 50.0, "TA_other_classes": 100.0}


def test_classwise_is_nan_when_the_class_has_no_test_sample() -> None:
    values = compute_metrics(_ctx(forget_class=0, test=outputs([1, 1], [1, 2])),
                             ["classwise"])
    assert math.isnan(values["TA_forget_class"]) and values["TA_other_classes"] == 50.0
