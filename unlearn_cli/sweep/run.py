"""`unlearn sweep`: plan a grid, run what is not done yet on an executor, then the report.

    load the grid → expand it into nodes (plan.py) → look at the workspace: which nodes are done
    → check before any work (sources, the executor's extra installed, the cluster reachable,
      the workspace shared) → run the rest, dependencies first → the report over the sweep's
      evaluations → write sweeps/<name>/status.json (every node's outcome, error and log)

A re-run finds everything done and runs nothing; a killed sweep re-run continues where it
stopped; an extended grid runs only its new cells.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unlearn_cli.artifacts import Workspace, atomic_write_bytes
from unlearn_cli.errors import InputError
from unlearn_cli.sweep.grid import load_grid
from unlearn_cli.sweep.node import EXISTS, FAILED, RAN, SKIPPED, Outcome, log_path, run_node, skipped
from unlearn_cli.sweep.plan import LABELS, Node, Plan, build_plan
from unlearn_cli.sweep.status import DONE, check_sources, plan_status
from unlearn_cli.train.threads import usable_cores

EXECUTORS = ("local", "ray", "slurm")
SLURM_THREADS = 4  # a Slurm job's CPUs (and torch threads) unless --threads says otherwise


@dataclass(frozen=True)
class SweepOptions:
    grid: Path
    smoke: bool = False
    executor: str = "local"
    jobs: int | None = None  # local: parallel nodes (default: one per GPU, or 1)
    threads: int | None = None  # CPU threads per node (default: cores / jobs)
    device: str | None = None
    address: str | None = None  # ray
    partition: str | None = None  # slurm
    gpus_per_node: int = 1  # slurm: GPUs of a training node's job
    time: str | None = None  # slurm: time limit per job
    cluster: str | None = None  # slurm: submitit's cluster ("local" runs the jobs as local processes)
    poll_seconds: float = 10.0  # slurm: how often to look at the jobs


@dataclass
class PlannedSweep:
    plan: Plan
    status: dict[str, str]
    smoke: bool

    def counts(self) -> dict[str, dict[str, int]]:
        """Per step kind: nodes, done, to run."""
        counts = {label: {"nodes": 0, "done": 0, "to run": 0} for label in LABELS}
        for node in self.plan.nodes.values():
            row = counts[node.label]
            row["nodes"] += 1
            row["done" if self.status[node.id] == DONE else "to run"] += 1
        return {label: row for label, row in counts.items() if row["nodes"]}


@dataclass
class SweepResult:
    planned: PlannedSweep
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    report: Path | None = None
    status_file: Path | None = None

    def tally(self) -> dict[str, int]:
        before = sum(1 for state in self.planned.status.values() if state == DONE)
        ran = sum(1 for outcome in self.outcomes.values() if outcome.status == RAN)
        found = sum(1 for outcome in self.outcomes.values() if outcome.status == EXISTS)
        return {"done": before + ran + found, "ran": ran, "already": before + found,
                "failed": sum(1 for outcome in self.outcomes.values() if outcome.status == FAILED),
                "skipped": sum(1 for outcome in self.outcomes.values() if outcome.status == SKIPPED)}

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes.values() if outcome.status == FAILED]


def plan_sweep(ws: Workspace, options: SweepOptions) -> PlannedSweep:
    grid = load_grid(options.grid, smoke=options.smoke)
    plan = build_plan(grid, device=options.device)
    return PlannedSweep(plan, plan_status(ws, plan), options.smoke)


def default_jobs(options: SweepOptions) -> tuple[int, list[str]]:
    """(jobs, GPUs to spread the local workers over)."""
    gpus: list[str] = []
    if options.executor == "local" and options.device is None:
        import torch

        count = torch.cuda.device_count()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = [part.strip() for part in visible.split(",") if part.strip()] if visible else []
        gpus = ids[:count] if len(ids) >= count else [str(index) for index in range(count)]
    jobs = options.jobs if options.jobs is not None else max(1, len(gpus))
    if jobs < 1:
        raise InputError(f"--jobs {jobs} is not positive", hint="e.g. --jobs 2")
    return jobs, gpus


def make_executor(options: SweepOptions) -> Any:
    if options.executor not in EXECUTORS:
        raise InputError(f"unknown executor '{options.executor}'", hint=f"valid executors: {', '.join(EXECUTORS)}")
    jobs, gpus = default_jobs(options)
    # Workers split the usable cores (affinity, cgroup quota) instead of each taking all.
    threads = options.threads if options.threads is not None else max(1, usable_cores() // jobs)
    if threads < 1:
        raise InputError(f"--threads {threads} is not positive", hint="e.g. --threads 4")
    if options.executor == "local":
        from unlearn_cli.sweep.local import LocalExecutor

        return LocalExecutor(jobs, threads=threads, gpus=gpus)
    if options.executor == "ray":
        from unlearn_cli.sweep.ray_executor import RayExecutor, import_ray

        import_ray()
        return RayExecutor(options.address, threads=options.threads or 1)
    from unlearn_cli.sweep.slurm import SlurmExecutor, import_submitit

    import_submitit()
    return SlurmExecutor(partition=options.partition, gpus_per_node=options.gpus_per_node, time_limit=options.time,
                         threads=options.threads or SLURM_THREADS, cluster=options.cluster,
                         poll_seconds=options.poll_seconds)


class Events:
    """What an executor reports as it goes; a display is one (`display.Display`), entered while
    the nodes run and left before the report, which runs in this process."""

    def __init__(self, started: Callable[[Node], None] | None = None,
                 finished: Callable[[Outcome], None] | None = None) -> None:
        self.started = started or (lambda node: None)
        self.finished = finished or (lambda outcome: None)

    def __enter__(self) -> Events:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def run_sweep(ws: Workspace, options: SweepOptions, events: Events | None = None,
              planned: PlannedSweep | None = None) -> SweepResult:
    events = events or Events()
    planned = planned or plan_sweep(ws, options)
    plan, status = planned.plan, planned.status
    ws.check_writable()
    check_sources(plan, status)
    if options.address is not None and options.executor != "ray":
        raise InputError("--address belongs to --executor ray", hint="leave it out, or add --executor ray")
    executor = make_executor(options)
    report = plan.report
    todo = [node for node in plan.nodes.values() if status[node.id] != DONE and node is not report]
    done = {node_id for node_id, state in status.items() if state == DONE}
    result = SweepResult(planned)
    if todo:
        joined = executor.connect()
        try:
            executor.check_shared(ws.root, plan.name)
            with events:
                result.outcomes.update(executor.run(ws.root, plan.name, todo, done, events.started, events.finished))
        finally:
            executor.close(joined)
    if report is not None and status[report.id] != DONE:
        result.outcomes[report.id] = _report(ws, plan, report, result, events)
    result.report = ws.manifest_path("report", report.name) if report is not None and \
        ws.manifest_path("report", report.name).exists() else None
    result.status_file = _write_status(ws, plan, status, result)
    return result


def _report(ws: Workspace, plan: Plan, report: Node, result: SweepResult, events: Events) -> Outcome:
    """The report runs here, in the sweep's own process, once every evaluation has finished."""
    evaluated = [dep for dep in report.deps
                 if result.planned.status[dep] == DONE or (dep in result.outcomes and result.outcomes[dep].ok)]
    if not evaluated:
        outcome = skipped(report, "an evaluation")
    else:
        events.started(report)
        outcome = run_node(str(ws.root), report, log_file=str(log_path(ws.root, plan.name, report)))
    events.finished(outcome)
    return outcome


def _write_status(ws: Workspace, plan: Plan, status: dict[str, str], result: SweepResult) -> Path:
    nodes = []
    for node in plan.nodes.values():
        outcome = result.outcomes.get(node.id)
        record: dict[str, Any] = {"id": node.id, "step": node.step}
        record.update(asdict(outcome) if outcome is not None else {"status": "done before", "node": node.id})
        record.pop("node", None)
        nodes.append(record)
    path = ws.root / "sweeps" / plan.name / "status.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps({"sweep": plan.name, "grid": str(plan.grid), "tally": result.tally(),
                                         "nodes": nodes}, indent=1).encode())
    return path
