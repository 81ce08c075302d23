"""scikit-learn's bundled handwritten digits: the embedded dataset that needs no download.

1797 greyscale 8x8 images with values 0..16, scaled to uint8 0..255 and split 80/20,
stratified by class with seed 0 so every install gets the same split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unlearn_cli.data.sources.base import DATASETS, DatasetSource, RawDataset, Split
from unlearn_cli.errors import InputError

IMAGE_SHAPE = (8, 8, 1)
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def read_digits(path: Path | None) -> RawDataset:
    """The digits dataset from scikit-learn; `path` must be None (nothing to read)."""
    if path is not None:
        raise InputError(f"dataset 'digits' is embedded and takes no source, got {path}",
                         hint="leave out --source for this dataset")
    # scikit-learn is imported here: it is slow to import and only this reader needs it.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    # Values are 0..16; round(v * 255 / 16) spreads them over the full uint8 range.
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(labels.shape[0]), test_size=TEST_FRACTION, stratify=labels,
        random_state=SPLIT_SEED,
    )
    return RawDataset(
        train=Split(np.ascontiguousarray(images[train_idx]), labels[train_idx]),
        test=Split(np.ascontiguousarray(images[test_idx]), labels[test_idx]),
        class_names=[str(d) for d in range(10)],
        extra_names={},
        source_files=[],
    )


DATASETS.add("digits", DatasetSource(
    name="digits",
    num_classes=10,
    image_shape=IMAGE_SHAPE,
    description="scikit-learn's handwritten digits (embedded): 1437 / 360 greyscale "
    "images 8x8, 10 classes",
    read=read_digits,
    download=None,
    embedded=True,
))
