"""The `prepare-data` step: read a dataset source, write uint8 splits and a dataset manifest."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from unlearn_cli.artifacts import Manifest, Workspace, save_tensors
from unlearn_cli.data.prepared import DatasetInfo
from unlearn_cli.data.sources import DATASETS, RawDataset, Split, download_source, read_dataset
from unlearn_cli.errors import InputError
from unlearn_cli.paths import user_path
from unlearn_cli.steps.options import PrepareOptions, request_of

log = logging.getLogger(__name__)


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in 0..1 units, accumulated in float64 chunk by chunk so a
    50 000-image split never needs a float copy of itself."""
    channels = images.shape[-1]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    count = 0
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].reshape(-1, channels).astype(np.float64) / 255.0
        total += block.sum(axis=0)
        total_sq += np.square(block).sum(axis=0)
        count += block.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - np.square(mean), 0.0))
    return mean.tolist(), std.tolist()


def _split_tensors(split: Split) -> dict[str, torch.Tensor]:
    tensors = {
        "images": torch.from_numpy(np.ascontiguousarray(split.images, dtype=np.uint8)),
        "labels": torch.from_numpy(np.asarray(split.labels, dtype=np.int64)),
    }
    for key, values in split.extra.items():
        tensors[key] = torch.from_numpy(np.asarray(values, dtype=np.int64))
    return tensors


def _read(ws: Workspace, options: PrepareOptions) -> tuple[RawDataset, str]:
    spec = DATASETS.get(options.dataset)
    if options.source is not None and options.download:
        raise InputError("--source and --download exclude each other", hint="pass one of them")
    if spec.embedded:
        if options.source is not None or options.download:
            raise InputError(f"{spec.name} is embedded; it takes no --source or --download",
                             hint=f"run: unlearn prepare-data --dataset {spec.name}")
        return read_dataset(spec.name, None), "embedded"
    if options.download:
        archive = download_source(spec.name, ws.root / "downloads")
        return read_dataset(spec.name, archive), str(archive)
    if options.source is None:
        raise InputError(
            f"{spec.name} needs --source PATH (or --download)",
            hint="point --source at the official archive or its extracted folder",
        )
    source = user_path(options.source).resolve()
    return read_dataset(spec.name, source), str(source)


def prepare_dataset(ws: Workspace, options: PrepareOptions) -> Path:
    """Read, validate and write one dataset; returns the manifest path."""
    options.validate()
    spec = DATASETS.get(options.dataset)
    request = request_of(options)
    existing = ws.check_new("dataset", spec.name, options.force, request=request)
    if existing is not None:
        log.info("%s: prepared already, from the same source", spec.name)
        return existing
    raw, source = _read(ws, options)
    mean, std = channel_stats(raw.train.images)
    info = DatasetInfo(
        name=spec.name,
        num_classes=len(raw.class_names),
        image_shape=tuple(int(v) for v in raw.train.images.shape[1:]),
        class_names=list(raw.class_names),
        mean=tuple(mean),
        std=tuple(std),
        train_size=len(raw.train.labels),
        test_size=len(raw.test.labels),
        extra_names=dict(raw.extra_names),
    )
    splits = (("train", raw.train), ("test", raw.test))
    with ws.replacing("dataset", spec.name, [ws.data_path(spec.name, name) for name, _ in splits]):
        files = {}
        for split_name, split in splits:
            path = ws.data_path(spec.name, split_name)
            save_tensors(path, _split_tensors(split), metadata={"dataset": spec.name, "split": split_name})
            files[split_name] = ws.file_ref(path)
        manifest = Manifest(
            kind="dataset",
            name=spec.name,
            config={"dataset": spec.name, "source": source, "request": request},
            files=files,
            summary=info.to_summary(),
        )
        manifest_path = ws.write(manifest)
    log.info("prepared %s: %d train, %d test images", spec.name, info.train_size, info.test_size)
    return manifest_path
