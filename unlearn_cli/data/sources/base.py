"""The contract every dataset source reader fulfils, the dataset registry, and the one
entry point `read_dataset` that looks a source up, reads it and validates the result.

Readers only turn a local source into in-memory arrays; writing artifacts happens
elsewhere. Validation lives here, once, so no reader can hand back labels out of range
or images of the wrong shape, whatever its own checks forgot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unlearn_cli.data.sources.checksum import file_md5
from unlearn_cli.errors import DataError, InputError
from unlearn_cli.paths import user_path
from unlearn_cli.registry import Registry

logger = logging.getLogger(__name__)


@dataclass
class Split:
    """One split of a dataset, as arrays ready to be written."""

    images: np.ndarray  # uint8 (N, H, W, C), C-contiguous
    labels: np.ndarray  # int64 (N,)
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # extra int64 label columns

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class RawDataset:
    """Both splits of a source plus the names that give its labels meaning."""

    train: Split
    test: Split
    class_names: list[str]
    extra_names: dict[str, list[str]]  # names for each extra column
    source_files: list[Path]  # files actually read


@dataclass(frozen=True)
class DownloadSpec:
    """Where the official archive lives and its official md5."""

    url: str
    filename: str
    md5: str


@dataclass(frozen=True)
class DatasetSource:
    """A registered dataset: its nominal sizes and how to read (and fetch) its source."""

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]  # (H, W, C)
    description: str
    read: Callable[[Path | None], RawDataset]  # path None only for embedded sets
    download: DownloadSpec | None
    embedded: bool = False


DATASETS: Registry[DatasetSource] = Registry("dataset")


def require_path(path: Path | None, dataset: str) -> Path:
    """The source path a non-embedded reader needs, or an InputError saying how to give one."""
    if path is None:
        raise InputError(
            f"dataset '{dataset}' needs a source",
            hint="pass --source PATH (a local archive or folder) or --download",
        )
    return user_path(path)


def as_labels(values: object, where: str, key: str) -> np.ndarray:
    """Convert a label column read from a file into int64, refusing anything not integral."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{where}: '{key}' is not a list of integer labels ({exc})",
            hint="the file is corrupt or not from this dataset; re-download it",
        ) from None
    if arr.ndim != 1 or not (arr.dtype.kind in "iu" or arr.size == 0):
        raise DataError(
            f"{where}: '{key}' must be a 1-D list of integers, got dtype {arr.dtype} "
            f"with shape {arr.shape}",
            hint="the file is corrupt or not from this dataset; re-download it",
        )
    return arr.astype(np.int64)


def check_labels(labels: np.ndarray, num_classes: int, where: str, column: str = "labels") -> None:
    """Raise a DataError naming the first label outside 0..num_classes-1."""
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{where}: {column}[{i}] = {int(labels[i])} is out of range 0..{num_classes - 1} "
            f"({bad.size} such label(s))",
            hint="the labels do not match the class names; the source is corrupt or modified",
        )


def validate_raw(raw: RawDataset, spec: DatasetSource, where: str) -> None:
    """Check what every reader must guarantee; `where` names the source in messages.

    The number of classes is the number of class names the source itself declares (a
    tiny test source may have 3 Tiny-ImageNet classes); a count differing from the
    official one is only worth a warning.
    """
    hint = "the source is corrupt or not a copy of this dataset"
    num_classes = len(raw.class_names)
    if num_classes == 0:
        raise DataError(f"{where}: no class names found", hint=hint)
    if len(set(raw.class_names)) != num_classes:
        raise DataError(f"{where}: class names are not unique", hint=hint)
    if num_classes != spec.num_classes:
        logger.warning(
            "%s: %s has %d classes here, the official dataset has %d",
            where, spec.name, num_classes, spec.num_classes,
        )
    for split_name, split in (("train", raw.train), ("test", raw.test)):
        at = f"{where} ({split_name} split)"
        images, labels = split.images, split.labels
        if images.dtype != np.uint8 or images.ndim != 4:
            raise DataError(f"{at}: images must be uint8 (N,H,W,C), got {images.dtype} "
                            f"{images.shape}", hint=hint)
        if tuple(images.shape[1:]) != spec.image_shape:
            raise DataError(f"{at}: images are {tuple(images.shape[1:])}, expected "
                            f"{spec.image_shape}", hint=hint)
        if not images.flags.c_contiguous:
            raise DataError(f"{at}: images are not C-contiguous", hint=hint)
        if images.shape[0] == 0:
            raise DataError(f"{at}: no images", hint=hint)
        if labels.dtype != np.int64 or labels.shape != (images.shape[0],):
            raise DataError(f"{at}: labels must be int64 ({images.shape[0]},), got "
                            f"{labels.dtype} {labels.shape}", hint=hint)
        check_labels(labels, num_classes, at)
        if set(split.extra) != set(raw.extra_names):
            raise DataError(f"{at}: extra label columns {sorted(split.extra)} do not match "
                            f"their names {sorted(raw.extra_names)}", hint=hint)
        for column, values in split.extra.items():
            if values.dtype != np.int64 or values.shape != labels.shape:
                raise DataError(f"{at}: extra column '{column}' must be int64 "
                                f"{labels.shape}, got {values.dtype} {values.shape}", hint=hint)
            check_labels(values, len(raw.extra_names[column]), at, column)


def read_dataset(name: str, source: Path | None) -> RawDataset:
    """Read dataset `name` from `source` (None for embedded sets) and validate it.

    A local archive whose md5 differs from the official one is read anyway, with a
    warning: modified variants of these archives exist and are legitimate inputs.
    """
    spec = DATASETS.get(name)
    if spec.embedded:
        if source is not None:
            raise InputError(
                f"dataset '{name}' is embedded and takes no source, got {source}",
                hint="leave out --source for this dataset",
            )
        raw = spec.read(None)
        validate_raw(raw, spec, f"embedded dataset '{name}'")
        return raw
    path = require_path(source, name)
    if not path.exists():
        raise DataError(
            f"source {path} does not exist",
            hint="check the path, or use --download to fetch the official archive",
        )
    raw = spec.read(path)
    if path.is_file() and spec.download is not None:
        _warn_if_modified(path, spec.download)
    validate_raw(raw, spec, str(path))
    return raw


def _warn_if_modified(path: Path, download: DownloadSpec) -> None:
    actual = file_md5(path)
    if actual != download.md5:
        logger.warning(
            "%s: md5 %s differs from the official %s (%s); reading it anyway",
            path, actual, download.md5, download.filename,
        )
