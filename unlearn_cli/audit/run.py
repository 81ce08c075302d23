"""`unlearn audit` end to end: plan the models (design.py), run what is missing through the
sweep engine (`run_sweep`: the same executors, resume and reuse as `unlearn sweep`), read the
queries, run the attacks and write `audits/<name>/`.

    audits/<name>/manifest.json       settings, design, seeds, N, δ, the method's config;
                                      parents: every query (and F, M0) with its sha256
    audits/<name>/phi.parquet         role, model, row, flip, in_train, in_forget, phi
    audits/<name>/per_example.parquet one row per forget row: counts, Gaussians, scores, ε, KLoM
    audits/<name>/summary.json        one object per attack, intervals as `<key>_ci`
    audits/<name>/*.png               ε histogram, ROC, φ densities
    audits/<name>/forget-rows.npy     F's rows, imported on every other original

A finished audit re-run plans the same nodes, finds them all done and recomputes only the
statistics. The node logs go to sweeps/audit-<name>/logs/, as a sweep's.
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unlearn_cli.artifacts import Manifest, Workspace, atomic_write_bytes, name_or_default, naming, save_table
from unlearn_cli.audit.design import AuditPlan, AuditSettings, copies_changed, fixed_plan, halves_plan, redo
from unlearn_cli.audit.queries import read_queries, read_shadow_queries
from unlearn_cli.errors import ArtifactError, InputError, TrainingError
from unlearn_cli.sweep.run import Events, PlannedSweep, SweepOptions, SweepResult, run_sweep
from unlearn_cli.sweep.status import DONE, plan_status

if TYPE_CHECKING:  # the attacks (scipy, sklearn, matplotlib) are imported where they run, not by --plan
    from unlearn_cli.audit.attacks import AttackResults

SUMMARY_JSON = "summary.json"
PHI_PARQUET = "phi.parquet"
PER_EXAMPLE_PARQUET = "per_example.parquet"


@dataclass(frozen=True)
class AuditOptions:
    settings: AuditSettings
    name: str | None = None
    force: bool = False
    executor: str = "local"
    jobs: int | None = None
    threads: int | None = None
    device: str | None = None
    resamples: int = 1000  # bootstrap resamples of every interval


@dataclass
class AuditResult:
    manifest_path: Path
    folder: Path
    summary: dict[str, Any]
    warnings: list[str]
    sweep: SweepResult | None
    statistics_seconds: float
    notes: list[str] = field(default_factory=list)


def default_name(settings: AuditSettings) -> str:
    """<forget set>-<method>[-<preset>][-<param><value>…][-<options>]-n<N>[-single]."""
    from unlearn_cli.steps.options import UnlearnOptions

    choice = UnlearnOptions(method=settings.method, params=dict(settings.params), preset=settings.preset,
                            generic=settings.generic).resolve()
    if settings.design == "halves":
        from unlearn_cli.audit.halves import tag

        assert settings.model is not None and settings.pool is not None
        base = f"{settings.model}-{tag(settings.models, settings.pool, settings.seed)}"
    else:
        base = str(settings.forget)
    parts = [base, choice.spec.name, *([settings.preset] if settings.preset else []),
             *naming.changed_params(choice.params, choice.baseline), *settings.generic.name_tags(),
             f"n{settings.models}", *(["single"] if settings.single_original else [])]
    return "-".join(parts)


def audit_folder(ws: Workspace, name: str) -> Path:
    return ws.manifest_path("audit", name).parent


def plan_audit(ws: Workspace, options: AuditOptions) -> tuple[str, AuditPlan, PlannedSweep]:
    """The audit's name, its models and where each stands: nothing is written."""
    settings = options.settings
    settings.validate()
    name = name_or_default(options.name, default_name(settings))
    _check_existing(ws, name, settings, options.force)
    make = halves_plan if settings.design == "halves" else fixed_plan
    audit = make(ws, settings, name, device=options.device)
    audit.plan.name = f"audit-{name}"  # its logs: sweeps/audit-<name>/logs/
    status = plan_status(ws, audit.plan)
    status = redo(audit.plan, status, copies_changed(ws, audit, status))
    return name, audit, PlannedSweep(audit.plan, status, False)


