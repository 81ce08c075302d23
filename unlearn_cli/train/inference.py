"""Batched, un-augmented forward passes in eval mode (evaluation, confidence ranking)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from unlearn_cli.data.loader import BatchLoader, DeviceSplit
from unlearn_cli.data.trigger import Trigger
from unlearn_cli.train.device import autocast
from unlearn_cli.train.fold import fold_batchnorm


def eval_batch_size(device: torch.device) -> int:
    """Large batches keep a GPU busy; on a CPU, batches beyond a few hundred images only add
    allocation and cache misses (1024 ran 2× slower than 256 on resnet18 here)."""
    return 1024 if device.type == "cuda" else 256


def eval_loader(split: DeviceSplit, mean: Sequence[float], std: Sequence[float], *,
                rows: np.ndarray | None = None, labels: np.ndarray | None = None,
                poisoned: np.ndarray | None = None, trigger: Trigger | None = None,
                batch_size: int | None = None, channels_last: bool = False) -> BatchLoader:
    """Every row of `split` (or of `rows`) once, in order, un-augmented, optionally relabelled
    and triggered: the loader of every pass that does not train. Batches are sized to the
    device unless a method fixes them (SSD's importance batches, SalUn's saliency batches)."""
    return BatchLoader(split, batch_size=batch_size or eval_batch_size(split.device), mean=mean, std=std,
                       indices=rows, shuffle=False, augment=None, labels=labels, poisoned=poisoned,
                       trigger=trigger, channels_last=channels_last)


class _Float32Linear(nn.Module):
    """A linear layer computed in float32 under bf16 autocast. A classifier's bf16 output
    keeps 8 bits of mantissa: logits near 10 land on a grid of 1/16, which flips arg-maxes
    of near ties and coarsens the confidences the membership attacks read. The layer is a
    sliver of a CNN's cost."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.linear(x.float())


def _linears_in_float32(model: nn.Module) -> nn.Module:
    """`model` with every nn.Linear wrapped in `_Float32Linear`, in place."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear):
            setattr(model, name, _Float32Linear(child))
        else:
            _linears_in_float32(child)
    return model


@torch.no_grad()
def predict_logits(model: nn.Module, loader: BatchLoader, *, amp: bool = False,
                   channels_last: bool = False) -> torch.Tensor:
    """Logits (float32, on the CPU) for every row of an un-shuffled, un-augmented loader, in
    its row order, from `model` in eval mode (`model` itself is not changed).

    With both speed switches off the model runs exactly as trained: the fp32 reference.
    With either on, the forward passes run on a copy with BatchNorm folded into the
    convolutions (`fold.py`), `amp` under bf16 autocast with the linear layers (the
    classifier) in float32, `channels_last` in that memory format; the logits agree with
    the reference up to the bf16 rounding of the convolutions."""
    runner = _linears_in_float32(fold_batchnorm(model)) if amp or channels_last else model
    if channels_last:
        runner.to(memory_format=torch.channels_last)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    try:
        for batch in loader.epoch(0):
            with autocast(device, amp):
                x = batch.x.contiguous(memory_format=torch.channels_last) if channels_last else batch.x
                chunks.append(runner(x).float())
    finally:
        model.train(was_training)
    return torch.cat(chunks).cpu()


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Percentage of rows whose arg-max is the label."""
    if len(labels) == 0:
        return float("nan")
    return float((logits.argmax(dim=1) == labels.cpu()).float().mean() * 100)
