"""Who may start and who is skipped; a worker process that dies under a node."""

from __future__ import annotations

import os

import pytest

from unlearn_cli.artifacts import Workspace
from unlearn_cli.steps.options import PrepareOptions
from unlearn_cli.sweep.local import LocalExecutor
from unlearn_cli.sweep.node import FAILED, RAN, SKIPPED, Outcome
from unlearn_cli.sweep.plan import Node
from unlearn_cli.sweep.schedule import Schedule


def node(name: str, *deps: str) -> Node:
    return Node("evaluate", "evaluation", name, None, tuple(f"evaluation/{dep}" for dep in deps))


def test_a_node_starts_when_its_dependencies_succeeded_and_a_failure_skips_what_needs_it():
    # a → b → c, a → d, (b, d) → e; x was done before the sweep, y needs it
    nodes = [node("a"), node("b", "a"), node("c", "b"), node("d", "a"), node("e", "b", "d"), node("y", "x")]
    schedule = Schedule(nodes, done={"evaluation/x"})
    assert [n.name for n in schedule.ready()] == ["a", "y"]
    assert schedule.ready() == []  # handed out once
    assert schedule.record(Outcome("evaluation/a", RAN)) == []
    assert schedule.record(Outcome("evaluation/y", RAN)) == []
    assert [n.name for n in schedule.ready()] == ["b", "d"]
    skips = schedule.record(Outcome("evaluation/b", FAILED, error="boom"))
    assert sorted(s.node for s in skips) == ["evaluation/c", "evaluation/e"]
    assert all(s.status == SKIPPED and "evaluation/b" in s.error for s in skips)
    assert not schedule.finished()
    schedule.record(Outcome("evaluation/d", RAN))
    assert schedule.ready() == [] and schedule.finished()
    assert {k: v.status for k, v in schedule.outcomes.items()} == {
        "evaluation/a": RAN, "evaluation/y": RAN, "evaluation/b": FAILED, "evaluation/c": SKIPPED,
        "evaluation/e": SKIPPED, "evaluation/d": RAN}


class _KillsItsReader:
    """Unpickling this ends the process that reads it: a worker dying under its node."""

    def __reduce__(self):
        return os._exit, (3,)


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_node_and_is_replaced(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    bomb = Node("evaluate", "evaluation", "bomb", _KillsItsReader())
    after = Node("evaluate", "evaluation", "after", None, ("evaluation/bomb",))
    digits = Node("prepare", "dataset", "digits", PrepareOptions(dataset="digits"))
    finished: list[Outcome] = []
    outcomes = LocalExecutor(1, threads=1).run(ws.root, "t", [bomb, after, digits], set(), lambda n: None,
                                               finished.append)
    assert outcomes["evaluation/bomb"].status == FAILED
    assert "the worker process running it died (exit code 3)" in outcomes["evaluation/bomb"].error
    assert outcomes["evaluation/after"].status == SKIPPED
    assert outcomes["dataset/digits"].status == RAN  # on the replacement worker
    assert ws.read("dataset", "digits")
    assert [o.node for o in finished] == ["evaluation/bomb", "evaluation/after", "dataset/digits"]
