"""Batch sources beside `BatchLoader` for methods that draw from more than one subset.

The loop's contract (see `loop.train`): `epoch(e)` yields the batches of epoch `e` as a pure
function of `e`, so a run resumed from an epoch checkpoint replays exactly what an uninterrupted
run would have seen. `steps_in(e)` says how many batches epoch `e` holds (it may vary by epoch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from unlearn_cli.data.augment import AugmentParams, apply_trigger, normalize, sample_augment_params
from unlearn_cli.data.augment import augment as augment_batch
from unlearn_cli.data.loader import Batch, BatchLoader, epoch_seed
from unlearn_cli.errors import InputError


@dataclass
class PairedBatch:
    primary: Batch
    secondary: Batch


class Paired:
    """Each batch of `primary` (e.g. D_r) with one batch of `secondary` (e.g. D_f).

    The secondary batch is the one at the same *global* step, cycled by index: global step g
    takes batch g mod S of the secondary's epoch g div S (S = its batches per epoch). So the
    forget batches cycle through complete, freshly shuffled epochs, and epoch e of the pair
    depends on e alone."""

    def __init__(self, primary: BatchLoader, secondary: BatchLoader) -> None:
        self.primary = primary
        self.secondary = secondary

    def __len__(self) -> int:
        return len(self.primary)

    def steps_in(self, epoch: int) -> int:
        return len(self.primary)

    def epoch(self, epoch: int) -> Iterator[PairedBatch]:
        per_epoch, cycle = len(self.primary), len(self.secondary)
        for i, batch in enumerate(self.primary.epoch(epoch)):
            g = epoch * per_epoch + i
            yield PairedBatch(batch, self.secondary.batch_at(g // cycle, g % cycle))


@dataclass
class PhaseBatch:
    phase: str
    batch: Batch
    epoch: int  # 0-based epoch of the run this batch belongs to


class Phased:
    """Named passes per epoch: `plan(e)` lists the (phase name, loader) passes of epoch `e`,
    run one after the other (SCRUB: a "max" pass over D_f while e < msteps, then a "min"
    pass over D_r). Each loader draws its own epoch `e`, so the source stays pure in `e`."""

    def __init__(self, plan: Callable[[int], Sequence[tuple[str, BatchLoader]]]) -> None:
        self.plan = plan

    def __len__(self) -> int:
        return self.steps_in(0)

    def steps_in(self, epoch: int) -> int:
        return sum(len(loader) for _, loader in self.plan(epoch))

    def epoch_of_step(self, step: int) -> int:
        """The 0-based epoch a global step falls in (for per-epoch schedules)."""
        epoch = 0
        while step >= self.steps_in(epoch):
            step -= self.steps_in(epoch)
            epoch += 1
        return epoch

    def epoch(self, epoch: int) -> Iterator[PhaseBatch]:
        for name, loader in self.plan(epoch):
            for batch in loader.epoch(epoch):
                yield PhaseBatch(name, batch, epoch)


class ExtraItems(Protocol):
    """Items a `Mixed` source adds beside a loader's rows: `pixels(ids)` builds items `ids`
    (int64, on the loader's device) as float pixels 0..255 (n, C, H, W), with their labels
    and the split row each is reported under."""

    def __len__(self) -> int: ...
    def pixels(self, ids: Tensor) -> tuple[Tensor, Tensor, Tensor]: ...


def loader_pixels(loader: BatchLoader, rows: Tensor, params: AugmentParams | None = None) -> Tensor:
    """Rows of the loader's split as `loader` shows them, before normalisation: float pixels
    0..255, augmented with `params` (if given and the loader augments), with the trigger on the
    loader's poisoned rows — the same pixel path as `BatchLoader`'s own batches."""
    x = loader.split.images.index_select(0, rows).to(torch.float32)
    if params is not None and loader.augment is not None:
        x = augment_batch(x, loader.augment, params)
    if loader.poisoned is not None and loader.trigger is not None:
        x = apply_trigger(x, loader.poisoned[rows], loader.trigger.patch_size, float(loader.trigger.value))
    return x


@dataclass(frozen=True)
class _MixedPlan:
    epoch: int
    rows: Tensor  # the loader's rows in order of appearance
    extra: Tensor  # extra item ids in order of appearance
    params: AugmentParams | None  # one augmentation draw per entry of `rows`
    row_ends: list[int]  # per batch: how many of `rows` the batches up to it hold
    extra_ends: list[int]


class Mixed:
    """A loader's rows (augmented as it says) ∪ `extra` items (never augmented), shuffled
    together every epoch, as a DataLoader over the concatenated datasets would (NatMU's
    ConcatDataset of D_r and the hybrids, shuffled): a batch holds whatever mixture the
    permutation puts in it, its loader rows first and then its extra items.

    Epoch e's permutation and augmentation draws come from a generator seeded by
    `epoch_seed(loader.seed, e)` alone, so the source is a pure function of e. The images of
    a batch are gathered, augmented, triggered and normalised on the device per batch; the
    extra items are built there too, so nothing the size of the data set is ever copied.
    Single process only (no rank slicing)."""

    def __init__(self, loader: BatchLoader, extra: ExtraItems) -> None:
        if loader.world_size != 1:
            raise InputError("a mixed source runs in a single process", hint="run without torchrun")
        self.loader = loader
        self.extra = extra
        self._plan: _MixedPlan | None = None

    @property
    def num_items(self) -> int:
        return self.loader.num_rows + len(self.extra)

    def __len__(self) -> int:
        size = self.loader.batch_size
        return self.num_items // size if self.loader.drop_last else math.ceil(self.num_items / size)

    def steps_in(self, epoch: int) -> int:
        return len(self)

    def _plan_for(self, epoch: int) -> _MixedPlan:
        if self._plan is not None and self._plan.epoch == epoch:
            return self._plan
        loader, device = self.loader, self.loader.device
        n_rows = loader.num_rows
        g = torch.Generator(device=device)
        g.manual_seed(epoch_seed(loader.seed, epoch))
        order = torch.randperm(self.num_items, generator=g, device=device)
        is_extra = order >= n_rows
        params = sample_augment_params(n_rows, loader.augment, g, device) if loader.augment is not None else None
        size, steps = loader.batch_size, len(self)
        ends = torch.tensor([min((b + 1) * size, self.num_items) for b in range(steps)], device=device)
        extra_ends = is_extra.cumsum(0)[ends - 1] if steps else ends
        extra_list = extra_ends.tolist()  # one sync per epoch, not per batch
        self._plan = _MixedPlan(epoch=epoch, rows=loader.rows[order[~is_extra]], extra=order[is_extra] - n_rows,
                                params=params, row_ends=[int(e) - x for e, x in zip(ends.tolist(), extra_list)],
                                extra_ends=extra_list)
        return self._plan

    def epoch(self, epoch: int) -> Iterator[Batch]:
        plan = self._plan_for(epoch)
        for b in range(len(self)):
            yield self._build(plan, b)

    def _build(self, plan: _MixedPlan, b: int) -> Batch:
        loader = self.loader
        r0, r1 = (plan.row_ends[b - 1] if b else 0), plan.row_ends[b]
        e0, e1 = (plan.extra_ends[b - 1] if b else 0), plan.extra_ends[b]
        rows = plan.rows[r0:r1]
        params = plan.params.slice(r0, r1) if plan.params is not None else None
        extra_x, extra_y, extra_index = self.extra.pixels(plan.extra[e0:e1])
        x = torch.cat([loader_pixels(loader, rows, params), extra_x])
        x = normalize(x, loader.mean, loader.std)
        memory_format = torch.channels_last if loader.channels_last else torch.contiguous_format
        return Batch(x=x.contiguous(memory_format=memory_format),
                     y=torch.cat([loader.labels[rows], extra_y]), index=torch.cat([rows, extra_index]))
