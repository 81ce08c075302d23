"""`read_dataset` over the whole registry: lookup, source rules and validation."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.formats import (
    write_cifar10,
    write_cifar100,
    write_natmu_tiny_npy,
    write_tinyimagenet,
)
from unlearn_cli.data.sources import DATASETS, DatasetSource, RawDataset, Split, read_dataset
from unlearn_cli.data.sources.base import validate_raw
from unlearn_cli.errors import DataError, InputError, UnknownNameError

# One tiny source writer per dataset; None for embedded sets.
WRITERS: dict[str, Callable[[Path], Path] | None] = {
    "digits": None,
    "cifar10": write_cifar10,
    "cifar100": write_cifar100,
    "cifar20": write_cifar100,
    "tinyimagenet": write_tinyimagenet,
}
NAMES = DATASETS.names()


def test_registry_order_and_every_dataset_has_a_fixture() -> None:
    assert NAMES == ["digits", "cifar10", "cifar100", "cifar20", "tinyimagenet"]
    assert set(WRITERS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_registered_source_is_consistent(name: str) -> None:
    spec = DATASETS.get(name)
    assert spec.name == name and spec.description
    assert len(spec.image_shape) == 3 and spec.num_classes > 1
    if spec.embedded:
        assert spec.download is None
    else:
        assert spec.download is not None
        assert re.fullmatch(r"[0-9a-f]{32}", spec.download.md5)
        assert spec.download.url.endswith("/" + spec.download.filename)


@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_reads_and_validates(tmp_path: Path, name: str) -> None:
    writer = WRITERS[name]
    raw = read_dataset(name, None if writer is None else writer(tmp_path))
    spec = DATASETS.get(name)
    for split in (raw.train, raw.test):
        assert split.images.shape[1:] == spec.image_shape and split.images.dtype == np.uint8
        assert split.labels.max() < len(raw.class_names)
        assert set(split.extra) == set(raw.extra_names)
    validate_raw(raw, spec, "again")  # what read_dataset returns passes its own checks


@pytest.mark.parametrize("name", [n for n in NAMES if WRITERS[n] is not None])
def test_missing_path_is_a_data_error_naming_it(tmp_path: Path, name: str) -> None:
    missing = tmp_path / "no-such-archive.tar.gz"
    with pytest.raises(DataError) as info:
        read_dataset(name, missing)
    assert str(missing) in info.value.message and info.value.hint


@pytest.mark.parametrize("name", [n for n in NAMES if WRITERS[n] is not None])
def test_no_source_for_a_non_embedded_dataset(name: str) -> None:
    with pytest.raises(InputError, match=f"'{name}' needs a source") as info:
        read_dataset(name, None)
    assert "--source" in (info.value.hint or "")


def test_unknown_dataset_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        read_dataset("imagenet", None)
    assert "imagenet" in info.value.message
    assert all(n in (info.value.hint or "") for n in NAMES)


def test_natmu_layout_through_read_dataset(tmp_path: Path) -> None:
    raw = read_dataset("tinyimagenet", write_natmu_tiny_npy(tmp_path))
    assert raw.train.images.shape == (6, 64, 64, 3)


def test_fewer_classes_than_official_only_warns(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        raw = read_dataset("tinyimagenet", write_tinyimagenet(tmp_path, n_classes=2))
    assert len(raw.class_names) == 2
    assert "2 classes here, the official dataset has 200" in caplog.text


# ------------------------------------------------------------------ validate_raw


def _raw(**changes: object) -> RawDataset:
    images = np.zeros((4, 8, 8, 1), np.uint8)
    labels = np.array([0, 1, 2, 1], np.int64)
    raw = RawDataset(Split(images, labels), Split(images.copy(), labels.copy()),
                     ["a", "b", "c"], {}, [])
    for key, value in changes.items():
        setattr(raw, key, value)
    return raw


SPEC = DatasetSource("toy", 3, (8, 8, 1), "toy", lambda p: _raw(), None, embedded=True)
IMAGES = np.zeros((4, 8, 8, 1), np.uint8)
LABELS = np.array([0, 1, 2, 1], np.int64)


@pytest.mark.parametrize(("raw", "words"), [
    (_raw(train=Split(IMAGES, np.array([0, 3, 1, 1]))), "labels[1] = 3 is out of range 0..2"),
    (_raw(test=Split(IMAGES, np.array([0, -1, 1, 1]))), "test split"),
    (_raw(train=Split(np.zeros((4, 8, 7, 1), np.uint8), LABELS)), "expected (8, 8, 1)"),
    (_raw(train=Split(IMAGES.astype(np.float32), LABELS)), "uint8"),
    (_raw(train=Split(np.zeros((8, 8, 4, 1), np.uint8).transpose(2, 0, 1, 3), LABELS)),
     "C-contiguous"),
    (_raw(train=Split(IMAGES, LABELS.astype(np.int32))), "int64"),
    (_raw(train=Split(IMAGES, LABELS[:3])), "int64 (4,)"),
    (_raw(train=Split(IMAGES[:0], LABELS[:0])), "no images"),
    (_raw(class_names=[]), "no class names"),
    (_raw(class_names=["a", "a", "c"]), "not unique"),
    (_raw(train=Split(IMAGES, LABELS, {"coarse": LABELS})), "do not match their names"),
    (_raw(train=Split(IMAGES, LABELS, {"coarse": LABELS}),
          test=Split(IMAGES, LABELS, {"coarse": LABELS}), extra_names={"coarse": ["x", "y"]}),
     "coarse[2] = 2 is out of range 0..1"),
], ids=["label-high", "label-neg", "shape", "dtype", "layout", "label-dtype", "label-count",
        "empty", "no-names", "dup-names", "extra-unnamed", "extra-range"])
def test_validation_errors_name_the_source(raw: RawDataset, words: str) -> None:
    with pytest.raises(DataError) as info:
        validate_raw(raw, SPEC, "/data/toy.tar.gz")
    assert "/data/toy.tar.gz" in info.value.message
    assert words in info.value.message
