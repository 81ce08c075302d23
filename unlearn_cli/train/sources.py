"""Batch sources beside `BatchLoader` for methods that draw from more than one subset.

The loop's contract (see `loop.train`): `epoch(e)` yields the batches of epoch `e` as a pure
function of `e`, so a run resumed from an epoch checkpoint replays exactly what an uninterrupted
run would have seen. `steps_in(e)` says how many batches epoch `e` holds (it may vary by epoch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from unlearn_cli.data.loader import Batch, BatchLoader


class Single:
    """A plain loader as a source with `steps_in` (every epoch the same length)."""

    def __init__(self, loader: BatchLoader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def steps_in(self, epoch: int) -> int:
        return len(self.loader)

    def epoch(self, epoch: int) -> Iterator[Batch]:
        return self.loader.epoch(epoch)


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

    def total_steps(self, epochs: int) -> int:
        return sum(self.steps_in(e) for e in range(epochs))

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


def steps_per_epoch(source: Any, epoch: int = 0) -> int:
    steps_in = getattr(source, "steps_in", None)
    return steps_in(epoch) if callable(steps_in) else len(source)
