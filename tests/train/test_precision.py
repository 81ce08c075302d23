"""Under the bf16 switch the forward passes run in bf16 while weights, losses, gradients,
statistics and returned logits stay float32: in the loop, in inference and in the gradient
passes of ssd/salun. Forced on, so this runs on any CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_cli.data.loader import BatchLoader, DeviceSplit
from unlearn_cli.train.gradients import batch_cross_entropy, input_gradient, summed_gradient_statistic
from unlearn_cli.train.inference import predict_logits
from unlearn_cli.train.loop import LoopConfig, StepOutput, train
from unlearn_cli.train.objectives import cross_entropy
from unlearn_cli.train.optim import OptimizerSpec, build_optimizer
from unlearn_cli.train.schedules import ScheduleSpec, build_schedule

CPU = torch.device("cpu")


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def _loader(channels_last: bool = False, n: int = 24) -> BatchLoader:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, size=n)
    split = DeviceSplit.from_numpy(images, labels, CPU)
    return BatchLoader(split, batch_size=8, mean=(0.5,) * 3, std=(0.25,) * 3, shuffle=False, augment=None,
                       channels_last=channels_last)


def test_loop_runs_the_forward_in_bf16_and_keeps_fp32_weights_and_loss():
    model = _net()
    seen = {}

    def objective(m, batch, step):
        out = cross_entropy(m, batch, step)
        seen["logits"], seen["loss"] = out.logits.dtype, out.loss.dtype
        seen["autocast"] = torch.is_autocast_enabled("cpu")
        return out

    optimizer = build_optimizer(OptimizerSpec("sgd", lr=0.1, momentum=0.9, weight_decay=5e-4), model.parameters())
    before = [p.detach().clone() for p in model.parameters()]
    train(model, _loader(channels_last=True), objective, optimizer, build_schedule(ScheduleSpec("constant"), 3),
          LoopConfig(total_steps=3, device=CPU, amp=True, channels_last=True))
    assert seen == {"logits": torch.bfloat16, "loss": torch.float32, "autocast": True}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not torch.is_autocast_enabled("cpu")  # nothing leaks out of the loop


def test_loop_without_the_switches_is_plain_fp32():
    model = _net()
    seen = {}

    def objective(m, batch, step):
        seen["autocast"] = torch.is_autocast_enabled("cpu")
        return StepOutput(batch_cross_entropy(m(batch.x), batch.y))

    optimizer = build_optimizer(OptimizerSpec("sgd", lr=0.1, momentum=0.9, weight_decay=5e-4), model.parameters())
    train(model, _loader(), objective, optimizer, build_schedule(ScheduleSpec("constant"), 2),
          LoopConfig(total_steps=2, device=CPU, amp=False, channels_last=False))
    assert seen == {"autocast": False}
    assert model[0].weight.is_contiguous()


@pytest.mark.parametrize("channels_last", [False, True])
def test_predict_logits_in_bf16_returns_float32_close_to_fp32(channels_last):
    model = _net()
    exact = predict_logits(model, _loader())
    fast = predict_logits(model, _loader(), amp=True, channels_last=channels_last)
    assert fast.dtype == torch.float32 and fast.shape == exact.shape == (24, 3)
    assert not torch.equal(fast, exact)  # really computed in bf16
    torch.testing.assert_close(fast, exact, atol=0.05, rtol=0.05)
    assert model.training  # mode restored
    # The fast path runs a BatchNorm-folded copy: the model itself keeps its layout.
    assert model[0].weight.is_contiguous()


def test_gradient_statistics_under_bf16_are_float32_and_close_to_fp32():
    model = _net()
    exact, n = summed_gradient_statistic(model, _loader().epoch(0), batch_cross_entropy)
    fast, m = summed_gradient_statistic(model, _loader().epoch(0), batch_cross_entropy, amp=True)
    assert n == m == 3
    for name in exact:
        assert fast[name].dtype == torch.float32
        torch.testing.assert_close(fast[name], exact[name], atol=0.05, rtol=0.1)
    assert any(not torch.equal(fast[k], exact[k]) for k in exact)
    assert not torch.is_autocast_enabled("cpu")


def test_input_gradient_follows_the_callers_autocast_and_stays_float32():
    model = _net().eval()
    batch = next(_loader().epoch(0))
    exact = input_gradient(model, batch.x, batch.y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = input_gradient(model, batch.x, batch.y)
    assert exact.dtype == fast.dtype == torch.float32
    assert not torch.equal(exact, fast)
    # FGSM uses the sign: almost every entry keeps it.
    agree = (exact.sign() == fast.sign()).float().mean()
    assert agree > 0.9


def test_folded_fast_path_matches_fp32_on_a_trained_batchnorm_model():
    """BatchNorm folding is exact up to float rounding: with bf16 off, the fast path's
    channels_last + folded forward equals the reference forward to ~1e-5."""
    model = _net()
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2.0)
        model[1].weight.uniform_(0.5, 1.5)
    exact = predict_logits(model, _loader())
    folded = predict_logits(model, _loader(), channels_last=True)
    torch.testing.assert_close(folded, exact, atol=1e-5, rtol=1e-5)
