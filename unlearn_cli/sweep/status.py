"""Where a planned sweep stands: each node's artifact missing (TODO), valid (DONE) or to be made
again (REDO), and the sources a dataset to prepare still needs."""

from __future__ import annotations

from pathlib import Path

from unlearn_cli.artifacts import Workspace
from unlearn_cli.data.sources import DATASETS
from unlearn_cli.errors import ArtifactError, InputError
from unlearn_cli.sweep.plan import Node, Plan

DONE, TODO, REDO = "done", "todo", "redo"


def artifact_state(ws: Workspace, node: Node, expected_evaluations: set[str] | None = None) -> str:
    """DONE if the node's artifact exists and validates (a report: over exactly the expected
    evaluations), TODO if there is none, REDO if there is one that must be made again."""
    if not ws.exists(node.kind, node.name):
        return TODO
    try:
        manifest = ws.read(node.kind, node.name)
    except ArtifactError:
        return REDO
    if node.step == "report" and expected_evaluations is not None and set(manifest.parents) != expected_evaluations:
        return REDO
    return DONE


def plan_status(ws: Workspace, plan: Plan) -> dict[str, str]:
    """Each node's state; a node whose dependency is not done is not done either (its artifact,
    if any, will no longer match the parent made again)."""
    status: dict[str, str] = {}
    for node in plan.nodes.values():
        if node.step == "report":
            continue
        own = artifact_state(ws, node)
        if own == DONE and any(status[dep] != DONE for dep in node.deps):
            own = REDO
        status[node.id] = own
    report = plan.report
    if report is not None:
        # The report covers the evaluations that exist when it runs: those planned and done now.
        done = {plan.nodes[dep].name for dep in report.deps if status[dep] == DONE}
        own = artifact_state(ws, report, done)
        status[report.id] = DONE if own == DONE and len(done) == len(report.deps) else (TODO if own == TODO else REDO)
    return status


def check_sources(plan: Plan, status: dict[str, str]) -> None:
    """A dataset to prepare needs a source (or download = true) — said before any work."""
    for node in plan.nodes.values():
        if node.step != "prepare" or status[node.id] == DONE:
            continue
        options = node.options
        if DATASETS.get(options.dataset).embedded or options.download:
            continue
        if options.source is None:
            raise InputError(f"{plan.origin[node.id][0]}: dataset {options.dataset} is not prepared in this workspace "
                             "and the grid gives no source for it",
                             hint=f'add [data.{options.dataset}] with source = "<archive or folder>" (or download = '
                             f"true), or run unlearn prepare-data --dataset {options.dataset} first")
        if not Path(options.source).exists():
            raise InputError(f"{plan.origin[node.id][0]}: the source of {options.dataset} does not exist: {options.source}",
                             hint="fix [data.<dataset>] source (a relative path is relative to the grid file)")
