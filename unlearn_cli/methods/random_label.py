"""`random_label` (Amnesiac / RL): fine-tune on D_r ∪ D_f where every forget sample carries one
fixed random label other than its own for the whole run. `init_linear=true` re-draws the head
first, as NatMU's class-wise amnesiac.py does with `-i` (line 159)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearn_cli.methods.base import Unlearned, adam, register_method
from unlearn_cli.methods.common import reinit_head
from unlearn_cli.methods.context import UnlearnContext, derive_seed
from unlearn_cli.space import integers, log_uniform
from unlearn_cli.train.objectives import cross_entropy


def random_wrong_labels(labels: np.ndarray, rows: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """A copy of `labels` where each of `rows` gets a uniformly drawn label ≠ its own: its
    label shifted by 1…C−1 classes (mod C), which is uniform over the other classes."""
    out = np.array(labels, dtype=np.int64, copy=True)
    if num_classes < 2:
        return out
    shift = np.random.default_rng(seed).integers(1, num_classes, size=len(rows))
    out[rows] = (out[rows] + shift) % num_classes
    return out


def relabelled(ctx: UnlearnContext) -> np.ndarray:
    """The training labels of the run with D_f relabelled once, from the run's seed."""
    return random_wrong_labels(ctx.view.train_label, ctx.forget_rows, ctx.num_classes,
                               derive_seed(ctx.seed, "random-labels"))


@dataclass(frozen=True)
class RandomLabelParams:
    init_linear: bool = False  # re-initialise the head first (NatMU's class-wise scripts)


@register_method(
    "random_label",
    description="fine-tune on D_r ∪ D_f, each forget sample with one fixed random label ≠ its own",
    params=RandomLabelParams, recipe=adam(2e-5, weight_decay=4e-4, decoupled=True, epochs=5),
    space={"lr": log_uniform(1e-6, 1e-3), "epochs": integers(1, 10)},
    reference="Graves et al. Amnesiac ML; Unlearn-Saliency unlearn/RL.py; NatMU amnesiac.py",
)
def random_label(ctx: UnlearnContext, params: RandomLabelParams) -> Unlearned:
    if params.init_linear:
        reinit_head(ctx.model, derive_seed(ctx.seed, "init-linear"))
    loader = ctx.loader(ctx.all_rows, purpose="all", labels=relabelled(ctx))
    ctx.fit(ctx.model, loader, cross_entropy)
    return Unlearned(ctx.model)
