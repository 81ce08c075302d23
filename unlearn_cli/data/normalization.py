"""Input normalisation rules: the per-channel (mean, std) a model's inputs are normalised with.

A model is pretrained with one rule (a field of its recipe), and the resolved numbers are
recorded in its manifest; unlearning, evaluation and every pass over the model afterwards use
the recorded numbers, so a model never sees inputs normalised another way than it was trained.

- `dataset`: the statistics `prepare-data` computed from the train split (ours).
- `unit`: pixels scaled to [0, 1] only (mean 0, std 1).
- `natmu`: the constants NatMU's models normalise with inside their forward pass
  (ZhengbaoHe/NatMU sample-wise/utils/util.py `get_model`, `NormalizeByChannelMeanStd`), per
  dataset; a dataset NatMU has no constants for keeps its own statistics.
- `corrective`: the CIFAR-10 constants the corrective repository uses for CIFAR-10 and
  CIFAR-100 alike (drimpossible/corrective-unlearning-bench src/datasets.py:30); datasets
  without three channels keep their own statistics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from unlearn_cli.data.prepared import DatasetInfo
from unlearn_cli.errors import ArtifactError, InputError

RULES = ("dataset", "unit", "natmu", "corrective")

_CIFAR10 = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
_CIFAR100 = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
_TINYIMAGENET = ((0.4802, 0.4481, 0.3975), (0.2764, 0.2689, 0.2816))
# NatMU sample-wise/utils/util.py:157-166 (cifar20 shares CIFAR-100's images, hence its constants).
NATMU_CONSTANTS = {"cifar10": _CIFAR10, "cifar100": _CIFAR100, "cifar20": _CIFAR100, "tinyimagenet": _TINYIMAGENET}
CORRECTIVE_CONSTANTS = _CIFAR10


@dataclass(frozen=True)
class Normalization:
    """A resolved rule: the numbers a model's inputs are normalised with, in 0..1 pixel units."""

    rule: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_config(self) -> dict[str, Any]:
        return {"rule": self.rule, "mean": list(self.mean), "std": list(self.std)}

    def applied_to(self, info: DatasetInfo) -> DatasetInfo:
        """The dataset as this model sees it: its facts, with these statistics."""
        return replace(info, mean=self.mean, std=self.std)


def resolve_normalization(rule: str, info: DatasetInfo) -> Normalization:
    """The numbers `rule` gives for the dataset `info` describes."""
    if rule not in RULES:
        raise InputError(f"unknown normalisation '{rule}'", hint=f"valid rules: {', '.join(RULES)}")
    own = (tuple(info.mean), tuple(info.std))
    if rule == "unit":
        stats = ((0.0,) * info.channels, (1.0,) * info.channels)
    elif rule == "natmu":
        stats = NATMU_CONSTANTS.get(info.name, own)
    elif rule == "corrective":
        stats = CORRECTIVE_CONSTANTS if info.channels == 3 else own
    else:
        stats = own
    return Normalization(rule, *stats)


def normalization_from_config(config: Mapping[str, Any], info: DatasetInfo, source: str) -> Normalization:
    """A model manifest's recorded normalisation; models from before the rule was recorded
    were all trained with their dataset's statistics."""
    raw = config.get("normalization")
    if raw is None:
        return resolve_normalization("dataset", info)
    try:
        mean, std = _floats(raw["mean"]), _floats(raw["std"])
        rule = str(raw["rule"])
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"{source}: unusable normalisation recorded ({error})",
                            hint="re-create the model with this version of unlearn") from None
    if len(mean) != info.channels or len(std) != info.channels or not all(s > 0 for s in std):
        raise ArtifactError(f"{source}: the recorded normalisation does not fit {info.channels}-channel images",
                            hint="re-create the model with this version of unlearn")
    return Normalization(rule, mean, std)


def _floats(values: Sequence[Any]) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)):
        raise TypeError("not a list of numbers")
    return tuple(float(v) for v in values)
