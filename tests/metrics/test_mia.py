"""Membership-inference attacks: chance level, a memorising model, directions, seeds."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.svm import SVC

from tests.metrics.helpers import full_context, mask, random_context
from unlearn_cli.metrics import EvalContext, Outputs, compute_metrics, mia
from unlearn_cli.metrics.mia import (
    balanced_loss_sample,
    confidence_member_rows,
    loss_attack_splitter,
    mia_confidence_score,
    mia_confidence_spread,
    mia_entropy_score,
    mia_loss_score,
    spread_member_rows,
)

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
    # The rounding + weighted merge is an optimisation; SalUn's plain SVC on the same
    # members (the first len(test) rows of D_r) must reach the same score.
    ctx = random_context(seed=2, n_train=500, n_test=150, n_forget=100,
                         forget_confidence=4.0, retain_confidence=5.0, test_confidence=3.0)
    members = ctx.retain_outputs.true_prob[:len(ctx.test)]
    x = np.concatenate([members, ctx.test.true_prob]).reshape(-1, 1)
    y = np.concatenate([np.ones(len(members)), np.zeros(len(ctx.test))])
    exact = SVC(C=3, kernel="rbf", gamma="auto").fit(x, y)
    expected = 100 * np.mean(exact.predict(ctx.forget_outputs.true_prob.reshape(-1, 1)) == 0)
    assert mia_confidence_score(ctx) == pytest.approx(expected, abs=1.0)


def _hand_context(forget_rows: list[int], n_train: int = 10, n_test: int = 3) -> EvalContext:
    rng = np.random.default_rng(0)
    return EvalContext(
        train=Outputs(rng.normal(size=(n_train, 4)).astype(np.float32),
                      np.arange(n_train) % 4),
        true_train_labels=np.arange(n_train) % 4, forget=mask(n_train, forget_rows),
        manipulated=mask(n_train, []),
        test=Outputs(rng.normal(size=(n_test, 4)).astype(np.float32), np.arange(n_test) % 4),
        test_triggered=None, num_classes=4)


def test_mia_confidence_members_are_the_first_test_len_retain_rows() -> None:
    # D_f = rows 0, 2, 3, 6 → D_r = 1, 4, 5, 7, 8, 9; 3 test images → members 1, 4, 5
    # (SalUn: Subset(retain_dataset, range(test_len)), D_r in index order).
    ctx = _hand_context([0, 2, 3, 6])
    assert confidence_member_rows(ctx).tolist() == [1, 4, 5]


def test_mia_confidence_score_is_the_svm_on_those_members(monkeypatch) -> None:
    ctx = _hand_context([0, 2, 3, 6])
    seen: list[np.ndarray] = []

    def record(members, non_members, targets, seed):
        seen.append(members)
        return 0.0

    monkeypatch.setattr(mia, "svm_non_member_share", record)
    mia_confidence_score(ctx)
    np.testing.assert_array_equal(seen[0], ctx.train.true_prob[[1, 4, 5]])


def test_mia_confidence_spread_is_max_minus_min_of_five_seeded_draws(monkeypatch) -> None:
    ctx = _hand_context([0, 2, 3, 6])
    draws = spread_member_rows(ctx)
    assert len(draws) == 5
    rng = np.random.default_rng(ctx.seed)  # the seeded draws, by hand
    retain = np.array([1, 4, 5, 7, 8, 9])
    for rows in draws:
        np.testing.assert_array_equal(rows, np.sort(rng.choice(retain, size=3, replace=False)))
    # Scores 10, 40, 25, 70, 55 for the five draws: spread 70 - 10 = 60.
    scores = iter([10.0, 40.0, 25.0, 70.0, 55.0])
    members_seen: list[np.ndarray] = []

    def fake(members, non_members, targets, seed):
        members_seen.append(members)
        return next(scores)

    monkeypatch.setattr(mia, "svm_non_member_share", fake)
    assert mia_confidence_spread(ctx) == 60.0
    for members, rows in zip(members_seen, draws):
        np.testing.assert_array_equal(members, ctx.train.true_prob[rows])


def test_mia_confidence_spread_is_zero_when_all_of_d_r_is_used() -> None:
    ctx = random_context(n_train=120, n_forget=40, n_test=200, **FORGOTTEN)
    assert compute_metrics(ctx, ["mia_confidence_spread"]) == {"mia_confidence_spread": 0.0}


def test_mia_confidence_uses_all_of_a_small_retain_set(caplog: pytest.LogCaptureFixture) -> None:
    ctx = random_context(n_train=120, n_forget=40, n_test=200, **FORGOTTEN)
    with caplog.at_level(logging.WARNING):
        assert mia_confidence_score(ctx) > 90.0
    assert "fewer than the 200 test samples" in caplog.text
    assert len(confidence_member_rows(ctx)) == 80


def test_mia_loss_sample_is_balanced_test_first() -> None:
    ctx = random_context(n_forget=30, n_test=200)
    x, y = balanced_loss_sample(ctx)
    assert y.tolist() == [0] * 30 + [1] * 30  # the kit concatenates (test, forget)
    assert set(x[30:, 0]) == set(ctx.forget_outputs.loss)
    assert set(x[:30, 0]) <= set(ctx.test.loss)


@pytest.mark.parametrize("n_per_class", [6, 30, 200])
def test_mia_loss_splits_are_the_kits(n_per_class: int) -> None:
    y = np.array([0] * n_per_class + [1] * n_per_class)
    x = np.zeros((len(y), 1))
    kit = StratifiedShuffleSplit(n_splits=10, random_state=0)  # simple_mia's splitter
    ours = list(loss_attack_splitter(len(y)).split(x, y))
    theirs = list(kit.split(x, y))
    assert len(ours) == 10
    for (train_a, test_a), (train_b, test_b) in zip(ours, theirs):
        np.testing.assert_array_equal(train_a, train_b)
        np.testing.assert_array_equal(test_a, test_b)
    assert len(theirs[0][1]) == math.ceil(0.1 * len(y))  # sklearn's default test share


def test_mia_loss_is_the_kits_mean_split_accuracy() -> None:
    ctx = random_context(seed=1, n_forget=40, n_test=60, forget_confidence=5.0)
    x, y = balanced_loss_sample(ctx)
    accuracies = []
    for train, test in StratifiedShuffleSplit(n_splits=10, random_state=0).split(x, y):
        attack = LogisticRegression().fit(x[train], y[train])
        accuracies.append(np.mean(attack.predict(x[test]) == y[test]))
    assert mia_loss_score(ctx) == pytest.approx(100 * np.mean(accuracies))


def test_mia_loss_tests_on_two_samples_for_a_tiny_forget_set(
        caplog: pytest.LogCaptureFixture) -> None:
    ctx = random_context(n_forget=4, **OVERFIT)
    with caplog.at_level(logging.WARNING):
        score = mia_loss_score(ctx)
    assert "each split tests on 2" in caplog.text
    # 8 samples: the kit's ceil(0.1·8) = 1 test sample cannot hold both classes; one of each.
    x, y = balanced_loss_sample(ctx)
    splits = StratifiedShuffleSplit(n_splits=10, test_size=2, random_state=0).split(x, y)
    accuracies = [np.mean(LogisticRegression().fit(x[tr], y[tr]).predict(x[te]) == y[te])
                  for tr, te in splits]
    assert score == pytest.approx(100 * np.mean(accuracies))
    assert all(len(test) == 2 for _, test in loss_attack_splitter(8).split(x, y))
    assert len(next(loss_attack_splitter(12).split(np.zeros((12, 1)), [0] * 6 + [1] * 6))[1]) == 2


def test_mia_loss_is_nan_for_a_single_forget_sample() -> None:
    ctx = random_context(n_forget=1)
    assert math.isnan(mia_loss_score(ctx))
    assert not math.isnan(mia_entropy_score(ctx))


def test_mia_loss_balances_a_forget_set_larger_than_the_test_set() -> None:
    ctx: EvalContext = random_context(n_train=400, n_forget=300, n_test=50, **OVERFIT)
    assert mia_loss_score(ctx) > 95.0


def test_mia_entropy_is_natmus_two_class_multinomial_fit() -> None:
    """NatMU fits LogisticRegression(class_weight="balanced", multi_class="multinomial"):
    minimise sklearn's multinomial objective by hand (½‖W‖² + C·Σ weight·cross-entropy,
    C = 1, intercepts unpenalised) and compare its decision threshold with ours."""
    from scipy.optimize import minimize

    x = np.array([0.1, 0.3, 0.4, 0.9, 1.2, 0.5, 0.8, 1.1, 1.5, 1.9, 2.2, 0.7])
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    weight = np.where(y == 1, len(y) / (2 * 5), len(y) / (2 * 7))  # "balanced"

    def objective(p: np.ndarray) -> float:
        w, b = p[:2], p[2:]
        z = np.outer(x, w) + b
        log_soft = z - np.logaddexp(z[:, 0], z[:, 1])[:, None]
        return 0.5 * np.sum(w ** 2) - np.sum(weight * log_soft[np.arange(len(y)), y])

    w0, w1, b0, b1 = minimize(objective, np.zeros(4), method="BFGS", tol=1e-12).x
    natmu_threshold = -(b1 - b0) / (w1 - w0)
    ours = LogisticRegression(C=mia.ENTROPY_C, class_weight="balanced").fit(x[:, None], y)
    assert -ours.intercept_[0] / ours.coef_[0, 0] == pytest.approx(natmu_threshold, rel=1e-4)
    plain = LogisticRegression(class_weight="balanced").fit(x[:, None], y)  # C = 1 differs
    assert -plain.intercept_[0] / plain.coef_[0, 0] != pytest.approx(natmu_threshold, rel=1e-3)


def test_mia_entropy_is_fitted_once_when_avg_gap_reuses_it(monkeypatch) -> None:
    fits: list[int] = []

    class Counting(LogisticRegression):
        def fit(self, *args, **kwargs):
            fits.append(1)
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(mia, "LogisticRegression", Counting)
    ctx = full_context()
    values = compute_metrics(ctx, ["mia_entropy", "avg_gap"])
    assert set(values) == {"mia_entropy", "avg_gap"}
    assert len(fits) == 2  # one for the run, one for its reference; none again for avg_gap
    compute_metrics(ctx, ["avg_gap"])
    assert len(fits) == 2
