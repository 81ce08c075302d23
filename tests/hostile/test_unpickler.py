"""A CIFAR pickle that names only allowed globals must still not crash the
interpreter or make it allocate what the file does not hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.data.sources import hostile_pickles as hp
from tests.fixtures.formats import write_cifar10
from tests.hostile.conftest import assert_clean_failure, run_unlearn


def _cifar_with_batch(root: Path, batch: bytes) -> Path:
    folder = write_cifar10(root)
    (folder / "data_batch_1").write_bytes(batch)
    return folder


@pytest.mark.slow
def test_an_object_dtype_batch_is_refused_not_a_crash(tmp_path):
    """numpy would read the file's bytes as object pointers: a segfault (exit -11) today."""
    source = _cifar_with_batch(tmp_path / "src", hp.cifar_batch(hp.object_pointer_body(2), 2))
    done = run_unlearn(["prepare-data", "--dataset", "cifar10", "--source", str(source)], tmp_path / "ws")
    assert_clean_failure(done, "data_batch_1", "refused to load a pickle", "object")
    assert not (tmp_path / "ws" / "manifests" / "dataset" / "cifar10.json").exists()


def test_a_batch_of_zeros_the_file_never_held_is_refused(cli, ws, tmp_path):
    """A 2 kB file whose 'data' is `ndarray(shape, dtype, bytearray(n))`: 3 MB of zeros,
    accepted as a dataset today."""
    batch = hp.ndarray_over_bytearray(1000)
    assert len(batch) < 2000
    source = _cifar_with_batch(tmp_path / "src", batch)
    result = cli("prepare-data", "--dataset", "cifar10", "--source", str(source))
    assert_one_line_error(result, "data_batch_1", "refused to load a pickle", "bytearray")
    assert not ws.manifest_path("dataset", "cifar10").exists()
