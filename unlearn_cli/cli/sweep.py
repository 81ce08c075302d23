"""`unlearn sweep`: wiring only; the work is in `unlearn_cli.sweep`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from unlearn_cli.cli.options import DeviceOption, JsonOption, WorkspaceOption, workspace
from unlearn_cli.cli.output import emit_json, emit_path, stderr


def sweep(
    grid: Annotated[Path, typer.Argument(help="The grid file (TOML), e.g. grids/natmu-samplewise.toml.")],
    plan: Annotated[bool, typer.Option("--plan", help="Print the expanded DAG's counts (and what is done); run nothing.")] = False,
    smoke: Annotated[bool, typer.Option("--smoke", help="Apply the grid's smoke table: a tiny version of it.")] = False,
    executor: Annotated[str, typer.Option("--executor", help="local | ray | slurm.")] = "local",
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Local: nodes at once (default: one per GPU, or 1).")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads per node (default: cores / jobs; Ray 1; Slurm 4, its cpus-per-task).")] = None,
    address: Annotated[Optional[str], typer.Option("--address", help="Ray: the cluster's address (default: the one on this machine).")] = None,
    partition: Annotated[Optional[str], typer.Option("--partition", help="Slurm: the partition.")] = None,
    gpus_per_node: Annotated[int, typer.Option("--gpus-per-node", help="Slurm: GPUs of each training job.")] = 1,
    time_limit: Annotated[Optional[str], typer.Option("--time", help="Slurm: time limit per job (default 4:00:00).")] = None,
    device: DeviceOption = None,
    json_output: JsonOption = False,
    workspace_path: WorkspaceOption = None,
) -> None:
    """Run an experiment grid: every step it needs, each once, dependencies first, then the report.

    Example: unlearn sweep grids/natmu-samplewise.toml --plan

    Examples: unlearn sweep grids/corrective-poison.toml --smoke;
    unlearn sweep grids/natmu-classwise.toml --executor ray --address head:6379;
    unlearn sweep grids/corrective-interclass.toml --executor slurm --partition gpu --time 8:00:00

    A step whose artifact exists and validates is not run again, so a re-run resumes a killed
    sweep and an extended grid runs only its new cells. A failed step is recorded (with its
    log, under sweeps/<name>/) and the steps that need it are skipped; the others go on; the exit
    code is 1 if any failed. stdout gets the report's manifest path.
    """
    from unlearn_cli.sweep.display import Display
    from unlearn_cli.sweep.run import SweepOptions, plan_sweep, run_sweep

    ws = workspace(workspace_path)
    options = SweepOptions(grid=grid, smoke=smoke, executor=executor, jobs=jobs, threads=threads, device=device,
                           address=address, partition=partition, gpus_per_node=gpus_per_node, time=time_limit)
    planned = plan_sweep(ws, options)
    if plan:
        _print_plan(planned, ws, json_output)
        return
    todo = [node for node in planned.plan.nodes.values() if planned.status[node.id] != "done"]
    result = run_sweep(ws, options, Display(stderr, todo), planned=planned)
    tally = result.tally()
    stderr.print(f"sweep {planned.plan.name}: {tally['done']} done ({tally['ran']} run now, {tally['already']} already "
                 f"there), {tally['failed']} failed, {tally['skipped']} skipped because a step they need failed",
                 highlight=False, markup=False, soft_wrap=True)
    for failure in result.failures:
        stderr.print(f"FAILED {failure.node}: {failure.error}" + (f" ({failure.hint})" if failure.hint else "")
                     + (f"; log: {failure.log}" if failure.log else ""), highlight=False, markup=False, soft_wrap=True)
    stderr.print(f"status of every step: {result.status_file}", highlight=False, markup=False, soft_wrap=True)
    if json_output:
        emit_json({"sweep": planned.plan.name, "tally": tally, "report": str(result.report) if result.report else None,
                   "status": str(result.status_file),
                   "failed": [{"node": f.node, "error": f.error, "hint": f.hint, "log": f.log} for f in result.failures]})
    elif result.report is not None:
        emit_path(result.report)
    if result.failures:
        raise typer.Exit(1)


def _print_plan(planned, ws, json_output: bool) -> None:
    from dataclasses import asdict

    from unlearn_cli.sweep.display import plan_table
    from unlearn_cli.sweep.estimate import estimate_plan

    counts = planned.counts()
    plan = planned.plan
    estimates = estimate_plan(ws, plan.nodes.values(), planned.status)
    if json_output:
        emit_json({"sweep": plan.name, "grid": str(plan.grid), "workspace": str(ws.root), "smoke": planned.smoke,
                   "counts": counts, "estimates": {label: asdict(value) for label, value in estimates.items()},
                   "nodes": [{"id": node.id, "step": node.label, "status": planned.status[node.id],
                              "deps": list(node.deps)} for node in plan.nodes.values()]})
        return
    title = f"sweep {plan.name}{' (smoke)' if planned.smoke else ''}: {plan.grid} in workspace {ws.root}"
    typer.echo(plan_table(title, counts, estimates))
