"""A process killed among the renames of its commit leaves a journal, and the next access to
the artifact finishes the commit: the user never ends up with neither the old artifact nor
the new one. The journal is workspace input, so a hostile one is refused, not followed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from unlearn_cli.artifacts import Manifest, Workspace, load_tensors, save_tensors
from unlearn_cli.artifacts.files import _Temp, commit_journal
from unlearn_cli.errors import ArtifactError, ArtifactExistsError

pytestmark = pytest.mark.subprocess


def write_model(ws: Workspace, value: float) -> None:
    """Model 'm' as every step writes it: two tensor files, then the manifest (the commit)."""
    weights, init = ws.ckpt_path("m"), ws.ckpt_path("m", ".init")
    ws.check_new("model", "m", force=True)
    with ws.replacing("model", "m", [weights, init]):
        save_tensors(weights, {"w": torch.full((4,), value)})
        save_tensors(init, {"w": torch.full((4,), -value)})
        ws.write(Manifest(kind="model", name="m",
                          files={"weights": ws.file_ref(weights), "init": ws.file_ref(init)}))


# write_model in a child process that SIGKILLs itself after argv[3] of the commit's renames.
_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from unlearn_cli.artifacts import Workspace, files
    from tests.artifacts.test_commit_journal import write_model

    root, value, kill_after = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    renames = 0
    real_move = files._Temp.move_into_place

    def move(self):
        global renames
        if not self.final.name.endswith(".commit"):  # the journal's own write is no rename of the commit
            if renames == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            renames += 1
        real_move(self)

    files._Temp.move_into_place = move
    write_model(Workspace.at(root), value)
""")
_REPO = Path(__file__).resolve().parents[2]


def _write(ws: Workspace, value: float, kill_after: int = -1) -> int:
    """Write model 'm' with `value`: in this process when it lives through it, else in a
    child killed after `kill_after` renames (returns its exit code)."""
    if kill_after < 0:
        write_model(ws, value)
        return 0
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(ws.root), str(value), str(kill_after)],
                          capture_output=True, text=True, timeout=120, cwd=_REPO)
    return done.returncode


def _leftovers(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.root.rglob("*") if p.name.endswith((".tmp", ".commit")))


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [0, 1, 2])  # renames done when killed: weights, init, manifest
def test_a_commit_killed_among_its_renames_is_finished_by_the_next_read(ws, kill_after):
    assert _write(ws, 1.0) == 0
    assert _write(ws, 2.0, kill_after) == -9
    journal = commit_journal(ws.manifest_path("model", "m"))
    assert journal.exists()
    assert not ws.manifest_path("model", "m").exists()  # the old manifest went first

    manifest = ws.read("model", "m")  # finishes the commit, then verifies every checksum
    assert load_tensors(ws.abs(manifest.files["weights"].path))["w"].tolist() == [2.0] * 4
    assert load_tensors(ws.abs(manifest.files["init"].path))["w"].tolist() == [-2.0] * 4
    assert _leftovers(ws) == []


@pytest.mark.slow
def test_an_interrupted_commit_counts_as_an_existing_artifact(ws):
    assert _write(ws, 1.0) == 0
    assert _write(ws, 2.0, kill_after=1) == -9
    with pytest.raises(ArtifactExistsError):
        ws.check_new("model", "m", force=False)  # finished under the lock, then found
    assert ws.exists("model", "m") and _leftovers(ws) == []


def test_a_kill_after_the_last_rename_leaves_only_the_journal_which_goes_next_time(ws):
    assert _write(ws, 1.0) == 0
    journal = commit_journal(ws.manifest_path("model", "m"))
    assert _write(ws, 3.0) == 0
    journal.write_text(json.dumps({"version": 1, "renames": []}))  # as if killed before its removal
    assert ws.exists("model", "m")
    assert not journal.exists()
    assert load_tensors(ws.ckpt_path("m"))["w"].tolist() == [3.0] * 4


