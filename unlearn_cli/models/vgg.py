"""`vgg16`: VGG-16 with batch norm and a single `Linear(512, C)` head (NatMU's layout)."""

from __future__ import annotations

import torch
from torch import nn

from unlearn_cli.models.base import BlockModel, register_model, scale_channels

# Channel counts of the 13 conv layers; "M" is a 2×2 max-pool.
VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)
# Five 2×2 pools halve the side five times; below 32 px the last one has nothing to pool.
VGG16_MIN_IMAGE_SIZE = 32


class VGG(BlockModel):
    """Blocks: each conv-BN-ReLU unit (carrying the max-pool that follows it), the head."""

    def __init__(
        self, config: tuple[int | str, ...], channels: int, num_classes: int, width: float = 1.0
    ) -> None:
        super().__init__()
        units: list[nn.Sequential] = []
        c = channels
        for item in config:
            if item == "M":
                # A pool has no parameters: attach it to the unit before it, so every
                # block is one parameterised conv layer.
                units[-1].append(nn.MaxPool2d(2))
                continue
            c_out = scale_channels(int(item), width)
            # Conv bias kept (as in the NatMU/kuangliu VGG) so parameter counts match.
            units.append(
                nn.Sequential(
                    nn.Conv2d(c, c_out, 3, padding=1),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                )
            )
            c = c_out
        self.units = nn.Sequential(*units)
        # 1×1 already at 32 px (a no-op there); averages the 2×2 left at 64 px.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.units(x)), 1)

    def blocks(self) -> list[nn.Module]:
        return [*self.units, self.head]


@register_model(
    "vgg16",
    min_image_size=VGG16_MIN_IMAGE_SIZE,
    description="VGG-16 with batch norm, one linear head (NatMU); biases zero-initialised; "
    "images ≥ 32×32",
)
def build_vgg16(channels: int, image_size: int, num_classes: int, width: float) -> nn.Module:
    return VGG(VGG16_CONFIG, channels, num_classes, width)
