"""Training progress on stderr (rank 0 only; stdout stays clean for pipes).

On a terminal: a rich bar that disappears when done. Elsewhere (CI logs, `nohup`, cluster
jobs, a pipe): one plain line per epoch, so a long run shows it is alive and how fast it goes:

    pretrain digits-cnn-s0: epoch 3 step 66/220 loss 0.4123 lr 0.05 images/s 1234.5 elapsed 12.3s
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from unlearn_cli.console import stderr_console

_REFRESH_EVERY = 10  # steps; reading the loss costs a device sync


class ProgressReport:
    """What the loop reports: every step (`advance`) and every epoch's end (`epoch_end`)."""

    def advance(self, loss: torch.Tensor) -> None:
        pass

    def epoch_end(self, *, epoch: int, step: int, loss: torch.Tensor, lr: float | None, images: int) -> None:
        """`loss`: the epoch's mean batch loss, a tensor on the device (read only if shown)."""

    def finish(self) -> None:
        pass


class _Bar(ProgressReport):
    def __init__(self, progress: Progress, task: int) -> None:
        self._progress = progress
        self._task = task
        self._pending = 0

    def advance(self, loss: torch.Tensor) -> None:
        self._pending += 1
        if self._pending >= _REFRESH_EVERY:
            self._progress.update(self._task, advance=self._pending, loss=float(loss.detach()))
            self._pending = 0

    def finish(self) -> None:
        if self._pending:
            self._progress.update(self._task, advance=self._pending)


class PlainLog(ProgressReport):
    """One line per epoch on `stream` (default: the current sys.stderr, looked up when writing,
    so redirections made after the run started are honoured)."""

    def __init__(self, description: str, *, total: int, stream: TextIO | None = None) -> None:
        self._description = description
        self._total = total
        self._stream = stream
        self._started = time.perf_counter()
        self._epoch_started = self._started

    def epoch_end(self, *, epoch: int, step: int, loss: torch.Tensor, lr: float | None, images: int) -> None:
        now = time.perf_counter()
        seconds = now - self._epoch_started
        self._epoch_started = now
        rate = images / seconds if seconds > 0 else float("nan")
        lr_text = "-" if lr is None else f"{lr:.4g}"
        line = (f"{self._description}: epoch {epoch} step {step}/{self._total} loss {float(loss):.4f} "
                f"lr {lr_text} images/s {rate:.1f} elapsed {now - self._started:.1f}s\n")
        stream = self._stream or sys.stderr
        stream.write(line)
        stream.flush()


@contextmanager
def progress_bar(description: str, *, total: int, completed: int = 0, enabled: bool = True) -> Iterator[ProgressReport]:
    """A rich bar when stderr is a terminal, plain per-epoch lines when it is not, nothing
    when not `enabled` (DDP ranks other than 0)."""
    if not enabled:
        yield ProgressReport()
        return
    console = stderr_console()
    if not console.is_terminal:
        log = PlainLog(description, total=total)
        yield log
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(),
        console=console, transient=True,
    )
    with progress:
        task = progress.add_task(description, total=total, completed=completed, loss=float("nan"))
        bar = _Bar(progress, task)
        yield bar
        bar.finish()
