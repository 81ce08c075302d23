"""Each training method's own rule, pinned: labels, pairing, teachers, KL reductions, the l1
penalty and SCRUB's passes and lr."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.methods.runs import run
from unlearn_cli.methods.badteacher import retain_subset, teacher_mixture
from unlearn_cli.methods.context import UnlearnContext
from unlearn_cli.methods.l1_sparse import l1_norm, l1_objective, l1_weight
from unlearn_cli.methods.losses import distill_kl, soft_targets
from unlearn_cli.methods.random_label import random_wrong_labels
from unlearn_cli.methods.scrub import lr_factor, scrub_kl
from unlearn_cli.train.loop import run_length
from unlearn_cli.train.options import GenericOptions
from unlearn_cli.train.sources import Paired, Phased


@pytest.fixture
def fit_spy(monkeypatch):
    """The sources, objectives and models each `fit` of a run received, and the teachers."""
    seen: dict = {"teachers": []}
    real_fit = UnlearnContext.fit
    real_original = UnlearnContext.frozen_original
    real_fresh = UnlearnContext.fresh_model

    def spy(self, model, source, objective, **kwargs):
        seen.update(ctx=self, source=source, objective=objective, kwargs=kwargs)
        return real_fit(self, model, source, objective, **kwargs)

    def teacher(self, *args):
        model = real_original(self, *args)
        seen["teachers"].append((model, {k: v.clone() for k, v in model.state_dict().items()}))
        return model

    def fresh(self, *args):
        model = real_fresh(self, *args)
        seen["teachers"].append((model, {k: v.clone() for k, v in model.state_dict().items()}))
        return model

    monkeypatch.setattr(UnlearnContext, "fit", spy)
    monkeypatch.setattr(UnlearnContext, "frozen_original", teacher)
    monkeypatch.setattr(UnlearnContext, "fresh_model", fresh)
    return seen


# ---- random_label ---------------------------------------------------------------------------

def test_random_wrong_labels_change_exactly_the_given_rows():
    labels = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4] * 20)
    rows = np.arange(0, 200, 3)
    out = random_wrong_labels(labels, rows, 5, seed=7)
    assert (out[rows] != labels[rows]).all() and (0 <= out).all() and (out < 5).all()
    others = np.setdiff1d(np.arange(200), rows)
    assert (out[others] == labels[others]).all()
    assert np.array_equal(out, random_wrong_labels(labels, rows, 5, seed=7))
    assert len(set((out[rows] - labels[rows]) % 5)) == 4  # every other class is drawn


def test_random_label_keeps_one_wrong_label_per_forget_row_for_the_whole_run(mws, fit_spy):
    run(mws, "random_label", generic=GenericOptions(epochs=3))
    ctx, source = fit_spy["ctx"], fit_spy["source"]
    given: dict[int, set[int]] = {}
    for epoch in range(3):
        for batch in source.epoch(epoch):
            for row, label in zip(batch.index.tolist(), batch.y.tolist()):
                given.setdefault(row, set()).add(label)
    train_label = ctx.view.train_label
    assert set(given) == set(range(len(train_label)))  # D_r ∪ D_f
    for row in ctx.forget_rows.tolist():
        assert len(given[row]) == 1 and train_label[row] not in given[row]
    for row in ctx.retain_rows.tolist():
        assert given[row] == {int(train_label[row])}


# ---- neggrad_plus -------------------------------------------------------------------------

def test_neggrad_plus_pairs_every_retain_batch_with_a_cycled_forget_batch(mws, fit_spy):
    run(mws, "neggrad_plus", generic=GenericOptions(epochs=2), params={"alpha": 0.9})
    source, ctx = fit_spy["source"], fit_spy["ctx"]
    assert isinstance(source, Paired)
    forget, retain = set(ctx.forget_rows.tolist()), set(ctx.retain_rows.tolist())
    forget_batches = len(source.secondary)
    order = []
    for epoch in range(2):
        for batch in source.epoch(epoch):
            assert set(batch.primary.index.tolist()) <= retain
            assert set(batch.secondary.index.tolist()) <= forget
            order.append(batch.secondary.index.tolist())
    assert len(order) == 2 * len(source.primary) > forget_batches
    # Every run of `forget_batches` consecutive steps from a cycle start covers D_f exactly once.
    for start in range(0, len(order) - forget_batches + 1, forget_batches):
        cycle = [row for rows in order[start:start + forget_batches] for row in rows]
        assert sorted(cycle) == sorted(forget)


def test_neggrad_plus_loss_weights(mws):
    from unlearn_cli.methods.neggrad import neggrad_plus_loss
    from unlearn_cli.train.sources import PairedBatch

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return x

    retain = type("B", (), {"x": torch.tensor([[2.0, 0.0]]), "y": torch.tensor([0])})
    forget = type("B", (), {"x": torch.tensor([[0.0, 1.0]]), "y": torch.tensor([1])})
    loss = neggrad_plus_loss(0.95)(Fixed(), PairedBatch(retain, forget), 0).loss
    ce_r, ce_f = math.log(1 + math.exp(-2.0)), math.log(1 + math.exp(-1.0))
    assert float(loss) == pytest.approx(0.95 * ce_r - 0.05 * ce_f, rel=1e-6)


# ---- KL reductions and temperatures ---------------------------------------------------------

STUDENT = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
TEACHER = torch.tensor([[0.5, 0.5, 2.0], [1.0, 1.0, 1.0]])


def _kl_by_hand(student, teacher, t):
    total = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        p = [math.exp(v / t) for v in t_row]
        p = [v / sum(p) for v in p]
        q = [math.exp(v / t) for v in s_row]
        q = [v / sum(q) for v in q]
        total += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    return total / len(student)  # batchmean: per-sample KL averaged over the batch


@pytest.mark.parametrize("t", [1.0, 2.0, 7.2])
def test_badteacher_kl_is_batchmean_at_temperature(t):
    value = distill_kl(STUDENT, soft_targets(TEACHER, t), t)
    assert float(value) == pytest.approx(_kl_by_hand(STUDENT, TEACHER, t), rel=1e-5)
    # not PyTorch's default 'mean', which divides by the number of classes too
    assert float(value) != pytest.approx(_kl_by_hand(STUDENT, TEACHER, t) / 3, rel=1e-3)


@pytest.mark.parametrize("t", [1.0, 4.0])
def test_scrub_kl_is_batchmean_times_t_squared(t):
    assert float(scrub_kl(STUDENT, TEACHER, t)) == pytest.approx(_kl_by_hand(STUDENT, TEACHER, t) * t * t, rel=1e-5)


def test_teacher_mixture_takes_the_incompetent_teacher_for_forget_rows():
    competent, incompetent = torch.tensor([[5.0, 0.0]] * 2), torch.tensor([[0.0, 5.0]] * 2)
    mix = teacher_mixture(torch.tensor([True, False]), competent, incompetent, 1.0)
    assert torch.allclose(mix[0], F.softmax(incompetent[0], 0)) and torch.allclose(mix[1], F.softmax(competent[1], 0))


def test_retain_subset_is_a_fixed_fraction():
    rows = np.arange(100, 200)
    sub = retain_subset(rows, 0.3, seed=1)
    assert len(sub) == 30 and np.isin(sub, rows).all() and np.array_equal(sub, retain_subset(rows, 0.3, seed=1))
    assert np.array_equal(retain_subset(rows, 1.0, seed=1), rows)


@pytest.mark.parametrize("method", ["badteacher", "scrub"])
def test_teachers_are_unchanged_by_the_run(mws, fit_spy, method):
    run(mws, method, generic=GenericOptions(epochs=2))
    assert fit_spy["teachers"], "the method built no teacher"
    for model, before in fit_spy["teachers"]:
        after = model.state_dict()
        assert all(torch.equal(after[k], before[k]) for k in before)
        assert not model.training


def test_badteacher_trains_on_d_f_and_the_drawn_retain_fraction(mws, fit_spy):
    run(mws, "badteacher", params={"retain_fraction": 0.5})
    ctx, source = fit_spy["ctx"], fit_spy["source"]
    rows = set(source.rows.tolist())
    forget = set(ctx.forget_rows.tolist())
    assert forget <= rows
    assert len(rows - forget) == int(0.5 * len(ctx.retain_rows))
    assert len(fit_spy["teachers"]) == 2  # competent and incompetent


# ---- l1_sparse ------------------------------------------------------------------------------

def test_l1_weight_decays_linearly_per_epoch():
    assert [l1_weight(5e-4, e, 5) for e in range(5)] == pytest.approx([5e-4, 4e-4, 3e-4, 2e-4, 1e-4])


def test_l1_objective_adds_the_weighted_norm():
    model = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
    assert float(l1_norm(model).detach()) == pytest.approx(3.5)
    batch = type("B", (), {"x": torch.tensor([[1.0, 0.0]]), "y": torch.tensor([0])})
    objective = l1_objective(0.1, steps_per_epoch=4, epochs=2)
    ce = F.cross_entropy(torch.tensor([[1.0, 0.5]]), torch.tensor([0])).item()
    assert float(objective(model, batch, 0).loss.detach()) == pytest.approx(ce + 0.1 * 3.5, rel=1e-6)   # epoch 0
    assert float(objective(model, batch, 5).loss.detach()) == pytest.approx(ce + 0.05 * 3.5, rel=1e-6)  # epoch 1


# ---- scrub ----------------------------------------------------------------------------------

def test_scrub_lr_drops_after_the_decay_epochs():
    assert [lr_factor(e, (3,)) for e in range(5)] == pytest.approx([1, 1, 1, 0.1, 0.1])
    assert [lr_factor(e, (3, 5, 9)) for e in (0, 3, 5, 9)] == pytest.approx([1, 0.1, 0.01, 0.001])


def test_scrub_runs_max_passes_only_while_epoch_le_msteps(mws, fit_spy):
    manifest = run(mws, "scrub", params={"msteps": 2}, generic=GenericOptions(epochs=4))
    ctx, source = fit_spy["ctx"], fit_spy["source"]
    assert isinstance(source, Phased)
    forget, retain = set(ctx.forget_rows.tolist()), set(ctx.retain_rows.tolist())
    for epoch in range(4):
        phases = [b.phase for b in source.epoch(epoch)]
        expected_max = len(source.plan(0)[0][1]) if epoch < 2 else 0
        assert phases.count("max") == expected_max and phases[-1] == "min"
        for b in source.epoch(epoch):
            assert set(b.batch.index.tolist()) <= (forget if b.phase == "max" else retain)
    assert manifest.summary["steps"] == run_length(source, epochs=4, steps=None)
    schedule = fit_spy["kwargs"]["schedule"]
    steps_before_epoch_3 = run_length(source, epochs=3, steps=None)
    assert schedule(steps_before_epoch_3 - 1) == 1.0 and schedule(steps_before_epoch_3) == pytest.approx(0.1)
