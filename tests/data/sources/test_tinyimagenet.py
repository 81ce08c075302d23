"""Tiny-ImageNet from the official folder, its parent, its zip, and NatMU's .npy files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.formats import (
    jpeg,
    tiny_train_colour,
    tiny_val_colour,
    tiny_wnids,
    write_natmu_tiny_npy,
    write_tinyimagenet,
)
from unlearn_cli.data.sources import read_dataset
from unlearn_cli.errors import DataError

TOLERANCE = 4  # JPEG keeps a solid colour within a few levels


def _assert_colours(images: np.ndarray, colours: list[tuple[int, int, int]]) -> None:
    for image, colour in zip(images, colours, strict=True):
        assert np.abs(image.astype(int) - np.array(colour)).max() <= TOLERANCE


@pytest.mark.parametrize("kind", ["folder", "parent", "zip"])
def test_official_layout(tmp_path: Path, kind: str) -> None:
    path = write_tinyimagenet(tmp_path, zip=kind == "zip")
    raw = read_dataset("tinyimagenet", path.parent if kind == "parent" else path)
    # Class order is wnids.txt order (descending here), not sorted order.
    assert raw.class_names == ["class 0, synonym", "class 1, synonym", "class 2, synonym"]
    assert raw.train.images.shape == (6, 64, 64, 3) and raw.test.images.shape == (4, 64, 64, 3)
    for split in (raw.train, raw.test):
        assert split.images.dtype == np.uint8 and split.images.flags.c_contiguous
        assert split.labels.dtype == np.int64
    np.testing.assert_array_equal(raw.train.labels, [0, 0, 1, 1, 2, 2])
    train_colours = [tiny_train_colour(k, j) for k in range(3) for j in range(2)]
    grey = train_colours[0][0]
    train_colours[0] = (grey, grey, grey)  # stored as a greyscale JPEG, read back as RGB
    _assert_colours(raw.train.images, train_colours)
    # Val labels come from val_annotations.txt (written in reverse), sorted by file name.
    np.testing.assert_array_equal(raw.test.labels, [0, 1, 2, 0])
    _assert_colours(raw.test.images, [tiny_val_colour(i % 3, i) for i in range(4)])
    if kind == "zip":
        assert raw.source_files == [path]
    else:
        names = {p.name for p in raw.source_files}
        assert "wnids.txt" in names and "val_0.JPEG" in names and "test_0.JPEG" not in names


def test_folder_and_zip_give_identical_arrays(tmp_path: Path) -> None:
    a = read_dataset("tinyimagenet", write_tinyimagenet(tmp_path / "a"))
    b = read_dataset("tinyimagenet", write_tinyimagenet(tmp_path / "b", zip=True))
    np.testing.assert_array_equal(a.train.images, b.train.images)
    np.testing.assert_array_equal(a.test.labels, b.test.labels)


def test_without_words_txt_the_wnids_are_the_names(tmp_path: Path) -> None:
    raw = read_dataset("tinyimagenet", write_tinyimagenet(tmp_path, words=False))
    assert raw.class_names == tiny_wnids(3) == ["n00000003", "n00000002", "n00000001"]


@pytest.mark.parametrize("wnids", [False, True])
def test_natmu_npy_layout(tmp_path: Path, wnids: bool) -> None:
    folder = write_natmu_tiny_npy(tmp_path, wnids=wnids)
    raw = read_dataset("tinyimagenet", folder)
    if wnids:
        assert raw.class_names == tiny_wnids(3)
    else:
        assert raw.class_names == [str(i) for i in range(200)]
    data = np.load(folder / "train_data.npy")
    np.testing.assert_array_equal(raw.train.images, data.transpose(0, 2, 3, 1))
    assert raw.train.images[:, 0, 0, 0].tolist() == list(range(6))
    assert raw.train.images.flags.c_contiguous and raw.train.images.shape == (6, 64, 64, 3)
    np.testing.assert_array_equal(raw.test.labels, np.arange(4) % 3)
    assert raw.test.labels.dtype == np.int64
    assert sorted(p.name for p in raw.source_files) == [
        "train_data.npy", "train_label.npy", "val_data.npy", "val_label.npy",
        *(["wnids.txt"] if wnids else [])]


# ------------------------------------------------------------------ errors


def _error(path: Path) -> DataError:
    with pytest.raises(DataError) as info:
        read_dataset("tinyimagenet", path)
    assert info.value.hint
    return info.value


def test_wrong_image_size_names_the_file(tmp_path: Path) -> None:
    folder = write_tinyimagenet(tmp_path)
    bad = folder / "train/n00000002/images/n00000002_1.JPEG"
    bad.write_bytes(jpeg((1, 2, 3), size=(64, 63)))
    error = _error(folder)
    assert str(bad) in error.message and "63x64" in error.message


def test_corrupt_jpeg_names_the_file(tmp_path: Path) -> None:
    folder = write_tinyimagenet(tmp_path)
    bad = folder / "val/images/val_2.JPEG"
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    error = _error(folder)
    assert str(bad) in error.message and "not a readable image" in error.message


def test_val_annotation_with_unknown_wnid(tmp_path: Path) -> None:
    folder = write_tinyimagenet(tmp_path)
    ann = folder / "val/val_annotations.txt"
    ann.write_text(ann.read_text() + "val_9.JPEG\tn12345678\t0\t0\t1\t1\n")
    error = _error(folder)
    assert str(ann) in error.message and "n12345678" in error.message and "line 5" in error.message


def test_val_annotation_cannot_escape_the_images_folder(tmp_path: Path) -> None:
    folder = write_tinyimagenet(tmp_path)
    ann = folder / "val/val_annotations.txt"
    ann.write_text(f"../../wnids.txt\t{tiny_wnids(3)[0]}\t0\t0\t1\t1\n")
    assert "not a plain file name" in _error(folder).message


def test_annotated_image_missing(tmp_path: Path) -> None:
    folder = write_tinyimagenet(tmp_path)
    (folder / "val/images/val_1.JPEG").unlink()
    assert str(folder / "val/images/val_1.JPEG") in _error(folder).message


def test_class_without_training_images(tmp_path: Path) -> None:
    folder = write_tinyimagenet(tmp_path)
    with (folder / "wnids.txt").open("a") as f:
        f.write("n77777777\n")
    error = _error(folder)
    assert "n77777777" in error.message and "images" in error.message


def test_missing_val_annotations(tmp_path: Path) -> None:
    folder = write_tinyimagenet(tmp_path)
    (folder / "val/val_annotations.txt").unlink()
    assert "val_annotations.txt" in _error(folder).message


def test_duplicate_wnid(tmp_path: Path) -> None:
    folder = write_tinyimagenet(tmp_path)
    (folder / "wnids.txt").write_text("n00000001\nn00000001\n")
    assert "listed twice" in _error(folder).message


def test_folder_of_the_wrong_layout(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    error = _error(tmp_path)
    assert str(tmp_path) in error.message and "wnids.txt" in error.message
    assert "train_data.npy" in error.message


def test_zip_with_a_traversal_entry_is_refused(tmp_path: Path) -> None:
    path = write_tinyimagenet(tmp_path, zip=True)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("tiny-imagenet-200/../../evil.txt", b"x")
    error = _error(path)
    assert str(path) in error.message and "evil.txt" in error.message


@pytest.mark.parametrize(("file", "array", "words"), [
    ("train_data.npy", np.zeros((6, 3, 32, 32), np.uint8), "(N, 3, 64, 64)"),
    ("train_data.npy", np.zeros((6, 3, 64, 64), np.float32), "uint8"),
    ("val_label.npy", np.array([0, 1, 3, 0]), "labels[2] = 3 is out of range 0..2"),
    ("val_label.npy", np.array([0, 1, 2]), "3 labels for 4 images"),
    ("val_label.npy", np.array([0.5, 1, 2, 0]), "integers"),
    ("train_label.npy", np.array([{"x": 1}] * 6, dtype=object), "not a readable .npy"),
], ids=["small", "float", "label-range", "count", "float-labels", "object-pickle"])
def test_natmu_bad_arrays_name_the_file(tmp_path: Path, file: str, array: np.ndarray,
                                        words: str) -> None:
    folder = write_natmu_tiny_npy(tmp_path, wnids=True)
    np.save(folder / file, array, allow_pickle=True)
    error = _error(folder)
    assert file in error.message and words in error.message


def test_natmu_missing_file(tmp_path: Path) -> None:
    folder = write_natmu_tiny_npy(tmp_path)
    (folder / "val_data.npy").unlink()
    assert str(folder / "val_data.npy") in _error(folder).message


def test_natmu_nhwc_arrays_are_accepted(tmp_path: Path) -> None:
    folder = write_natmu_tiny_npy(tmp_path)
    hwc = np.load(folder / "val_data.npy").transpose(0, 2, 3, 1).copy()
    np.save(folder / "val_data.npy", hwc)
    raw = read_dataset("tinyimagenet", folder)
    np.testing.assert_array_equal(raw.test.images, hwc)


def test_greyscale_jpeg_is_really_single_channel_in_the_fixture() -> None:
    # Guards the fixture: the greyscale case is only tested if the file is mode L.
    from PIL import Image

    assert Image.open(io.BytesIO(jpeg((90, 0, 0), grey=True))).mode == "L"
