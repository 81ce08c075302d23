"""`unlearn report`: wiring only; the work is in `unlearn_cli.steps.report`."""

from __future__ import annotations

import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from unlearn_cli.cli.options import ForceOption, WorkspaceOption, workspace
from unlearn_cli.cli.output import emit_json, emit_path, stderr

if TYPE_CHECKING:
    from unlearn_cli.report import Row, Section
    from unlearn_cli.report.audits import AuditRow


class SummaryFormat(str, Enum):
    md = "md"
    csv = "csv"
    json = "json"


def _stdin_lines() -> list[str]:
    return [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]


def input_refs(arguments: list[str], every: bool) -> list[str]:
    """Arguments as given, with '-' replaced by stdin's lines; with neither arguments nor
    --all, a pipe on stdin is read (`ls manifests/evaluation/*.json | unlearn report`)."""
    if "-" in arguments:
        lines = _stdin_lines()
        return [ref for argument in arguments for ref in (lines if argument == "-" else [argument])]
    if not arguments and not every and not sys.stdin.isatty():
        return _stdin_lines()
    return arguments


def _method_chunks(section: Section, width: int) -> list[list[Row]]:
    """Split the method columns so each table fits `width` characters; every chunk starts
    with retrain's column (when there is one) so each can be read on its own."""
    from unlearn_cli.report import format_cell
    from unlearn_cli.report.markdown import row_label

    def column_width(row: Row) -> int:
        texts = [row_label(section, row.label), *(format_cell(row.cells.get(m), m) for m in section.metrics)]
        return max(map(len, texts)) + 3  # padding and border

    fixed = max(len(m) for m in [*section.metrics, "metric"]) + 3 + len("≈ retrain") + 3 + 1
    retrain = section.retrain
    others = [row for row in section.rows if row is not retrain]
    lead = [retrain] if retrain is not None else []
    base = fixed + sum(column_width(row) for row in lead)
    chunks: list[list[Row]] = []
    current: list[Row] = []
    used = base
    for row in others:
        if current and used + column_width(row) > width:
            chunks.append(lead + current)
            current, used = [], base
        current.append(row)
        used += column_width(row)
    if current or not chunks:
        chunks.append(lead + current)
    return chunks


def summary_tables(sections: list[Section], width: int) -> list[Table]:
    """The terminal view: per setting, metrics down and methods across (a paper table with a
    dozen metric columns would not fit a terminal), split to fit `width`, best in bold."""
    from unlearn_cli.report import direction_of, format_cell
    from unlearn_cli.report.markdown import row_label

    tables = []
    for section in sections:
        chunks = _method_chunks(section, width)
        for number, rows in enumerate(chunks, start=1):
            title = section.setting.label + (f" ({number}/{len(chunks)})" if len(chunks) > 1 else "")
            table = Table(title=title, header_style="bold", title_justify="left")
            table.add_column("metric", no_wrap=True)
            table.add_column("better", style="dim", no_wrap=True)
            for row in rows:
                table.add_column(row_label(section, row.label), justify="right")
            table.add_row("n", "", *[str(len(row.runs)) for row in rows])
            for metric in section.metrics:
                cells = []
                for row in rows:
                    text = format_cell(row.cells.get(metric), metric)
                    best = text and row.label in section.best.get(metric, ())
                    cells.append(f"[bold]{text}[/]" if best else text)
                table.add_row(metric, direction_of(metric).arrow, *cells)
            tables.append(table)
    return tables


def audit_table(rows: list[AuditRow]) -> Table:
    """The terminal view of the audits: one row per audit, a statistic [its interval] per column."""
    from unlearn_cli.report.audits import HEADERS, table_cells

    table = Table(title="audits", header_style="bold", title_justify="left")
    for index, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if index < 4 else "right")
    for row in rows:
        table.add_row(row.audit, row.label, *table_cells(row))
    return table


def print_summary(console: Console, sections: list[Section], name: str, audits: list[AuditRow] | None = None) -> None:
    """A terminal gets the tables fitted to its width. Anything else — a file, a pipe, a CI
    log — has no width worth fitting (rich assumes 80 columns), so splitting a dozen methods
    into tables of two or three would only scatter them: it gets summary.md's tables, one per
    setting, without the plots' links. Audits follow, one table, one row each."""
    from unlearn_cli.report import report_markdown

    if console.is_terminal:
        for table in summary_tables(sections, console.width):
            console.print(table)
        if audits:
            console.print(audit_table(audits))
    else:
        console.print(report_markdown(name, sections, {}, [], audits), markup=False, highlight=False, emoji=False,
                      soft_wrap=True, end="")


def report(
    evaluations: Annotated[Optional[list[str]], typer.Argument(
        help="Evaluation or audit manifests (paths or names); '-' reads them from stdin, one per line.",
        show_default=False)] = None,
    every: Annotated[bool, typer.Option("--all", help="Every evaluation and audit in the workspace.")] = False,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="Report name: writes reports/<name>/ (default: the dataset names).")] = None,
    summary_format: Annotated[Optional[SummaryFormat], typer.Option(
        "--format", help="Print the summary on stdout in this format instead of the manifest path.")] = None,
    curves: Annotated[bool, typer.Option(
        "--curves", help="Also plot each run's training curves: one figure per setting, a panel per method, "
        "a line per seed (loss against optimiser steps).")] = False,
    force: ForceOption = False,
    workspace_path: WorkspaceOption = None,
) -> None:
    """Tables and plots over many evaluations: mean ± std over seeds per setting and method,
    retrain first, best marked; summary.md, summary.parquet and PNG plots in reports/<name>/.
    Audits (`unlearn audit`) get one row each: U-LiRA, F, F_null, final score and KLoM.

    Example: ls manifests/evaluation/*.json | unlearn report - --name digits

    With training curves: unlearn report --all --curves
    """
    from unlearn_cli.report import to_csv
    from unlearn_cli.steps.options import ReportOptions
    from unlearn_cli.steps.report import report as run_step

    refs = input_refs(list(evaluations or []), every)
    result = run_step(workspace(workspace_path), ReportOptions(
        evaluations=tuple(refs), every=every, name=name, force=force, curves=curves))
    stderr.print(f"[bold]report[/] {result.manifest_path.stem} → {result.folder}", highlight=False)
    print_summary(stderr, result.sections, result.manifest_path.stem, result.audits)
    if summary_format is SummaryFormat.md:
        sys.stdout.write(result.markdown)
        sys.stdout.flush()
    elif summary_format is SummaryFormat.csv:
        sys.stdout.write(to_csv(result.rows))
        sys.stdout.flush()
    elif summary_format is SummaryFormat.json:
        emit_json({"manifest": str(result.manifest_path), "summary": result.rows})
    else:
        emit_path(result.manifest_path)
