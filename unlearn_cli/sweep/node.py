"""Running one node: the step's own library function, as its CLI command calls it.

Every executor (the local worker processes, Ray tasks, Slurm jobs) runs a node through
`run_node`, in whatever process it has. Before the step runs, the node's artifact is looked at
again (another run may have made it meanwhile): one that exists and validates is left alone,
a damaged one is made again (`force`), and a training step whose run was killed continues from
its checkpoint (`resume`), so a re-run sweep ends with the weights an uninterrupted one would
have. The step's output (logs, per-epoch lines, warnings) goes to the node's log file, so
parallel nodes never mix their lines; the outcome — and a user error's message and hint — comes
back as an `Outcome`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from unlearn_cli.artifacts import Workspace
from unlearn_cli.errors import ArtifactBusyError, TrainingError, UnlearnError
from unlearn_cli.steps.registry import STEPS
from unlearn_cli.sweep.plan import Node
from unlearn_cli.sweep.status import DONE, TODO, artifact_state
from unlearn_cli.train.threads import ENV as THREADS_ENV

BUSY_POLL_S = 1.0  # how often a node whose artifact another process is making looks again

log = logging.getLogger(__name__)

RAN, EXISTS, FAILED, SKIPPED = "ran", "exists", "failed", "skipped"


@dataclass
class Outcome:
    node: str  # node id
    status: str  # ran | exists | failed | skipped
    seconds: float = 0.0
    error: str | None = None
    hint: str | None = None
    log: str | None = None  # the node's log file
    host: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (RAN, EXISTS)


def log_path(root: Path, sweep: str, node: Node) -> Path:
    """Where a node's output goes: <workspace>/sweeps/<sweep>/logs/<kind>/<name>.log."""
    return Path(root) / "sweeps" / sweep / "logs" / node.kind / f"{node.name}.log"


def run_node(root: str, node: Node, *, threads: int | None = None, log_file: str | None = None) -> Outcome:
    """Run `node` in this process; never raises for a failure of the node itself."""
    import socket

    started = time.perf_counter()
    with output_to(log_file):
        print(f"== {node.id}: {node.step} on {socket.gethostname()} (pid {os.getpid()}) "
              f"at {time.strftime('%Y-%m-%d %H:%M:%S')}", file=sys.stderr, flush=True)
        try:
            status = _execute(Workspace(Path(root)), node, threads)
        except UnlearnError as error:
            print(f"Error: {error.message}" + (f"\nHint: {error.hint}" if error.hint else ""), file=sys.stderr)
            return Outcome(node.id, FAILED, time.perf_counter() - started, error.message, error.hint, log_file,
                           socket.gethostname())
        except Exception as error:  # a bug, or a dependency's: the traceback is in the log
            traceback.print_exc(file=sys.stderr)
            return Outcome(node.id, FAILED, time.perf_counter() - started, f"internal error: {type(error).__name__}: {error}",
                           "the node's log has the traceback", log_file, socket.gethostname())
        finally:
            from unlearn_cli.artifacts import lock

            lock.release_all()
            sys.stderr.flush()
        print(f"== {node.id}: {status} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return Outcome(node.id, status, time.perf_counter() - started, log=log_file, host=socket.gethostname())


def _execute(ws: Workspace, node: Node, threads: int | None) -> str:
    if node.step == "report":
        return _report(ws, node)
    state = artifact_state(ws, node)
    if state == DONE:
        return EXISTS
    if threads:
        # The step applies it when it resolves its device (train/threads.py).
        os.environ[THREADS_ENV] = str(threads)
    step = STEPS.get(node.step)
    checkpoint = step.checkpoint(ws, node.name)
    resume = checkpoint is not None and checkpoint.exists()
    try:
        _run_when_free(step, ws, with_force(node, force=state != TODO, resume=resume).options)
    except TrainingError as error:
        if not resume or "resume" not in error.message:
            raise
        # The checkpoint belongs to other settings (e.g. a killed run on another device):
        # it cannot be continued, so start over.
        log.warning("%s: %s; starting over", node.id, error.message)
        checkpoint.unlink(missing_ok=True)
        step.run(ws, with_force(node, force=state != TODO).options)
    return RAN


def _run_when_free(step: Any, ws: Workspace, options: Any) -> None:
    """Run the step; where another process is making this very artifact (a tuning study makes
    the retrains a grid also plans), wait for it, then the step finds it made."""
    while True:
        try:
            step.run(ws, options)
            return
        except ArtifactBusyError:
            time.sleep(BUSY_POLL_S)


def _report(ws: Workspace, node: Node) -> str:
    """The report over the node's evaluations that exist now (a failed cell leaves a gap,
    not an empty report); left alone when it covers exactly those already."""
    present = []
    for name in node.options.evaluations:
        if artifact_state(ws, Node("evaluate", "evaluation", name, None)) == DONE:
            present.append(name)
    if not present:
        raise UnlearnError("no evaluation of the sweep exists, so there is nothing to report",
                           hint="see the failed steps above")
    state = artifact_state(ws, node, set(present))
    if state == DONE:
        return EXISTS
    STEPS.get("report").run(ws, replace(node.options, evaluations=tuple(present), force=state != TODO))
    return RAN


@contextmanager
def output_to(path: str | None) -> Iterator[None]:
    """Send this process's output to `path` while the node runs: the file descriptors (so C-level
    and child-process output too), Python's sys.stdout/sys.stderr (which may not be those
    descriptors, e.g. under a test runner) and the package's log records."""
    if path is None:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 -- closed below
    os.dup2(stream.fileno(), 1)
    os.dup2(stream.fileno(), 2)
    sys.stdout = sys.stderr = stream
    logger = logging.getLogger("unlearn_cli")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        stream.flush()
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
        sys.stdout, sys.stderr = saved_streams
        os.dup2(saved_fds[0], 1)
        os.dup2(saved_fds[1], 2)
        os.close(saved_fds[0])
        os.close(saved_fds[1])
        stream.close()


def skipped(node: Node, because: str) -> Outcome:
    return Outcome(node.id, SKIPPED, error=f"not run: it needs {because}, which did not succeed")


def with_force(node: Node, force: bool, resume: bool = False) -> Node:
    """The node with the step options `force` (and `resume`, for steps that train) set."""
    options = replace(node.options, force=force)
    if resume and hasattr(options, "resume"):
        options = replace(options, resume=True)
    return replace(node, options=options)
