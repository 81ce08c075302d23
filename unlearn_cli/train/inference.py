"""Batched, un-augmented forward passes in eval mode (evaluation, confidence ranking)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from unlearn_cli.data.loader import BatchLoader


@torch.no_grad()
def predict_logits(model: nn.Module, loader: BatchLoader, *, amp: bool = False) -> torch.Tensor:
    """Logits (float32, on the CPU) for every row of an un-shuffled, un-augmented loader, in
    its row order. The model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    autocast = (torch.autocast(device_type="cuda", dtype=torch.bfloat16)
                if amp and device.type == "cuda" else contextlib.nullcontext())
    chunks = []
    try:
        for batch in loader.epoch(0):
            with autocast:
                chunks.append(model(batch.x).float())
    finally:
        model.train(was_training)
    return torch.cat(chunks).cpu()


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Percentage of rows whose arg-max is the label."""
    if len(labels) == 0:
        return float("nan")
    return float((logits.argmax(dim=1) == labels.cpu()).float().mean() * 100)
