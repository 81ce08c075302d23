"""`--executor slurm`: the nodes as Slurm jobs, submitted through `submitit`.

The sweep process stays up and submits, as one job array each, the nodes that have become
ready (all their dependencies succeeded) — the DAG's first level, then whatever the finished
jobs unblock — GPU nodes with `--gpus-per-node` GPUs and CPU-only nodes with none. It polls
the jobs, records each outcome, and skips the dependants of a failed node, as the local
executor does. submitit's files (the pickled calls it submits, each job's stdout/stderr) live
in <workspace>/sweeps/<sweep>/slurm/, written and read by submitit itself (never artifacts);
each node's own log is in sweeps/<sweep>/logs/ as with every executor. A first job reads the
shared-filesystem marker before any work is submitted.

`cluster="local"` runs the very same submission path with submitit's LocalExecutor (jobs are
local processes): how the tests exercise it without a cluster.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from unlearn_cli.errors import InputError
from unlearn_cli.sweep import shared
from unlearn_cli.sweep.local import Finished, Started
from unlearn_cli.sweep.node import FAILED, Outcome, log_path, run_node
from unlearn_cli.sweep.plan import Node
from unlearn_cli.sweep.schedule import Schedule

INSTALL_HINT = "install it with: pip install -c constraints.txt 'unlearn-cli[slurm]'"
DEFAULT_TIME = "4:00:00"


def import_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise InputError("--executor slurm needs submitit, which is not installed", hint=INSTALL_HINT) from None
    return submitit


def minutes(text: str) -> int:
    """A Slurm time limit — MM, HH:MM:SS, D-HH[:MM[:SS]] — in whole minutes (rounded up)."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not match:
        raise InputError(f"--time {text!r} is not a Slurm time", hint="e.g. --time 240 (minutes), 4:00:00 or 1-12:00:00")
    days, first, second, third = match.groups()
    if days is None and second is None:
        total = int(first) * 60  # plain minutes
    elif days is not None:
        total = int(days) * 86400 + int(first) * 3600 + int(second or 0) * 60 + int(third or 0)
    elif third is None:
        total = int(first) * 60 + int(second)  # MM:SS
    else:
        total = int(first) * 3600 + int(second) * 60 + int(third)
    if total <= 0:
        raise InputError(f"--time {text!r} is not positive", hint="e.g. --time 4:00:00")
    return -(-total // 60)


def _job(root: str, node: Node, threads: int | None, log_file: str) -> Outcome:
    return run_node(root, node, threads=threads, log_file=log_file)


class SlurmExecutor:
    def __init__(self, *, partition: str | None, gpus_per_node: int, time_limit: str | None, threads: int | None,
                 cluster: str | None = None, poll_seconds: float = 10.0) -> None:
        if gpus_per_node < 0:
            raise InputError(f"--gpus-per-node {gpus_per_node} is negative", hint="e.g. --gpus-per-node 1")
        self.partition = partition
        self.gpus_per_node = gpus_per_node
        self.timeout_min = minutes(time_limit or DEFAULT_TIME)
        self.threads = threads
        self.cluster = cluster
        self.poll_seconds = poll_seconds
        self._executor: Any = None

    def connect(self) -> bool:
        return False  # submitit talks to Slurm per call

    def executor(self, root: Path, sweep: str) -> Any:
        if self._executor is None:
            submitit = import_submitit()
            folder = Path(root) / "sweeps" / sweep / "slurm"
            try:
                self._executor = submitit.AutoExecutor(folder=folder, cluster=self.cluster or "slurm")
            except (RuntimeError, ValueError) as error:
                raise InputError(f"cannot submit Slurm jobs from here: {error}",
                                 hint="run the sweep on a machine with Slurm's sbatch, or use --executor local") from None
        return self._executor

    def _parameters(self, sweep: str, gpu: bool) -> dict[str, Any]:
        parameters: dict[str, Any] = {"timeout_min": self.timeout_min, "name": f"unlearn-{sweep}",
                                      "gpus_per_node": self.gpus_per_node if gpu else 0,
                                      "cpus_per_task": self.threads or 1}
        if self.partition:
            parameters["slurm_partition"] = self.partition
        return parameters

    def check_shared(self, root: Path, sweep: str) -> None:
        executor = self.executor(root, sweep)
        marker, token = shared.write_marker(root, sweep)
        executor.update_parameters(**self._parameters(sweep, gpu=False))
        job = executor.submit(shared.read_marker, str(marker), token)
        try:
            result = job.result()
        except Exception as error:
            marker.unlink(missing_ok=True)
            raise InputError(f"the workspace check job failed: {error}",
                             hint=f"its output is in {Path(root) / 'sweeps' / sweep / 'slurm'}") from None
        shared.check_result(root, "Slurm", marker, result)

    def run(self, root: Path, sweep: str, nodes: list[Node], done: set[str], started: Started,
            finished: Finished) -> dict[str, Outcome]:
        executor = self.executor(root, sweep)
        schedule = Schedule(nodes, done)
        running: dict[str, tuple[Node, Any]] = {}
        while not schedule.finished():
            ready = schedule.ready()
            for gpu in (True, False):
                group = [node for node in ready if node.gpu == gpu]
                if not group:
                    continue
                executor.update_parameters(**self._parameters(sweep, gpu))
                jobs = executor.map_array(_job, [str(root)] * len(group), group, [self.threads] * len(group),
                                          [str(log_path(root, sweep, node)) for node in group])
                for node, job in zip(group, jobs):
                    running[node.id] = (node, job)
                    started(node)
            if not running:
                break
            finished_ids = [node_id for node_id, (_, job) in running.items() if job.done()]
            if not finished_ids:
                time.sleep(self.poll_seconds)
                continue
            for node_id in finished_ids:
                node, job = running.pop(node_id)
                outcome = self._outcome(root, sweep, node, job)
                finished(outcome)
                for skip in schedule.record(outcome):
                    finished(skip)
        return schedule.outcomes

    @staticmethod
    def _outcome(root: Path, sweep: str, node: Node, job: Any) -> Outcome:
        try:
            return job.result()
        except Exception as error:  # the job itself failed: timeout, out of memory, preempted
            return Outcome(node.id, FAILED, error=f"Slurm job {job.job_id} failed: {str(error).strip().splitlines()[0]}",
                           hint=f"its output: {job.paths.stderr}", log=str(log_path(root, sweep, node)))

    def close(self, joined: bool) -> None:
        pass
