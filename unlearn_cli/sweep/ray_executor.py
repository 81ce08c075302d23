"""`--executor ray`: every node a Ray task on a running Ray cluster, the DAG kept by Ray.

Each task takes its dependencies' outcomes as arguments (Ray object references), so Ray starts
it only when they have finished; a task whose dependency did not succeed returns "skipped"
without running. A node that trains or runs a model asks for one GPU when the cluster has
GPUs; the others ask for none. Before any work the cluster is checked: the address must
answer, and every node must see the workspace (`shared.py`). unlearn-cli must be installed on
every node (the tasks import it), in the same version.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from unlearn_cli.errors import InputError
from unlearn_cli.sweep import shared
from unlearn_cli.sweep.local import Finished, Started
from unlearn_cli.sweep.node import Outcome, log_path, run_node, skipped
from unlearn_cli.sweep.plan import Node

INSTALL_HINT = "install it with: pip install -c constraints.txt 'unlearn-cli[ray]' (the same on every node)"
CHECK_TIMEOUT_S = 120


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray, which is not installed", hint=INSTALL_HINT) from None
    return ray


def _task(root: str, node: Node, threads: int | None, log_file: str, *dependencies: Outcome) -> Outcome:
    for dependency in dependencies:
        if not dependency.ok:
            return skipped(node, dependency.node)
    return run_node(root, node, threads=threads, log_file=log_file)


def probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast if nothing listens at `address` (Ray itself waits minutes before giving up)."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"Ray address {address!r} is not host:port", hint="e.g. --address 10.0.0.1:6379 or ray://head:10001")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise InputError(f"the Ray cluster at {address} does not answer ({error.strerror or error})",
                         hint="start it with `ray start --head` on the head node (`ray status` prints its address), "
                         "or fix --address") from None


class RayExecutor:
    def __init__(self, address: str | None, *, threads: int | None) -> None:
        self.address = address
        self.threads = threads

    def connect(self) -> bool:
        """Join the cluster (or use the one this process already joined); True if we joined."""
        ray = import_ray()
        if self.address and self.address != "auto":
            probe(self.address)
        if ray.is_initialized():
            return False
        try:
            ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise InputError(f"cannot join the Ray cluster at {self.address or 'this machine'}: {error}",
                             hint="start it with `ray start --head`, or pass --address") from None
        return True

    def check_shared(self, root: Path, sweep: str) -> None:
        """The marker, read on every alive node of the cluster."""
        ray = import_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        marker, token = shared.write_marker(root, sweep)
        reader = ray.remote(shared.read_marker)
        nodes = [node["NodeID"] for node in ray.nodes() if node.get("Alive")]
        refs = [reader.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
                .remote(str(marker), token) for node_id in nodes]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=CHECK_TIMEOUT_S)
        if len(ready) < len(refs):
            marker.unlink(missing_ok=True)
            raise InputError(f"the Ray workers did not answer the workspace check within {CHECK_TIMEOUT_S} s",
                             hint="is the cluster busy or out of resources? `ray status` shows it")
        results = ray.get(refs)
        failed = next((result for result in results if not result[0]), results[0])
        shared.check_result(root, "Ray", marker, failed)

    def run(self, root: Path, sweep: str, nodes: list[Node], done: set[str], started: Started,
            finished: Finished) -> dict[str, Outcome]:
        ray = import_ray()
        gpus = ray.cluster_resources().get("GPU", 0) >= 1
        remote = ray.remote(_task)
        refs: dict[str, Any] = {}
        by_ref: dict[Any, Node] = {}
        for node in nodes:
            dependencies = [refs[dep] for dep in node.deps if dep in refs]  # the others are done already
            ref = remote.options(num_cpus=self.threads or 1, num_gpus=1 if node.gpu and gpus else 0, max_retries=0,
                                 name=f"unlearn {node.id}").remote(
                str(root), node, self.threads, str(log_path(root, sweep, node)), *dependencies)
            refs[node.id] = ref
            by_ref[ref] = node  # (Ray does not say when a task starts: the display shows finished ones)
        outcomes: dict[str, Outcome] = {}
        pending = list(by_ref)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            node = by_ref[ready[0]]
            try:
                outcome = ray.get(ready[0])
            except Exception as error:  # the worker died under the task
                outcome = Outcome(node.id, "failed", error=f"the Ray task failed: {type(error).__name__}: {error}",
                                  hint="out of memory? the node's log shows how far it got",
                                  log=str(log_path(root, sweep, node)))
            outcomes[node.id] = outcome
            finished(outcome)
        return outcomes

    def close(self, joined: bool) -> None:
        if joined:
            import_ray().shutdown()
