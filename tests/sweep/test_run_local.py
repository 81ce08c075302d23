"""Running a sweep on this machine: everything once, nothing twice, failures contained, kills resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.steps.pipeline import copy_workspace
from tests.sweep.helpers import SMALL_GRID, SMALL_NODES, artifacts, manifest_times, write_grid
from unlearn_cli.artifacts import Workspace, lock
from unlearn_cli.errors import ArtifactError

pytestmark = pytest.mark.subprocess

RUN = "digits-cnn-w0.25-e3-s0-per10-s0"


def test_the_sweep_runs_every_node_and_ends_with_the_report(baseline):
    status = json.loads((baseline.root / "sweeps" / "small" / "status.json").read_text())
    assert status["tally"] == {"done": 11, "ran": 11, "already": 0, "failed": 0, "skipped": 0}
    assert len(artifacts(baseline)) == sum(SMALL_NODES.values()) - 1  # the report aside
    report = baseline.read("report", "small")
    assert set(report.parents) == {f"{RUN}-retrain-e1-s0", f"{RUN}-finetune-e1-s0", f"{RUN}-ssd-s0",
                                   f"{RUN}--original"}
    # Each node's output went to its own log.
    log = (baseline.root / "sweeps" / "small" / "logs" / "unlearned" / f"{RUN}-finetune-e1-s0.log").read_text()
    assert f"unlearned/{RUN}-finetune-e1-s0: unlearn on" in log and "epoch 1" in log and ": ran in" in log


@pytest.mark.slow
def test_a_rerun_does_nothing_and_an_extended_grid_runs_only_its_new_cells(baseline, tmp_path):
    ws = copy_workspace(baseline, tmp_path / "ws")
    grid = write_grid(tmp_path)
    before = manifest_times(ws)
    result = Cli(ws)("sweep", str(grid), "--threads", "1")
    assert result.exit_code == 0, result.stderr
    assert "11 done (0 run now, 11 already there), 0 failed" in result.stderr
    assert result.stdout == f"{ws.manifest_path('report', 'small')}\n"
    assert manifest_times(ws) == before  # not one artifact written again

    extended = write_grid(tmp_path, SMALL_GRID.replace("seeds = [0]", "seeds = [0, 1]"))
    result = Cli(ws)("sweep", str(extended), "--threads", "1")
    assert result.exit_code == 0, result.stderr
    # seed 1: three runs and their evaluations, and the report made again over all seven evaluations.
    assert "17 done (7 run now, 10 already there), 0 failed" in result.stderr
    assert "== report" not in result.stderr  # the report's own output went to its log
    after = manifest_times(ws)
    assert {k: after[k] for k in before if "/report/" not in k} == {k: v for k, v in before.items() if "/report/" not in k}
    assert len(ws.read("report", "small").parents) == 7


@pytest.mark.slow
def test_a_failing_node_is_reported_and_does_not_stop_the_others(cli, tmp_path):
    """finetune at lr 1e6 diverges (the loop stops at the first non-finite loss): its
    evaluation is skipped; retrain, ssd, their evaluations and the report still run."""
    grid = write_grid(tmp_path, SMALL_GRID.replace("epochs = 3", "epochs = 1").replace(
        'name = "finetune"\n', 'name = "finetune"\nlr = 1e6\n'))
    result = cli("sweep", str(grid), "--threads", "1", "--jobs", "2")
    assert result.exit_code == 1, result.stderr
    run = "digits-cnn-w0.25-e1-s0-per10-s0-finetune-e1-lr1e+06-s0"
    assert "9 done (9 run now, 0 already there), 1 failed, 1 skipped" in result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and f"unlearned/{run}" in failed[0] and "log: " in failed[0]
    assert "nan" in failed[0].lower() or "finite" in failed[0].lower()
    status = {node["id"]: node for node in json.loads(
        (cli.workspace.root / "sweeps" / "small" / "status.json").read_text())["nodes"]}
    assert status[f"unlearned/{run}"]["status"] == "failed" and status[f"unlearned/{run}"]["error"]
    assert status[f"evaluation/{run}"]["status"] == "skipped"
    assert f"unlearned/{run}" in status[f"evaluation/{run}"]["error"]
    ws = cli.workspace
    assert set(ws.read("report", "small").parents) == {
        "digits-cnn-w0.25-e1-s0-per10-s0-retrain-e1-s0", "digits-cnn-w0.25-e1-s0-per10-s0-ssd-s0",
        "digits-cnn-w0.25-e1-s0-per10-s0--original"}
    assert result.stdout == f"{ws.manifest_path('report', 'small')}\n"


def _sweep_command(ws: Workspace, grid: Path) -> list[str]:
    return [sys.executable, "-m", "unlearn_cli", "sweep", str(grid), "--workspace", str(ws.root),
            "--jobs", "2", "--threads", "1"]


def _kill_when(ws: Workspace, grid: Path, ready) -> None:
    proc = subprocess.Popen(_sweep_command(ws, grid), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 180
    while not ready() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_a_sweep_killed_mid_way_and_rerun_ends_with_the_uninterrupted_artifacts(baseline, tmp_path):
    """SIGKILL the sweep while it pretrains (after its first epoch checkpoint), then again once
    unlearning has begun; its workers die with it. Re-run, it finishes with the same artifacts
    as the sweep that was never interrupted, bit for bit."""
    ws = Workspace.at(tmp_path / "ws")
    grid = write_grid(tmp_path)
    checkpoint = ws.ckpt_path("digits-cnn-w0.25-e3-s0", ".resume")
    _kill_when(ws, grid, checkpoint.exists)
    # The worker that was pretraining died with the sweep: its lock on the model comes free (the
    # kernel drops it as the process goes) without the model being written.
    deadline = time.monotonic() + 20
    while True:
        try:
            lock.acquire(ws.lock_path("model", "digits-cnn-w0.25-e3-s0"), "model")
            break
        except ArtifactError:
            assert time.monotonic() < deadline, "a worker outlived the killed sweep"
            time.sleep(0.05)
    lock.release_all()
    assert not ws.manifest_path("model", "digits-cnn-w0.25-e3-s0").exists() and checkpoint.exists()

    _kill_when(ws, grid, lambda: any((ws.root / "manifests" / "unlearned").glob("*.json")))
    assert not ws.manifest_path("report", "small").exists()

    done = subprocess.run(_sweep_command(ws, grid), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert "0 failed" in done.stderr
    assert artifacts(ws) == artifacts(baseline)
    assert not list(ws.root.glob("ckpt/**/*.resume.safetensors"))
