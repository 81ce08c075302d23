"""CIFAR-10/100/20 from folders, parent folders and tarballs; every way they can be broken."""

from __future__ import annotations

import logging
import os
import pickle
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.formats import (
    CIFAR10_LABEL_NAMES,
    CIFAR100_COARSE_NAMES,
    CIFAR100_FINE_NAMES,
    cifar100_coarse_label,
    cifar100_fine_label,
    cifar_pickle,
    cifar_rows,
    write_cifar10,
    write_cifar100,
)
from unlearn_cli.data.sources import read_dataset
from unlearn_cli.errors import DataError

LAYOUTS = ["folder", "parent", "archive"]


def _source(kind: str, root: Path, writer=write_cifar10) -> Path:  # noqa: ANN001
    path = writer(root, archive=kind == "archive")
    return path.parent if kind == "parent" else path


def _raw_pickle(folder: Path, name: str) -> dict:
    # Trusted test data: the plain unpickler gives the expected values independently.
    return pickle.loads((folder / name).read_bytes(), encoding="bytes")


@pytest.mark.parametrize("kind", LAYOUTS)
def test_cifar10_every_layout(tmp_path: Path, kind: str) -> None:
    raw = read_dataset("cifar10", _source(kind, tmp_path))
    assert raw.class_names == CIFAR10_LABEL_NAMES
    assert raw.train.images.shape == (20, 32, 32, 3) and raw.test.images.shape == (6, 32, 32, 3)
    for split in (raw.train, raw.test):
        assert split.images.dtype == np.uint8 and split.images.flags.c_contiguous
        assert split.labels.dtype == np.int64 and split.extra == {}
    np.testing.assert_array_equal(raw.train.labels, np.arange(20) % 10)
    np.testing.assert_array_equal(raw.test.labels, (3 * np.arange(6) + 1) % 10)
    # Batches in order 1..5: the marker at pixel (0, 0) red is the running index.
    np.testing.assert_array_equal(raw.train.images[:, 0, 0, 0], np.arange(20))
    expected_files = 7 if kind != "archive" else 1
    assert len(raw.source_files) == expected_files and all(p.exists() for p in raw.source_files)


