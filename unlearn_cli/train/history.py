"""A training run's curves: its loss, learning rate and accuracy per epoch and every N steps.

The loop records them as it goes and the step writes them beside the run's manifest as a
small Parquet table (role `history`), one row per record:

    scope   "epoch" (an epoch's mean) or "step" (one batch, every `every` steps)
    epoch   the epoch the record belongs to (1-based; an epoch row is written at its end)
    step    optimiser steps done when recorded
    loss    the batch loss, or the epoch's mean batch loss
    lr      the first parameter group's learning rate at that step
    accuracy  the share of the epoch's batch rows whose argmax is the label the objective
            trained with (a method training on random labels counts those), or null where
            the objective does not return logits and labels
    images  images the epoch saw (epoch rows; null on step rows)
    seconds training seconds since the run began, earlier (resumed) processes included

Reading losses costs a device sync on a GPU, so step losses stay on the device until the
epoch ends and are read then, once. Under DDP the records are rank 0's own batches.
The table travels in the run's checkpoint, so a resumed run keeps the curve it had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import torch

if TYPE_CHECKING:
    from unlearn_cli.train.loop import StepOutput

SCHEMA = pa.schema([
    ("scope", pa.string()),
    ("epoch", pa.int64()),
    ("step", pa.int64()),
    ("loss", pa.float64()),
    ("lr", pa.float64()),
    ("accuracy", pa.float64()),
    ("images", pa.int64()),
    ("seconds", pa.float64()),
])
SCOPES = ("epoch", "step")
DEFAULT_EVERY = 10  # steps between step records


@dataclass(frozen=True)
class Record:
    scope: str
    epoch: int
    step: int
    loss: float
    lr: float | None
    accuracy: float | None
    images: int | None
    seconds: float


def _nan_if_none(value: float | int | None) -> float:
    return math.nan if value is None else float(value)


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


class History:
    """Records of one run, in order. `on_step` and `epoch_end` are called by the loop."""

    def __init__(self, device: torch.device, every: int = DEFAULT_EVERY) -> None:
        if every < 1:
            raise ValueError("history records need every >= 1 step")
        self.every = every
        self.records: list[Record] = []
        self._device = device
        self._pending: list[tuple[int, float | None, float, torch.Tensor]] = []  # step, lr, seconds, loss
        self._correct = torch.zeros((), dtype=torch.int64, device=device)
        self._counted = torch.zeros((), dtype=torch.int64, device=device)
        self._scored = False

    def on_step(self, *, step: int, lr: float | None, seconds: float, output: StepOutput) -> None:
        """`step`: steps done including this one."""
        if step % self.every == 0:
            self._pending.append((step, lr, seconds, output.loss.detach().float().clone()))
        logits, labels = output.logits, output.labels
        if logits is not None and labels is not None and logits.dim() == 2 and labels.dim() == 1 \
                and labels.dtype in (torch.int64, torch.int32) and logits.shape[0] == labels.shape[0]:
            self._correct += (logits.detach().argmax(1) == labels).sum()
            self._counted += labels.shape[0]
            self._scored = True

    def epoch_end(self, *, epoch: int, step: int, loss: torch.Tensor, lr: float | None, images: int,
                  seconds: float) -> None:
        """`loss`: the epoch's mean batch loss (on the device). One read of the device."""
        losses = torch.stack([loss.float(), *(pending[3] for pending in self._pending)]).tolist()
        counts = torch.stack([self._correct, self._counted]).tolist() if self._scored else None
        for (at, at_lr, at_seconds, _), value in zip(self._pending, losses[1:]):
            self.records.append(Record("step", epoch, at, value, at_lr, None, None, at_seconds))
        accuracy = counts[0] / counts[1] if counts and counts[1] else None
        self.records.append(Record("epoch", epoch, step, losses[0], lr, accuracy, images, seconds))
        self._pending.clear()
        self._correct.zero_()
        self._counted.zero_()
        self._scored = False

    # ---- checkpoints: the records as one float64 tensor --------------------------------------

    def state(self) -> dict[str, torch.Tensor]:
        rows = [[float(SCOPES.index(r.scope)), r.epoch, r.step, r.loss, _nan_if_none(r.lr),
                 _nan_if_none(r.accuracy), _nan_if_none(r.images), r.seconds] for r in self.records]
        return {"records": torch.tensor(rows, dtype=torch.float64).reshape(len(rows), len(SCHEMA))}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        rows = state.get("records")
        if rows is None:  # a checkpoint written before runs kept curves
            self.records = []
            return
        self.records = []
        for scope, epoch, step, loss, lr, accuracy, images, seconds in rows.tolist():
            images_value = _none_if_nan(images)
            self.records.append(Record(SCOPES[int(scope)], int(epoch), int(step), loss, _none_if_nan(lr),
                                       _none_if_nan(accuracy), None if images_value is None else int(images_value),
                                       seconds))

    def table(self) -> pa.Table:
        columns = {field.name: [getattr(record, field.name) for record in self.records] for field in SCHEMA}
        columns["loss"] = [None if math.isnan(v) else v for v in columns["loss"]]
        return pa.table(columns, schema=SCHEMA)
