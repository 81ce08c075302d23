"""Small pieces several methods share: the last-k restriction of CF-k / EU-k, and the head
re-initialisation of NatMU's class-wise scripts."""

from __future__ import annotations

import math

import torch
from torch import nn

from unlearn_cli.models import frozen_modules


def freeze_all_but_last_k(model: nn.Module, k: int | None) -> list[nn.Module]:
    """With k, stop gradients of every module before the last k layers and return those
    modules, for the loop to keep in eval mode (so their BatchNorm statistics stay put, as
    the corrective repository keeps its frozen prenet in eval mode). Without k, nothing."""
    if k is None:
        return []
    frozen = frozen_modules(model, k)
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return frozen


def reinit_head(model: nn.Module, seed: int) -> None:
    """NatMU's init_linear (ZhengbaoHe/NatMU class-wise/utils/train.py:9-12): Xavier normal with the
    ReLU gain √2 on the linear layer's weight; the bias is left as it is. Seeded, without
    touching the global RNG."""
    head: nn.Linear = model.head  # type: ignore[assignment]
    generator = torch.Generator(device="cpu").manual_seed(seed)
    weight = torch.empty(head.weight.shape)
    std = nn.init.calculate_gain("relu") * math.sqrt(2.0 / (head.in_features + head.out_features))
    with torch.no_grad():
        head.weight.copy_(weight.normal_(0.0, std, generator=generator))
