"""The on-device batch loader (docs/design.md "Data lives where the model lives").

A prepared split is moved to the training device once, as uint8 (N, C, H, W). A batch is
then a gather of rows by an on-device permutation, followed by whole-batch augmentation,
the BadNet trigger on poisoned rows and normalisation — no DataLoader workers, no PIL,
no per-sample Python loop. Subsets (forget, retain, manipulated) are index tensors into
the split, never copies of the images.

Reproducibility: an epoch's permutation and augmentation draws come from a generator
seeded by a hash of (seed, epoch) alone, so `epoch(e)` is the same in every process and
after any history, a resumed run replays the same batches, and `batch_at` can rebuild
any batch without replaying the ones before it. Under DDP every rank draws the same
global plan and takes its contiguous slice of each global batch, so the ranks together
see exactly what a single process would.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from unlearn_cli.data.augment import (
    AugmentParams,
    AugmentSpec,
    apply_trigger,
    normalize,
    sample_augment_params,
)
from unlearn_cli.data.augment import (
    augment as augment_batch,
)
from unlearn_cli.data.trigger import Trigger
from unlearn_cli.errors import DataError, InputError

logger = logging.getLogger(__name__)

ArrayLike = Tensor | np.ndarray


@dataclass(frozen=True)
class DeviceSplit:
    """A whole prepared split on one device: uint8 images (N, C, H, W), int64 labels (N,)."""

    images: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise DataError(
                f"split images must be uint8 (N, C, H, W), got {self.images.dtype} "
                f"of shape {tuple(self.images.shape)}",
                hint="prepare the dataset again with `unlearn prepare-data`",
            )
        if self.labels.dim() != 1 or self.labels.dtype != torch.int64:
            raise DataError(
                f"split labels must be int64 (N,), got {self.labels.dtype} "
                f"of shape {tuple(self.labels.shape)}",
                hint="prepare the dataset again with `unlearn prepare-data`",
            )
        if self.labels.shape[0] != self.images.shape[0]:
            raise DataError(
                f"split has {self.images.shape[0]} images but {self.labels.shape[0]} labels",
                hint="prepare the dataset again with `unlearn prepare-data`",
            )
        if self.images.device != self.labels.device:
            raise DataError(
                f"split images are on {self.images.device} but labels on {self.labels.device}"
            )

    @classmethod
    def from_numpy(
        cls, images_nhwc: np.ndarray, labels: np.ndarray, device: torch.device | str
    ) -> DeviceSplit:
        """Move a prepared split — uint8 (N, H, W, C) images and integer labels — to
        `device` once, as channels-first uint8 (the layout every batch gather reads)."""
        if not isinstance(images_nhwc, np.ndarray) or images_nhwc.ndim != 4:
            shape = getattr(images_nhwc, "shape", None)
            raise DataError(
                f"split images must be a 4-D (N, H, W, C) array, got shape {shape}",
                hint="prepare the dataset again with `unlearn prepare-data`",
            )
        if images_nhwc.dtype != np.uint8:
            raise DataError(
                f"split images must be uint8, got {images_nhwc.dtype}",
                hint="prepare the dataset again with `unlearn prepare-data`",
            )
        labels = np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"split labels must be a 1-D integer array, got {labels.dtype} "
                f"of shape {labels.shape}",
                hint="prepare the dataset again with `unlearn prepare-data`",
            )
        if labels.size and labels.min() < 0:
            raise DataError(
                f"split labels contain the negative value {int(labels.min())}",
                hint="prepare the dataset again with `unlearn prepare-data`",
            )
        # torch.from_numpy shares memory and warns on read-only arrays (e.g. memory-mapped
        # safetensors), so copy only when needed.
        if not images_nhwc.flags.writeable or not images_nhwc.flags.c_contiguous:
            images_nhwc = np.array(images_nhwc, copy=True, order="C")
        # Move first, then transpose: on a GPU the layout change is the fast part.
        images = torch.from_numpy(images_nhwc).to(device).permute(0, 3, 1, 2).contiguous()
        label_t = torch.from_numpy(labels.astype(np.int64, copy=False)).to(device)
        return cls(images=images, labels=label_t)

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def num_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass
class Batch:
    """One (rank's part of a) batch, ready for the model."""

    x: Tensor  # float32, normalised, (B, C, H, W); channels_last memory format if asked
    y: Tensor  # int64 labels used for training
    index: Tensor  # int64 rows of the split, for per-sample statistics


@dataclass(frozen=True)
class _EpochPlan:
    """An epoch's draws: split rows in visiting order and per-position augment params."""

    epoch: int
    order: Tensor  # int64 (n,) split rows
    params: AugmentParams | None


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit generator seed that depends only on (seed, epoch). A hash rather than
    seed + epoch so that runs with neighbouring seeds do not share shifted streams."""
    digest = hashlib.blake2b(f"unlearn-loader/{seed}/{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def _as_device_tensor(values: ArrayLike, name: str, device: torch.device) -> Tensor:
    if isinstance(values, np.ndarray):
        values = torch.from_numpy(np.ascontiguousarray(values))
    if not isinstance(values, Tensor):
        raise ValueError(f"{name} must be a tensor or numpy array, got {type(values).__name__}")
    if values.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(values.shape)}")
    return values.to(device)


def _is_integer(t: Tensor) -> bool:
    return not t.dtype.is_floating_point and not t.dtype.is_complex and t.dtype != torch.bool


class BatchLoader:
    """Batches of a `DeviceSplit` (or a subset of its rows), built entirely on its device.

    `indices` selects rows (an integer list in visiting order for unshuffled iteration,
    or a bool mask of length N); `labels` overrides the training label per split row;
    `poisoned` (bool per split row) marks rows that get `trigger`. With world_size W,
    rank r receives the r-th contiguous W-th of every global batch.
    """

    def __init__(
        self,
        split: DeviceSplit,
        *,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        indices: ArrayLike | None = None,
        labels: ArrayLike | None = None,
        poisoned: ArrayLike | None = None,
        trigger: Trigger | None = None,
        augment: AugmentSpec | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
    ) -> None:
        self.split = split
        self.device = split.device
        self.batch_size = batch_size
        self.augment = None if augment is not None and augment.is_identity else augment
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.channels_last = channels_last
        self._check_batching()
        self.rows = self._resolve_indices(indices)
        self.labels = self._resolve_labels(labels)
        self.poisoned, self.trigger = self._resolve_poison(poisoned, trigger)
        self.mean, self.std = self._resolve_stats(mean, std)
        self._plan: _EpochPlan | None = None  # cache of the latest epoch's draws
        if world_size > 1 and not drop_last and len(self.rows) % batch_size:
            logger.warning(
                "the last batch of %d rows is split unevenly over %d ranks; "
                "use drop_last for DDP training",
                len(self.rows) % batch_size,
                world_size,
            )

    # ---- validation (all at construction, before any long work starts) -------------

    def _check_batching(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ValueError(f"batch size {self.batch_size!r} is not an integer")
        if self.batch_size < 1:
            raise ValueError(f"batch size {self.batch_size} is not positive")
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not valid for world size {self.world_size}")
        if self.batch_size % self.world_size:
            raise InputError(
                f"batch size {self.batch_size} does not divide by the world size "
                f"{self.world_size}",
                hint=f"use a batch size that is a multiple of {self.world_size}",
            )

    def _resolve_indices(self, indices: ArrayLike | None) -> Tensor:
        n = len(self.split)
        if indices is None:
            return torch.arange(n, device=self.device)
        rows = _as_device_tensor(indices, "indices", self.device)
        if rows.dtype == torch.bool:
            if rows.shape[0] != n:
                raise ValueError(f"indices mask has {rows.shape[0]} entries but the split has {n} rows")
            rows = rows.nonzero().flatten()
        elif not _is_integer(rows):
            raise ValueError(f"indices must be integers or a bool mask, got {rows.dtype}")
        rows = rows.to(torch.int64)
        if rows.numel() == 0:
            raise ValueError("indices select no rows of the split")
        low, high = int(rows.min()), int(rows.max())
        if low < 0 or high >= n:
            bad = low if low < 0 else high
            raise ValueError(f"index {bad} is outside the split of {n} rows")
        if torch.unique(rows).numel() != rows.numel():
            raise ValueError("indices contain duplicate rows")
        return rows

    def _resolve_labels(self, labels: ArrayLike | None) -> Tensor:
        if labels is None:
            return self.split.labels
        override = _as_device_tensor(labels, "labels", self.device)
        if not _is_integer(override):
            raise ValueError(f"label override must be integers, got {override.dtype}")
        if override.shape[0] != len(self.split):
            raise ValueError(
                f"label override has {override.shape[0]} entries but the split has "
                f"{len(self.split)} rows"
            )
        if override.numel() and int(override.min()) < 0:
            raise ValueError(f"label override contains the negative label {int(override.min())}")
        return override.to(torch.int64)

    def _resolve_poison(
        self, poisoned: ArrayLike | None, trigger: Trigger | None
    ) -> tuple[Tensor | None, Trigger | None]:
        if poisoned is None:
            return None, trigger
        mask = _as_device_tensor(poisoned, "poisoned", self.device)
        if mask.dtype != torch.bool:
            raise ValueError(f"poisoned must be a bool mask, got {mask.dtype}")
        if mask.shape[0] != len(self.split):
            raise ValueError(
                f"poisoned mask has {mask.shape[0]} entries but the split has "
                f"{len(self.split)} rows"
            )
        if trigger is None:
            # Silently guessing a trigger would train on a different manipulation than the
            # manifest describes.
            raise ValueError("poisoned rows were given without a trigger")
        h, w = self.split.image_hw
        if trigger.patch_size > min(h, w):
            raise InputError(
                f"trigger patch size {trigger.patch_size} does not fit {h}×{w} images",
                hint=f"use a patch size between 1 and {min(h, w)}",
            )
        return mask, trigger

    def _resolve_stats(self, mean: Sequence[float], std: Sequence[float]) -> tuple[Tensor, Tensor]:
        c = self.split.num_channels
        stats = []
        for name, values in (("mean", mean), ("std", std)):
            t = torch.as_tensor(values, dtype=torch.float32).flatten()
            if t.numel() != c:
                raise InputError(
                    f"normalisation {name} has {t.numel()} values but the images have "
                    f"{c} channels",
                    hint="give one value per channel (from the dataset manifest)",
                )
            if not torch.isfinite(t).all():
                raise InputError(f"normalisation {name} {t.tolist()} is not finite")
            stats.append(t.to(self.device))
        if (stats[1] <= 0).any():
            raise InputError(
                f"normalisation std {stats[1].tolist()} has a value ≤ 0",
                hint="std must be positive in every channel",
            )
        return stats[0], stats[1]

    # ---- iteration -----------------------------------------------------------------

    @property
    def num_rows(self) -> int:
        """Rows visited per epoch (before drop_last)."""
        return int(self.rows.shape[0])

    def __len__(self) -> int:
        """Global batches per epoch; every rank yields this many."""
        if self.drop_last:
            return self.num_rows // self.batch_size
        return math.ceil(self.num_rows / self.batch_size)

    def steps_in(self, epoch: int) -> int:
        """Batches of epoch `epoch`: the same for every epoch."""
        return len(self)

    def epoch(self, epoch: int) -> Iterator[Batch]:
        """The batches of `epoch`, a pure function of (seed, epoch)."""
        plan = self._plan_for(epoch)
        for step in range(len(self)):
            yield self._build(plan, step)

    def batch_at(self, epoch: int, step_in_epoch: int) -> Batch:
        """Batch `step_in_epoch` of `epoch`, identical to the one `epoch(epoch)` yields.
        Cheap for resuming mid-epoch: it redraws one permutation (cached per epoch), not
        the batches before it."""
        if not 0 <= step_in_epoch < len(self):
            raise ValueError(f"step {step_in_epoch} is outside the epoch of {len(self)} batches")
        return self._build(self._plan_for(epoch), step_in_epoch)

    def _plan_for(self, epoch: int) -> _EpochPlan:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch {epoch!r} is not a non-negative integer")
        if self._plan is not None and self._plan.epoch == epoch:
            return self._plan
        n = self.num_rows
        order, params = self.rows, None
        if self.shuffle or self.augment is not None:
            # A fresh generator per epoch: the draws never depend on earlier epochs.
            g = torch.Generator(device=self.device)
            g.manual_seed(epoch_seed(self.seed, epoch))
            if self.shuffle:
                order = self.rows[torch.randperm(n, generator=g, device=self.device)]
            if self.augment is not None:
                # One draw per position of the epoch, so each global batch (and each rank's
                # slice of it) simply takes its share.
                params = sample_augment_params(n, self.augment, g, self.device)
        self._plan = _EpochPlan(epoch=epoch, order=order, params=params)
        return self._plan

    def _rank_bounds(self, step: int) -> tuple[int, int]:
        start = step * self.batch_size
        size = min(self.batch_size, self.num_rows - start)
        # Exact r·B/W slices for full batches; a partial last batch splits as evenly as
        # integers allow, so the ranks' parts still concatenate to the global batch.
        lo = start + self.rank * size // self.world_size
        hi = start + (self.rank + 1) * size // self.world_size
        return lo, hi

    def _build(self, plan: _EpochPlan, step: int) -> Batch:
        lo, hi = self._rank_bounds(step)
        rows = plan.order[lo:hi]
        x = self.split.images.index_select(0, rows).to(torch.float32)
        if plan.params is not None and self.augment is not None:
            x = augment_batch(x, self.augment, plan.params.slice(lo, hi))
        if self.poisoned is not None and self.trigger is not None:
            x = apply_trigger(
                x, self.poisoned[rows], self.trigger.patch_size, float(self.trigger.value)
            )
        x = normalize(x, self.mean, self.std)
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        x = x.contiguous(memory_format=memory_format)
        return Batch(x=x, y=self.labels[rows], index=rows)