def _check_existing(ws: Workspace, name: str, settings: AuditSettings, force: bool) -> None:
    """An audit of this name made with other settings is refused, naming the first that
    differs (its statistics would silently describe other models)."""
    if force or not ws.exists("audit", name):
        return
    try:
        old = ws.read("audit", name, verify=False).config.get("settings", {})
    except ArtifactError:
        return  # a damaged audit is simply made again
    new = settings.to_config()
    for key in new:
        if old.get(key) != new[key]:
            raise InputError(f"audit '{name}' exists with another {key} ({old.get(key)!r}, now {new[key]!r})",
                             hint="pass --force to replace it, or choose another --name")


def run_audit(ws: Workspace, options: AuditOptions, events: Events | None = None,
              planned: tuple[str, AuditPlan, PlannedSweep] | None = None) -> AuditResult:
    name, audit, sweep = planned or plan_audit(ws, options)
    folder = audit_folder(ws, name)
    ws.check_writable()
    if audit.halves_files is not None:
        audit.halves_files.write(audit.rows, audit.masks)  # left as they are when equal
    elif any(sweep.status[node.id] != DONE for node in audit.plan.nodes.values() if node.step == "forget"):
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, audit.rows)
        atomic_write_bytes(audit.index_file, buffer.getvalue())
    result = None
    if any(state != DONE for state in sweep.status.values()):
        result = run_sweep(ws, SweepOptions(grid=audit.plan.grid, executor=options.executor, jobs=options.jobs,
                                            threads=options.threads, device=options.device), events, planned=sweep)
        if result.failures:
            first = result.failures[0]
            raise TrainingError(f"{len(result.failures)} of the audit's steps failed, first {first.node}: {first.error}",
                               hint=f"{first.hint + '; ' if first.hint else ''}log: {first.log}; "
                               "a re-run continues where this one stopped")
    from unlearn_cli.audit.attacks import run_attacks, run_halves_attacks

    started = time.perf_counter()
    if audit.membership is not None:
        side, labels = read_shadow_queries(ws, audit.query_names("unlearned"), audit.rows)
        attacks = run_halves_attacks(side, audit.rows, labels, audit.membership, seed=audit.settings.seed,
                                     resamples=options.resamples)
        path = _write(ws, name, folder, audit, None, attacks, shadows=side)
        return AuditResult(path, folder, attacks.summary, attacks.warnings, result,
                           time.perf_counter() - started, audit.notes)
    queries = read_queries(ws, audit.query_names("unlearned"), audit.query_names("retrained"),
                           audit.rows, audit.retain, audit.test)
    attacks = run_attacks(queries, audit.settings.chosen_attacks(), seed=audit.settings.seed,
                          paired=not audit.settings.single_original, resamples=options.resamples)
    path = _write(ws, name, folder, audit, queries, attacks)
    return AuditResult(path, folder, attacks.summary, attacks.warnings, result, time.perf_counter() - started,
                       audit.notes)


