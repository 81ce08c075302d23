"""The local executor: `--jobs N` worker processes on this machine, each running one node at a time.

Workers are started with `spawn` (a clean interpreter: no forked CUDA or thread state) and
each keeps its imports between nodes, so torch is imported once per worker, not per node.
With GPUs, worker i sees only GPU i mod #GPUs (CUDA_VISIBLE_DEVICES, set before torch is
imported). A worker dies with the sweep (Linux: PR_SET_PDEATHSIG), so a killed sweep leaves no
step running on its own; a worker that dies under a node (out of memory, a signal) fails
that node and is replaced.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from unlearn_cli.sweep.node import FAILED, Outcome, log_path
from unlearn_cli.sweep.plan import Node
from unlearn_cli.sweep.schedule import Schedule
from unlearn_cli.train.threads import configure_openmp

Started = Callable[[Node], None]
Finished = Callable[[Outcome], None]


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: a killed sweep's workers end with their current node
    if os.getppid() != parent:  # the sweep died before the line above took effect
        os._exit(1)


def _worker(connection: Connection, parent: int, environment: dict[str, str], threads: int | None) -> None:
    """A worker's main loop: receive (root, node, log file), run it, send the outcome back."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle
    os.environ.update(environment)
    from unlearn_cli.sweep.node import run_node

    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        root, node, log_file = message
        connection.send(run_node(root, node, threads=threads, log_file=log_file))


@dataclass
class _Slot:
    process: multiprocessing.process.BaseProcess
    connection: Connection
    node: Node | None = None


class LocalExecutor:
    def __init__(self, jobs: int, *, threads: int | None, gpus: list[str] | None = None) -> None:
        self.jobs = jobs
        self.threads = threads
        self.gpus = gpus or []
        self._context = multiprocessing.get_context("spawn")

    def connect(self) -> bool:
        return False  # nothing to join: the workers are this machine's processes

    def check_shared(self, root: Path, sweep: str) -> None:
        pass  # one machine: its own files

    def close(self, joined: bool) -> None:
        pass

    def _start(self, index: int) -> _Slot:
        environment = {}
        if self.gpus:
            environment["CUDA_VISIBLE_DEVICES"] = self.gpus[index % len(self.gpus)]
        if self.threads:
            environment["OMP_NUM_THREADS"] = str(self.threads)
        configure_openmp(environment)  # before the worker imports torch
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_worker, args=(theirs, os.getpid(), environment, self.threads),
                                        daemon=True, name=f"unlearn-sweep-worker-{index}")
        process.start()
        theirs.close()
        return _Slot(process, ours)

    def run(self, root: Path, sweep: str, nodes: list[Node], done: set[str], started: Started,
            finished: Finished) -> dict[str, Outcome]:
        schedule = Schedule(nodes, done)
        slots = [self._start(index) for index in range(max(1, min(self.jobs, len(nodes))))]
        queue: list[Node] = []
        try:
            while not schedule.finished():
                queue += schedule.ready()
                for slot in slots:
                    if slot.node is None and queue:
                        slot.node = queue.pop(0)
                        slot.connection.send((str(root), slot.node, str(log_path(root, sweep, slot.node))))
                        started(slot.node)
                busy = [slot for slot in slots if slot.node is not None]
                if not busy:
                    break  # nothing can start: only skipped nodes remain
                ready = wait([slot.connection for slot in busy] + [slot.process.sentinel for slot in busy])
                for index, slot in enumerate(slots):
                    if slot.node is None or (slot.connection not in ready and slot.process.sentinel not in ready):
                        continue
                    try:
                        outcome = slot.connection.recv()
                    except (EOFError, OSError):
                        outcome = self._died(slot, root, sweep)
                        slots[index] = self._start(index)
                    slot.node = None
                    finished(outcome)
                    for skip in schedule.record(outcome):
                        finished(skip)
        except BaseException:
            for slot in slots:  # interrupted: stop the steps now (their checkpoints let a re-run resume)
                slot.process.kill()
            raise
        finally:
            for slot in slots:
                try:
                    slot.connection.send(None)
                except OSError:
                    pass
            for slot in slots:
                slot.process.join(timeout=30)
                if slot.process.is_alive():
                    slot.process.kill()
                    slot.process.join()
        return schedule.outcomes

    @staticmethod
    def _died(slot: _Slot, root: Path, sweep: str) -> Outcome:
        assert slot.node is not None
        slot.process.join(timeout=5)
        code = slot.process.exitcode
        reason = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return Outcome(slot.node.id, FAILED, error=f"the worker process running it died ({reason})",
                       hint="out of memory? the node's log shows how far it got",
                       log=str(log_path(root, sweep, slot.node)))
