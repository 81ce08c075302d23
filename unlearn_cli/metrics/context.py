"""`EvalContext`: everything the metrics read about one evaluated run (and its reference), as
plain numpy arrays. The evaluation step runs each model once, in eval mode on un-augmented
images, and fills it; metrics are pure functions of it, so they are cheap to test with
hand-made logits and never touch torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from unlearn_cli.errors import InputError
from unlearn_cli.forget.manipulations import Manipulation
from unlearn_cli.metrics.outputs import Outputs


@dataclass(eq=False)
class EvalContext:
    """Everything the metrics need about one evaluated run (and optionally its reference)."""

    train: Outputs  # every train row; labels = train_label (the labels it was trained with)
    true_train_labels: np.ndarray  # int64 (N_train,) the true labels
    forget: np.ndarray  # bool (N_train,) D_f; D_r = ~forget
    manipulated: np.ndarray  # bool (N_train,) rows whose label or pixels were manipulated
    test: Outputs  # clean test images, true labels
    test_triggered: Outputs | None  # every test image with the trigger, true labels (poison)
    num_classes: int
    # bool (N_test,): the "forget test" rows of class-wise forgetting (the forgotten class's
    # or sub-class's test images, as NatMU splits them). TA is then measured on the other
    # test rows and TA_forget on these; None for sample-wise and corrective runs.
    forget_test: np.ndarray | None = None
    manipulation: Manipulation | None = None
    seed: int = 0
    wall_seconds: float | None = None
    reference: EvalContext | None = None  # the retrain run on the same forget set, if given
    # bool (N_train,): rows the model never trained on (`pretrain --exclude`, its validation
    # split): neither D_f nor D_r. None: none.
    held_out: np.ndarray | None = None
    # bool (N_train,): the model's validation rows (`pretrain --val-fraction`), part of
    # held_out; VA is measured on them against the true labels. None: no validation split.
    validation: np.ndarray | None = None
    # Values that several metrics share (mia_entropy feeds avg_gap), computed once per
    # context through `memo`.
    _memo: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.train)
        self.true_train_labels = np.asarray(self.true_train_labels)
        self.forget = np.asarray(self.forget)
        self.manipulated = np.asarray(self.manipulated)
        if self.true_train_labels.shape != (n,):
            raise ValueError(f"true_train_labels has shape {self.true_train_labels.shape}, expected ({n},)")
        self.true_train_labels = self.true_train_labels.astype(np.int64, copy=False)
        for name in ("forget", "manipulated", "held_out", "validation"):
            mask = getattr(self, name)
            if mask is None:
                continue
            mask = np.asarray(mask)
            setattr(self, name, mask)
            # Integer row lists would silently turn into a wrong mask under astype(bool).
            if mask.dtype != bool or mask.shape != (n,):
                raise ValueError(
                    f"{name} must be a boolean mask of shape ({n},), got dtype {mask.dtype} "
                    f"shape {mask.shape}"
                )
        for split, out in (("train", self.train), ("test", self.test),
                           ("test_triggered", self.test_triggered)):
            if out is not None and out.num_classes != self.num_classes:
                raise ValueError(f"{split} logits have {out.num_classes} classes, expected {self.num_classes}")
        if len(self.test) == 0:
            raise InputError("the test split is empty", hint="check the prepared dataset")
        if not self.forget.any():
            # An empty D_f means the forget-set artifact or its loading went wrong; every
            # forget metric would be undefined.
            raise ValueError("the forget set D_f is empty")
        if self.held_out is not None and (self.held_out & self.forget).any():
            raise ValueError("a held-out row cannot be in the forget set D_f")
        if self.validation is not None and (self.held_out is None or (self.validation & ~self.held_out).any()):
            raise ValueError("the validation rows must be held out of training")
        if not self.retain.any():
            raise ValueError("the forget set covers every train row, so the retain set D_r is empty")
        if self.forget_test is not None:
            self._check_forget_test()
        if self.manipulation is not None:
            self._check_manipulation(self.manipulation)
        if self.reference is not None:
            self._check_reference(self.reference)

    def _check_forget_test(self) -> None:
        self.forget_test = np.asarray(self.forget_test)
        n = len(self.test)
        # Integer row lists would silently turn into a wrong mask under astype(bool).
        if self.forget_test.dtype != bool or self.forget_test.shape != (n,):
            raise ValueError(
                f"forget_test must be a boolean mask of shape ({n},), got dtype "
                f"{self.forget_test.dtype} shape {self.forget_test.shape}"
            )
        if self.forget_test.all():
            raise InputError(
                "every test image belongs to the forgotten class, so TA is undefined",
                hint="class-wise forgetting needs test images of other classes",
            )

    def _check_manipulation(self, m: Manipulation) -> None:
        named = [m.target] if m.kind == "poison" else list(m.classes or ())
        for c in named:
            if c is not None and not 0 <= c < self.num_classes:
                raise InputError(
                    f"{m.kind} manipulation names class {c}, outside 0..{self.num_classes - 1}",
                    hint="check the forget-set manifest's manipulation settings",
                )
        if m.kind == "poison":
            if self.test_triggered is None:
                raise ValueError(
                    "a poison manipulation needs the triggered test set for acc_corr and "
                    "attack_success"
                )
            if not np.array_equal(self.test_triggered.labels, self.test.labels):
                raise ValueError("the triggered test set's labels differ from the clean test set's")

    def _check_reference(self, ref: EvalContext) -> None:
        # The gap metrics compare like with like: same forget rows, same test images.
        if len(ref.train) != len(self.train) or not np.array_equal(ref.forget, self.forget):
            raise InputError(
                "the reference run was evaluated on a different forget set",
                hint="pass a retrain run made from the same forget set",
            )
        if len(ref.test) != len(self.test) or not np.array_equal(ref.test.labels,
                                                                 self.test.labels):
            raise InputError(
                "the reference run was evaluated on a different test set",
                hint="pass a retrain run on the same dataset",
            )
        if (ref.forget_test is None) != (self.forget_test is None) or (
            ref.forget_test is not None
            and not np.array_equal(ref.forget_test, self.forget_test)
        ):
            raise InputError(
                "the reference run splits the test set into another forget test set",
                hint="pass a retrain run made from the same forget set",
            )
        if ref.num_classes != self.num_classes:
            raise InputError(
                f"the reference model has {ref.num_classes} classes, this one "
                f"{self.num_classes}",
                hint="pass a retrain run on the same dataset",
            )

    @property
    def retain(self) -> np.ndarray:
        """Boolean mask of D_r: the rows trained on that are not in D_f."""
        return ~self.forget if self.held_out is None else ~self.forget & ~self.held_out

    @cached_property
    def forget_outputs(self) -> Outputs:
        """Outputs on D_f, scored against the train labels."""
        return self.train.subset(self.forget)

    @cached_property
    def retain_outputs(self) -> Outputs:
        """Outputs on D_r, scored against the train labels."""
        return self.train.subset(self.retain)

    @cached_property
    def validation_outputs(self) -> Outputs | None:
        """Outputs on the validation rows, scored against the true labels; None without them."""
        if self.validation is None:
            return None
        return Outputs(self.train.logits[self.validation], self.true_train_labels[self.validation])

    @cached_property
    def test_rest_outputs(self) -> Outputs:
        """The test rows TA is measured on: all of them, or in class-wise forgetting those
        outside the forget test set."""
        return self.test if self.forget_test is None else self.test.subset(~self.forget_test)

    @cached_property
    def forget_test_outputs(self) -> Outputs | None:
        """The forget test rows (class-wise forgetting), else None."""
        return None if self.forget_test is None else self.test.subset(self.forget_test)

    def memo(self, key: str, compute: Callable[[], float]) -> float:
        """`compute()` on first call for `key`, the stored value afterwards."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]