def _clean(value: Any) -> Any:
    """JSON without NaN or infinities (null instead): summary.json is read by other tools."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _write(ws: Workspace, name: str, folder: Path, audit: AuditPlan, queries, attacks: AttackResults,
           shadows: Any = None) -> Path:
    from unlearn_cli.audit import plots
    from unlearn_cli.audit.epsilon import DELTA

    ws.check_new("audit", name, force=True)  # same settings (checked) or --force
    halves = audit.forget is None
    title = (f"{audit.settings.method}, halves: K = {audit.settings.models}, {audit.rows.size} pool rows" if halves
             else f"{audit.settings.method} on {audit.forget.name}, N = {audit.settings.models}")
    paths = {"summary": folder / SUMMARY_JSON, "phi": folder / PHI_PARQUET,
             "per_example": folder / PER_EXAMPLE_PARQUET}
    if attacks.epsilons is not None:
        paths["epsilon_histogram"] = folder / plots.EPSILON_HISTOGRAM
    if attacks.ulira is not None:
        paths["roc"] = folder / plots.ROC
        paths["phi_densities"] = folder / plots.PHI_DENSITIES
    summary = _clean(attacks.summary)
    folder.mkdir(parents=True, exist_ok=True)
    with ws.replacing("audit", name, paths.values()):
        atomic_write_bytes(paths["summary"], (json.dumps(summary, indent=2) + "\n").encode())
        save_table(paths["phi"], attacks.phi)
        save_table(paths["per_example"], attacks.per_example)
        if attacks.epsilons is not None:
            plots.epsilon_histogram(attacks.epsilons, paths["epsilon_histogram"], title)
        if attacks.ulira is not None:
            plots.roc(attacks.ulira, paths["roc"], title)
            plots.phi_densities(attacks.ulira, attacks.phi_in, attacks.phi_out, audit.rows, paths["phi_densities"])
        files = {role: ws.file_ref(path) for role, path in paths.items()}
        if halves:
            return _write_halves(ws, name, audit, shadows, summary, files)
        if audit.index_file.exists():
            files["forget_rows"] = ws.file_ref(audit.index_file)
        parents = {"forget": ws.parent_ref(audit.forget), "template": ws.parent_ref(audit.template)}
        for side in ("unlearned", "retrained"):
            for query in getattr(queries, side).manifests:
                parents[query.name] = ws.parent_ref(query)
        n = audit.settings.models
        config = {
            "settings": audit.settings.to_config(),
            "design": audit.settings.design,
            "models": n,
            "delta": DELTA,
            "method": audit.method_config,
            "forget": audit.forget.name,
            "template": audit.template.name,
            "dataset": audit.template.config.get("dataset"),
            "seeds": {"unlearned": audit.unlearned_seeds, "retrained": list(range(n)),
                      "originals": list(range(n)) if not audit.settings.single_original
                      else [audit.template.config.get("seed")]},
            "queries": {side: audit.query_names(side) for side in ("unlearned", "retrained")},
            "rows": int(audit.rows.size), "retain_rows": int(audit.retain.size), "test_rows": int(audit.test.size),
            "notes": audit.notes,
            "ulira_folds": "one per original (model k of both sides held out together)"
            if not audit.settings.single_original else "leave-one-out",
        }
        manifest = Manifest(kind="audit", name=name, parents=parents, config=config, files=files, summary=summary)
        return ws.write(manifest)


def _write_halves(ws: Workspace, name: str, audit: AuditPlan, shadows: Any, summary: dict[str, Any],
                  files: dict[str, Any]) -> Path:
    """The halves audit's manifest: the pool, the keep masks (files, with their sha256) and
    the shadows' seeds, so anyone can tell which shadow trained on which row."""
    hf = audit.halves_files
    files["pool"] = ws.file_ref(hf.pool)
    files["masks"] = ws.file_ref(hf.masks)
    parents = {"template": ws.parent_ref(audit.template)}
    for query in shadows.manifests:
        parents[query.name] = ws.parent_ref(query)
    k = audit.settings.models
    config = {
        "settings": audit.settings.to_config(),
        "design": "halves",
        "models": k,
        "pool": int(audit.rows.size),
        "method": audit.method_config,
        "forget": None,
        "template": audit.template.name,
        "dataset": audit.template.config.get("dataset"),
        "seeds": {"shadows": list(range(k)), "masks": audit.settings.seed, "pool": audit.settings.seed},
        "masks": "LiRA train.py keep masks: every train row kept by exactly K/2 shadows (masks.npy: K × train rows)",
        "membership": "IN: shadow k trained on the row, then unlearned it (F_k = pool ∩ D_k); OUT: never saw it",
        "queries": {"shadows": audit.query_names("unlearned")},
        "rows": int(audit.rows.size),
        "ulira_folds": "leave-one-out",
    }
    manifest = Manifest(kind="audit", name=name, parents=parents, config=config, files=files, summary=summary)
    return ws.write(manifest)