def test_cifar10_pixels_are_converted_from_chw_to_hwc(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path)
    raw = read_dataset("cifar10", folder)
    rows = _raw_pickle(folder, "data_batch_2")[b"data"]  # train images 4..7
    for i, row in enumerate(rows):
        for c, h, w in [(0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 0, 1), (0, 1, 0), (2, 31, 5)]:
            assert raw.train.images[4 + i, h, w, c] == row[c * 1024 + h * 32 + w]
    test_rows = _raw_pickle(folder, "test_batch")[b"data"]
    np.testing.assert_array_equal(
        raw.test.images, test_rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("name", ["cifar100", "cifar20"])
def test_cifar100_and_cifar20_every_layout(tmp_path: Path, kind: str, name: str) -> None:
    raw = read_dataset(name, _source(kind, tmp_path, write_cifar100))
    fine = {s: np.array([cifar100_fine_label(s, i) for i in range(n)])
            for s, n in (("train", 12), ("test", 6))}
    coarse = {s: np.array([cifar100_coarse_label(f) for f in v]) for s, v in fine.items()}
    for s, split in (("train", raw.train), ("test", raw.test)):
        assert split.images.shape[1:] == (32, 32, 3) and split.images.flags.c_contiguous
        np.testing.assert_array_equal(split.images[:, 0, 0, 0], np.arange(len(split)))
        if name == "cifar100":
            np.testing.assert_array_equal(split.labels, fine[s])
            np.testing.assert_array_equal(split.extra["coarse_labels"], coarse[s])
        else:
            np.testing.assert_array_equal(split.labels, coarse[s])
            np.testing.assert_array_equal(split.extra["fine_labels"], fine[s])
        assert all(v.dtype == np.int64 for v in [split.labels, *split.extra.values()])
    if name == "cifar100":
        assert raw.class_names == CIFAR100_FINE_NAMES
        assert raw.extra_names == {"coarse_labels": CIFAR100_COARSE_NAMES}
    else:
        assert raw.class_names == CIFAR100_COARSE_NAMES
        assert raw.extra_names == {"fine_labels": CIFAR100_FINE_NAMES}


def test_archive_md5_mismatch_warns_but_reads(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        raw = read_dataset("cifar10", write_cifar10(tmp_path, archive=True))
    assert len(raw.train) == 20
    assert "c58f30108f718f92721af3b95e74349a" in caplog.text


def test_folder_is_not_checksummed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        read_dataset("cifar10", write_cifar10(tmp_path))
    assert "md5" not in caplog.text


# ------------------------------------------------------------------ errors


def test_missing_batch_in_folder_names_the_file(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError) as info:
        read_dataset("cifar10", folder)
    assert str(folder / "data_batch_3") in info.value.message
    assert "cifar-10-python.tar.gz" in (info.value.hint or "")


def test_folder_of_the_wrong_layout(tmp_path: Path) -> None:
    (tmp_path / "something.txt").write_text("hi")
    with pytest.raises(DataError) as info:
        read_dataset("cifar10", tmp_path)
    assert str(tmp_path) in info.value.message and "data_batch_1" in info.value.message


def test_cifar100_folder_given_to_cifar10_is_the_wrong_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        read_dataset("cifar10", write_cifar100(tmp_path))


def test_truncated_tarball(tmp_path: Path) -> None:
    path = write_cifar10(tmp_path, archive=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError) as info:
        read_dataset("cifar10", path)
    assert str(path) in info.value.message


def _replace(folder: Path, name: str, obj: object) -> None:
    (folder / name).write_bytes(cifar_pickle(obj))


def _batch(n: int = 4, labels: list[int] | None = None) -> dict:
    return {b"batch_label": b"x", b"labels": labels if labels is not None else [0] * n,
            b"data": cifar_rows(n, 5), b"filenames": [b"f"] * n}


@pytest.mark.parametrize(("obj", "words"), [
    ({k: v for k, v in _batch().items() if k != b"data"}, "no 'data' entry"),
    ({k: v for k, v in _batch().items() if k != b"labels"}, "no 'labels' entry"),
    ({**_batch(), b"data": cifar_rows(4, 5)[:, :3000]}, "(N, 3072)"),
    ({**_batch(), b"data": cifar_rows(4, 5).astype(np.int32)}, "uint8"),
    ({**_batch(), b"labels": [0, 1, 2]}, "4 images but 3 labels"),
    ({**_batch(), b"labels": ["a", "b", "c", "d"]}, "integers"),
    ({**_batch(), b"labels": [0, 1, 10, 2]}, "labels[2] = 10 is out of range 0..9"),
    ({**_batch(), b"labels": [0, -1, 1, 2]}, "out of range"),
    ([1, 2, 3], "expected a pickled dict"),
], ids=["no-data", "no-labels", "short-rows", "int32", "count", "str-labels", "label-10",
        "label-neg", "not-dict"])
def test_bad_batch_content_names_the_file(tmp_path: Path, obj: object, words: str) -> None:
    folder = write_cifar10(tmp_path)
    _replace(folder, "data_batch_4", obj)
    with pytest.raises(DataError) as info:
        read_dataset("cifar10", folder)
    assert str(folder / "data_batch_4") in info.value.message
    assert words in info.value.message
    assert info.value.hint


def test_cifar100_coarse_label_out_of_range(tmp_path: Path) -> None:
    folder = write_cifar100(tmp_path)
    batch = _raw_pickle(folder, "test")
    batch[b"coarse_labels"][0] = 20
    _replace(folder, "test", batch)
    with pytest.raises(DataError, match=re.escape("coarse_labels[0] = 20 is out of range 0..19")):
        read_dataset("cifar20", folder)


def test_meta_without_label_names(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path)
    _replace(folder, "batches.meta", {b"num_vis": 3072})
    with pytest.raises(DataError, match="no 'label_names' entry") as info:
        read_dataset("cifar10", folder)
    assert "batches.meta" in info.value.message


def test_corrupt_pickle_names_the_file(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path)
    path = folder / "test_batch"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="not a readable pickle") as info:
        read_dataset("cifar10", folder)
    assert str(path) in info.value.message


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_inside_a_tarball_is_refused(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path / "src")
    marker = tmp_path / "pwned"
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil(marker)}, protocol=4))
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    shutil.rmtree(folder)
    with pytest.raises(DataError, match="refused") as info:
        read_dataset("cifar10", archive)
    assert "data_batch_1" in info.value.message and str(archive) in info.value.message
    assert "system" in info.value.message
    assert not marker.exists()
