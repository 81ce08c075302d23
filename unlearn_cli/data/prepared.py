"""Prepared datasets in a workspace: what `prepare-data` writes and every later step reads.

A split is one safetensors file holding `images` (uint8, N×H×W×C), `labels` (int64) and any
extra label columns (e.g. `coarse_labels` on cifar100, `fine_labels` on cifar20).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from unlearn_cli.artifacts import Manifest, Workspace, load_tensors
from unlearn_cli.errors import ArtifactError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """The facts about a prepared dataset that models and steps need, from its manifest."""

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]  # (H, W, C)
    class_names: list[str]
    mean: tuple[float, ...]  # per channel, in 0..1 pixel units, from the train split
    std: tuple[float, ...]
    train_size: int
    test_size: int
    extra_names: dict[str, list[str]] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return self.image_shape[2]

    @property
    def image_size(self) -> int:
        return self.image_shape[0]

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> DatasetInfo:
        s = manifest.summary
        try:
            return cls(
                name=manifest.config["dataset"],
                num_classes=int(s["num_classes"]),
                image_shape=tuple(int(v) for v in s["image_shape"]),
                class_names=list(s["class_names"]),
                mean=tuple(float(v) for v in s["mean"]),
                std=tuple(float(v) for v in s["std"]),
                train_size=int(s["train_size"]),
                test_size=int(s["test_size"]),
                extra_names={k: list(v) for k, v in s.get("extra_names", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"{manifest.source}: dataset manifest lacks {error}",
                                hint="re-run prepare-data with --force") from None

    def to_summary(self) -> dict:
        return {
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
            "train_size": self.train_size,
            "test_size": self.test_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "class_names": self.class_names,
            "extra_names": self.extra_names,
        }


@dataclass
class PreparedSplit:
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int64 (N,)
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)


def load_split(ws: Workspace, manifest: Manifest, split: str) -> PreparedSplit:
    tensors = load_tensors(ws.abs(manifest.file(split).path))
    try:
        images = tensors.pop("images").numpy()
        labels = tensors.pop("labels").numpy()
    except KeyError as error:
        raise ArtifactError(f"{manifest.file(split).path} lacks the tensor {error}",
                            hint="re-run prepare-data with --force") from None
    return PreparedSplit(images, labels, {key: value.numpy() for key, value in tensors.items()})
