"""The training view a forget table defines: the labels and triggers every training step sees.

A forget set's table (`table.py`) has one row per train row. Pretraining on a manipulation,
retraining and every method train on `train_label` with the trigger on `poisoned` rows; the
metrics score against the true `label` where they measure correctness (docs/metrics.md). A
model pretrained on a manipulation keeps that view for every forget set made from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from unlearn_cli.data.trigger import Trigger
from unlearn_cli.errors import ArtifactError, InputError
from unlearn_cli.forget.table import read_forget_table


@dataclass
class TrainingView:
    labels: np.ndarray  # int64 true labels
    train_label: np.ndarray  # int64 labels trained with
    poisoned: np.ndarray  # bool: trigger applied
    forget: np.ndarray  # bool: D_f
    trigger: Trigger | None = None
    manipulation: dict[str, Any] | None = None  # the manipulation's recorded settings, if any
    # Rows the manipulation changed (a labelswap row may keep its label and still count);
    # None: the relabelled or poisoned rows.
    changed: np.ndarray | None = None
    # Rows the model was never trained on (`pretrain --exclude`, the halves audit's shadows):
    # neither D_f nor D_r. None: none.
    excluded: np.ndarray | None = None
    # The model's validation rows (`pretrain --val-fraction`), a part of `excluded`. None: none.
    validation: np.ndarray | None = None

    @property
    def manipulated(self) -> np.ndarray:
        if self.changed is not None:
            return self.changed
        return (self.train_label != self.labels) | self.poisoned

    @property
    def retain(self) -> np.ndarray:
        """D_r: every train row the model trained on that is not in D_f."""
        return ~self.forget if self.excluded is None else ~self.forget & ~self.excluded

    @property
    def trained(self) -> np.ndarray:
        """D_f ∪ D_r: every train row the model trained on."""
        return self.forget | self.retain

    def loader_fields(self, labels: np.ndarray | None = None) -> dict[str, Any]:
        """What a loader needs to show rows as this view defines them: the training labels
        (or `labels`, one per train row), and the trigger on the poisoned rows."""
        return {"labels": self.train_label if labels is None else labels,
                "poisoned": self.poisoned if self.trigger else None, "trigger": self.trigger}

    @classmethod
    def clean(cls, labels: np.ndarray) -> TrainingView:
        n = len(labels)
        return cls(labels, labels.copy(), np.zeros(n, bool), np.zeros(n, bool))

    @classmethod
    def from_table(cls, table: pa.Table, manipulation: dict[str, Any] | None, train_size: int,
                   source: str) -> TrainingView:
        """The view a forget-set table defines, checked to cover a train split of
        `train_size` rows; `manipulation` is the forget set's recorded manipulation."""
        try:
            rows = read_forget_table(table, source)
        except InputError as error:  # a file in the workspace, not a value the user typed
            raise ArtifactError(error.message, hint="re-create the forget set with make-forget-set --force") from None
        if rows.n != train_size:
            raise ArtifactError(f"{source} does not cover the {train_size} train rows of its dataset",
                                hint="the forget set was made for another dataset; re-create it")
        return cls(labels=rows.labels, train_label=rows.train_label, poisoned=rows.poisoned, forget=rows.forget,
                   trigger=trigger_of(manipulation), manipulation=manipulation, changed=rows.manipulated)


def trigger_of(manipulation: dict[str, Any] | None) -> Trigger | None:
    """The trigger a recorded poison manipulation stamps; None for other manipulations."""
    if not manipulation or manipulation.get("kind") != "poison":
        return None
    return Trigger(patch_size=int(manipulation.get("patch_size", 3)))
