"""`unlearn demo`: wiring only; the work is in `unlearn_cli.steps.demo`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from unlearn_cli.cli.options import DeviceOption, ForceOption
from unlearn_cli.cli.output import emit_path, stderr


def demo(
    workspace_path: Annotated[Optional[Path], typer.Option(
        "--workspace", "-w", help="Folder to write the demo into (default: ./demo).")] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Unlearning seeds per method and forget set.")] = 3,
    device: DeviceOption = None,
    force: ForceOption = False,
) -> None:
    """The whole pipeline on the embedded digits set: pretrain, two forget sets (random and hardest
    10 %), retrain and four methods over seeds, evaluation against retrain, and the report.

    Example: unlearn demo

    Re-running reuses what exists; --force redoes every step.
    """
    from unlearn_cli.artifacts import Workspace
    from unlearn_cli.cli.report import summary_tables
    from unlearn_cli.steps.demo import DemoOptions, default_workspace, run_demo

    ws = Workspace.at(workspace_path if workspace_path is not None else default_workspace())
    started = time.perf_counter()

    def progress(line: str) -> None:
        stderr.print(f"[dim]{time.perf_counter() - started:6.1f}s[/] {line}", highlight=False)

    result = run_demo(ws, DemoOptions(seeds=seeds, device=device, force=force), progress)
    for table in summary_tables(result.sections, stderr.width):
        stderr.print(table)
    stderr.print(f"Report: {result.folder} (summary.md, summary.parquet, plots); "
                 f"done in {time.perf_counter() - started:.0f} s", highlight=False)
    emit_path(result.manifest_path)
