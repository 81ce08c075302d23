"""Decompression and declared-size bombs are refused while they inflate, and a
declared shape is checked against the file before anything is allocated."""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_one_line_error
from tests.fixtures.formats import write_natmu_tiny_npy
from tests.hostile.conftest import assert_clean_failure, run_unlearn

_MiB = 1 << 20


def _tar_gz_bomb(path: Path, member: str, size: int) -> Path:
    """A tar.gz whose one member is `size` zero bytes (256 MiB -> ~1 MiB at level 1)."""
    folder = tarfile.TarInfo(member.split("/")[0])
    folder.type = tarfile.DIRTYPE
    info = tarfile.TarInfo(member)
    info.size = size
    gz = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [gz.compress(folder.tobuf() + info.tobuf())]
    zeros = bytes(_MiB)
    parts += [gz.compress(zeros) for _ in range(size // _MiB)]
    parts += [gz.compress(bytes(1024)), gz.flush()]
    path.write_bytes(b"".join(parts))
    return path


def _npy_declaring(path: Path, shape: tuple[int, ...], dtype: str, payload: bytes) -> Path:
    """An .npy header declaring `shape` followed by only `payload`."""
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(payload)
    return path


@pytest.mark.slow
def test_a_gzip_bomb_is_refused_with_peak_memory_near_any_refused_archive(tmp_path):
    """256 MiB of zeros in a ~1 MiB tar.gz: today it is read whole into memory before the
    pickle is refused. Peak memory of the child is compared with a refused garbage file."""
    bomb = _tar_gz_bomb(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py/data_batch_1", 256 * _MiB)
    assert bomb.stat().st_size < 2 * _MiB
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b" + bytes(100))
    baseline = run_unlearn(["prepare-data", "--dataset", "cifar10", "--source", str(garbage)], tmp_path / "ws")
    assert_clean_failure(baseline, "cannot read the archive")
    done = run_unlearn(["prepare-data", "--dataset", "cifar10", "--source", str(bomb)], tmp_path / "ws")
    assert done.peak_rss_bytes < baseline.peak_rss_bytes + 64 * _MiB, (done.peak_rss_bytes, baseline.peak_rss_bytes)
    assert_clean_failure(done, str(bomb), "ratio above", "decompression bomb")


def test_a_natmu_npy_declaring_a_terabyte_is_refused_before_allocating(cli, ws, tmp_path):
    folder = write_natmu_tiny_npy(tmp_path)
    _npy_declaring(folder / "train_data.npy", (80_000_000, 3, 64, 64), "|u1", bytes(100))  # ~1 TB
    result = cli("prepare-data", "--dataset", "tinyimagenet", "--source", str(folder))
    assert_one_line_error(result, "train_data.npy", "declares shape (80000000, 3, 64, 64)",
                          "holds 100 bytes")
    assert not ws.manifest_path("dataset", "tinyimagenet").exists()


@pytest.mark.slow
def test_an_indices_npy_declaring_a_terabyte_is_refused_before_allocating(cli, trained_ws, tmp_path):
    cli.workspace = trained_ws
    indices = _npy_declaring(tmp_path / "rows.npy", (10**12,), "<i8", np.arange(4, dtype="<i8").tobytes())
    result = cli("make-forget-set", "--model", "digits-cnn-s0", "--indices", str(indices))
    assert_one_line_error(result, "rows.npy", "declares shape (1000000000000,)", "holds 32 bytes")
    assert trained_ws.names("forget-set") == []
