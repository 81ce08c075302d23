"""A rich progress bar on stderr, shown only on a terminal (and only on rank 0)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from unlearn_cli.console import stderr_console

_REFRESH_EVERY = 10  # steps; reading the loss costs a device sync


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress = progress
        self._task = task
        self._pending = 0

    def advance(self, loss: torch.Tensor) -> None:
        if self._progress is None:
            return
        self._pending += 1
        if self._pending >= _REFRESH_EVERY:
            self._progress.update(self._task, advance=self._pending, loss=float(loss.detach()))
            self._pending = 0

    def finish(self) -> None:
        if self._progress is not None and self._pending:
            self._progress.update(self._task, advance=self._pending)


@contextmanager
def progress_bar(description: str, *, total: int, completed: int = 0, enabled: bool = True) -> Iterator[_Bar]:
    console = stderr_console()
    if not (enabled and console.is_terminal):
        yield _Bar(None, None)
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
