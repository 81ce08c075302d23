"""The restricted unpickler: official CIFAR pickles load, anything else is refused."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

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
    blob = pickle.dumps({"a": arr, "t": (1, 2), "s": {1}}, protocol=protocol)
    assert b"numpy._core.multiarray" in blob
    obj = safe_load(blob, "x")
    assert isinstance(obj, dict)
    np.testing.assert_array_equal(obj["a"], arr)
    assert obj["t"] == (1, 2) and obj["s"] == {1}


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


@pytest.mark.parametrize("target", [eval, getattr, Path, np.load])
def test_refuses_every_other_global(target: object) -> None:
    blob = pickle.dumps(target, protocol=4)
    with pytest.raises(DataError, match="refused"):
        safe_load(blob, "meta")


@pytest.mark.parametrize("blob", [b"", b"not a pickle", cifar_pickle({b"a": 1})[:-5]])
def test_corrupt_pickle_is_a_data_error_naming_the_file(blob: bytes) -> None:
    with pytest.raises(DataError) as info:
        safe_load(blob, "test_batch")
    assert "test_batch" in info.value.message
