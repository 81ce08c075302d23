"""k for CF-k / EU-k against the corrective repository's `ApplyK.divide_model`
(src/methods.py:154-189), at full width, built on the meta device (shapes only).

The reference counts below were worked out by hand from that rule; they are the
parameters of the reference's trainable `net` for each k.

resnet9, CIFAR-10 — all_mods = [conv1, conv2, res1, conv3, res2, conv4, fc] and
mapping {1: 6, 2: 5, 4: 4, 5: 3, 7: 2, 8: 1} (the index of the first trained module).
Module sizes (conv with bias + BN weight/bias): fc 128·10 = 1,280; conv4 (256→128 k3)
295,040 + 256 = 295,296; res2 2·(589,824 + 256 + 512) = 1,181,184; conv3 (128→256)
294,912 + 256 + 512 = 295,680; res1 2·(147,456 + 128 + 256) = 295,680; conv2 (64→128
k5) 204,800 + 128 + 256 = 205,184; conv1 1,792 + 128 = 1,920 (never trained).

wrn28_10, CIFAR-100 — all_mods = [conv1, layer1, layer2, layer3, norm, fc], mapping
{1: 5, 9: 3, 17: 2, 25: 1}; any other odd k trains `all_mods[layer][4 − ((k−1)//2) % 4:]`
(layer = mapping of the next mapped k above) and everything after it: in all, the last
(k−1)/2 wide blocks (2 weight layers each, the shortcut not counted) plus fc.
Block sizes (BN 2c, conv3×3 with bias, 1×1 shortcut with bias + BN where the shape
changes): fc 640·100 + 100 = 64,100; layer3 block 7,376,640 (first, 320→640: 5,739,520);
layer2 block 1,845,120 (first, 160→320: 1,436,160); layer1 block 461,760 (first, 16→160:
257,152); stem 448 (never trained). Total 36,547,940.
"""

from __future__ import annotations

import pytest
import torch

from unlearn_cli.models import (
    MODELS,
    build_model,
    last_k_modules,
    last_k_parameters,
    model_blocks,
    valid_ks,
    weight_layers,
)

RESNET9_CIFAR10 = {
    1: 1_280,
    2: 296_576,
    4: 1_477_760,
    5: 1_773_440,
    7: 2_069_120,
    8: 2_274_304,
}
WRN28_10_CIFAR100 = {
    1: 64_100,
    3: 7_440_740,
    5: 14_817_380,
    7: 22_194_020,
    9: 27_933_540,
    11: 29_778_660,
    13: 31_623_780,
    15: 33_468_900,
    17: 34_905_060,
    19: 35_366_820,
    21: 35_828_580,
    23: 36_290_340,
    25: 36_547_492,
}


def _meta_model(name: str, num_classes: int = 10):
    with torch.device("meta"):
        return build_model(name, channels=3, image_size=32, num_classes=num_classes)


def _count(params) -> int:
    return sum(p.numel() for p in params)


@pytest.mark.parametrize(
    ("name", "num_classes", "reference"),
    [("resnet9", 10, RESNET9_CIFAR10), ("wrn28_10", 100, WRN28_10_CIFAR100)],
)
def test_trainable_parameters_match_the_reference_split(
    name: str, num_classes: int, reference: dict[int, int]
) -> None:
    model = _meta_model(name, num_classes)
    assert valid_ks(model) == sorted(reference)
    for k, expected in reference.items():
        assert _count(last_k_parameters(model, k)) == expected, f"{name} k={k}"


def test_the_corrective_presets_train_the_reference_modules() -> None:
    r9 = _meta_model("resnet9")
    assert last_k_modules(r9, 2) == [r9.layer3, r9.head]  # the reference's conv4, fc
    assert last_k_modules(r9, 4) == [r9.res2, r9.layer3, r9.head]
    wrn = _meta_model("wrn28_10", 100)
    assert last_k_modules(wrn, 5) == [wrn.layer3[2], wrn.layer3[3], wrn.head]
    assert last_k_modules(wrn, 13) == [*wrn.layer2[2:], *wrn.layer3, wrn.head]


@pytest.mark.parametrize(
    ("name", "ks"),
    [
        ("cnn", [1, 2, 3]),
        ("resnet18", list(range(1, 18, 2))),  # stem 1 + 8 BasicBlocks × 2 + head 1 = 18
        ("resnet34", list(range(1, 34, 2))),  # 1 + 16 × 2 + 1 = 34
        ("resnet50", list(range(1, 50, 3))),  # 1 + 16 Bottlenecks × 3 + 1 = 50
        ("resnet9", [1, 2, 4, 5, 7, 8]),
        ("vgg16", list(range(1, 14))),  # 13 convs + head = 14
        ("wrn28_10", list(range(1, 26, 2))),  # 1 + 12 × 2 + 1 = 26
    ],
)
def test_valid_ks(name: str, ks: list[int]) -> None:
    model = _meta_model(name)
    assert valid_ks(model) == ks
    # The named depth is the number of weight layers: the shortcut 1×1 convs do not count.
    total = sum(weight_layers(b) for b in model_blocks(model))
    assert total == ks[-1] + weight_layers(model_blocks(model)[0])


def test_every_model_has_its_valid_ks_pinned() -> None:
    assert set(MODELS.names()) == {
        "cnn", "resnet18", "resnet34", "resnet50", "resnet9", "vgg16", "wrn28_10",
    }


def test_shortcut_convs_are_not_counted() -> None:
    r50, wrn = _meta_model("resnet50"), _meta_model("wrn28_10")
    assert weight_layers(r50.layer2[0]) == 3  # a Bottleneck with a projection shortcut
    assert weight_layers(wrn.layer2[0]) == 2  # a wide block with a projection shortcut
    assert weight_layers(wrn.layer2[1]) == 2
    assert weight_layers(wrn.head) == 1
