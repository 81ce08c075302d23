"""A --force run that fails leaves the old artifact whole and valid; temporary files
left by killed runs are cleaned by the next run of the same name."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet

from tests.conftest import assert_one_line_error

TINY = ("--epochs", "1", "--width", "0.25", "--device", "cpu")


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_forced_pretrain_failing_at_a_late_file_keeps_the_old_model(cli, trained_ws, monkeypatch):
    """The new weights and init are written, then the disk is full at the first table (difficulty)."""
    cli.workspace = trained_ws
    before = _files(trained_ws.root)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pyarrow.parquet, "write_table", disk_full)
    result = cli("pretrain", *TINY, "--seed", "0", "--name", "digits-cnn-s0", "--force")
    assert_one_line_error(result, "digits-cnn-s0.difficulty.parquet", "the disk is full")
    assert _files(trained_ws.root) == before  # byte for byte, and no temporary file
    trained_ws.read("model", "digits-cnn-s0")  # every checksum matches


def test_temporary_files_of_a_killed_run_are_removed_by_the_next_run(cli, ws):
    assert cli("prepare-data").exit_code == 0
    folder = ws.root / "data" / "digits"
    stale = [folder / ".train.safetensors.k1ll3d00.tmp", folder / ".test.safetensors.k1ll3d01.tmp",
             ws.manifest_path("dataset", "digits").with_name(".digits.json.k1ll3d02.tmp")]
    for path in stale:
        path.write_bytes(b"half-written by a run that was killed")
    result = cli("prepare-data", "--force")
    assert result.exit_code == 0, result.stderr
    assert not any(path.exists() for path in stale)
    ws.read("dataset", "digits")
