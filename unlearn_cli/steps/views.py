"""The training view of a dataset: the labels and triggers every training step sees.

A forget-set manifest carries the table `index, label, train_label, poisoned, forget` over the
train split (SPEC §4). Pretraining on a manipulation, retraining and every method train on
`train_label` with the trigger on `poisoned` rows; metrics use the true `label` where SPEC §6 says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from unlearn_cli.artifacts import Manifest, Workspace, load_table
from unlearn_cli.data.loader import Trigger
from unlearn_cli.errors import ArtifactError

FORGET_COLUMNS = ("index", "label", "train_label", "poisoned", "forget")
MANIPULATED = "manipulated"  # optional: tables made before it existed derive it


@dataclass
class TrainingView:
    labels: np.ndarray  # int64 true labels
    train_label: np.ndarray  # int64 labels trained with
    poisoned: np.ndarray  # bool: trigger applied
    forget: np.ndarray  # bool: D_f
    trigger: Trigger | None = None
    manipulation: dict[str, Any] | None = None
    # Rows the manipulation changed (a labelswap row may keep its label and still count);
    # None: the relabelled or poisoned rows.
    changed: np.ndarray | None = None

    @property
    def manipulated(self) -> np.ndarray:
        if self.changed is not None:
            return self.changed
        return (self.train_label != self.labels) | self.poisoned

    @property
    def retain(self) -> np.ndarray:
        return ~self.forget

    @classmethod
    def clean(cls, labels: np.ndarray) -> TrainingView:
        n = len(labels)
        return cls(labels, labels.copy(), np.zeros(n, bool), np.zeros(n, bool))


def trigger_of(manipulation: dict[str, Any] | None) -> Trigger | None:
    if not manipulation or manipulation.get("kind") != "poison":
        return None
    return Trigger(patch_size=int(manipulation.get("patch_size", 3)))


def training_view(ws: Workspace, manifest: Manifest, train_size: int) -> TrainingView:
    """Read a forget-set manifest's table into a view, checking it covers the train split."""
    path = ws.abs(manifest.file("index").path)
    table = load_table(path)
    missing = [c for c in FORGET_COLUMNS if c not in table.column_names]
    if missing:
        raise ArtifactError(f"{path} lacks the columns {', '.join(missing)}",
                            hint="re-create the forget set with make-forget-set --force")
    columns = {c: table.column(c).to_numpy(zero_copy_only=False) for c in FORGET_COLUMNS}
    if len(columns["index"]) != train_size or not np.array_equal(columns["index"], np.arange(train_size)):
        raise ArtifactError(f"{path} does not cover the {train_size} train rows of its dataset",
                            hint="the forget set was made for another dataset; re-create it")
    manipulation = manifest.config.get("manipulation")
    changed = (table.column(MANIPULATED).to_numpy(zero_copy_only=False).astype(bool)
               if MANIPULATED in table.column_names else None)
    return TrainingView(
        labels=columns["label"].astype(np.int64),
        train_label=columns["train_label"].astype(np.int64),
        poisoned=columns["poisoned"].astype(bool),
        forget=columns["forget"].astype(bool),
        trigger=trigger_of(manipulation),
        manipulation=manipulation,
        changed=changed,
    )
