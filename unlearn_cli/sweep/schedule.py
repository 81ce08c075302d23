"""The order of a sweep: which nodes may start, and who is skipped when a node fails.

A node may start once every node it depends on has succeeded (run now, or found done); when
a node fails, every node that needs it — directly or through others — is skipped, and the
rest go on. Executors ask `ready()` for what to start and report each `Outcome` back.
"""

from __future__ import annotations

from unlearn_cli.sweep.node import Outcome, skipped
from unlearn_cli.sweep.plan import Node


class Schedule:
    def __init__(self, nodes: list[Node], done: set[str]) -> None:
        self.nodes = {node.id: node for node in nodes}
        self.succeeded = set(done)
        self.unsuccessful: set[str] = set()
        self.waiting = list(self.nodes)  # in plan order: dependencies first
        self.running: set[str] = set()
        self.outcomes: dict[str, Outcome] = {}

    def ready(self) -> list[Node]:
        """Nodes whose dependencies all succeeded, now marked running."""
        started = [node_id for node_id in self.waiting if all(dep in self.succeeded for dep in self.nodes[node_id].deps)]
        for node_id in started:
            self.waiting.remove(node_id)
            self.running.add(node_id)
        return [self.nodes[node_id] for node_id in started]

    def record(self, outcome: Outcome) -> list[Outcome]:
        """Take a finished node's outcome; returns the outcomes of the nodes skipped because of it."""
        self.running.discard(outcome.node)
        self.outcomes[outcome.node] = outcome
        if outcome.ok:
            self.succeeded.add(outcome.node)
            return []
        self.unsuccessful.add(outcome.node)
        skips = []
        changed = True
        while changed:
            changed = False
            for node_id in list(self.waiting):
                blocker = next((dep for dep in self.nodes[node_id].deps if dep in self.unsuccessful), None)
                if blocker is not None:
                    self.waiting.remove(node_id)
                    self.unsuccessful.add(node_id)
                    skip = skipped(self.nodes[node_id], blocker)
                    self.outcomes[node_id] = skip
                    skips.append(skip)
                    changed = True
        return skips

    def finished(self) -> bool:
        return not self.waiting and not self.running
