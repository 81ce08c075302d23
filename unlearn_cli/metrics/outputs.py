"""`Outputs`: one model's per-sample outputs on one split, and what the metrics derive from
them (log-softmax, predictions, per-sample loss, true-class probability, entropy), each
computed once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from unlearn_cli.errors import InputError

# Cached per-sample quantities that `Outputs.subset` can slice instead of recomputing.
_PER_SAMPLE_CACHES = ("log_probs", "probs", "predictions", "loss", "true_prob", "entropy")


@dataclass(eq=False)
class Outputs:
    """Per-sample outputs of one model on one split, un-augmented, eval mode.

    The arrays are treated as read-only: derived quantities are computed once on first use
    and cached, so mutating `logits` afterwards would leave the caches stale.
    """

    logits: np.ndarray  # float (N, C)
    labels: np.ndarray  # int64 (N,): the labels to score against

    def __post_init__(self) -> None:
        self.logits = np.asarray(self.logits)
        self.labels = np.asarray(self.labels)
        if self.logits.ndim != 2:
            raise ValueError(f"logits must be a 2-D (samples, classes) array, got shape {self.logits.shape}")
        if not np.issubdtype(self.logits.dtype, np.floating):
            raise ValueError(f"logits must be floating point, got dtype {self.logits.dtype}")
        if self.labels.shape != (self.logits.shape[0],):
            raise ValueError(
                f"labels have shape {self.labels.shape} but logits have "
                f"{self.logits.shape[0]} rows"
            )
        if not np.issubdtype(self.labels.dtype, np.integer):
            raise ValueError(f"labels must be integers, got dtype {self.labels.dtype}")
        self.labels = self.labels.astype(np.int64, copy=False)
        n_classes = self.logits.shape[1]
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= n_classes):
            raise ValueError(
                f"labels must lie in 0..{n_classes - 1} for {n_classes} logits columns, "
                f"got {self.labels.min()}..{self.labels.max()}"
            )
        bad = int(np.count_nonzero(~np.isfinite(self.logits).all(axis=1)))
        if bad:
            # A diverged model (e.g. gradient ascent run too long) is the usual cause; its
            # metrics would be meaningless and the MIA fits would fail on NaN features.
            raise InputError(
                f"{bad} of {len(self)} samples have NaN or infinite logits",
                hint="the model diverged; re-run the method with a smaller learning rate "
                "or fewer epochs",
            )

    def __len__(self) -> int:
        return int(self.logits.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.logits.shape[1])

    @cached_property
    def log_probs(self) -> np.ndarray:
        """Log-softmax in float64, shifted by the row max so large logits cannot overflow."""
        z = self.logits.astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    @cached_property
    def probs(self) -> np.ndarray:
        return np.exp(self.log_probs)

    @cached_property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(axis=1).astype(np.int64)

    @cached_property
    def loss(self) -> np.ndarray:
        """Per-sample cross-entropy against `labels` (natural log)."""
        return -self.log_probs[np.arange(len(self)), self.labels]

    @cached_property
    def true_prob(self) -> np.ndarray:
        """Softmax probability of `labels`."""
        return self.probs[np.arange(len(self)), self.labels]

    @cached_property
    def entropy(self) -> np.ndarray:
        """Entropy of the softmax (natural log). log_probs is finite for finite logits, so
        a probability that underflows to 0 contributes 0·finite = 0, as it should."""
        return -(self.probs * self.log_probs).sum(axis=1)

    def subset(self, mask_or_indices: np.ndarray | Sequence[int]) -> Outputs:
        """The rows selected by a boolean mask (length N) or by integer indices."""
        sel = np.asarray(mask_or_indices)
        if sel.dtype == bool:
            if sel.shape != (len(self),):
                raise ValueError(f"boolean mask has shape {sel.shape}, expected ({len(self)},)")
        elif sel.size == 0:
            sel = sel.astype(np.int64)
        elif not np.issubdtype(sel.dtype, np.integer):
            raise ValueError(f"subset needs a boolean mask or integer indices, got dtype {sel.dtype}")
        out = Outputs(self.logits[sel], self.labels[sel])
        # Reuse whatever this object has already computed: slicing is far cheaper than a
        # second softmax over the full split.
        for name in _PER_SAMPLE_CACHES:
            if name in self.__dict__:
                out.__dict__[name] = self.__dict__[name][sel]
        return out
