"""`unlearn demo`: wiring only; the work is in `unlearn_cli.steps.demo`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich import box
from rich.table import Table

from unlearn_cli.cli.options import DeviceOption, ForceOption
from unlearn_cli.cli.output import emit_path, stderr


def demo(
    workspace_path: Annotated[Optional[Path], typer.Option(
        "--workspace", "-w", help="Folder to write the demo into (default: ./demo).")] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Unlearning seeds per method and forget set.")] = 3,
    audit: Annotated[bool, typer.Option(
        "--audit", help="Also audit retrain, finetune and natmu on the random set (8 models a side, "
        "`unlearn audit`): their table, ROC plots under audits/, and a row each in the report.")] = False,
    audit_models: Annotated[int, typer.Option(
        "--audit-models", min=5, help="With --audit: models a side (default 8; below 8 the ε score has no F_null).")] = 8,
    jobs: Annotated[Optional[int], typer.Option(
        "--jobs", "-j", help="With --audit: models trained at once (default: one per GPU, or 1).")] = None,
    device: DeviceOption = None,
    force: ForceOption = False,
) -> None:
    """The whole pipeline on the embedded digits set: pretrain, two forget sets (random and hardest
    10 %), retrain and four methods over seeds, evaluation against retrain, and the report.

    Example: unlearn demo --audit

    Re-running reuses what exists; --force redoes every step.
    """
    from unlearn_cli.artifacts import Workspace
    from unlearn_cli.cli.report import summary_tables
    from unlearn_cli.steps.demo import DemoOptions, default_workspace, run_demo

    ws = Workspace.at(workspace_path if workspace_path is not None else default_workspace())
    started = time.perf_counter()

    def progress(line: str) -> None:
        stderr.print(f"[dim]{time.perf_counter() - started:6.1f}s[/] {line}", highlight=False, soft_wrap=True)

    result = run_demo(ws, DemoOptions(seeds=seeds, device=device, force=force, audit=audit, jobs=jobs,
                                               audit_models=audit_models), progress)
    for table in summary_tables(result.sections, stderr.width):
        stderr.print(table)
    if result.audits:
        stderr.print(ulira_table(result.audits))
        for row in result.audits:
            stderr.print(f"ROC of {row.label}: {ws.manifest_path('audit', row.audit).parent / 'roc.png'}",
                         highlight=False, markup=False, soft_wrap=True)
    stderr.print(f"Report: {result.folder} (summary.md, summary.parquet, plots); "
                 f"done in {time.perf_counter() - started:.0f} s", highlight=False, soft_wrap=True)
    emit_path(result.manifest_path)


def ulira_table(rows: list[Any]) -> Table:
    """The audits' U-LiRA numbers, one row per method, narrow enough for any terminal (the
    report's audit table, with ε and KLoM too, is in summary.md)."""
    from unlearn_cli.report.audits import format_value

    # No vertical rules: three "0.506 [0.502, 0.527]" columns then fit the 80 columns a
    # pipe or CI log gets.
    table = Table(title=f"U-LiRA on {rows[0].forget}, N = {rows[0].models} a side (0.5 = chance)",
                  header_style="bold", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("method")
    for header in ("balanced accuracy", "AUC", "TPR@1% FPR"):
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(row.method, *(format_value(row.values.get(key)) for key in
                                    ("ulira_balanced_accuracy", "ulira_auc", "ulira_tpr_at_1pct_fpr")))
    return table
