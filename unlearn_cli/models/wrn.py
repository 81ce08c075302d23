"""`wrn28_10`: pre-activation Wide-ResNet, depth 28, widen factor 10 (corrective CIFAR-100)."""

from __future__ import annotations

import torch
from torch import nn

from unlearn_cli.models.base import BlockModel, register_model, scale_channels

DEPTH = 28
WIDEN = 10
BLOCKS_PER_GROUP = (DEPTH - 4) // 6  # 4: depth = 6n + 4
GROUP_CHANNELS = (16 * WIDEN, 32 * WIDEN, 64 * WIDEN)
GROUP_STRIDES = (1, 2, 2)


class WideBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3×3(stride), BN-ReLU-conv3×3, plus a shortcut
    (a 1×1 conv of the pre-activated input where the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (
            None
            if stride == 1 and c_in == c_out
            else nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(pre))))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(BlockModel):
    """Blocks: the stem conv, each of the 12 wide blocks (the last one together with the
    final BN), the head — 14 in all, so CF-k/EU-k with k up to 13 leave the stem alone."""

    def __init__(self, channels: int, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c = scale_channels(16, width)
        self.stem = nn.Conv2d(channels, c, 3, stride=1, padding=1, bias=False)
        groups = []
        for c_group, stride in zip(GROUP_CHANNELS, GROUP_STRIDES):
            c_group = scale_channels(c_group, width)
            units = []
            for i in range(BLOCKS_PER_GROUP):
                units.append(WideBlock(c, c_group, stride if i == 0 else 1))
                c = c_group
            groups.append(nn.Sequential(*units))
        self.group1, self.group2, self.group3 = groups
        # Pre-activation blocks end on a conv: the last BN-ReLU normalises the features.
        self.final = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.group3(self.group2(self.group1(self.stem(x))))
        return torch.flatten(self.pool(self.final(x)), 1)

    def blocks(self) -> list[nn.Module]:
        units = [unit for group in (self.group1, self.group2, self.group3) for unit in group]
        # A container (not a new layer) so the final BN travels with the last block.
        last = nn.ModuleList([units[-1], self.final])
        return [self.stem, *units[:-1], last, self.head]


@register_model("wrn28_10", description="pre-activation Wide-ResNet 28×10")
def build_wrn28_10(channels: int, image_size: int, num_classes: int, width: float) -> nn.Module:
    return WideResNet(channels, num_classes, width)
