"""Whole-batch image augmentation, BadNet trigger and normalisation as pure tensor ops.

Everything here works on a batch tensor (B, C, H, W) on whatever device it lives on, with
no per-sample Python loop, so a GPU training step never waits for its input. All
randomness comes from an explicit `torch.Generator` and is drawn up front into an
`AugmentParams` bundle; the ops themselves are deterministic functions of their inputs.
That split is what lets the loader reproduce any batch from (seed, epoch) alone and lets
DDP ranks augment their slices of a global batch exactly as one process would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from unlearn_cli.errors import InputError

# Datasets whose images are too small for crop/flip to help: none for digits (docs/design.md
# "Data lives where the model lives").
_NO_AUGMENT_DATASETS = frozenset({"digits"})


@dataclass(frozen=True)
class AugmentSpec:
    """Which augmentations to apply: a random crop after zero padding, and a random flip."""

    crop_padding: int  # pixels of zero padding on every side; 0 = no crop
    flip: bool  # horizontal flip with probability 1/2

    def __post_init__(self) -> None:
        if isinstance(self.crop_padding, bool) or not isinstance(self.crop_padding, int):
            raise InputError(
                f"augmentation crop padding {self.crop_padding!r} is not an integer",
                hint="give a whole number of pixels, e.g. 4 for 32 px images",
            )
        if self.crop_padding < 0:
            raise InputError(
                f"augmentation crop padding {self.crop_padding} is negative",
                hint="use 0 for no crop, or a positive number of pixels",
            )

    @property
    def is_identity(self) -> bool:
        """True when the spec changes nothing (no crop, no flip)."""
        return self.crop_padding == 0 and not self.flip

    @staticmethod
    def default_for(image_size: int, dataset: str) -> AugmentSpec | None:
        """The standard augmentation for a dataset: padding 4 at 32 px, 8 at 64 px (1/8 of
        the side), plus flips; None for `digits`, whose 8 px images it would only damage."""
        if dataset in _NO_AUGMENT_DATASETS:
            return None
        if image_size < 1:
            raise InputError(
                f"image size {image_size} for dataset '{dataset}' is not positive",
                hint="the image side length comes from the dataset manifest",
            )
        return AugmentSpec(crop_padding=image_size // 8, flip=True)


@dataclass(frozen=True)
class AugmentParams:
    """The random draws for a batch: crop offsets (B, 2) as (row, col) into the padded
    image, each in [0, 2·padding], and a flip mask (B,)."""

    offsets: Tensor  # int64 (B, 2)
    flip: Tensor  # bool (B,)

    def __len__(self) -> int:
        return int(self.flip.shape[0])

    def slice(self, start: int, stop: int) -> AugmentParams:
        """The params of positions [start, stop): how a batch (or a DDP rank's part of one)
        takes its share of an epoch's draws."""
        return AugmentParams(offsets=self.offsets[start:stop], flip=self.flip[start:stop])


def sample_augment_params(
    batch: int, spec: AugmentSpec, generator: torch.Generator, device: torch.device | str
) -> AugmentParams:
    """Draw crop offsets and flips for `batch` images from `generator` on `device`.

    Both are always drawn, even when the spec turns one off, so the generator advances by
    the same amount whatever the spec; a disabled part comes back as zeros / all False.
    """
    if batch < 0:
        raise InputError(f"augmentation batch size {batch} is negative")
    offsets = torch.randint(
        0, 2 * spec.crop_padding + 1, (batch, 2), generator=generator, device=device
    )
    flip = torch.rand(batch, generator=generator, device=device) < 0.5
    if not spec.flip:
        flip = torch.zeros_like(flip)
    return AugmentParams(offsets=offsets, flip=flip)


def random_crop(x: Tensor, padding: int, offsets: Tensor) -> Tensor:
    """Pad every image of `x` (B, C, H, W) with `padding` zeros per side and cut an H×W
    window at each row's (row, col) offset: like torchvision RandomCrop(padding=p), whose
    padding is black in pixel space. Offset (p, p) is the identity; (0, 0) shifts the image
    p pixels down-right. Offsets outside [0, 2p] are clamped, because checking them would
    force a device sync and an out-of-range gather on CUDA is an unrecoverable fault.
    """
    if padding < 0:
        raise InputError(f"crop padding {padding} is negative", hint="use 0 for no crop")
    if x.dim() != 4:
        raise InputError(f"random_crop needs a (B, C, H, W) batch, got shape {tuple(x.shape)}")
    b, _, h, w = x.shape
    if offsets.shape != (b, 2):
        raise InputError(
            f"crop offsets have shape {tuple(offsets.shape)}, expected ({b}, 2) for this batch"
        )
    if padding == 0:
        return x
    offsets = offsets.to(device=x.device, dtype=torch.long).clamp(0, 2 * padding)
    padded = F.pad(x, (padding, padding, padding, padding), mode="constant", value=0)
    rows = offsets[:, 0:1] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[:, 1:2] + torch.arange(w, device=x.device)  # (B, W)
    batch_idx = torch.arange(b, device=x.device)[:, None, None]
    # Channels are moved last so the three advanced indices are adjacent and broadcast to
    # (B, H, W); one gather then cuts every window at once.
    windows = padded.permute(0, 2, 3, 1)[batch_idx, rows[:, :, None], cols[:, None, :]]
    return windows.permute(0, 3, 1, 2)


def random_flip(x: Tensor, flip_mask: Tensor) -> Tensor:
    """Mirror along the width axis the images of `x` (B, C, H, W) where `flip_mask` is True."""
    if x.dim() != 4 or flip_mask.shape != (x.shape[0],):
        raise InputError(
            f"random_flip needs a (B, C, H, W) batch and a (B,) mask, got "
            f"{tuple(x.shape)} and {tuple(flip_mask.shape)}"
        )
    mask = flip_mask.to(device=x.device, dtype=torch.bool).view(-1, 1, 1, 1)
    return torch.where(mask, x.flip(-1), x)


def augment(x: Tensor, spec: AugmentSpec, params: AugmentParams) -> Tensor:
    """Apply `spec` to the batch `x` with the pre-drawn `params`: crop, then flip."""
    if len(params) != x.shape[0]:
        raise InputError(
            f"augmentation params are for {len(params)} images but the batch has {x.shape[0]}"
        )
    if spec.crop_padding > 0:
        x = random_crop(x, spec.crop_padding, params.offsets)
    if spec.flip:
        x = random_flip(x, params.flip)
    return x


def trigger_region(height: int, width: int, patch_size: int, device: torch.device | str) -> Tensor:
    """Bool (H, W) map of the BadNet patch: the bottom-right `patch_size`² square."""
    region = torch.zeros(height, width, dtype=torch.bool, device=device)
    region[height - patch_size :, width - patch_size :] = True
    return region


def apply_trigger(x: Tensor, mask: Tensor, patch_size: int, value: float) -> Tensor:
    """BadNet trigger: set a `patch_size`² square in the bottom-right corner to `value`, in
    every channel, on the rows of `x` (B, C, H, W) where `mask` is True. Applied after
    augmentation so the patch sits at the same place in every view the model sees."""
    if x.dim() != 4 or mask.shape != (x.shape[0],):
        raise InputError(
            f"apply_trigger needs a (B, C, H, W) batch and a (B,) mask, got "
            f"{tuple(x.shape)} and {tuple(mask.shape)}"
        )
    _, _, h, w = x.shape
    if not 1 <= patch_size <= min(h, w):
        raise InputError(
            f"trigger patch size {patch_size} does not fit {h}×{w} images",
            hint=f"use a patch size between 1 and {min(h, w)}",
        )
    # torch.where instead of masked assignment: no boolean indexing, hence no device sync.
    where = mask.to(device=x.device, dtype=torch.bool).view(-1, 1, 1, 1) & trigger_region(
        h, w, patch_size, x.device
    )
    return torch.where(where, torch.as_tensor(value, dtype=x.dtype, device=x.device), x)


def _channel_stats(values: Sequence[float] | Tensor, name: str, x: Tensor) -> Tensor:
    stats = torch.as_tensor(values, dtype=torch.float32, device=x.device).flatten()
    if stats.numel() != x.shape[1]:
        raise InputError(
            f"normalisation {name} has {stats.numel()} values but the images have "
            f"{x.shape[1]} channels",
            hint="give one value per channel (from the dataset manifest)",
        )
    return stats.view(1, -1, 1, 1)


def normalize(x: Tensor, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor) -> Tensor:
    """Pixel values 0..255 (uint8 or float) to float32 `(x/255 - mean) / std`, with the
    per-channel `mean` and `std` given in 0..1 units."""
    if x.dim() != 4:
        raise InputError(f"normalize needs a (B, C, H, W) batch, got shape {tuple(x.shape)}")
    mean_t = _channel_stats(mean, "mean", x)
    std_t = _channel_stats(std, "std", x)
    return (x.to(torch.float32) / 255.0 - mean_t) / std_t
