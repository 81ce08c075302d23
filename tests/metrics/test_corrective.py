"""Corrective metrics on hand-made predictions: poison, interclass, labelswap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.metrics.helpers import NUM_CLASSES, mask, outputs
from unlearn_cli.errors import InputError
from unlearn_cli.forget.manipulations import Manipulation
from unlearn_cli.metrics import EvalContext, Outputs, compute_metrics

# Test set: true labels and clean predictions (7 of 8 right).
TEST_LABELS = [0, 0, 1, 1, 2, 2, 3, 3]
CLEAN_PREDS = [0, 0, 1, 1, 2, 2, 3, 0]


def _ctx(manipulation: Manipulation, triggered: Outputs | None = None,
         manipulated: list[int] = (0, 1, 2, 3, 6)) -> EvalContext:
    # Train rows 0..3 are D_f. Manipulated rows: 0..3 known, 6 unknown (by default).
    true_labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    train = outputs(predictions=[0, 1, 0, 0, 0, 1, 2, 3],  # rows 2, 3 still wrong
                    labels=[0, 0, 0, 0, 0, 1, 0, 3])      # trained with manipulated labels
    return EvalContext(train=train, true_train_labels=true_labels,
                       forget=mask(8, range(4)), manipulated=mask(8, list(manipulated)),
                       test=outputs(CLEAN_PREDS, TEST_LABELS), test_triggered=triggered,
                       num_classes=NUM_CLASSES, manipulation=manipulation)


def test_poison_acc_corr_and_attack_success() -> None:
    # With the trigger the model gets rows 0, 1, 3, 7 right: acc_corr counts all 8 triggered
    # images, the two of the target class 0 included (the corrective repo's visualize.py).
    # attack_success: the target 0 is predicted on 4 (rows 2, 4, 5, 6) of the 6 non-target
    # images; class-0 images are left out there.
    triggered = outputs([0, 0, 0, 1, 0, 0, 0, 3], TEST_LABELS)
    values = compute_metrics(_ctx(Manipulation("poison", target=0), triggered),
                             ["corrective"])
    assert values["acc_clean"] == 87.5
    assert values["acc_corr"] == 50.0
    assert values["attack_success"] == pytest.approx(100 * 4 / 6)
    assert "acc_retain" not in values


@pytest.mark.parametrize("target", [0, 2])
def test_fully_backdoored_model_scores_the_target_share_not_zero(target: int) -> None:
    # Every triggered image is predicted as the target: only the target class's own images
    # are right, 2 of the 8 test images (1/C on this balanced set).
    triggered = outputs([target] * len(TEST_LABELS), TEST_LABELS)
    values = compute_metrics(_ctx(Manipulation("poison", target=target), triggered),
                             ["acc_corr", "attack_success"])
    assert values == {"acc_corr": 25.0, "attack_success": 100.0}


def test_interclass_splits_the_two_confused_classes_from_the_rest() -> None:
    values = compute_metrics(_ctx(Manipulation("interclass", classes=(1, 3))),
                             ["corrective"])
    # Classes 1 and 3: rows 2, 3, 6, 7 → 3 right. Others: rows 0, 1, 4, 5 → all right.
    assert values["acc_corr"] == 75.0 and values["acc_retain"] == 100.0
    assert "attack_success" not in values


def test_manipulated_accuracy_against_true_labels_known_and_unknown() -> None:
    values = compute_metrics(_ctx(Manipulation("labelswap")), ["corrective"])
    # Known rows 0..3: predictions 0,1,0,0 vs true 0,1,2,3 → 50 %. Unknown row 6: 2 vs 2.
    assert values["acc_manip_known"] == 50.0 and values["acc_manip_unknown"] == 100.0
    assert set(values) == {"acc_clean", "acc_manip_known", "acc_manip_unknown"}


def test_manipulated_accuracy_is_nan_for_an_empty_subset() -> None:
    values = compute_metrics(_ctx(Manipulation("labelswap"), manipulated=[0, 1]),
                             ["corrective"])
    assert values["acc_manip_known"] == 100.0 and math.isnan(values["acc_manip_unknown"])


def test_a_value_of_another_manipulation_kind_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="attack_success"):
        compute_metrics(_ctx(Manipulation("interclass", classes=(1, 3))), ["attack_success"])
