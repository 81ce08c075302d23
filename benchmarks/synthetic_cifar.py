"""A synthetic CIFAR-10 in the official "python version" layout, for offline benchmarks.

`cifar-10-batches-py/` with `data_batch_1..5`, `test_batch` and `batches.meta`: pickled
dicts whose `data` is a uint8 (N, 3072) array of R, G, B planes (CHW rows) and `labels` a
list of ints — what both torchvision's `CIFAR10` and `unlearn prepare-data` read. Keys and
names are str and the pickle protocol is Python 3's: Python 3 can only write protocol-2
bytes through `_codecs.encode`, which the toolkit's safe unpickler rightly refuses, and
torchvision looks keys up as str. (tests/fixtures/formats.py writes the byte-exact
Python-2 form for the reader tests.) Pixels are seeded noise: throughput does not depend on what the images show, only
on their count and shape.
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


def write_synthetic_cifar10(root: Path, train_size: int, test_size: int, seed: int = 0) -> Path:
    """Write `root/cifar-10-batches-py/` with `train_size` training images spread over the
    five batch files and `test_size` test images; returns that folder."""
    for name, value, least in (("train size", train_size, _TRAIN_FILES), ("test size", test_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InputError(f"synthetic CIFAR-10 {name} {value!r} is below {least}",
                             hint=f"use a {name} of at least {least} images")
    rng = np.random.default_rng(seed)
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    train_rows = rng.integers(0, 256, size=(train_size, _ROW), dtype=np.uint8)
    train_labels = rng.integers(0, len(LABEL_NAMES), size=train_size)
    # array_split: the five files differ by at most one image when the size does not divide.
    chunks = np.array_split(np.arange(train_size), _TRAIN_FILES)
    for b, rows in enumerate(chunks, start=1):
        _dump(folder / f"data_batch_{b}",
              _batch(train_rows[rows], train_labels[rows], f"training batch {b} of {_TRAIN_FILES}"))
    test_rows = rng.integers(0, 256, size=(test_size, _ROW), dtype=np.uint8)
    test_labels = rng.integers(0, len(LABEL_NAMES), size=test_size)
    _dump(folder / "test_batch", _batch(test_rows, test_labels, "testing batch 1 of 1"))
    _dump(folder / "batches.meta", {
        "num_cases_per_batch": int(len(chunks[0])),
        "label_names": list(LABEL_NAMES),
        "num_vis": _ROW,
    })
    return folder
