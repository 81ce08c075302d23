"""The `report` step: many evaluation (and audit) manifests in, one report out (README.md
"Reports").

Writes `reports/<name>/` under the workspace — summary.md (per setting, mean ± std over
seeds, best marked, directions and notes; then one row per audit, report/audits.py),
summary.parquet (the same numbers in long form plus every run's values) and the PNG plots
(with --curves, each run's training curves too) — and a `report` manifest whose parents are
the evaluations and audits and whose files are those outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from unlearn_cli.artifacts import (
    Manifest,
    Workspace,
    atomic_write_bytes,
    cached_sha256,
    check_name,
    load_table,
    name_or_default,
    parse_manifest,
    save_table,
)
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
from unlearn_cli.report.audits import AuditRow, audit_summary_rows, read_audit_row, sort_rows
from unlearn_cli.report.curves import plan_curve_plots
from unlearn_cli.report.runs import RunRecord
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
    audits: list[AuditRow] = field(default_factory=list)


def report_folder(ws: Workspace, name: str) -> Path:
    return ws.root / "reports" / check_name(name)


def _input_refs(ws: Workspace, options: ReportOptions) -> list[str]:
    if options.every and options.evaluations:
        raise InputError("give evaluations as arguments (or on stdin) or --all, not both",
                         hint="--all already takes every evaluation in the workspace")
    if options.every:
        # Names of both kinds; an evaluation's name is tried first, so say which one is meant
        # by its path where an audit shares a name with an evaluation.
        names = ws.names("evaluation") + [str(ws.manifest_path("audit", name)) for name in ws.names("audit")]
        if not names:
            raise InputError(f"no evaluations found in workspace {ws.root} (nor audits)",
                             hint="run `unlearn evaluate` or `unlearn audit` first, or point --workspace at the "
                             "right folder")
        return names
    if not options.evaluations:
        raise InputError("no evaluations given",
                         hint="pass evaluation manifests as arguments, one per line on stdin "
                              "(ls manifests/evaluation/*.json | unlearn report -), or --all")
    return list(options.evaluations)


def _kind_at(path: Path) -> str | None:
    """The kind a manifest file declares (None if it is no manifest): an audit given by its
    path is read as an audit, anything else as an evaluation (which names a wrong kind)."""
    try:
        return parse_manifest(path.read_text(), path).kind
    except (OSError, UnicodeDecodeError, ArtifactError):
        return None


def _is_name_of(ws: Workspace, kind: str, ref: str) -> bool:
    try:
        return ws.exists(kind, check_name(ref))
    except InputError:
        return False  # a path, not a name


def _read_input(ws: Workspace, ref: str) -> Manifest:
    """An evaluation or an audit manifest, by path or by name (an evaluation's name first)."""
    if _is_name_of(ws, "audit", ref) and not _is_name_of(ws, "evaluation", ref):
        return ws.read("audit", ref)
    path = ws.find("evaluation", ref)
    if path.suffix != ".json":
        raise InputError(f"{ref} is not an evaluation manifest",
                         hint="pass manifests/evaluation/<name>.json, or the evaluation's name")
    if not path.resolve().is_relative_to(ws.root):
        # Its files and parents are recorded relative to its own workspace, not this one.
        raise InputError(f"{ref} is outside workspace {ws.root}",
                         hint="pass --workspace <the folder that holds it>")
    return ws.read("audit" if _kind_at(path) == "audit" else "evaluation", path)


def _read_inputs(ws: Workspace, refs: list[str]) -> tuple[list[Manifest], list[Manifest]]:
    """(evaluations, audits), each manifest once."""
    manifests: dict[Path, Manifest] = {}
    for ref in refs:
        manifest = _read_input(ws, ref)
        # The same manifest named twice (a path and its name, or a repeated line) counts once.
        manifests.setdefault(manifest.source.resolve(), manifest)
    chosen = list(manifests.values())
    return [m for m in chosen if m.kind == "evaluation"], [m for m in chosen if m.kind == "audit"]


def _default_name(sections: list[Section], audits: list[AuditRow]) -> str:
    datasets = {section.setting.dataset for section in sections} | {row.dataset for row in audits if row.dataset}
    return "+".join(sorted(datasets)) or "audits"


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


def run_histories(ws: Workspace, records: list[RunRecord]) -> dict[str, pa.Table]:
    """Each run's training curves (by run name), checked against the sha256 its manifest
    recorded; runs made before curves were kept, or that do not train, have none."""
    tables: dict[str, pa.Table] = {}
    for record in records:
        ref = record.history
        if ref is None or record.run in tables:
            continue
        path = ws.abs(ref.path)
        if not path.is_file() or cached_sha256(path, ws.root) != ref.sha256:
            raise ArtifactError(f"run {record.run}: its training curves {path} are missing or changed since it was made",
                                hint="re-run it with --force, or report without --curves")
        tables[record.run] = load_table(path)
    return tables


def report(ws: Workspace, options: ReportOptions) -> ReportResult:
    evaluations, audit_manifests = _read_inputs(ws, _input_refs(ws, options))
    records = [read_record(ws, evaluation) for evaluation in evaluations]
    sections = summarize(records)
    audits = sort_rows([read_audit_row(audit) for audit in audit_manifests])
    name = name_or_default(options.name, _default_name(sections, audits))
    ws.check_new("report", name, options.force)

    folder = report_folder(ws, name)
    plots = plan_plots(sections)
    if options.curves:
        plots += plan_curve_plots(sections, run_histories(ws, records), {plot.filename for plot in plots})
    section_plots: dict[int, list[str]] = {}
    for plot in plots:
        if plot.section is not None:
            section_plots.setdefault(plot.section, []).append(plot.filename)
    markdown = report_markdown(name, sections, section_plots,
                               [plot.filename for plot in plots if plot.section is None], audits)
    paths = {SUMMARY_MD: folder / SUMMARY_MD, SUMMARY_PARQUET: folder / SUMMARY_PARQUET,
             **{plot.filename: folder / plot.filename for plot in plots}}
    stale = _previous_files(ws, name, folder) if options.force else set()

    with _removing_empty(folder), ws.replacing("report", name, paths.values()):
        atomic_write_bytes(paths[SUMMARY_MD], markdown.encode())
        save_table(paths[SUMMARY_PARQUET], long_table(sections, audits))
        for plot in plots:
            save_plot(plot, paths[plot.filename])
        labels = sorted({row.label for section in sections for row in section.rows})
        manifest = Manifest(
            kind="report", name=name,
            parents={**{evaluation.name: ws.parent_ref(evaluation) for evaluation in evaluations},
                     **{f"audit:{audit.name}": ws.parent_ref(audit) for audit in audit_manifests}},
            config={"evaluations": [evaluation.name for evaluation in evaluations],
                    **({"audits": [audit.name for audit in audit_manifests]} if audit_manifests else {}),
                    "folder": ws.rel(folder),
                    "settings": [section.setting.label for section in sections],
                    "methods": labels,
                    **({"curves": True} if options.curves else {})},
            files={role: ws.file_ref(path) for role, path in paths.items()},
            summary={"settings": len(sections), "methods": len(labels), "runs": len(records),
                     **({"audits": len(audits)} if audits else {}), "plots": len(plots)},
        )
        manifest_path = ws.write(manifest)
    for path in stale - {path.resolve() for path in paths.values()}:
        path.unlink(missing_ok=True)
    return ReportResult(manifest_path, folder, sections, markdown, summary_rows(sections) + audit_summary_rows(audits),
                        audits)
