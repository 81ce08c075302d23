"""The embedded digits dataset: scaled, split 80/20 stratified with seed 0, deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from unlearn_cli.data.sources import RawDataset, read_dataset
from unlearn_cli.errors import InputError


@pytest.fixture(scope="module")
def digits() -> RawDataset:
    return read_dataset("digits", None)


def test_shapes_and_split_sizes(digits: RawDataset) -> None:
    assert digits.train.images.shape == (1437, 8, 8, 1)
    assert digits.test.images.shape == (360, 8, 8, 1)
    assert len(digits.train) + len(digits.test) == 1797
    for split in (digits.train, digits.test):
        assert split.images.dtype == np.uint8 and split.images.flags.c_contiguous
        assert split.labels.dtype == np.int64
    assert digits.class_names == [str(d) for d in range(10)]
    assert digits.source_files == [] and digits.extra_names == {}


def test_split_is_stratified(digits: RawDataset) -> None:
    train = np.bincount(digits.train.labels, minlength=10)
    test = np.bincount(digits.test.labels, minlength=10)
    total = train + test
    # Every class keeps its share to within one image in the test split.
    assert np.all(np.abs(test - total * 0.2) <= 1)


def test_pixels_are_scaled_and_every_image_is_kept(digits: RawDataset) -> None:
    bunch = load_digits()
    expected = np.array([round(v * 255 / 16) for v in range(17)], dtype=np.uint8)
    scaled = expected[bunch.images.astype(int)]  # (1797, 8, 8) via a lookup of round()
    images = np.concatenate([digits.train.images, digits.test.images])[..., 0]
    labels = np.concatenate([digits.train.labels, digits.test.labels])
    assert images.max() == 255 and images.min() == 0
    # Same multiset of (image, label) pairs as the original: the split loses nothing.
    def pairs(imgs: np.ndarray, labs: np.ndarray) -> list[bytes]:
        return sorted(i.tobytes() + bytes([int(y)]) for i, y in zip(imgs, labs, strict=True))

    assert pairs(images, labels) == pairs(scaled, bunch.target)


def test_split_is_deterministic(digits: RawDataset) -> None:
    again = read_dataset("digits", None)
    np.testing.assert_array_equal(again.train.images, digits.train.images)
    np.testing.assert_array_equal(again.test.labels, digits.test.labels)


def test_a_source_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_dataset("digits", tmp_path)
    assert "digits" in info.value.message and str(tmp_path) in info.value.message
    assert info.value.hint
