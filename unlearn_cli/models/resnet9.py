"""`resnet9`: the DAWNBench-style ResNet-9 of the corrective-unlearning repo.

conv-BN-CELU(0.075) units: prep 64, 128 (k5 s2), residual 128×2, 256 + max-pool,
residual 256×2, 128 (k3, no padding), adaptive max pool, linear head without bias.
"""

from __future__ import annotations

import torch
from torch import nn

from unlearn_cli.models.base import BlockModel, register_model, scale_channels

CELU_ALPHA = 0.075
# Side lengths through the net: s → ⌈s/2⌉ (k5 s2 p2) → ⌊⌈s/2⌉/2⌋ (max-pool)
# → that − 2 (k3 p0), which must stay ≥ 1: s ≥ 11. So 8×8 digits cannot work.
RESNET9_MIN_IMAGE_SIZE = 11


def conv_bn_celu(
    c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, padding: int = 1
) -> nn.Sequential:
    # Conv bias kept as in the corrective repo (it is redundant before BN, but changing
    # it would change the parameter count of the published model).
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding),
        nn.BatchNorm2d(c_out),
        nn.CELU(alpha=CELU_ALPHA),
    )


class Residual(nn.Module):
    """x + two conv-BN-CELU units of the same width."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn_celu(c, c), conv_bn_celu(c, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet9(BlockModel):
    """Blocks: prep, conv k5, residual, conv+pool, residual, conv k3 p0, head (7) — the
    reference's `all_mods` of ApplyK (conv1, conv2, res1, conv3, res2, conv4, fc), holding
    1, 1, 2, 1, 2, 1, 1 weight layers: k ∈ {1, 2, 4, 5, 7, 8} as there."""

    def __init__(self, channels: int, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c64, c128, c256 = (scale_channels(c, width) for c in (64, 128, 256))
        self.prep = conv_bn_celu(channels, c64)
        self.layer1 = conv_bn_celu(c64, c128, kernel_size=5, stride=2, padding=2)
        self.res1 = Residual(c128)
        self.layer2 = nn.Sequential(*conv_bn_celu(c128, c256), nn.MaxPool2d(2))
        self.res2 = Residual(c256)
        self.layer3 = conv_bn_celu(c256, c128, kernel_size=3, stride=1, padding=0)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(c128, num_classes, bias=False)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.res1(self.layer1(self.prep(x)))
        x = self.layer3(self.res2(self.layer2(x)))
        return torch.flatten(self.pool(x), 1)

    def blocks(self) -> list[nn.Module]:
        return [self.prep, self.layer1, self.res1, self.layer2, self.res2, self.layer3, self.head]


@register_model(
    "resnet9",
    min_image_size=RESNET9_MIN_IMAGE_SIZE,
    description="DAWNBench-style ResNet-9 of the corrective repo (its init: biases zero); "
    "images ≥ 11×11",
)
def build_resnet9(channels: int, image_size: int, num_classes: int, width: float) -> nn.Module:
    return ResNet9(channels, num_classes, width)
