"""Whole-batch augmentation ops: exact values on tiny tensors."""

from __future__ import annotations

import pytest
import torch

from unlearn_cli.data.augment import (
    AugmentParams,
    AugmentSpec,
    apply_trigger,
    augment,
    normalize,
    random_crop,
    random_flip,
    sample_augment_params,
)
from unlearn_cli.errors import InputError


def _batch(b: int = 2, c: int = 3, h: int = 5, w: int = 6) -> torch.Tensor:
    return torch.arange(1, b * c * h * w + 1, dtype=torch.float32).view(b, c, h, w)


def test_crop_at_centre_offset_is_identity() -> None:
    x = _batch()
    p = 2
    out = random_crop(x, p, torch.full((2, 2), p))
    assert torch.equal(out, x)


def test_crop_at_zero_offset_shifts_down_right_with_zeros() -> None:
    x = _batch(b=1, c=2, h=4, w=5)
    p = 2
    out = random_crop(x, p, torch.zeros(1, 2, dtype=torch.long))
    expected = torch.zeros_like(x)
    expected[:, :, p:, p:] = x[:, :, :-p, :-p]
    assert torch.equal(out, expected)
    assert out[0, 0, 0, 0] == 0 and out[0, 1, 2, 2] == x[0, 1, 0, 0]


def test_crop_uses_each_rows_own_offset() -> None:
    x = _batch(b=2, c=1, h=4, w=4)
    out = random_crop(x, 1, torch.tensor([[2, 2], [1, 0]]))
    # row 0: window starts one pixel up-left of the image's far corner → shifted up-left
    assert torch.equal(out[0, 0, :3, :3], x[0, 0, 1:, 1:])
    assert torch.all(out[0, 0, 3, :] == 0) and torch.all(out[0, 0, :, 3] == 0)
    # row 1: no vertical shift, shifted right by one
    assert torch.equal(out[1, 0, :, 1:], x[1, 0, :, :3])
    assert torch.all(out[1, 0, :, 0] == 0)


def test_crop_works_on_uint8() -> None:
    x = torch.full((1, 1, 3, 3), 7, dtype=torch.uint8)
    out = random_crop(x, 1, torch.zeros(1, 2, dtype=torch.long))
    assert out.dtype == torch.uint8 and out[0, 0, 0, 0] == 0 and out[0, 0, 2, 2] == 7


def test_flip_is_exact_mirror_where_masked() -> None:
    x = _batch(b=3)
    out = random_flip(x, torch.tensor([True, False, True]))
    assert torch.equal(out[0], x[0][:, :, torch.arange(x.shape[3] - 1, -1, -1)])
    assert torch.equal(out[1], x[1])
    assert torch.equal(out[2, :, :, 0], x[2, :, :, -1])


def test_sampled_params_cover_flip_states_and_offsets() -> None:
    spec = AugmentSpec(crop_padding=3, flip=True)
    g = torch.Generator().manual_seed(1)
    params = sample_augment_params(400, spec, g, "cpu")
    assert params.offsets.shape == (400, 2) and params.flip.shape == (400,)
    assert params.flip.any() and not params.flip.all()
    assert int(params.offsets.min()) == 0 and int(params.offsets.max()) == 6
    assert len(torch.unique(params.offsets[:, 0])) == 7
    assert len(torch.unique(params.offsets[:, 1])) == 7


def test_sampled_params_respect_disabled_flip_and_same_seed() -> None:
    spec = AugmentSpec(crop_padding=0, flip=False)
    p1 = sample_augment_params(50, spec, torch.Generator().manual_seed(3), "cpu")
    p2 = sample_augment_params(50, spec, torch.Generator().manual_seed(3), "cpu")
    assert not p1.flip.any() and not p1.offsets.any()
    assert torch.equal(p1.offsets, p2.offsets) and torch.equal(p1.flip, p2.flip)


def test_augment_applies_crop_then_flip() -> None:
    x = _batch(b=1, c=1, h=3, w=3)
    spec = AugmentSpec(crop_padding=1, flip=True)
    params = AugmentParams(offsets=torch.tensor([[0, 0]]), flip=torch.tensor([True]))
    out = augment(x, spec, params)
    expected = random_flip(random_crop(x, 1, params.offsets), params.flip)
    assert torch.equal(out, expected)
    assert torch.all(out[0, 0, 0, :] == 0) and torch.all(out[0, 0, :, 2] == 0)


@pytest.mark.parametrize(
    ("size", "dataset", "expected"),
    [
        (32, "cifar10", AugmentSpec(4, True)),
        (64, "tinyimagenet", AugmentSpec(8, True)),
        (8, "digits", None),
    ],
)
def test_default_spec(size: int, dataset: str, expected: AugmentSpec | None) -> None:
    assert AugmentSpec.default_for(size, dataset) == expected


def test_trigger_writes_only_bottom_right_square_on_masked_rows() -> None:
    x = torch.zeros(3, 2, 5, 5)
    out = apply_trigger(x, torch.tensor([True, False, True]), patch_size=2, value=255.0)
    expected = torch.zeros_like(x)
    expected[[0, 2], :, 3:, 3:] = 255.0
    assert torch.equal(out, expected)
    assert torch.equal(x, torch.zeros_like(x))  # input untouched


def test_normalize_matches_formula_for_uint8_and_float() -> None:
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    expected = (x.float() / 255 - m) / s
    for inp in (x, x.float()):
        out = normalize(inp, mean, std)
        assert out.dtype == torch.float32
        assert torch.allclose(out, expected, atol=1e-6)


def test_errors_name_the_bad_value() -> None:
    with pytest.raises(InputError, match="-1"):
        AugmentSpec(crop_padding=-1, flip=True)
    with pytest.raises(InputError, match="2 values"):
        normalize(torch.zeros(1, 3, 2, 2), [0.5, 0.5], [1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="patch size 6"):
        apply_trigger(torch.zeros(1, 1, 5, 5), torch.tensor([True]), 6, 255.0)
    with pytest.raises(InputError, match=r"\(3, 2\)"):
        random_crop(torch.zeros(2, 1, 4, 4), 1, torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(InputError, match="3 images"):
        augment(
            torch.zeros(2, 1, 4, 4),
            AugmentSpec(1, True),
            AugmentParams(torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, dtype=torch.bool)),
        )
