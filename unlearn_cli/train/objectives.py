"""Losses of one batch shared by pretraining and the methods that fine-tune with plain CE."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from unlearn_cli.data.loader import Batch
from unlearn_cli.train.loop import StepOutput


def cross_entropy(model: nn.Module, batch: Batch, step: int) -> StepOutput:
    """Mean CE, with the per-sample losses and logits kept for statistics callbacks.
    The loss is computed in float32 even under bf16 autocast."""
    logits = model(batch.x)
    per_sample = F.cross_entropy(logits.float(), batch.y, reduction="none")
    return StepOutput(per_sample.mean(), logits.detach(), batch.y, batch.index, per_sample.detach())
