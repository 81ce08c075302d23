"""`unlearn audit`: wiring only; the work is in `unlearn_cli.audit`."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from unlearn_cli.cli.options import (
    DeviceOption,
    ForceOption,
    SeedOption,
    WorkspaceOption,
    with_generic_options,
    workspace,
)
from unlearn_cli.cli.output import emit_path, stderr
from unlearn_cli.train.options import GenericOptions


def _attacks(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(part.strip() for part in text.split(",") if part.strip())


@with_generic_options(after="preset")
def audit(
    method: Annotated[str, typer.Option("--method", help="The unlearning method audited (see `unlearn ls methods`).")],
    forget: Annotated[Optional[str], typer.Option("--forget", "-f", help="fixed: forget set F, made from the template model M0 (name or manifest path).")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="Method parameter key=value (repeatable).")] = None,
    preset: Annotated[Optional[str], typer.Option("--preset", help="Tuned settings of a seed paper (see `unlearn ls presets`).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The template model (fixed: default the one F was made from, must be it; halves: required).")] = None,
    design: Annotated[str, typer.Option("--design", help="fixed: N originals of M0, one forget set; halves: K shadows on seeded halves of the train set, U-LiRA only.")] = "fixed",
    pool: Annotated[Optional[int], typer.Option("--pool", help="halves: the audited train rows (class-balanced, seeded), e.g. 300.")] = None,
    models: Annotated[int, typer.Option("--models", "-n", help="N: unlearned and retrained models (at least 4; 16+ recommended).")] = 8,
    single_original: Annotated[bool, typer.Option("--single-original", help="Unlearn M0 itself N times (seeds 0…N−1), as the NeurIPS 2023 challenge.")] = False,
    attacks: Annotated[Optional[str], typer.Option("--attacks", help="Comma-separated: ulira, epsilon, klom (default: all the design supports).")] = None,
    retain_rows: Annotated[int, typer.Option("--retain-rows", help="KLoM's retain sample (fewer if D_r is smaller).")] = 500,
    test_rows: Annotated[int, typer.Option("--test-rows", help="KLoM's test sample (fewer if the test split is smaller).")] = 500,
    resamples: Annotated[int, typer.Option("--resamples", min=100, help="Bootstrap resamples of every 95 % interval.")] = 1000,
    seed: SeedOption = 0,
    name: Annotated[Optional[str], typer.Option("--name", help="Audit name: writes audits/<name>/ (default <F>-<method>[-…]-n<N>).")] = None,
    plan: Annotated[bool, typer.Option("--plan", help="Print the models it will make and how many exist; run nothing.")] = False,
    executor: Annotated[str, typer.Option("--executor", help="local | ray | slurm, as `unlearn sweep`.")] = "local",
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Local: models trained at once (default: one per GPU, or 1).")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads per model (default: cores / jobs).")] = None,
    device: DeviceOption = None,
    force: ForceOption = False,
    workspace_path: WorkspaceOption = None,
    generic: GenericOptions = GenericOptions(),
) -> None:
    """Per-example audit of a method: U-LiRA, the NeurIPS 2023 challenge's ε score and KLoM over N
    unlearned and N retrained models; writes audits/<name>/ and prints its manifest path.

    Example: unlearn audit --method finetune --forget digits-cnn-w0.25-s0-per10-s0 --models 8

    The models are sweep nodes: existing ones are reused (by any later audit of the same forget
    set), a killed audit re-run continues, and a finished one re-run recomputes only the
    statistics. docs/audits.md states every rule.
    """
    from unlearn_cli.audit.design import AuditSettings
    from unlearn_cli.audit.run import AuditOptions, plan_audit, run_audit
    from unlearn_cli.params import parse_assignments
    from unlearn_cli.sweep.display import Display

    settings = AuditSettings(method=method, forget=forget, params=parse_assignments(param or []), preset=preset,
                             generic=generic, design=design, models=models, single_original=single_original,
                             attacks=_attacks(attacks), retain_rows=retain_rows, test_rows=test_rows, seed=seed,
                             model=model, pool=pool)
    ws = workspace(workspace_path)
    options = AuditOptions(settings=settings, name=name, force=force, executor=executor, jobs=jobs,
                           threads=threads, device=device, resamples=resamples)
    planned = plan_audit(ws, options)
    if plan:
        _print_plan(ws, *planned)
        return
    _, _, sweep = planned
    todo = [node for node in sweep.plan.nodes.values() if sweep.status[node.id] != "done"]
    result = run_audit(ws, options, Display(stderr, todo), planned=planned)
    if result.sweep is not None:
        tally = result.sweep.tally()
        stderr.print(f"models: {tally['ran']} steps run now, {tally['already']} already there", highlight=False)
    for note in result.notes:
        stderr.print(f"note: {note}", highlight=False, markup=False)
    stderr.print(_table(result.manifest_path.parent.name, result.summary))
    for warning in result.warnings:
        stderr.print(f"[yellow]warning:[/] {warning}", highlight=False)
    stderr.print(f"statistics in {result.statistics_seconds:.1f} s; plots and tables in {result.folder}",
                 highlight=False, markup=False, soft_wrap=True)
    emit_path(result.manifest_path)


def _print_plan(ws: Any, name: str, audit: Any, sweep: Any) -> None:
    from unlearn_cli.sweep.display import plan_table
    from unlearn_cli.sweep.estimate import estimate_plan

    subject = (f"on {audit.forget.name} (template {audit.template.name}), N = {audit.settings.models}, "
               f"{audit.rows.size} forget rows" if audit.forget is not None else
               f"halves of {audit.template.name}'s train set, K = {audit.settings.models}, {audit.rows.size} pool rows")
    estimates = estimate_plan(ws, sweep.plan.nodes.values(), sweep.status)
    typer.echo(plan_table(f"audit {name}: {audit.settings.method} {subject}", sweep.counts(), estimates))


def _cell(value: Any, interval: Any = None) -> str:
    if value is None:
        return "—"
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    if interval and all(isinstance(v, float) for v in interval):
        text += f" [{interval[0]:.3f}, {interval[1]:.3f}]"
    return text


def _table(name: str, summary: dict[str, Any]) -> Table:
    table = Table(title=f"audit {name}", header_style="bold", title_justify="left")
    table.add_column("attack")
    table.add_column("statistic")
    table.add_column("value [95 % interval]", justify="right")
    rows = {"ulira": ("balanced_accuracy", "auc", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr"),
            "epsilon": ("forget_score", "forget_score_null", "final_score"),
            "klom": ("forget_median", "forget_p95", "retain_median", "test_median")}
    for attack, keys in rows.items():
        values = summary.get(attack)
        if values is None:
            continue
        for key in keys:
            table.add_row(attack, key, _cell(values.get(key), values.get(f"{key}_ci")))
        if attack == "ulira":
            fixed = values["fixed_variance"]
            table.add_row(attack, "balanced_accuracy (fixed σ)",
                          _cell(fixed.get("balanced_accuracy"), fixed.get("balanced_accuracy_ci")))
    return table
