"""A synthetic CIFAR-10 in the official "python version" layout, for offline benchmarks.

`cifar-10-batches-py/` with `data_batch_1..5`, `test_batch` and `batches.meta`: pickled
dicts whose `data` is a uint8 (N, 3072) array of R, G, B planes (CHW rows) and `labels` a
list of ints — what both torchvision's `CIFAR10` and `unlearn prepare-data` read. Keys and
names are str and the pickle protocol is Python 3's: Python 3 can only write protocol-2
bytes through `_codecs.encode`, which the toolkit's safe unpickler rightly refuses, and
torchvision looks keys up as str. (tests/fixtures/formats.py writes the byte-exact
Python-2 form for the reader tests.) Pixels are seeded noise: throughput does not depend on what the images show, only
on their count and shape. `write_learnable_cifar10` writes images a model can learn (class
patterns under noise), for accuracy comparisons; `write_learnable_cifar100` the same in the
CIFAR-100 layout (`cifar-100-python/` with `train`, `test`, `meta`), keyed by bytes as the
official files are, since reference code such as NatMU's reads `dict[b'data']`.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from unlearn_cli.errors import InputError

FOLDER = "cifar-10-batches-py"
LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_ROW = 3 * 32 * 32
_TRAIN_FILES = 5


def _batch(rows: np.ndarray, labels: np.ndarray, batch_label: str) -> dict[str, object]:
    return {
        "batch_label": batch_label,
        "labels": [int(v) for v in labels],
        "data": rows,
        "filenames": [f"synthetic_{i:06d}.png" for i in range(len(labels))],
    }


def _dump(path: Path, obj: object) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)


def _check_sizes(train_size: int, test_size: int) -> None:
    for name, value, least in (("train size", train_size, _TRAIN_FILES), ("test size", test_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InputError(f"synthetic CIFAR-10 {name} {value!r} is below {least}",
                             hint=f"use a {name} of at least {least} images")


def write_synthetic_cifar10(root: Path, train_size: int, test_size: int, seed: int = 0) -> Path:
    """Write `root/cifar-10-batches-py/` with `train_size` training images spread over the
    five batch files and `test_size` test images; returns that folder."""
    _check_sizes(train_size, test_size)
    rng = np.random.default_rng(seed)
    train_rows = rng.integers(0, 256, size=(train_size, _ROW), dtype=np.uint8)
    train_labels = rng.integers(0, len(LABEL_NAMES), size=train_size)
    test_rows = rng.integers(0, 256, size=(test_size, _ROW), dtype=np.uint8)
    test_labels = rng.integers(0, len(LABEL_NAMES), size=test_size)
    return _write(Path(root), train_rows, train_labels, test_rows, test_labels)


def _learnable_rows(rng: np.random.Generator, labels: np.ndarray, templates: np.ndarray,
                    signal: float, noise: float) -> np.ndarray:
    """Each image: its class's template (values in [-1, 1]) times `signal`, shifted by up to
    4 px, at a random contrast, over pixel noise of std `noise` (0..255 units), as (N, 3072)
    uint8 CHW rows."""
    n = len(labels)
    shifts = rng.integers(-4, 5, size=(n, 2))
    rows = (np.arange(32)[None, :] - shifts[:, :1]) % 32  # (n, 32) source row per output row
    cols = (np.arange(32)[None, :] - shifts[:, 1:]) % 32
    shifted = templates[labels[:, None, None, None], np.arange(3)[None, :, None, None],
                        rows[:, None, :, None], cols[:, None, None, :]]
    contrast = rng.uniform(0.4, 1.0, size=(n, 1, 1, 1))
    pixels = 128.0 + signal * contrast * shifted + rng.normal(0.0, noise, size=shifted.shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8).reshape(n, _ROW)


def write_learnable_cifar10(root: Path, train_size: int, test_size: int, seed: int = 0,
                            signal: float = 32.0, noise: float = 96.0) -> Path:
    """A synthetic CIFAR-10 that a model can learn but not trivially: each class is a fixed
    smooth random colour pattern; every image shows its class's pattern shifted by up to 4 px
    at a random contrast under heavy pixel noise. For accuracy comparisons (BENCHMARKS.md's
    parity runs), where the noise images of `write_synthetic_cifar10` would give chance
    accuracy whatever the code does. Train and test images are drawn the same way."""
    _check_sizes(train_size, test_size)
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 1.0, size=(len(LABEL_NAMES), 3, 4, 4))
    templates = np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)  # (10, 3, 32, 32), 8x8 blocks
    templates = np.clip(templates, -2.0, 2.0) / 2.0
    train_labels = np.arange(train_size) % len(LABEL_NAMES)
    rng.shuffle(train_labels)
    test_labels = np.arange(test_size) % len(LABEL_NAMES)
    rng.shuffle(test_labels)
    return _write(Path(root), _learnable_rows(rng, train_labels, templates, signal, noise), train_labels,
                  _learnable_rows(rng, test_labels, templates, signal, noise), test_labels)


def _write(root: Path, train_rows: np.ndarray, train_labels: np.ndarray, test_rows: np.ndarray,
           test_labels: np.ndarray) -> Path:
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    train_size = len(train_labels)
    # array_split: the five files differ by at most one image when the size does not divide.
    chunks = np.array_split(np.arange(train_size), _TRAIN_FILES)
    for b, rows in enumerate(chunks, start=1):
        _dump(folder / f"data_batch_{b}",
              _batch(train_rows[rows], train_labels[rows], f"training batch {b} of {_TRAIN_FILES}"))
    _dump(folder / "test_batch", _batch(test_rows, test_labels, "testing batch 1 of 1"))
    _dump(folder / "batches.meta", {
        "num_cases_per_batch": int(len(chunks[0])),
        "label_names": list(LABEL_NAMES),
        "num_vis": _ROW,
    })
    return folder


CIFAR100_FOLDER = "cifar-100-python"
_COARSE_OF = 5  # fine classes per superclass, as CIFAR-100's 100 fine / 20 coarse


def write_learnable_cifar100(root: Path, train_size: int, test_size: int, seed: int = 0,
                             signal: float = 48.0, noise: float = 64.0) -> Path:
    """A learnable synthetic CIFAR-100 (100 class patterns under noise, as
    `write_learnable_cifar10`), written as `root/cifar-100-python/{train,test,meta}`: pickled
    dicts with bytes keys (`b"data"`, `b"fine_labels"`, `b"coarse_labels"`), fine class c in
    superclass c // 5. Returns that folder."""
    _check_sizes(train_size, test_size)
    classes = 100
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 1.0, size=(classes, 3, 4, 4))
    templates = np.clip(np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3), -2.0, 2.0) / 2.0
    folder = Path(root) / CIFAR100_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in (("train", train_size), ("test", test_size)):
        labels = np.arange(size) % classes
        rng.shuffle(labels)
        _dump(folder / split, {
            b"batch_label": f"{'training' if split == 'train' else 'testing'} batch 1 of 1".encode(),
            b"fine_labels": [int(v) for v in labels],
            b"coarse_labels": [int(v) // _COARSE_OF for v in labels],
            b"data": _learnable_rows(rng, labels, templates, signal, noise),
            b"filenames": [f"synthetic_{i:06d}.png".encode() for i in range(size)],
        })
    _dump(folder / "meta", {
        b"fine_label_names": [f"fine{c:03d}".encode() for c in range(classes)],
        b"coarse_label_names": [f"coarse{c:02d}".encode() for c in range(classes // _COARSE_OF)],
    })
    return folder
