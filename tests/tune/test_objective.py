"""The trial objective on hand-made outputs: each gap and avg_gap pinned by hand."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn_cli.metrics import EvalContext, Outputs
from unlearn_cli.tune import objective


def _onehot(predictions: list[int], classes: int = 2) -> np.ndarray:
    logits = np.full((len(predictions), classes), -5.0, dtype=np.float32)
    logits[np.arange(len(predictions)), predictions] = 5.0
    return logits


def _context(train_pred: list[int], validation_pred: list[int], reference: EvalContext | None = None) -> EvalContext:
    # Train rows 0-3: D_f is rows 0-1, D_r rows 2-3 and 6-7; rows 4-5 are held out (validation),
    # whose outputs also stand as the context's "test" side (steps/validation.py).
    labels = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    forget = np.array([1, 1, 0, 0, 0, 0, 0, 0], bool)
    held_out = np.array([0, 0, 0, 0, 1, 1, 0, 0], bool)
    train_logits = _onehot(train_pred)
    return EvalContext(train=Outputs(train_logits, labels), true_train_labels=labels, forget=forget,
                       manipulated=np.zeros(8, bool), test=Outputs(_onehot(validation_pred), labels[held_out]),
                       test_triggered=None, num_classes=2, reference=reference, held_out=held_out)


def test_the_four_gaps_and_their_mean_by_hand(monkeypatch):
    # The entropy attack is fitted by scikit-learn; here it is pinned to known scores so the gap
    # arithmetic is what is tested (its own transcription is tests/metrics).
    scores = iter([40.0, 65.0])
    monkeypatch.setattr(objective, "mia_entropy_score", lambda ctx: next(scores))
    # retrain: FA 0/2 = 0 %, RA 4/4 = 100 %, VA 1/2 = 50 %
    ref = _context([1, 0, 0, 1, 0, 0, 1, 0], [0, 0])
    # this run: FA 1/2 = 50 %, RA 3/4 = 75 %, VA 2/2 = 100 %
    ctx = _context([0, 0, 0, 1, 0, 1, 0, 0], [0, 1], reference=ref)
    gaps = objective.gaps(ctx)
    assert gaps == pytest.approx({"RA": 25.0, "FA": 50.0, "VA": 50.0, "mia_entropy": 25.0})
    assert objective.avg_gap(gaps) == pytest.approx(37.5)
    assert objective.values_of("avg_gap", gaps) == [pytest.approx(37.5)]
    assert objective.values_of("nsga", gaps) == [25.0, 50.0, 50.0, 25.0]
    assert objective.norm([3.0, 4.0]) == 5.0


def test_gaps_are_averaged_over_seeds():
    per_seed = [{"RA": 1.0, "FA": 2.0, "VA": 3.0, "mia_entropy": 4.0},
                {"RA": 3.0, "FA": 4.0, "VA": 5.0, "mia_entropy": 6.0}]
    assert objective.mean_gaps(per_seed) == {"RA": 2.0, "FA": 3.0, "VA": 4.0, "mia_entropy": 5.0}


def test_held_out_rows_are_not_in_retain():
    ctx = _context([0] * 8, [0, 0])
    np.testing.assert_array_equal(ctx.retain, [0, 0, 1, 1, 0, 0, 1, 1])


def test_a_non_finite_objective_is_caught():
    assert objective.finite([1.0, 2.0])
    assert not objective.finite([1.0, float("nan")])
