"""φ = z_y − logsumexp_{j≠y} z_j: equal to LiRA's and the challenge's formula, stable beyond it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audit import transcriptions as ref
from unlearn_cli.audit.phi import logit_scaled_confidence, margin


def moderate_logits(seed: int, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    return (np.random.default_rng(seed).normal(0, 4, shape)).astype(dtype)


def test_equals_the_challenge_formula_on_moderate_logits() -> None:
    logits = moderate_logits(0, (200, 10))
    labels = np.random.default_rng(1).integers(0, 10, 200)
    _, expected = ref.compute_logit_scaled_confidence(logits.copy(), labels)  # it shifts its input in place
    np.testing.assert_allclose(logit_scaled_confidence(logits, labels), expected, rtol=1e-10, atol=1e-10)


def test_equals_the_challenge_formula_on_float32_logits() -> None:
    # The reference exponentiates float32 logits in float32 before casting: agreement to float32 precision.
    logits = moderate_logits(2, (200, 10), np.float32)
    labels = np.random.default_rng(3).integers(0, 10, 200)
    _, expected = ref.compute_logit_scaled_confidence(logits.copy(), labels)
    np.testing.assert_allclose(logit_scaled_confidence(logits, labels), expected, rtol=1e-5, atol=1e-5)


def test_equals_lira_score_py_per_flip() -> None:
    # score.py reads logits (examples, 1, flips, classes) and gives φ (examples, flips).
    logits = moderate_logits(4, (50, 1, 2, 10))
    labels = np.random.default_rng(5).integers(0, 10, 50)
    expected = ref.score_py_logit(logits, labels)
    ours = logit_scaled_confidence(logits[:, 0], labels[:, None])
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-10)


def test_margin_is_klom_get_margin() -> None:
    logits = moderate_logits(6, (100, 10))
    labels = np.random.default_rng(7).integers(0, 10, 100)
    np.testing.assert_allclose(margin(logits, labels), ref.get_margin(logits, labels), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scale", [1e3, 1e30, float(np.finfo(np.float32).max)])
def test_huge_logits_stay_finite_and_exact(scale: float) -> None:
    logits = np.array([[scale, 0.0, -scale], [0.0, scale, 0.0], [-scale, -scale, -scale]], dtype=np.float32)
    labels = np.array([0, 0, 1])
    phi = logit_scaled_confidence(logits, labels)
    assert np.isfinite(phi).all()
    big = np.float64(np.float32(scale))
    # Row 0: z_y = big, others {0, −big} → logsumexp = 0 (exp(−big) vanishes).
    # Row 1: z_y = 0 against {big, 0} → −big. Row 2: all equal → −log 2.
    np.testing.assert_allclose(phi, [big, -big, -np.log(2)], rtol=1e-12)


def test_the_references_clip_where_we_do_not() -> None:
    # Past a logit gap of ~103 the reference's `+ 1e-45` caps φ; the logit form keeps going.
    logits = np.array([[300.0, 0.0]])
    _, clipped = ref.compute_logit_scaled_confidence(logits.copy(), np.array([0]))
    assert clipped[0] == pytest.approx(-np.log(1e-45), rel=1e-6)
    assert logit_scaled_confidence(logits, np.array([0]))[0] == pytest.approx(300.0)


def test_labels_broadcast_over_models_and_flips() -> None:
    logits = moderate_logits(8, (3, 5, 2, 4))  # models, rows, flips, classes
    labels = np.random.default_rng(9).integers(0, 4, 5)
    phi = logit_scaled_confidence(logits, labels[None, :, None])
    assert phi.shape == (3, 5, 2)
    for model in range(3):
        for flip in range(2):
            _, expected = ref.compute_logit_scaled_confidence(logits[model, :, flip].copy(), labels)
            np.testing.assert_allclose(phi[model, :, flip], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    ("logits", "labels"),
    [
        (np.zeros((4, 1)), np.zeros(4, dtype=int)),  # one class: nothing to compare with
        (np.zeros((4, 3)), np.zeros(5, dtype=int)),  # labels do not broadcast
        (np.zeros((4, 3)), np.full(4, 3)),  # label out of range
        (np.zeros((4, 3)), np.zeros(4)),  # float labels
        (np.zeros((4, 3), dtype=int), np.zeros(4, dtype=int)),  # integer logits
    ],
)
def test_bad_shapes_and_types_are_value_errors(logits: np.ndarray, labels: np.ndarray) -> None:
    with pytest.raises(ValueError):
        logit_scaled_confidence(logits, labels)
