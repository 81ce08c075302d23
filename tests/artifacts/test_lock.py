"""One writer per artifact name: the lock `check_new` takes, and how it is given back."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from unlearn_cli.artifacts import Manifest, Workspace, lock
from unlearn_cli.errors import ArtifactError, ArtifactExistsError

pytestmark = pytest.mark.subprocess

# A process that takes the lock of model 'x' as a step does, says so, and waits.
HOLDER = ("import sys, time; from unlearn_cli.artifacts import Workspace\n"
          "Workspace.at(sys.argv[1]).check_new('model', sys.argv[2], force=True)\n"
          "print('locked', flush=True); time.sleep(60)\n")


def hold_lock(ws: Workspace, name: str = "x") -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(ws.root), name],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    return child


def test_a_second_writer_fails_at_once_naming_the_artifact(ws):
    holder = hold_lock(ws)
    try:
        with pytest.raises(ArtifactError) as error:
            ws.check_new("model", "x", force=True)
        assert "model 'x' is being written by another run" in error.value.message
        assert "--name" in (error.value.hint or "")
        ws.check_new("model", "y", force=False)  # other names are free
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holders_lock_is_free_again(ws):
    holder = hold_lock(ws)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert ws.lock_path("model", "x").exists()  # SIGKILL: the file stays, its lock does not
    ws.check_new("model", "x", force=False)
    assert lock.holds(ws.lock_path("model", "x"))


def test_the_lock_is_taken_once_per_process(ws):
    ws.check_new("model", "x", force=False)
    ws.check_new("model", "x", force=False)  # a second step of the same process: no deadlock
    with ws.replacing("model", "x", []):
        ws.write(Manifest(kind="model", name="x"))


def test_an_existing_artifact_gives_the_lock_back(ws):
    ws.check_new("model", "x", force=False)
    ws.write(Manifest(kind="model", name="x"))
    lock.release(ws.lock_path("model", "x"))
    with pytest.raises(ArtifactExistsError):
        ws.check_new("model", "x", force=False)
    assert not lock.holds(ws.lock_path("model", "x"))
    assert not ws.lock_path("model", "x").exists()


def test_lock_files_are_removed_when_the_process_ends(tmp_path: Path):
    root = tmp_path / "ws"
    code = ("import sys; from unlearn_cli.artifacts import Workspace\n"
            "Workspace.at(sys.argv[1]).check_new('model', 'x', force=False)\n")
    subprocess.run([sys.executable, "-c", code, str(root)], check=True)
    assert (root / "manifests" / "model").is_dir()
    assert list((root / "manifests" / "model").iterdir()) == []
