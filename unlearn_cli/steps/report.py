"""The `report` step: many evaluation manifests in, one report out (README.md "Reports").

Writes `reports/<name>/` under the workspace — summary.md (per setting, mean ± std over
seeds, best marked, directions and notes), summary.parquet (the same numbers in long form
plus every run's values) and the PNG plots — and a `report` manifest whose parents are the
evaluations and whose files are those outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearn_cli.artifacts import Manifest, Workspace, atomic_write_bytes, check_name, name_or_default, save_table
from unlearn_cli.errors import ArtifactError, InputError
from unlearn_cli.report import (
    Section,
    long_table,
    plan_plots,
    read_record,
    report_markdown,
    save_plot,
    summarize,
    summary_rows,
)
from unlearn_cli.steps.options import ReportOptions

SUMMARY_MD = "summary.md"
SUMMARY_PARQUET = "summary.parquet"


@dataclass
class ReportResult:
    manifest_path: Path
    folder: Path
    sections: list[Section]
    markdown: str
    rows: list[dict[str, Any]]  # one per (setting, method, metric): the --format csv/json view


def report_folder(ws: Workspace, name: str) -> Path:
    return ws.root / "reports" / check_name(name)


def _input_refs(ws: Workspace, options: ReportOptions) -> list[str]:
    if options.every and options.evaluations:
        raise InputError("give evaluations as arguments (or on stdin) or --all, not both",
                         hint="--all already takes every evaluation in the workspace")
    if options.every:
        names = ws.names("evaluation")
        if not names:
            raise InputError(f"no evaluations found in workspace {ws.root}",
                             hint="run `unlearn evaluate` first, or point --workspace at the right folder")
        return names
    if not options.evaluations:
        raise InputError("no evaluations given",
                         hint="pass evaluation manifests as arguments, one per line on stdin "
                              "(ls manifests/evaluation/*.json | unlearn report -), or --all")
    return list(options.evaluations)


def _read_evaluation(ws: Workspace, ref: str) -> Manifest:
    path = ws.find("evaluation", ref)
    if path.suffix != ".json":
        raise InputError(f"{ref} is not an evaluation manifest",
                         hint="pass manifests/evaluation/<name>.json, or the evaluation's name")
    if not path.resolve().is_relative_to(ws.root):
        # Its files and parents are recorded relative to its own workspace, not this one.
        raise InputError(f"{ref} is outside workspace {ws.root}",
                         hint="pass --workspace <the folder that holds it>")
    return ws.read("evaluation", path)


def _read_evaluations(ws: Workspace, refs: list[str]) -> list[Manifest]:
    evaluations: dict[Path, Manifest] = {}
    for ref in refs:
        evaluation = _read_evaluation(ws, ref)
        # The same manifest named twice (a path and its name, or a repeated line) counts once.
        evaluations.setdefault(evaluation.source.resolve(), evaluation)
    return list(evaluations.values())


def _default_name(sections: list[Section]) -> str:
    return "+".join(sorted({section.setting.dataset for section in sections}))


def _previous_files(ws: Workspace, name: str, folder: Path) -> set[Path]:
    """The files an existing report of this name lists, to remove those a --force rerun no
    longer writes (only inside its own folder, whatever the old manifest says)."""
    try:
        old = ws.read("report", name, verify=False)
    except ArtifactError:
        return set()
    paths = {ws.abs(ref.path).resolve() for ref in old.files.values()}
    return {path for path in paths if path.parent == folder.resolve()}


@contextmanager
def _removing_empty(folder: Path) -> Iterator[None]:
    """On failure, also remove the report folder (and reports/) if nothing else is in them."""
    try:
        yield
    except BaseException:
        for path in (folder, folder.parent):
            try:
                path.rmdir()
            except OSError:
                break
        raise


def report(ws: Workspace, options: ReportOptions) -> ReportResult:
    evaluations = _read_evaluations(ws, _input_refs(ws, options))
    records = [read_record(ws, evaluation) for evaluation in evaluations]
    sections = summarize(records)
    name = name_or_default(options.name, _default_name(sections))
    ws.check_new("report", name, options.force)

    folder = report_folder(ws, name)
    plots = plan_plots(sections)
    section_plots: dict[int, list[str]] = {}
    for plot in plots:
        if plot.section is not None:
            section_plots.setdefault(plot.section, []).append(plot.filename)
    markdown = report_markdown(name, sections, section_plots,
                               [plot.filename for plot in plots if plot.section is None])
    paths = {SUMMARY_MD: folder / SUMMARY_MD, SUMMARY_PARQUET: folder / SUMMARY_PARQUET,
             **{plot.filename: folder / plot.filename for plot in plots}}
    stale = _previous_files(ws, name, folder) if options.force else set()

    with _removing_empty(folder), ws.replacing("report", name, paths.values()):
        atomic_write_bytes(paths[SUMMARY_MD], markdown.encode())
        save_table(paths[SUMMARY_PARQUET], long_table(sections))
        for plot in plots:
            save_plot(plot, paths[plot.filename])
        labels = sorted({row.label for section in sections for row in section.rows})
        manifest = Manifest(
            kind="report", name=name,
            parents={evaluation.name: ws.parent_ref(evaluation) for evaluation in evaluations},
            config={"evaluations": [evaluation.name for evaluation in evaluations],
                    "folder": ws.rel(folder),
                    "settings": [section.setting.label for section in sections],
                    "methods": labels},
            files={role: ws.file_ref(path) for role, path in paths.items()},
            summary={"settings": len(sections), "methods": len(labels), "runs": len(records),
                     "plots": len(plots)},
        )
        manifest_path = ws.write(manifest)
    for path in stale - {path.resolve() for path in paths.values()}:
        path.unlink(missing_ok=True)
    return ReportResult(manifest_path, folder, sections, markdown, summary_rows(sections))
