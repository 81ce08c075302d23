"""Hostile and careless input through the CLI: one test module per kind of input a user or a
broken file can hand us, each checked through the real command.

`trained_hostile` is a digits workspace with a tiny pretrained cnn, built once; a test that
writes copies it. `run_unlearn` runs the real command in a child process, for what only a
process can show: a crash, a kill, a resource limit, peak memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.steps.pipeline import copy_workspace, prepared, pretrained
from unlearn_cli.artifacts import Workspace


@pytest.fixture(scope="session")
def trained_hostile(tmp_path_factory) -> Workspace:
    ws = prepared(tmp_path_factory.mktemp("hostile") / "ws")
    pretrained(ws, epochs=1)
    return ws


@pytest.fixture
def trained_ws(trained_hostile, tmp_path) -> Workspace:
    return copy_workspace(trained_hostile, tmp_path / "ws")


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_bytes: int


def run_unlearn(args: list[str], workspace: Path, *, limits: Callable[[], None] | None = None,
                timeout: float = 120) -> Finished:
    """`python -m unlearn_cli ARGS` in a child; `limits` runs in the child before exec
    (e.g. resource.setrlimit). Also returns the child's own peak resident memory."""
    env = {**os.environ, "UNLEARN_WORKSPACE": str(workspace), "UNLEARN_DEBUG": "", "COLUMNS": "200",
           "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([sys.executable, "-m", "unlearn_cli", *args], env=env,
                                 stdout=out, stderr=err, preexec_fn=limits)
        timer = threading.Timer(timeout, child.kill)
        timer.start()
        try:
            # wait4, not wait: the rusage of this one child (peak RSS in KiB on Linux).
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(child.returncode, out.read(), err.read(), usage.ru_maxrss * 1024)


def assert_clean_failure(done: Finished, *fragments: str) -> None:
    """What a user must see: exit 1, one `Error:` line and a hint, no traceback, no crash."""
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, done.stderr
    assert any(line.startswith("Hint:") for line in lines), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, (fragment, done.stderr)
