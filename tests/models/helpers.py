"""Shared helpers for the model tests: tiny widths so every architecture builds in ms."""

from __future__ import annotations

import torch
from torch import nn

from unlearn_cli.models import MODELS, build_model

# The two deepest/widest nets get an even smaller width to keep the folder fast.
TINY_WIDTH = {"wrn28_10": 1 / 16, "resnet50": 1 / 16}
SHAPES = [(1, 8, 8), (3, 32, 32), (3, 64, 64)]
NUM_CLASSES = 5


def tiny_width(name: str) -> float:
    return TINY_WIDTH.get(name, 0.125)


def fits(name: str, image_size: int) -> bool:
    return image_size >= MODELS.get(name).min_image_size


def build_tiny(
    name: str, channels: int = 3, image_size: int = 32, seed: int = 0
) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(
        name,
        channels=channels,
        image_size=image_size,
        num_classes=NUM_CLASSES,
        width=tiny_width(name),
    )
