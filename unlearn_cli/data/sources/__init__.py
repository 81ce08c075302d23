"""Dataset source readers: turn a local archive or folder into in-memory numpy arrays.

Importing this package registers every dataset in `DATASETS`, in the order
digits, cifar10, cifar100, cifar20, tinyimagenet.
"""

from __future__ import annotations

from unlearn_cli.data.sources.base import (
    DATASETS,
    DatasetSource,
    DownloadSpec,
    RawDataset,
    Split,
    read_dataset,
    validate_raw,
)

# Imported for their registrations, in the order the datasets are listed.
from unlearn_cli.data.sources import digits  # noqa: F401  isort: skip
from unlearn_cli.data.sources import cifar  # noqa: F401  isort: skip
from unlearn_cli.data.sources import tinyimagenet  # noqa: F401  isort: skip
from unlearn_cli.data.sources.download import download_source  # isort: skip

__all__ = [
    "DATASETS",
    "DatasetSource",
    "DownloadSpec",
    "RawDataset",
    "Split",
    "download_source",
    "read_dataset",
    "validate_raw",
]
