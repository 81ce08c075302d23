"""Validation-only scoring of unlearned runs: what `unlearn tune` optimises.

The model's validation rows (`pretrain --val-fraction`) take the test split's place: the
context's `test` is the validation rows with their true labels (class-wise forget sets split
them as the test split is split), so every metric that reads the test split reads them instead
(TA becomes VA, mia_entropy's non-members are validation rows). Only the train split is
loaded; the test split is never opened.
"""

from __future__ import annotations

import numpy as np

from unlearn_cli.artifacts import Manifest, Workspace
from unlearn_cli.data.loader import DeviceSplit
from unlearn_cli.data.prepared import DatasetInfo, load_split
from unlearn_cli.errors import InputError
from unlearn_cli.metrics import EvalContext, Outputs
from unlearn_cli.steps.common import dataset_of, load_weights, model_info, training_view, view_loader
from unlearn_cli.steps.evaluate import forget_test_mask
from unlearn_cli.train.device import resolve_device
from unlearn_cli.train.inference import predict_logits


def require_validation(model: Manifest) -> None:
    """Tuning scores on the model's validation split: a model without one is refused."""
    if "validation" not in model.files:
        raise InputError(f"model {model.name} has no validation split, and tuning never reads the test split",
                         hint="pretrain the model with a validation split: unlearn pretrain --val-fraction 0.05")


class ValidationScorer:
    """Runs models of one pretrained model and forget set over the train split (loaded once)
    and gives their validation contexts; the retrain reference's context is kept per name."""

    def __init__(self, ws: Workspace, model: Manifest, forget: Manifest, device: str | None = None) -> None:
        require_validation(model)
        self.ws = ws
        self.device = resolve_device(device)
        dataset = dataset_of(ws, model)
        self.info = DatasetInfo.from_manifest(dataset)
        train = load_split(ws, dataset, "train")
        self.view = training_view(ws, forget, len(train), model)
        assert self.view.validation is not None
        rows = np.flatnonzero(self.view.validation)
        self.validation_rows = rows
        self.validation_labels = self.view.labels[rows]
        # Class-wise forget sets split the validation rows as `evaluate` splits the test split.
        self.forget_validation = forget_test_mask(forget, self.validation_labels,
                                                  {key: values[rows] for key, values in train.extra.items()},
                                                  split="validation split")
        if self.forget_validation is not None and self.forget_validation.all():
            raise InputError(f"every validation row belongs to what {forget.name} forgets",
                             hint="pretrain with a larger --val-fraction")
        self.train = DeviceSplit.from_numpy(train.images, train.labels, self.device)
        self._references: dict[str, EvalContext] = {}

    def context(self, run: Manifest, seed: int, reference: EvalContext | None = None) -> EvalContext:
        model = load_weights(self.ws, run, self.device)
        seen = model_info(self.ws, run, self.info)
        # fp32, as `evaluate` measures by default: the objective is a measurement.
        logits = predict_logits(model, view_loader(self.train, seen, self.view)).numpy()
        return EvalContext(
            train=Outputs(logits, self.view.train_label),
            true_train_labels=self.view.labels,
            forget=self.view.forget,
            manipulated=self.view.manipulated,
            test=Outputs(logits[self.validation_rows], self.validation_labels),
            test_triggered=None,
            num_classes=self.info.num_classes,
            forget_test=self.forget_validation,
            seed=seed,
            reference=reference,
            held_out=self.view.excluded,
        )

    def reference(self, run: Manifest, seed: int) -> EvalContext:
        """The retrain run's context, computed once per run and seed."""
        key = f"{run.name}@{seed}"
        if key not in self._references:
            self._references[key] = self.context(run, seed)
        return self._references[key]
