"""`cnn`: a small conv net for the embedded 8×8 `digits` default and for tests."""

from __future__ import annotations

import torch
from torch import nn

from unlearn_cli.models.base import BlockModel, register_model, scale_channels


def _groups(channels: int, most: int = 8) -> int:
    """The largest group count ≤ `most` that divides `channels` (widths are scaled freely)."""
    return max(g for g in range(1, most + 1) if channels % g == 0)


def conv_gn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    # GroupNorm, not BatchNorm: it normalises each sample on its own, so a batch split over
    # DDP ranks computes exactly what one process computes on the whole batch (SyncBatchNorm
    # does that only on GPUs), and tiny test batches behave like large ones.
    # No conv bias: the GroupNorm shift that follows makes it redundant.
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(_groups(c_out), c_out),
        nn.ReLU(inplace=True),
    )


class SmallCNN(BlockModel):
    """Three conv-GroupNorm-ReLU units (32, 64 s2, 64 s2), global average pool, linear head.

    Stride 2 instead of max-pooling keeps it valid down to 1×1 images, and the global
    pool makes the head independent of the image size (8, 32 or 64 px). About 57k
    parameters: the last unit stays at 64 channels because 128 would add ~37k
    parameters without improving digits accuracy (≈98 % either way).
    """

    def __init__(self, channels: int, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3 = (scale_channels(c, width) for c in (32, 64, 64))
        self.units = nn.Sequential(
            conv_gn_relu(channels, c1, stride=1),
            conv_gn_relu(c1, c2, stride=2),
            conv_gn_relu(c2, c3, stride=2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c3, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.units(x)), 1)

    def blocks(self) -> list[nn.Module]:
        return [*self.units, self.head]


@register_model("cnn", description="small 3-layer conv net (digits default, tests)")
def build_cnn(channels: int, image_size: int, num_classes: int, width: float) -> nn.Module:
    return SmallCNN(channels, num_classes, width)
