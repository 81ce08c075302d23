"""The GPU user's default code path, run on the CPU: the training loop with torch.compile
(inductor) *and* bf16 autocast and channels_last, so CI exercises what CUDA runs by default.

Why this test is slower than the others: inductor generates and compiles C++ for the model
(about 20 s on a 2-core CPU for the smallest model, far less once its cache is warm). The
model is the smallest that still has a convolution, a norm and a linear layer, and it trains
for three steps."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_cli.data.loader import BatchLoader, DeviceSplit
from unlearn_cli.train.loop import LoopConfig, StepOutput, train, unwrap
from unlearn_cli.train.objectives import cross_entropy
from unlearn_cli.train.optim import OptimizerSpec, build_optimizer
from unlearn_cli.train.schedules import ScheduleSpec, build_schedule

CPU = torch.device("cpu")
STEPS = 3

needs_a_compiler = pytest.mark.skipif(
    not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
    reason="torch.compile's inductor backend needs a C++ compiler on the CPU")


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def _loader() -> BatchLoader:
    rng = np.random.default_rng(0)
    split = DeviceSplit.from_numpy(rng.integers(0, 256, size=(16, 8, 8, 3), dtype=np.uint8),
                                   rng.integers(0, 3, size=16), CPU)
    return BatchLoader(split, batch_size=8, mean=(0.5,) * 3, std=(0.25,) * 3, shuffle=True, seed=0,
                       augment=None, channels_last=True)


def _run(compile: bool):
    model = _net()
    dtypes = []

    def objective(m, batch, step) -> StepOutput:
        out = cross_entropy(m, batch, step)
        dtypes.append((out.logits.dtype, out.loss.dtype))
        return out

    optimizer = build_optimizer(OptimizerSpec("sgd", lr=0.1, momentum=0.9, weight_decay=5e-4), model.parameters())
    result = train(model, _loader(), objective, optimizer, build_schedule(ScheduleSpec("constant"), STEPS),
                   LoopConfig(total_steps=STEPS, device=CPU, amp=True, channels_last=True, compile=compile))
    return model, result, dtypes


@pytest.mark.slow
@needs_a_compiler
def test_compiled_bf16_channels_last_loop_trains_like_eager():
    eager, eager_result, _ = _run(compile=False)
    compiled, result, dtypes = _run(compile=True)
    assert result.steps == STEPS and np.isfinite(result.last_loss)
    assert result.warmup_seconds > 0  # compilation measured and left out of wall_seconds
    assert dtypes == [(torch.bfloat16, torch.float32)] * STEPS
    assert unwrap(compiled) is compiled  # the loop compiles a wrapper, never replaces the module
    # Inductor fuses differently, so bf16 roundings differ a little: the weights agree closely.
    for a, b in zip(eager.state_dict().values(), compiled.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), atol=2e-2, rtol=2e-2)
    assert result.last_loss == pytest.approx(eager_result.last_loss, rel=5e-2)
