"""`wrn28_10`: the corrective repository's Wide-ResNet 28×10 (its CIFAR-100 model).

Followed exactly (drimpossible/corrective-unlearning-bench, src/resnet.py:112-169): a
3×3 stem conv with bias; three groups of four blocks at 160, 320, 640 channels (strides 1,
2, 2); each block BN-ReLU-conv3×3(bias)-BN-ReLU-conv3×3(bias) with the **stride on the
second conv**, plus a conv1×1(bias, stride)+BN shortcut of the block's *raw* input where
the shape changes; after the last group only average pooling (no final BN-ReLU) and one
linear head. 36,547,940 parameters on CIFAR-100.
"""

from __future__ import annotations

import torch
from torch import nn

from unlearn_cli.models.base import BlockModel, register_model, scale_channels

DEPTH = 28
WIDEN = 10
BLOCKS_PER_GROUP = (DEPTH - 4) // 6  # 4: depth = 6n + 4
STEM_CHANNELS = 16
GROUP_CHANNELS = (16 * WIDEN, 32 * WIDEN, 64 * WIDEN)
GROUP_STRIDES = (1, 2, 2)


class WideBlock(nn.Module):
    """BN-ReLU-conv3×3, BN-ReLU-conv3×3(stride), plus the raw input or its projection.

    Attribute names are the reference's (`bn1`, `conv1`, `bn2`, `conv2`, `shortcut`), so a
    state dict maps across by renaming only the stem and the head.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=1, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=stride, padding=1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        # Named `shortcut` on purpose: a projection on the residual path is not one of the
        # weight layers that k counts (base.weight_layers), as in the reference's ApplyK.
        self.shortcut = (
            None
            if stride == 1 and c_in == c_out
            else nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=True), nn.BatchNorm2d(c_out)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        return out + (x if self.shortcut is None else self.shortcut(x))


class WideResNet(BlockModel):
    """Blocks: the stem conv, each of the 12 wide blocks, the head — 1 + 12×2 + 1 = 26
    weight layers, so k is odd, 1…25, exactly the reference's cut points."""

    def __init__(self, channels: int, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c = scale_channels(STEM_CHANNELS, width)
        self.stem = nn.Conv2d(channels, c, 3, stride=1, padding=1, bias=True)
        groups = []
        for c_group, stride in zip(GROUP_CHANNELS, GROUP_STRIDES):
            c_group = scale_channels(c_group, width)
            units = []
            for i in range(BLOCKS_PER_GROUP):
                units.append(WideBlock(c, c_group, stride if i == 0 else 1))
                c = c_group
            groups.append(nn.Sequential(*units))
        self.layer1, self.layer2, self.layer3 = groups
        # The reference's AvgPool2d(8) sees the 8×8 map of a 32 px input, so it is this
        # global average there; the adaptive pool also serves 64 px inputs, where the
        # reference's head would not fit.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return torch.flatten(self.pool(x), 1)

    def blocks(self) -> list[nn.Module]:
        units = [unit for group in (self.layer1, self.layer2, self.layer3) for unit in group]
        return [self.stem, *units, self.head]


@register_model(
    "wrn28_10",
    description="Wide-ResNet 28×10 of the corrective repo (its init: biases zero)",
)
def build_wrn28_10(channels: int, image_size: int, num_classes: int, width: float) -> nn.Module:
    return WideResNet(channels, num_classes, width)
