"""read_npy: what np.save writes comes back; a header that the file's bytes cannot back is
refused before anything is allocated."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest

from unlearn_cli.data.sources.npy import read_npy


def _saved(array: np.ndarray) -> io.BytesIO:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    buffer.seek(0)
    return buffer


def _header_only(shape: tuple[int, ...], dtype: str, payload: bytes = b"", version=(1, 0)) -> io.BytesIO:
    buffer = io.BytesIO()
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    writer = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    writer(buffer, header)
    buffer.write(payload)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=">i4").reshape(3, 4),
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    np.zeros((0, 5), np.uint8),
    np.array([True, False]),
    np.array(7, dtype=np.int64),
], ids=["big-endian", "fortran", "empty", "bool", "scalar"])
def test_round_trips_what_np_save_writes(array: np.ndarray) -> None:
    loaded = read_npy(_saved(array))
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable


def test_reads_from_the_current_position_of_a_real_file(tmp_path) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.arange(5))
    with path.open("rb") as handle:
        np.testing.assert_array_equal(read_npy(handle), np.arange(5))


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_a_terabyte_shape_over_a_few_bytes_allocates_nothing(version) -> None:
    stream = _header_only((10**12,), "<i8", np.arange(4).tobytes(), version)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            read_npy(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "declares shape (1000000000000,) of int64 (8000000000000 bytes)" in str(info.value)
    assert "holds 32 bytes" in str(info.value)
    assert peak < 1_000_000


def test_trailing_bytes_are_refused_too() -> None:
    with pytest.raises(ValueError, match="declares shape"):
        read_npy(_header_only((2,), "|u1", b"abc"))


@pytest.mark.parametrize(("dtype", "word"), [("O", "object"), ("V8", "V8"), ("<U3", "<U3")])
def test_only_plain_numbers(dtype: str, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        read_npy(_header_only((2,), dtype, bytes(64)))


def test_not_an_npy_file() -> None:
    with pytest.raises(ValueError):
        read_npy(io.BytesIO(b"this is no array"))
