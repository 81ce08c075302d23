"""Two runs writing the same name: one proceeds, the other fails at once with a
clear error; a killed run's lock is free again for the next run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import assert_one_line_error
from tests.hostile.conftest import run_unlearn

pytestmark = pytest.mark.subprocess

TINY = ("--epochs", "1", "--width", "0.25", "--device", "cpu")

# A run stand-in that takes the lock of model 'x' as pretrain does, then works "forever".
HOLDER = ("import sys, time; from unlearn_cli.artifacts import Workspace\n"
          "Workspace.at(sys.argv[1]).check_new('model', 'x', force=True)\n"
          "print('locked', flush=True); time.sleep(120)\n")


def test_a_second_writer_fails_at_once_and_a_killed_writers_lock_is_reclaimed(cli, trained_ws):
    cli.workspace = trained_ws
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(trained_ws.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        result = cli("pretrain", *TINY, "--name", "x", "--force")
        assert_one_line_error(result, "model 'x' is being written by another run", "--name")
        assert time.monotonic() - started < 30  # at once: no training happened
        assert trained_ws.names("model") == ["digits-cnn-s0"]
    finally:
        holder.send_signal(signal.SIGKILL)  # killed mid-"run": its lock file stays, unlocked
        holder.wait()
    assert trained_ws.lock_path("model", "x").exists()
    result = cli("pretrain", *TINY, "--name", "x")
    assert result.exit_code == 0, result.stderr
    trained_ws.read("model", "x")  # complete and valid
    assert not trained_ws.lock_path("model", "x").exists()


@pytest.mark.slow
def test_two_pretrains_of_one_name_started_together(trained_ws):
    """Both real commands at once: exactly one writes the model; the other fails cleanly
    (locked out, or, if the first was already done, told the name exists)."""
    args = ["pretrain", "--epochs", "3", "--width", "0.25", "--device", "cpu", "--name", "twin"]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: run_unlearn(args, trained_ws.root), range(2)))
    codes = sorted(done.returncode for done in runs)
    path = str(trained_ws.manifest_path("model", "twin"))
    if codes == [0, 0]:  # the first had finished when the second looked: the same request, reused
        assert [done.stdout.strip() for done in runs] == [path, path]
    else:
        assert codes == [0, 1], [(done.returncode, done.stderr[-500:]) for done in runs]
        winner = next(done for done in runs if done.returncode == 0)
        loser = next(done for done in runs if done.returncode == 1)
        assert winner.stdout.strip() == path
        assert loser.stdout == "" and "Traceback" not in loser.stderr
        assert "is being written by another run" in loser.stderr, loser.stderr
    trained_ws.read("model", "twin")
