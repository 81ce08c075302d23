"""`resnet18`, `resnet34`, `resnet50`: CIFAR-style ResNets (3×3 stride-1 stem, no max-pool).

Stages of 64-128-256-512 channels (×4 for Bottleneck) at strides 1-2-2-2, global average
pool, one linear head — the layout used by NatMU, SalUn and SSD.
"""

from __future__ import annotations

import torch
from torch import nn

from unlearn_cli.models.base import BlockModel, register_model, scale_channels

STAGE_CHANNELS = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)


def _projection(c_in: int, c_out: int, stride: int) -> nn.Module:
    # A 1×1 conv + BN shortcut only where the shape changes; identity elsewhere.
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(c_out),
    )


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with a residual connection."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _projection(c_in, planes, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (strided), 1×1 expand ×4, with a residual connection."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.shortcut = _projection(c_in, c_out, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


class ResNet(BlockModel):
    """Blocks: the stem (conv-BN-ReLU), each residual block, the head."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        depths: tuple[int, int, int, int],
        channels: int,
        num_classes: int,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        c = scale_channels(STAGE_CHANNELS[0], width)
        self.stem = nn.Sequential(
            nn.Conv2d(channels, c, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )
        stages = []
        for planes, stride, depth in zip(STAGE_CHANNELS, STAGE_STRIDES, depths):
            planes = scale_channels(planes, width)
            units = []
            for i in range(depth):
                units.append(block(c, planes, stride if i == 0 else 1))
                c = planes * block.expansion
            stages.append(nn.Sequential(*units))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.pool(x), 1)

    def blocks(self) -> list[nn.Module]:
        stages = (self.layer1, self.layer2, self.layer3, self.layer4)
        residual = [unit for stage in stages for unit in stage]
        return [self.stem, *residual, self.head]


@register_model(
    "resnet18",
    description="ResNet-18, BasicBlock [2,2,2,2], CIFAR stem (NatMU); biases zero-initialised",
)
def build_resnet18(channels: int, image_size: int, num_classes: int, width: float) -> nn.Module:
    return ResNet(BasicBlock, (2, 2, 2, 2), channels, num_classes, width)


@register_model(
    "resnet34",
    description="ResNet-34, BasicBlock [3,4,6,3], CIFAR stem (NatMU); biases zero-initialised",
)
def build_resnet34(channels: int, image_size: int, num_classes: int, width: float) -> nn.Module:
    return ResNet(BasicBlock, (3, 4, 6, 3), channels, num_classes, width)


@register_model(
    "resnet50",
    description="ResNet-50, Bottleneck [3,4,6,3], CIFAR stem (NatMU); biases zero-initialised",
)
def build_resnet50(channels: int, image_size: int, num_classes: int, width: float) -> nn.Module:
    return ResNet(Bottleneck, (3, 4, 6, 3), channels, num_classes, width)
