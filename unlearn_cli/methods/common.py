"""Small pieces several methods share: the last-k restriction of CF-k / EU-k."""

from __future__ import annotations

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
