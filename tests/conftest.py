"""Shared fixtures: a temporary workspace and a CLI runner that keeps stdout and stderr apart."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unlearn_cli.artifacts import Workspace
from unlearn_cli.cli.app import app

# Fixtures that train models (seconds to a minute, paid by the first test that asks for one):
# every test that uses one is slow, so `pytest -m "not slow"` never pays for them.
TRAINING_FIXTURES = frozenset({
    "baseline",  # tests/sweep: a pretrained digits workspace for sweeps
    "methods_workspace",  # tests/methods: a model, forget sets and retrains
    "bn_workspace",  # tests/methods: a BatchNorm model on a CIFAR-format fixture
    "unlearned_workspace",  # tests/audit: an unlearned run to query
    "trained_hostile",  # tests/hostile: a trained workspace to attack
    "tune_workspace",  # tests/tune: a model with a validation split and a forget set
})


# The longest tests (each a minute or more of one core in CI), started first: `-n auto` hands
# each worker a block of the collected tests, so one of these collected last would run alone
# at the end while the other worker sits idle. Longest first is the classic fix. Only tests
# that share no module fixture with others: moving one of those would split its module.
LONGEST_FIRST = (
    "tests/steps/test_demo.py::test_demo_runs_every_step_and_reports_every_method",
    "tests/benchmarks/test_audit_benchmark_smoke.py::test_audit_benchmark_times_a_fixed_audit",
)


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if TRAINING_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    rank = {nodeid: i for i, nodeid in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))  # stable: the rest keep their order


def pytest_configure(config) -> None:
    # One torch thread in every test process and every `unlearn` it starts, from the first
    # fixture on: `pytest -n auto` runs a worker per core, tiny models gain nothing from a
    # second thread, and runs compared bit for bit must have had the same thread count.
    os.environ.setdefault("UNLEARN_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["UNLEARN_THREADS"]))
    # Steps read upstream manifest paths from a piped stdin, and subprocesses inherit ours: a
    # test run whose own stdin is an open pipe (some CI runners) would hand it to every
    # `unlearn` subprocess. A terminal is kept, for pdb.
    if not os.isatty(0):
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.at(tmp_path / "ws")


class Cli:
    """Invoke `unlearn` in-process with a workspace; returns typer's Result."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None):
        merged = {"UNLEARN_WORKSPACE": str(self.workspace.root), "UNLEARN_DEBUG": "", "COLUMNS": "200"}
        merged.update(env or {})
        return self.runner.invoke(app, list(args), env=merged)


@pytest.fixture
def cli(ws: Workspace) -> Cli:
    return Cli(ws)


PROGRESS_LINE = re.compile(r"^\S.*: epoch \d+ step \d+/\d+ loss \S+ lr \S+ images/s \S+ elapsed [0-9.]+s$")


def assert_one_line_error(result, *fragments: str) -> None:
    """A user error: exit 1, a red `Error:` line naming the problem, a hint, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    # Training that ran before the error logs one progress line per epoch (stderr is not a terminal).
    lines = [line for line in result.stderr.splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
    assert lines and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert sum(line.startswith("Error:") for line in lines) == 1
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


@pytest.fixture(autouse=True)
def _single_thread_determinism(monkeypatch):
    # Tests compare weights bit-for-bit; keep torch from changing thread counts between runs.
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
