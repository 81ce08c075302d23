"""Membership-inference attacks: chance level, a memorising model, directions, seeds."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from sklearn.svm import SVC

from tests.metrics.helpers import random_context
from unlearn_cli.metrics import EvalContext, compute_metrics
from unlearn_cli.metrics.mia import mia_confidence_score, mia_entropy_score, mia_loss_score

MIA = ["mia_entropy", "mia_confidence", "mia_loss"]

# A memorising model: train rows (D_f and D_r) confidently right with low entropy, test
# rows uncertain.
OVERFIT = dict(forget_confidence=12.0, retain_confidence=12.0, forget_noise=0.5,
               retain_noise=0.5, test_confidence=0.0, test_noise=1.0)
# A model that forgot D_f perfectly: D_f looks like test data, D_r like training data.
FORGOTTEN = dict(forget_confidence=0.0, forget_noise=1.0, retain_confidence=12.0,
                 retain_noise=0.5, test_confidence=0.0, test_noise=1.0)


def test_chance_level_when_all_splits_share_one_distribution() -> None:
    values = compute_metrics(random_context(seed=3, n_forget=150), ["mia_entropy", "mia_loss"])
    assert 35.0 < values["mia_loss"] < 65.0
    assert 25.0 < values["mia_entropy"] < 75.0


def test_memorised_forget_set_is_detected_by_every_attack() -> None:
    values = compute_metrics(random_context(**OVERFIT), MIA)
    assert values["mia_entropy"] > 95.0  # D_f called member
    assert values["mia_confidence"] < 5.0  # D_f called non-member: nothing forgotten
    assert values["mia_loss"] > 95.0  # D_f and test told apart


def test_forgotten_forget_set_looks_like_test_data() -> None:
    values = compute_metrics(random_context(**FORGOTTEN), MIA)
    assert values["mia_entropy"] < 10.0
    assert values["mia_confidence"] > 90.0  # SalUn's direction: higher = more forgotten
    assert 35.0 < values["mia_loss"] < 65.0


def test_same_seed_same_scores() -> None:
    first = compute_metrics(random_context(seed=5), MIA)
    second = compute_metrics(random_context(seed=5), MIA)
    assert first == second


def test_mia_confidence_agrees_with_an_exact_svm() -> None:
    # The rounding + weighted merge is an optimisation; an unrounded SVC on the same
    # members must reach the same score.
    ctx = random_context(seed=2, n_train=500, n_test=150, n_forget=100,
                         forget_confidence=4.0, retain_confidence=5.0, test_confidence=3.0)
    rng = np.random.default_rng(ctx.seed)
    members = rng.choice(ctx.retain_outputs.true_prob, size=len(ctx.test), replace=False)
    x = np.concatenate([members, ctx.test.true_prob]).reshape(-1, 1)
    y = np.concatenate([np.ones(len(members)), np.zeros(len(ctx.test))])
    exact = SVC(C=3, kernel="rbf", gamma="auto").fit(x, y)
    expected = 100 * np.mean(exact.predict(ctx.forget_outputs.true_prob.reshape(-1, 1)) == 0)
    assert mia_confidence_score(ctx) == pytest.approx(expected, abs=1.0)


def test_mia_confidence_uses_all_of_a_small_retain_set(caplog: pytest.LogCaptureFixture) -> None:
    ctx = random_context(n_train=120, n_forget=40, n_test=200, **FORGOTTEN)
    with caplog.at_level(logging.WARNING):
        assert mia_confidence_score(ctx) > 90.0
    assert "fewer than the 200 test samples" in caplog.text


def test_mia_loss_uses_fewer_folds_for_a_tiny_forget_set(
        caplog: pytest.LogCaptureFixture) -> None:
    ctx = random_context(n_forget=4, **OVERFIT)
    with caplog.at_level(logging.WARNING):
        score = mia_loss_score(ctx)
    assert "4-fold" in caplog.text
    assert 70.0 < score <= 100.0  # 8 points, heavily regularised: not always 100


def test_mia_loss_is_nan_for_a_single_forget_sample() -> None:
    ctx = random_context(n_forget=1)
    assert math.isnan(mia_loss_score(ctx))
    assert not math.isnan(mia_entropy_score(ctx))


def test_mia_loss_balances_a_forget_set_larger_than_the_test_set() -> None:
    ctx: EvalContext = random_context(n_train=400, n_forget=300, n_test=50, **OVERFIT)
    assert mia_loss_score(ctx) > 95.0
