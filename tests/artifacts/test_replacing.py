"""Replacing an artifact (--force) keeps the old one whole until the new one is complete;
temporary files of killed writers are removed by the next write of the same file."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from unlearn_cli.artifacts import Manifest, Workspace, atomic_path, load_tensors, save_table, save_tensors
from unlearn_cli.artifacts.files import remove_stale_temps
from unlearn_cli.errors import ArtifactError


def _write_model(ws: Workspace, name: str, value: float) -> Manifest:
    """A model-like artifact with two files, written the way every step writes."""
    weights, init = ws.ckpt_path(name), ws.ckpt_path(name, ".init")
    ws.check_new("model", name, force=True)
    with ws.replacing("model", name, [weights, init]):
        save_tensors(weights, {"w": torch.full((4,), value)})
        save_tensors(init, {"w": torch.zeros(4)})
        manifest = Manifest(kind="model", name=name,
                            files={"weights": ws.file_ref(weights), "init": ws.file_ref(init)})
        ws.write(manifest)
    return manifest


def _temps(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.root.rglob("*.tmp"))


def test_the_old_artifact_stays_valid_until_the_new_manifest_is_written(ws):
    _write_model(ws, "m", 1.0)
    weights, init = ws.ckpt_path("m"), ws.ckpt_path("m", ".init")
    with ws.replacing("model", "m", [weights, init]):
        save_tensors(weights, {"w": torch.full((4,), 2.0)})
        save_tensors(init, {"w": torch.ones(4)})
        # Both new files are written, yet the old artifact is untouched and still verifies.
        old = ws.read("model", "m")
        assert load_tensors(weights)["w"].tolist() == [1.0] * 4
        manifest = Manifest(kind="model", name="m",
                            files={"weights": ws.file_ref(weights), "init": ws.file_ref(init)})
        ws.write(manifest)
    new = ws.read("model", "m")
    assert new.files != old.files
    assert load_tensors(weights)["w"].tolist() == [2.0] * 4
    assert _temps(ws) == []


@pytest.mark.parametrize("fail_at", ["second file", "manifest"])
def test_a_failed_replacement_leaves_the_old_artifact_intact(ws, monkeypatch, fail_at):
    old = _write_model(ws, "m", 1.0)
    weights, init = ws.ckpt_path("m"), ws.ckpt_path("m", ".init")
    with pytest.raises(ArtifactError, match="disk is full"):
        with ws.replacing("model", "m", [weights, init]):
            save_tensors(weights, {"w": torch.full((4,), 2.0)})
            if fail_at == "second file":
                with atomic_path(init) as tmp:
                    tmp.write_bytes(b"half")
                    raise OSError(28, "No space left on device")
            manifest = Manifest(kind="model", name="m",
                                files={"weights": ws.file_ref(weights), "init": ws.file_ref(weights)})
            def full(self: Path, data: bytes) -> int:
                raise OSError(28, "No space left on device")

            monkeypatch.setattr(Path, "write_bytes", full)  # the manifest's own write fails
            ws.write(manifest)
    assert ws.read("model", "m").files == old.files  # read() verifies every checksum
    assert load_tensors(weights)["w"].tolist() == [1.0] * 4
    assert _temps(ws) == []


def test_files_outside_the_replaced_set_are_written_directly(ws):
    """Only the registered paths are staged; anything else is an ordinary atomic write."""
    other = ws.root / "elsewhere.parquet"
    import pyarrow as pa

    with ws.replacing("model", "m", [ws.ckpt_path("m")]):
        save_table(other, pa.table({"a": [1]}))
        assert other.exists()
        save_tensors(ws.ckpt_path("m"), {"w": torch.zeros(1)})
        assert not ws.ckpt_path("m").exists()
        ws.write(Manifest(kind="model", name="m", files={"weights": ws.file_ref(ws.ckpt_path("m"))}))
    assert ws.ckpt_path("m").exists()


def _stale_temp(final: Path, tag: str = "abcd1234") -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.parent / f".{final.name}.{tag}.tmp"
    temp.write_bytes(b"left by a killed run")
    return temp


def test_stale_temporary_files_are_removed_by_the_next_write_of_the_same_file(tmp_path):
    final = tmp_path / "w.safetensors"
    stale = _stale_temp(final)
    neighbour = _stale_temp(tmp_path / "w.init.safetensors")  # another file's: kept
    with atomic_path(final) as tmp:
        tmp.write_bytes(b"new")
    assert not stale.exists() and neighbour.exists()
    assert final.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert final.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not 0600


def test_a_temporary_file_a_live_writer_holds_is_left_alone(tmp_path):
    final = tmp_path / "w.safetensors"
    live = _stale_temp(final)
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the writer holds its own
        remove_stale_temps(final)
        assert live.exists()
    finally:
        os.close(fd)
    remove_stale_temps(final)
    assert not live.exists()


def test_a_killed_writer_leaves_a_temporary_file_that_the_next_run_removes(tmp_path):
    final = tmp_path / "w.bin"
    code = ("import sys, os, time; from pathlib import Path; from unlearn_cli.artifacts import atomic_path\n"
            "with atomic_path(Path(sys.argv[1])) as tmp:\n"
            "    tmp.write_bytes(b'half'); print('writing', flush=True); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(final)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "writing"
        left = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        remove_stale_temps(final)  # the writer is alive: its file stays
        assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == left and left
    finally:
        child.kill()
        child.wait()
    assert not final.exists() and left[0].exists()  # SIGKILL: nothing cleaned up by the writer
    with atomic_path(final) as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.bin"]
