"""Full-width models against published parameter counts, built on the meta device
(shapes only, no memory, no init cost)."""

from __future__ import annotations

import pytest
import torch

from unlearn_cli.models import MODELS, build_model, model_blocks, weight_layers


def _meta_model(name: str, num_classes: int = 10, image_size: int = 32):
    with torch.device("meta"):
        return build_model(name, channels=3, image_size=image_size, num_classes=num_classes)


@pytest.mark.parametrize(
    ("name", "num_classes", "params"),
    [
        ("resnet18", 10, 11_173_962),
        ("resnet34", 10, 21_282_122),
        ("resnet50", 10, 23_520_842),
        ("vgg16", 10, 14_728_266),
        ("resnet9", 10, 2_276_224),  # the corrective repo's, as its own count gives
        ("wrn28_10", 10, 36_490_250),
        ("wrn28_10", 100, 36_547_940),  # the corrective repo's WRN on CIFAR-100
    ],
)
def test_published_parameter_counts(name: str, num_classes: int, params: int) -> None:
    model = _meta_model(name, num_classes)
    assert sum(p.numel() for p in model.parameters()) == params


@pytest.mark.parametrize(
    ("name", "blocks"),
    [
        ("cnn", 4),
        ("resnet18", 10),
        ("resnet34", 18),
        ("resnet50", 18),
        ("resnet9", 7),
        ("vgg16", 14),
        ("wrn28_10", 14),  # stem + 12 wide blocks + head
    ],
)
def test_block_counts(name: str, blocks: int) -> None:
    assert len(model_blocks(_meta_model(name))) == blocks


def test_cnn_is_small() -> None:
    model = build_model("cnn", channels=1, image_size=8, num_classes=10)
    assert sum(p.numel() for p in model.parameters()) < 60_000


def test_resnet9_head_has_no_bias() -> None:
    assert _meta_model("resnet9").head.bias is None


def test_wrn28_10_layout() -> None:
    # As corrective-unlearning-bench src/resnet.py: biased convs, the stride on each block's second conv, no BN after the last
    # stage (the final BN of the block is the last group's last block's bn2).
    wrn = _meta_model("wrn28_10", 100)
    convs = [m for m in wrn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    first = wrn.layer2[0]
    assert first.conv1.stride == (1, 1) and first.conv2.stride == (2, 2)
    assert first.shortcut[0].stride == (2, 2) and first.shortcut[0].kernel_size == (1, 1)
    assert wrn.layer2[1].shortcut is None
    assert sum(weight_layers(b) for b in model_blocks(wrn)) == 26


def test_every_model_is_covered_by_block_counts() -> None:
    covered = {"cnn", "resnet18", "resnet34", "resnet50", "resnet9", "vgg16", "wrn28_10"}
    assert set(MODELS.names()) == covered
