"""CIFAR-10, CIFAR-100 and CIFAR-20 from the official "python version" pickles.

Each pickle is a dict written by Python 2: bytes keys, `data` an (N, 3072) uint8 array
whose rows hold the red, green and blue 32x32 planes one after the other (CHW), and
labels as lists of ints. CIFAR-20 is the CIFAR-100 source labelled by its 20 coarse
superclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unlearn_cli.data.sources.archive import ArchiveLimits
from unlearn_cli.data.sources.base import (
    DATASETS,
    DatasetSource,
    DownloadSpec,
    RawDataset,
    Split,
    as_labels,
    check_labels,
    require_path,
)
from unlearn_cli.data.sources.locate import open_source
from unlearn_cli.data.sources.safe_pickle import safe_load
from unlearn_cli.data.sources.tree import SourceTree, join
from unlearn_cli.errors import DataError

IMAGE_SHAPE = (32, 32, 3)
_ROW = 32 * 32 * 3
_CORRUPT = "the file is corrupt or not from the official CIFAR archive; re-download it"

CIFAR10_DOWNLOAD = DownloadSpec(
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    filename="cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
)
CIFAR100_DOWNLOAD = DownloadSpec(
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    filename="cifar-100-python.tar.gz",
    md5="eb9058c3a382ffc7106e4002c42a8d85",
)

# What a CIFAR archive may inflate to: the official ones hold ~186 MB in 8 or 4 files (the
# largest, CIFAR-100's train, 155 MB). Anything far beyond is not CIFAR, and a tar is read
# whole into memory, so this bounds the memory an archive can take.
CIFAR_LIMITS = ArchiveLimits(max_total_bytes=512 << 20, max_member_bytes=256 << 20, max_members=1000)

_CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_CIFAR10_FILES = [*_CIFAR10_TRAIN, "test_batch", "batches.meta"]
_CIFAR100_FOLDER = "cifar-100-python"
_CIFAR100_FILES = ["train", "test", "meta"]


def _locate(tree: SourceTree, folder: str, files: list[str], archive_name: str) -> str:
    """The prefix of the CIFAR folder inside `tree`, after checking every file is there.

    The folder itself ("" prefix) or the folder containing it (or an archive of it) are
    accepted; the first prefix holding any expected file is taken, so a folder missing
    one batch is reported as exactly that.
    """
    hint = f"pass {archive_name} or its extracted {folder}/ folder"
    for prefix in (folder, ""):
        if any(tree.is_file(join(prefix, name)) for name in files):
            for name in files:
                if not tree.is_file(join(prefix, name)):
                    raise tree.missing(join(prefix, name), hint=hint)
            return prefix
    raise DataError(
        f"{tree.path}: no {folder}/ files found (expected {folder}/{files[0]})", hint=hint
    )


def _load_dict(tree: SourceTree, name: str) -> tuple[dict[str, object], str]:
    """Unpickle one CIFAR file safely; keys decoded to str (they are bytes in the
    official Python-2 files, str in some re-saved copies)."""
    where = tree.describe(name)
    obj = safe_load(tree.read(name), where)
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a pickled dict, got {type(obj).__name__}",
                        hint=_CORRUPT)
    return {(k.decode("latin-1") if isinstance(k, bytes) else str(k)): v
            for k, v in obj.items()}, where


def _get(d: dict[str, object], key: str, where: str) -> object:
    try:
        return d[key]
    except KeyError:
        raise DataError(f"{where}: has no '{key}' entry (it has: {', '.join(sorted(d))})",
                        hint=_CORRUPT) from None


def _names(d: dict[str, object], key: str, where: str) -> list[str]:
    values = _get(d, key, where)
    if not isinstance(values, list) or not all(isinstance(v, bytes | str) for v in values):
        raise DataError(f"{where}: '{key}' must be a list of names", hint=_CORRUPT)
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]


@dataclass
class _Batch:
    images: np.ndarray  # uint8 (N, 32, 32, 3), possibly a non-contiguous view
    labels: dict[str, np.ndarray]  # label key -> int64 (N,)


def _read_batch(tree: SourceTree, name: str, label_keys: dict[str, int]) -> _Batch:
    """One pickle of images plus the label columns in `label_keys` (key -> class count)."""
    d, where = _load_dict(tree, name)
    data = _get(d, "data", where)
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2
            or data.shape[1] != _ROW):
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{where}: 'data' must be a uint8 array of shape (N, {_ROW}), got {got}",
                        hint=_CORRUPT)
    labels: dict[str, np.ndarray] = {}
    for key, num_classes in label_keys.items():
        column = as_labels(_get(d, key, where), where, key)
        if column.shape[0] != data.shape[0]:
            raise DataError(f"{where}: {data.shape[0]} images but {column.shape[0]} {key}",
                            hint=_CORRUPT)
        check_labels(column, num_classes, where, key)
        labels[key] = column
    # Each row is three 32x32 planes (R, G, B), each row-major: CHW -> HWC.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return _Batch(images, labels)


def _concat(batches: list[_Batch]) -> _Batch:
    """Join batches into one C-contiguous copy (also for a single, transposed batch:
    np.concatenate would keep the transposed memory layout)."""
    images = np.empty((sum(b.images.shape[0] for b in batches), *IMAGE_SHAPE), dtype=np.uint8)
    start = 0
    for b in batches:
        images[start:start + b.images.shape[0]] = b.images
        start += b.images.shape[0]
    keys = batches[0].labels
    return _Batch(images, {k: np.concatenate([b.labels[k] for b in batches]) for k in keys})


def read_cifar10(path: Path | None) -> RawDataset:
    """CIFAR-10 from `cifar-10-python.tar.gz`, `cifar-10-batches-py/` or its parent."""
    source = require_path(path, "cifar10")
    with open_source(source, CIFAR_LIMITS) as tree:
        prefix = _locate(tree, _CIFAR10_FOLDER, _CIFAR10_FILES, CIFAR10_DOWNLOAD.filename)
        meta, where = _load_dict(tree, join(prefix, "batches.meta"))
        class_names = _names(meta, "label_names", where)
        keys = {"labels": len(class_names)}
        train = _concat([_read_batch(tree, join(prefix, n), keys) for n in _CIFAR10_TRAIN])
        test = _concat([_read_batch(tree, join(prefix, "test_batch"), keys)])
        files = tree.source_files()
    return RawDataset(
        train=Split(train.images, train.labels["labels"]),
        test=Split(test.images, test.labels["labels"]),
        class_names=class_names,
        extra_names={},
        source_files=files,
    )


@dataclass
class _Cifar100:
    train: _Batch
    test: _Batch
    fine_names: list[str]
    coarse_names: list[str]
    files: list[Path]


def _read_cifar100_source(path: Path | None, dataset: str) -> _Cifar100:
    source = require_path(path, dataset)
    with open_source(source, CIFAR_LIMITS) as tree:
        prefix = _locate(tree, _CIFAR100_FOLDER, _CIFAR100_FILES, CIFAR100_DOWNLOAD.filename)
        meta, where = _load_dict(tree, join(prefix, "meta"))
        fine_names = _names(meta, "fine_label_names", where)
        coarse_names = _names(meta, "coarse_label_names", where)
        keys = {"fine_labels": len(fine_names), "coarse_labels": len(coarse_names)}
        train = _read_batch(tree, join(prefix, "train"), keys)
        test = _read_batch(tree, join(prefix, "test"), keys)
        files = tree.source_files()
    return _Cifar100(_concat([train]), _concat([test]), fine_names, coarse_names, files)


def read_cifar100(path: Path | None) -> RawDataset:
    """CIFAR-100 labelled by its 100 fine classes; the coarse label is kept as a column."""
    c = _read_cifar100_source(path, "cifar100")

    def split(b: _Batch) -> Split:
        return Split(b.images, b.labels["fine_labels"],
                     {"coarse_labels": b.labels["coarse_labels"]})

    return RawDataset(split(c.train), split(c.test), c.fine_names,
                      {"coarse_labels": c.coarse_names}, c.files)


def read_cifar20(path: Path | None) -> RawDataset:
    """The CIFAR-100 source labelled by its 20 coarse superclasses; fine labels kept."""
    c = _read_cifar100_source(path, "cifar20")

    def split(b: _Batch) -> Split:
        return Split(b.images, b.labels["coarse_labels"],
                     {"fine_labels": b.labels["fine_labels"]})

    return RawDataset(split(c.train), split(c.test), c.coarse_names,
                      {"fine_labels": c.fine_names}, c.files)


DATASETS.add("cifar10", DatasetSource(
    name="cifar10",
    num_classes=10,
    image_shape=IMAGE_SHAPE,
    description="CIFAR-10: 50 000 / 10 000 colour images 32x32, 10 classes",
    read=read_cifar10,
    download=CIFAR10_DOWNLOAD,
))
DATASETS.add("cifar100", DatasetSource(
    name="cifar100",
    num_classes=100,
    image_shape=IMAGE_SHAPE,
    description="CIFAR-100: 50 000 / 10 000 colour images 32x32, 100 fine classes "
    "(20 coarse kept as a column)",
    read=read_cifar100,
    download=CIFAR100_DOWNLOAD,
))
DATASETS.add("cifar20", DatasetSource(
    name="cifar20",
    num_classes=20,
    image_shape=IMAGE_SHAPE,
    description="CIFAR-100 labelled by its 20 coarse superclasses (fine label kept)",
    read=read_cifar20,
    download=CIFAR100_DOWNLOAD,
))
