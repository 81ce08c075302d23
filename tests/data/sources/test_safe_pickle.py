"""The restricted unpickler: official CIFAR pickles load, anything else is refused."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tests.data.sources import hostile_pickles as hp
from tests.fixtures.formats import cifar_pickle
from unlearn_cli.data.sources.safe_pickle import safe_load
from unlearn_cli.errors import DataError


def test_loads_python2_style_cifar_pickle_with_bytes_keys() -> None:
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    blob = cifar_pickle({b"data": data, b"labels": [3, 7], b"label_names": [b"cat"]})
    assert b"numpy.core.multiarray" in blob  # the spelling in the official files
    obj = safe_load(blob, "batch")
    assert isinstance(obj, dict)
    assert obj[b"labels"] == [3, 7] and obj[b"label_names"] == [b"cat"]
    np.testing.assert_array_equal(obj[b"data"], data)
    assert obj[b"data"].dtype == np.uint8


@pytest.mark.parametrize("protocol", [3, 4])
def test_loads_numpy_arrays_pickled_by_python3(protocol: int) -> None:
    # These name numpy._core.multiarray._reconstruct (numpy >= 2), not numpy.core.
    arr = np.arange(12, dtype=np.int16).reshape(3, 4)
    blob = pickle.dumps({"a": arr, "t": (1, 2), "same": [arr, arr]}, protocol=protocol)
    assert b"numpy._core.multiarray" in blob
    obj = safe_load(blob, "x")
    assert isinstance(obj, dict)
    np.testing.assert_array_equal(obj["a"], arr)
    assert obj["t"] == (1, 2)
    assert obj["same"][0] is obj["same"][1] is obj["a"]  # a shared array stays one array


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_refuses_a_pickle_that_runs_a_command_and_never_runs_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    blob = pickle.dumps({b"data": _Evil(marker)}, protocol=4)
    with pytest.raises(DataError) as info:
        safe_load(blob, "data_batch_1")
    assert "data_batch_1" in info.value.message
    assert "system" in info.value.message
    assert info.value.hint
    assert not marker.exists()


@pytest.mark.parametrize("target", [eval, getattr, Path, np.load, bytearray, set, list, dict])
def test_refuses_every_other_global(target: object) -> None:
    blob = pickle.dumps(target, protocol=4)
    with pytest.raises(DataError, match="refused"):
        safe_load(blob, "meta")


@pytest.mark.parametrize("blob", [b"", b"not a pickle", cifar_pickle({b"a": 1})[:-5]])
def test_corrupt_pickle_is_a_data_error_naming_the_file(blob: bytes) -> None:
    with pytest.raises(DataError) as info:
        safe_load(blob, "test_batch")
    assert "test_batch" in info.value.message


@pytest.mark.parametrize("dtype", [">i8", "<f4", "?", "<u2"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_numeric_arrays_of_any_byte_order_and_layout_round_trip(dtype: str, order: str) -> None:
    arr = np.asarray(np.arange(12).reshape(3, 4) % 3, dtype=dtype, order=order)
    for blob in (cifar_pickle(arr), pickle.dumps(arr, protocol=4)):
        loaded = safe_load(blob, "x")
        assert isinstance(loaded, np.ndarray)
        assert loaded.dtype == arr.dtype and loaded.shape == arr.shape
        np.testing.assert_array_equal(loaded, arr)


# ---------------------------------------------- hostile pickles (untrusted input must not crash)

_HOSTILE = {
    # numpy would read the bytes as object pointers: a segfault with these globals alone
    "object dtype": (hp.object_pointer_array(), "object"),
    "has-object flag": (hp.flagged_number_array(), "dtype state"),
    "void dtype": (hp.wrap(hp.array_body((2,), hp.dtype_pickle(b"V8", flags=1, elsize=8), b"A" * 16)), "V8"),
    # a few bytes that would allocate hundreds of megabytes
    "bytearray(n)": (hp.bytearray_bomb(300_000_000), "bytearray"),
    "bytearray-backed data": (hp.bytearray_backed_array(4), "bytearray"),
    "_reconstruct shape": (hp.reconstruct_bomb(300_000_000), "_reconstruct"),
    "shape beyond data": (hp.shape_beyond_data(300_000_000), "300000000"),
    "ndarray(n)": (hp.direct_ndarray_call(300_000_000), "numpy.ndarray"),
    "BYTEARRAY8": (hp.bytearray8(300_000_000), "protocol-5"),
    "nesting": (hp.deeply_nested(10_000), "nested"),
    "cycle": (hp.self_containing_list(), "contains itself"),
}


@pytest.mark.parametrize("case", sorted(_HOSTILE))
def test_hostile_pickles_are_refused_without_allocating(case: str) -> None:
    blob, fragment = _HOSTILE[case]
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            safe_load(blob, "data_batch_1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "data_batch_1" in info.value.message and "refused" in info.value.message
    assert fragment in info.value.message
    assert info.value.hint
    # Nothing near the declared sizes: at most a small multiple of the pickle itself.
    assert peak < 1_000_000 + 20 * len(blob), peak


def test_a_declared_length_beyond_the_file_allocates_nothing() -> None:
    blob = hp.declared_bytes8(300_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="not a readable pickle"):
            safe_load(blob, "meta")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak


def test_an_object_array_never_reaches_numpy_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """The crash itself: loading in a child, which would die with SIGSEGV if numpy saw it."""
    path = tmp_path / "batch"
    path.write_bytes(hp.object_pointer_array())
    code = ("import sys; from unlearn_cli.data.sources.safe_pickle import safe_load; from unlearn_cli.errors import DataError\n"
            "try:\n    safe_load(open(sys.argv[1], 'rb').read(), 'b'); print('loaded')\n"
            "except DataError as e:\n    print('refused')")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.strip() == "refused"
