"""The shared training loop on a toy problem: freezing, NaN detection, resume, timing."""

import math

import pytest
import torch
from torch import nn

from unlearn_cli.errors import TrainingError
from unlearn_cli.train.checkpoint import Checkpointer
from unlearn_cli.train.loop import FrozenMask, LoopConfig, StepOutput, train
from unlearn_cli.train.optim import OptimizerSpec, build_optimizer
from unlearn_cli.train.schedules import ScheduleSpec, build_schedule

CPU = torch.device("cpu")


class ToySource:
    """Epoch e depends only on e, as the loop requires."""

    def __init__(self, batches=4, batch=8, dim=5):
        self.batches, self.batch, self.dim = batches, batch, dim

    def __len__(self):
        return self.batches

    def steps_in(self, epoch):
        return self.batches

    def epoch(self, epoch):
        g = torch.Generator().manual_seed(1000 + epoch)
        for _ in range(self.batches):
            x = torch.randn(self.batch, self.dim, generator=g)
            yield x, (x.sum(1) > 0).long()


def ce(model, batch, step):
    x, y = batch
    logits = model(x)
    return StepOutput(nn.functional.cross_entropy(logits, y), logits.detach(), y)


def make(seed=0):
    torch.manual_seed(seed)
    model = nn.Linear(5, 2)
    opt = build_optimizer(OptimizerSpec("sgd", lr=0.1, weight_decay=5e-4, momentum=0.9), model.parameters())
    return model, opt


def run(model, opt, steps, **kwargs):
    return train(model, ToySource(), ce, opt, build_schedule(ScheduleSpec("constant"), steps),
                 LoopConfig(total_steps=steps, device=CPU), **kwargs)


def test_trains_the_requested_number_of_steps():
    model, opt = make()
    result = run(model, opt, 10)
    assert result.steps == 10 and result.epochs == 3
    assert result.wall_seconds > 0 and math.isfinite(result.last_loss)


def test_frozen_mask_keeps_weights_exactly_fixed_under_momentum_and_decay():
    model, opt = make()
    before = model.weight.detach().clone()
    mask = torch.zeros_like(model.weight, dtype=torch.bool)
    mask[0, :2] = True
    run(model, opt, 12, frozen=FrozenMask({model.weight: mask}))
    assert torch.equal(model.weight[~mask], before[~mask])
    assert not torch.equal(model.weight[mask], before[mask])


def test_nan_loss_stops_with_the_step_and_lr():
    model, opt = make()

    def explode(model, batch, step):
        out = ce(model, batch, step)
        return StepOutput(out.loss * (float("nan") if step == 6 else 1.0))

    with pytest.raises(TrainingError) as error:
        train(model, ToySource(), explode, opt, build_schedule(ScheduleSpec("constant"), 20),
              LoopConfig(total_steps=20, device=CPU))
    assert "step 7" in error.value.message and "lr 0.1" in error.value.message


def test_nan_detected_in_a_check_window():
    model, opt = make()

    def explode(model, batch, step):
        out = ce(model, batch, step)
        return StepOutput(out.loss * (float("inf") if step == 5 else 1.0))

    with pytest.raises(TrainingError, match="at step 6 "):
        train(model, ToySource(), explode, opt, build_schedule(ScheduleSpec("constant"), 20),
              LoopConfig(total_steps=20, device=CPU, nan_check_every=4))


def test_resume_from_epoch_checkpoint_is_bit_identical(tmp_path):
    steps = 14  # 4 batches an epoch: checkpoints after steps 4, 8, 12
    full, opt = make()
    run(full, opt, steps)

    ckpt = Checkpointer(tmp_path / "r.safetensors", {"lr": 0.1})
    partial, opt = make()
    run(partial, opt, 9, checkpoint=ckpt)  # "killed" during the third epoch
    assert ckpt.exists()
    resumed, opt = make(seed=123)  # different init: everything must come from the checkpoint
    result = run(resumed, opt, steps, checkpoint=ckpt, resume=True)
    assert result.steps == steps
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_resume_refuses_changed_settings_and_missing_checkpoint(tmp_path):
    model, opt = make()
    run(model, opt, 6, checkpoint=Checkpointer(tmp_path / "r.safetensors", {"lr": 0.1}))
    with pytest.raises(TrainingError, match=r"settings changed \(lr: 0.1 → 0.2\)"):
        Checkpointer(tmp_path / "r.safetensors", {"lr": 0.2}).load()
    with pytest.raises(TrainingError, match="nothing to resume"):
        Checkpointer(tmp_path / "none.safetensors", {}).load()


def test_nan_keeps_the_last_good_checkpoint(tmp_path):
    ckpt = Checkpointer(tmp_path / "r.safetensors", {"lr": 0.1})
    model, opt = make()

    def explode_late(model, batch, step):
        out = ce(model, batch, step)
        return StepOutput(out.loss * (float("nan") if step == 9 else 1.0))

    with pytest.raises(TrainingError, match="--resume"):
        train(model, ToySource(), explode_late, opt, build_schedule(ScheduleSpec("constant"), 20),
              LoopConfig(total_steps=20, device=CPU), checkpoint=ckpt)
    state = ckpt.load()
    assert state.step == 8 and state.epoch == 2  # the end of the last finished epoch
    assert all(torch.isfinite(v).all() for v in state.model.values())