def test_a_failed_rename_keeps_the_staged_files_for_the_journal(ws, monkeypatch):
    """An exception among the renames (not a kill) must not discard what the journal needs."""
    assert _write(ws, 1.0) == 0
    weights, init = ws.ckpt_path("m"), ws.ckpt_path("m", ".init")
    real_move = _Temp.move_into_place
    moves = []

    def failing_move(self):
        if self.final == init:
            raise OSError(5, "Input/output error")
        moves.append(self.final.name)
        real_move(self)

    monkeypatch.setattr(_Temp, "move_into_place", failing_move)
    ws.check_new("model", "m", force=True)
    with pytest.raises(OSError):
        with ws.replacing("model", "m", [weights, init]):
            save_tensors(weights, {"w": torch.full((4,), 5.0)})
            save_tensors(init, {"w": torch.full((4,), -5.0)})
            ws.write(Manifest(kind="model", name="m",
                              files={"weights": ws.file_ref(weights), "init": ws.file_ref(init)}))
    monkeypatch.setattr(_Temp, "move_into_place", real_move)
    manifest = ws.read("model", "m")
    assert load_tensors(ws.abs(manifest.files["init"].path))["w"].tolist() == [-5.0] * 4
    assert _leftovers(ws) == []


def test_a_live_writers_journal_is_left_alone(ws):
    """Another process holding the name's lock is committing right now: not ours to finish."""
    assert _write(ws, 1.0) == 0
    manifest = ws.manifest_path("model", "m")
    journal = commit_journal(manifest)
    journal.write_text(json.dumps({"version": 1, "renames": []}))
    lock_file = ws.lock_path("model", "m")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('locked', flush=True); time.sleep(60)", str(lock_file)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert ws.exists("model", "m")
        assert journal.exists()
    finally:
        holder.kill()
        holder.wait()
    assert ws.exists("model", "m") and not journal.exists()


def _hostile_journal(ws: Workspace, renames: object, raw: bytes | None = None) -> Path:
    manifest = ws.manifest_path("model", "m")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    journal = commit_journal(manifest)
    journal.write_bytes(raw if raw is not None else json.dumps({"version": 1, "renames": renames}).encode())
    return journal


@pytest.mark.parametrize("renames, raw", [
    ([[".passwd.abcd1234.tmp", "../../../../../../etc/passwd"]], None),  # a final outside the workspace
    ([["secret.txt", "../../ckpt/m.safetensors"]], None),  # a source that is no temporary file of it
    ([[".m.safetensors.abcd1234.tmp", 7]], None),
    ([["only one"]], None),
    (None, b"{not json"),
    (None, b'{"version": 1, "renames": []}' + b" " * 70_000),  # far more than a commit needs
    (None, json.dumps({"version": 2, "renames": []}).encode()),
])
def test_a_hostile_journal_is_refused_and_nothing_is_renamed(ws, tmp_path, renames, raw):
    outside = tmp_path / "etc-like"
    outside.mkdir()
    journal = _hostile_journal(ws, renames, raw)
    victim = ws.root / "ckpt" / ".m.safetensors.abcd1234.tmp"
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_bytes(b"not to be moved")
    with pytest.raises(ArtifactError, match="not a valid commit journal") as error:
        ws.read("model", "m")
    assert str(journal) in error.value.hint
    assert victim.read_bytes() == b"not to be moved" and not ws.ckpt_path("m").exists()
    assert journal.exists()  # left for the user to look at, as the hint says


@pytest.mark.slow
def test_a_journal_is_found_by_path_too(ws):
    assert _write(ws, 1.0) == 0
    assert _write(ws, 4.0, kill_after=0) == -9
    manifest = ws.read("model", str(ws.manifest_path("model", "m")))
    assert load_tensors(ws.abs(manifest.files["weights"].path))["w"].tolist() == [4.0] * 4


def test_the_commit_cli_error_for_a_hostile_journal_is_one_line(ws, cli):
    _hostile_journal(ws, [[".x.abcd1234.tmp", "../../../../x"]])
    result = cli("make-forget-set", "--model", "m", "--per", "10")
    assert result.exit_code == 1
    assert "not a valid commit journal" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_the_lock_taken_to_finish_a_commit_is_given_back(ws):
    assert _write(ws, 1.0) == 0
    assert _write(ws, 2.0, kill_after=1) == -9
    ws.read("model", "m")
    assert not ws.lock_path("model", "m").exists()
