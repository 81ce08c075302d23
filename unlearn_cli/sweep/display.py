"""The sweep's progress on stderr: bars per step kind on a terminal, plain lines elsewhere.

On a terminal (rich): one bar per kind of step (pretrain, forget, unlearn, …) with how many of
its nodes have finished and failed, and the nodes running now. Elsewhere (a log file, CI, a
cluster job): one line per finished node, so the log tells what happened in order:

    [ 12/40] ran     unlearned/digits-cnn-s0-per10-s0-finetune-s0  3.1 s
    [ 13/40] FAILED  unlearned/…-finetune-lr1e+06-s0  the loss is nan at step 3 … (log: sweeps/x/logs/…)
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from unlearn_cli.sweep.estimate import StepEstimate
from unlearn_cli.sweep.node import FAILED, SKIPPED, Outcome
from unlearn_cli.sweep.plan import LABELS, Node


class Display:
    def __init__(self, console: Console, nodes: list[Node]) -> None:
        self.console = console
        self.label = {node.id: node.label for node in nodes}
        self.total = len(nodes)
        self.count = 0
        self.running: dict[str, float] = {}
        self.live: Live | None = None
        self.progress: Progress | None = None
        self.tasks: dict[str, Any] = {}
        self.failed = {label: 0 for label in LABELS}

    def __enter__(self) -> Display:
        if self.console.is_terminal and self.total:
            self.progress = Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[failed]}"), TimeElapsedColumn(), console=self.console)
            for label in LABELS[:-1]:  # the report runs after the bars, with a line of its own
                count = sum(1 for value in self.label.values() if value == label)
                if count:
                    self.tasks[label] = self.progress.add_task(label, total=count, failed="")
            self.live = Live(self._renderable(), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            assert self.progress is not None
            self.live.update(self.progress)  # the bars stay; the line of running nodes goes
            self.live.__exit__(None, None, None)
            self.live = None

    def _renderable(self) -> Group:
        assert self.progress is not None
        now = time.monotonic()
        names = [f"{node_id} ({now - since:.0f} s)" for node_id, since in list(self.running.items())[:6]]
        more = len(self.running) - len(names)
        text = "running: " + (", ".join(names) + (f" and {more} more" if more > 0 else "") if names else "—")
        return Group(self.progress, Text(text, style="dim", overflow="ellipsis", no_wrap=True))

    def started(self, node: Node) -> None:
        self.running[node.id] = time.monotonic()
        if self.live is not None:
            self.live.update(self._renderable())

    def finished(self, outcome: Outcome) -> None:
        self.running.pop(outcome.node, None)
        self.count += 1
        label = self.label.get(outcome.node, "report")
        if outcome.status in (FAILED, SKIPPED):
            self.failed[label] += outcome.status == FAILED
        if self.progress is not None and label in self.tasks:
            failed = f"[red]{self.failed[label]} failed[/]" if self.failed[label] else ""
            self.progress.update(self.tasks[label], advance=1, failed=failed)
        if self.live is not None:
            self.live.update(self._renderable())
            if outcome.status == FAILED:
                self.console.print(f"[red]FAILED[/] {escape(outcome.node)}: {escape(outcome.error or '')}",
                                   highlight=False, soft_wrap=True)
            return
        self.console.print(line(outcome, self.count, self.total), highlight=False, markup=False, soft_wrap=True)


def line(outcome: Outcome, index: int, total: int) -> str:
    width = len(str(total))
    text = f"[{index:>{width}}/{total}] {outcome.status.upper() if outcome.status == FAILED else outcome.status:<7} {outcome.node}"
    if outcome.status in ("ran", "exists"):
        return f"{text}  {outcome.seconds:.1f} s"
    detail = outcome.error or ""
    if outcome.log:
        detail += f" (log: {outcome.log})"
    return f"{text}  {detail}"


def plan_table(title: str, counts: dict[str, dict[str, int]],
               estimates: dict[str, StepEstimate] | None = None) -> str:
    """`--plan`'s table: per step kind its nodes, how many are done and to run, and (given
    estimates) the optimiser steps and the seconds that similar finished runs took."""
    estimates = estimates or {}
    lines = [title, f"{'step':<10}{'nodes':>8}{'done':>8}{'to run':>8}" + ("   estimate" if estimates else "")]
    for label, row in counts.items():
        line = f"{label:<10}{row['nodes']:>8}{row['done']:>8}{row['to run']:>8}"
        if label in estimates:
            line += "   " + describe_estimate(estimates[label])
        lines.append(line)
    total = {key: sum(row[key] for row in counts.values()) for key in ("nodes", "done", "to run")}
    line = f"{'total':<10}{total['nodes']:>8}{total['done']:>8}{total['to run']:>8}"
    timed = sum(estimate.seconds for estimate in estimates.values())
    if timed:
        line += f"   ≥ {_duration(timed)} (what similar runs took)"
    lines.append(line)
    return "\n".join(lines)


def describe_estimate(estimate: StepEstimate) -> str:
    parts = []
    if estimate.steps is not None:
        parts.append(f"{estimate.steps:,} steps")
    if estimate.timed:
        parts.append(f"~{_duration(estimate.seconds)} for {estimate.timed} of {estimate.nodes}")
    else:
        parts.append("no similar run to time it by")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
