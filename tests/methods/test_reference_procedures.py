"""The presets carry the references' whole procedure, not just their numbers: schedule,
augmentation, partial batches, SalUn's saliency batches, SCRUB's step-counted form, BadT's KL
reduction, SSD's importance batches and NatMU's class-wise head re-initialisation. Each test
pins one rule of ZhengbaoHe/NatMU or drimpossible/corrective-unlearning-bench (file:line in
the test) to a hand transcription of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.methods.runs import FORGET
from unlearn_cli.data.augment import normalize
from unlearn_cli.data.prepared import load_split
from unlearn_cli.methods.losses import distill_kl
from unlearn_cli.methods.presets import PRESETS
from unlearn_cli.methods.scrub import ScrubParams, scrub_kl, scrub_objective, steps_form_plan
from unlearn_cli.params import resolve_params
from unlearn_cli.steps.options import UnlearnOptions
from unlearn_cli.steps.unlearn import prepare, unlearn
from unlearn_cli.train.loop import StepOutput
from unlearn_cli.train.options import GenericOptions
from unlearn_cli.train.sources import PhaseBatch, Phased

pytest_plugins = ["tests.methods.surgery_fixtures"]

NATMU_PRESETS = [name for name in PRESETS.names() if name.startswith("natmu-")]
CORRECTIVE_PRESETS = [name for name in PRESETS.names() if name.startswith("corrective-")]


def _prepared(ws, method, preset, forget=FORGET, **params):
    return prepare(ws, UnlearnOptions(method=method, forget=forget, preset=preset, params=params, device="cpu"))


# ---- NatMU's unlearning scripts -------------------------------------------------------------


@pytest.mark.parametrize("preset", NATMU_PRESETS)
def test_natmu_presets_run_every_method_on_natmus_cosine_with_the_scripts_augmentation(mws, preset):
    # Every NatMU script leaves --lr_scheduler at its default "cosine" with no warm-up
    # (sample-wise/amnesiac.py:29-30, blindspot.py:28-29, salun.py:29-30, natmu.py:29-30);
    # natmu augments D_r (natmu.py:127: transform_train), the other three train on
    # transform_valid only (amnesiac.py:76-77, blindspot.py:66-67, salun.py:77-78). Their
    # DataLoaders keep the last partial batch (shuffle=True, no drop_last).
    for method, augmented in (("natmu", True), ("random_label", False), ("badteacher", False), ("salun", False)):
        training = _prepared(mws, method, preset).ctx.training
        assert training.recipe.schedule.name == "natmu_cosine" and training.recipe.schedule.warmup_fraction == 0
        assert training.augment is augmented, method
        assert training.recipe.drop_last is False and training.recipe.epochs == 5
        assert training.recipe.optimizer.name == "adamw"


def test_natmus_cosine_halves_the_step_size_of_a_constant_lr(mws):
    # The point of item 1: at the same peak lr, lr_lambda_cosine (utils/lr_scheduler.py:39-50)
    # takes about half the total step of a constant schedule, and its last step is at lr 0.
    run = _prepared(mws, "random_label", "natmu-cifar10")
    from unlearn_cli.train.schedules import build_schedule

    factors = [build_schedule(run.ctx.training.recipe.schedule, 100)(k) for k in range(100)]
    assert factors[-1] == pytest.approx(0.0, abs=1e-12) and factors[0] < 1.0
    assert sum(factors) == pytest.approx(49.5, abs=1e-9)  # Σ (1 + cos(π(k+1)/100))/2 = 49.5


@pytest.mark.parametrize("preset", NATMU_PRESETS)
def test_natmu_presets_take_salun_saliency_on_clean_batches_of_500(mws, preset):
    # salun.py:83: DataLoader(forgetDS_inTrainSet_woDataAugment, batch_size=500, shuffle=False).
    params = _prepared(mws, "salun", preset).plan.params
    assert params.saliency_clean is True and params.saliency_batch_size == 500


def test_clean_saliency_batches_are_the_unaugmented_forget_rows_in_order(cifar10_cli, monkeypatch):
    import unlearn_cli.methods.salun as salun_module

    ws = cifar10_cli.workspace
    seen = []
    real = salun_module.saliency_mask

    def spy(model, batches, threshold, *, amp=False):
        batches = list(batches)
        seen.extend(batches)
        return real(model, batches, threshold, amp=amp)

    monkeypatch.setattr(salun_module, "saliency_mask", spy)
    unlearn(ws, UnlearnOptions(method="salun", forget="cf", device="cpu", generic=GenericOptions(steps=1),
                               params={"saliency_clean": "true", "saliency_batch_size": "4"}))
    view_forget = np.flatnonzero(_forget_mask(ws, "cf"))
    # Batches of 4, the last one partial, every forget row once in index order.
    assert [len(b.y) for b in seen] == [4, 4, 2] and len(view_forget) == 10
    assert torch.cat([b.index for b in seen]).tolist() == view_forget.tolist()
    # Un-augmented: exactly the stored pixels, normalised.
    dataset = ws.read("dataset", "cifar10")
    split = load_split(ws, dataset, "train")
    x = torch.from_numpy(split.images[view_forget]).permute(0, 3, 1, 2)
    torch.testing.assert_close(torch.cat([b.x for b in seen]), normalize(x, dataset.summary["mean"],
                                                                        dataset.summary["std"]))


def _forget_mask(ws, name):
    from unlearn_cli.steps.common import training_view

    dataset = ws.read("dataset", "cifar10")
    return training_view(ws, ws.read("forget-set", name), dataset.summary["train_size"]).forget


def test_class_wise_presets_follow_the_class_wise_scripts(mws):
    # class-wise/natmu.py:75-110 pairs without sample-wise natmu.py:97-107's overflow rule;
    # scripts/full-class/badteacher.sh and scripts/sub-class/amnesiac.sh pass -i, which
    # re-initialises the linear layer (blindspot.py:201, amnesiac.py:159).
    for preset in ("natmu-fullclass", "natmu-subclass"):
        assert _prepared(mws, "natmu", preset).plan.params.reassign_overflow is False
    assert _prepared(mws, "natmu", "natmu-cifar100").plan.params.reassign_overflow is True
    assert _prepared(mws, "badteacher", "natmu-fullclass").plan.params.init_linear is True
    assert _prepared(mws, "random_label", "natmu-fullclass").plan.params.init_linear is False
    assert _prepared(mws, "random_label", "natmu-subclass").plan.params.init_linear is True
    assert _prepared(mws, "badteacher", "natmu-subclass").plan.params.init_linear is False


@pytest.mark.parametrize("method", ["random_label", "badteacher"])
def test_init_linear_redraws_the_students_head_before_training(mws, monkeypatch, method):
    import unlearn_cli.methods.common as common

    module = __import__(f"unlearn_cli.methods.{method}", fromlist=["reinit_head"])
    calls = []

    def spy(model, seed):
        calls.append(model.head.weight.detach().clone())
        common.reinit_head(model, seed)

    monkeypatch.setattr(module, "reinit_head", spy)
    run = prepare(mws, UnlearnOptions(method=method, forget=FORGET, device="cpu", params={"init_linear": "true"},
                                      generic=GenericOptions(steps=1)))
    original = run.ctx.model.head.weight.detach().clone()
    module_run = getattr(module, method)
    module_run(run.ctx, run.plan.params)
    assert len(calls) == 1 and torch.equal(calls[0], original)  # the pretrained head, before the step


# ---- the corrective repository ------------------------------------------------------------------


@pytest.mark.parametrize("preset", CORRECTIVE_PRESETS)
def test_corrective_presets_unlearn_on_augmented_batches_keeping_the_partial_one(bnws, preset):
    # main.py:99-103: retain/train/forget loaders all read wtrain_delete_set, built on the
    # augmented train_set, with default drop_last; methods.py:20 schedules each run's own steps.
    for method in ("retrain", "finetune", "badteacher", "scrub"):
        training = _prepared(bnws, method, preset).ctx.training
        assert training.augment is True and training.recipe.drop_last is False, method
        assert training.recipe.schedule.name == "linear" and training.recipe.batch_size == 512


def test_corrective_scrub_is_the_step_counted_form(bnws):
    # scripts/CIFAR10_poisoning.sh: --unlearn_iters=1000 --msteps=100 --unlearn_lr=0.0025; opts.py:
    # kd_T 4, alpha 0.001 (the scripts sweep it).
    run = _prepared(bnws, "scrub", "corrective-cifar10")
    params, recipe = run.plan.params, run.ctx.training.recipe
    assert (params.form, params.msteps, params.alpha, params.kd_T) == ("steps", 100, 0.001, 4.0)
    assert recipe.steps == 1000 and recipe.optimizer.lr == 0.0025
    assert _prepared(bnws, "scrub", "corrective-cifar100").ctx.training.recipe.steps == 1500


def _corrective_scrub_phases(forget_batches: int, retain_batches: int, train_iters: int, msteps: int) -> list[str]:
    """A hand transcription of the corrective repository's Scrub.unlearn (src/methods.py:248-263)
    over Naive.train_one_epoch (methods.py:43-58): the phase of every optimiser step it takes."""
    phases: list[str] = []
    curr_step = 0

    def train_one_epoch(batches: int, phase: str) -> None:
        nonlocal curr_step
        for _ in range(batches):
            phases.append(phase)
            curr_step += 1
            if curr_step > train_iters:
                break

    while curr_step < train_iters:
        if curr_step < msteps:
            train_one_epoch(forget_batches, "max")
        train_one_epoch(retain_batches, "min")
    return phases


class _Sized:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


@pytest.mark.parametrize("forget, retain, iters, msteps", [(1, 96, 1000, 100), (3, 10, 100, 25), (2, 7, 60, 0),
                                                           (5, 5, 37, 37), (4, 30, 100, 400)])
def test_steps_form_plan_is_the_corrective_loop(forget, retain, iters, msteps):
    reference = _corrective_scrub_phases(forget, retain, iters, msteps)
    source = Phased(steps_form_plan(_Sized(forget), _Sized(retain), msteps))
    ours: list[str] = []
    epoch = 0
    while len(ours) < iters:
        for name, loader in source.plan(epoch):
            ours.extend([name] * len(loader))
        epoch += 1
    # Ours stops at exactly `iters` steps; the reference's check after stepping takes one more.
    assert ours[:iters] == reference[:iters]
    assert len(reference) in (iters, iters + 1)


def test_steps_form_maximises_the_min_pass_loss_on_the_forget_set():
    # methods.py:238-242: loss = CE + alpha·distill_kl_loss(out, teacher, kd_T); if maximize:
    # loss = −loss. utils.py:328-335: kl_div(sum)·T²/batch = batchmean·T².
    torch.manual_seed(0)
    model, teacher = torch.nn.Linear(5, 4), torch.nn.Linear(5, 4)
    x, y = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 0, 1])
    params = resolve_params(ScrubParams, {"form": "steps", "alpha": 0.3, "kd_T": 2.0}, "scrub")
    objective = scrub_objective(teacher, params)
    batch = type("B", (), {"x": x, "y": y})()
    out, t = model(x), teacher(x)
    reference_kl = F.kl_div(F.log_softmax(out / 2.0, 1), F.softmax(t / 2.0, 1), reduction="sum") * 4.0 / 6
    expected = F.cross_entropy(out, y) + 0.3 * reference_kl
    for phase, sign in (("max", -1.0), ("min", 1.0)):
        loss: StepOutput = objective(model, PhaseBatch(phase, batch, 0), 0)
        torch.testing.assert_close(loss.loss, sign * expected)
    # The epoch form (meghdadk/SCRUB) maximises the KL alone.
    epochs = scrub_objective(teacher, resolve_params(ScrubParams, {"alpha": 0.3, "kd_T": 2.0}, "scrub"))
    torch.testing.assert_close(epochs(model, PhaseBatch("max", batch, 0), 0).loss, -scrub_kl(out, t, 2.0))


def test_corrective_badteacher_reduces_its_kl_by_torchs_default_mean(bnws):
    # methods.py:299: F.kl_div(student_out, overall_teacher_out) — reduction 'mean' over
    # every element, i.e. batchmean divided by the number of classes.
    assert _prepared(bnws, "badteacher", "corrective-cifar10").plan.params.kl_reduction == "mean"
    torch.manual_seed(1)
    student, teacher = torch.randn(8, 10), torch.softmax(torch.randn(8, 10), 1)
    reference = F.kl_div(F.log_softmax(student, dim=1), teacher)
    torch.testing.assert_close(distill_kl(student, teacher, 1.0, "mean"), reference)
    torch.testing.assert_close(distill_kl(student, teacher, 1.0), reference * 10)


def test_corrective_ssd_takes_importances_on_augmented_retain_batches(cifar10_cli, monkeypatch):
    # main.py:108 + methods.py:316-320: ssd_tuning(model, forget_loader, ..., train_loader) with
    # train_loader the *retain* loader; both loaders are augmented and shuffled, batch 512.
    import unlearn_cli.methods.ssd as ssd_module

    ws = cifar10_cli.workspace
    captured = {}

    def spy(model, forget_batches, all_batches, params, *, amp=False):
        captured["forget"], captured["all"] = list(forget_batches), list(all_batches)
        return 0

    monkeypatch.setattr(ssd_module, "selective_synaptic_dampening", spy)
    run = prepare(ws, UnlearnOptions(method="ssd", forget="cf", preset="corrective-cifar10", device="cpu"))
    assert (run.plan.params.batch_size, run.plan.params.reference_rows) == (512, "retain")
    ssd_module.ssd(run.ctx, run.plan.params)
    forget = np.flatnonzero(_forget_mask(ws, "cf"))
    retain = np.flatnonzero(~_forget_mask(ws, "cf"))
    assert sorted(torch.cat([b.index for b in captured["all"]]).tolist()) == retain.tolist()
    assert sorted(torch.cat([b.index for b in captured["forget"]]).tolist()) == forget.tolist()
    # Augmented: some rows are no longer their stored pixels.
    batch = captured["all"][0]
    dataset = ws.read("dataset", "cifar10")
    stored = torch.from_numpy(load_split(ws, dataset, "train").images[batch.index.numpy()]).permute(0, 3, 1, 2)
    plain = normalize(stored, dataset.summary["mean"], dataset.summary["std"])
    assert not torch.equal(batch.x, plain)
    # The if-loops default: D = D_r then D_f, un-augmented, in order.
    run = prepare(ws, UnlearnOptions(method="ssd", forget="cf", device="cpu"))
    ssd_module.ssd(run.ctx, run.plan.params)
    assert torch.cat([b.index for b in captured["all"]]).tolist() == [*retain.tolist(), *forget.tolist()]
