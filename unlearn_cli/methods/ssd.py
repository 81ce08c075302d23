"""`ssd` (Selective Synaptic Dampening, Foster et al.) and its label-free variant LF-SSD.

No training. Two importance passes over the model in eval mode (if-loops/selective-synaptic-
dampening `src/ssd.py` `calc_importance`): for every parameter entry, the statistic of each
batch's gradient, averaged over the batches; once over D_f (I_f) and once over the whole
training set D = D_r then D_f, in that order (the reference's `ConcatDataset((retain,
forget))`), both un-augmented and unshuffled. Then `modify_weight`: every entry with
I_f > α·I_D is multiplied by min(λ·I_D / I_f, 1), so no weight grows in magnitude.

SSD: the batch-mean cross-entropy, squared gradients. LF-SSD (`label_free=true`, the
repository's README "Implementing LFSSD"): the loss ‖logits‖² (per row, averaged over the
batch), absolute gradients.

The corrective repository runs the same rule on other batches (src/utils.py `ssd_tuning`,
called from src/methods.py:320 with main.py:108's loaders): `reference_rows=retain` takes I_D
over D_r instead of the whole training set, and `augment_batches=true` takes both passes on
shuffled, augmented batches, as its training loaders are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from unlearn_cli.errors import InputError
from unlearn_cli.methods.base import Unlearned, register_method
from unlearn_cli.methods.context import UnlearnContext
from unlearn_cli.space import log_uniform
from unlearn_cli.train.gradients import (
    LabelledBatch,
    batch_cross_entropy,
    mean_gradient_statistic,
    squared_logit_norm,
)


@dataclass(frozen=True)
class SsdParams:
    alpha: float = 10.0  # selection: dampen entries with I_f > alpha * I_D (inf: none)
    lam: float = 1.0  # dampening λ: multiply by min(lam * I_D / I_f, 1)
    label_free: bool = False  # LF-SSD: loss ||logits||^2 and |grad| instead of CE and grad^2
    batch_size: int = 128  # batches of the importance passes (the reference's loaders: 128)
    reference_rows: Literal["all", "retain"] = "all"  # I_D over D_r ∪ D_f (if-loops) or D_r (corrective)
    augment_batches: bool = False  # shuffled, augmented importance batches (corrective)

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise InputError(f"ssd alpha={self.alpha} is not positive", hint="e.g. --param alpha=10")
        if not (self.lam > 0 and math.isfinite(self.lam)):
            raise InputError(f"ssd lam={self.lam} is not a positive number", hint="e.g. --param lam=1")
        if self.batch_size < 1:
            raise InputError(f"ssd batch_size={self.batch_size} is not positive", hint="e.g. --param batch_size=128")


def importances(model: nn.Module, batches: Iterable[LabelledBatch], *, label_free: bool,
                amp: bool = False) -> dict[str, Tensor]:
    """Per-parameter importance: the mean over batches of grad² of the batch CE (SSD), or of
    |grad| of the batch-mean ‖logits‖² (LF-SSD). `amp`: the run's bf16 speed switch."""
    if label_free:
        return mean_gradient_statistic(model, batches, squared_logit_norm, torch.abs, amp=amp)
    return mean_gradient_statistic(model, batches, batch_cross_entropy, torch.square, amp=amp)


@torch.no_grad()
def dampen_(model: nn.Module, forget_importance: dict[str, Tensor], full_importance: dict[str, Tensor],
            *, alpha: float, lam: float) -> int:
    """Multiply every parameter entry with I_f > α·I_D by min(λ·I_D / I_f, 1), in place;
    returns how many entries were selected. (α = ∞ selects nothing: ∞·0 is NaN, and no
    comparison with NaN is true.)"""
    selected_total = 0
    for name, p in model.named_parameters():
        forget, full = forget_importance[name], full_importance[name]
        selected = forget > alpha * full
        # Only selected entries use the ratio, and there I_f > 0, so it is finite.
        factor = torch.where(selected, (lam * full / forget).clamp(max=1.0), torch.ones_like(forget))
        p.mul_(factor.to(p.dtype))
        selected_total += int(selected.sum())
    return selected_total


def selective_synaptic_dampening(model: nn.Module, forget_batches: Iterable[LabelledBatch],
                                 all_batches: Iterable[LabelledBatch], params: SsdParams, *,
                                 amp: bool = False) -> int:
    """The whole method on plain batches: importances on D_f and on D, then dampening.
    Returns the number of dampened entries."""
    forget = importances(model, forget_batches, label_free=params.label_free, amp=amp)
    full = importances(model, all_batches, label_free=params.label_free, amp=amp)
    return dampen_(model, forget, full, alpha=params.alpha, lam=params.lam)


@register_method(
    "ssd",
    description="no training: importances (mean over batches of grad^2 of the batch CE) on D_f and on D; "
    "entries with I_f > alpha*I_D are multiplied by min(lam*I_D/I_f, 1); label_free=true: LF-SSD "
    "(loss ||logits||^2, |grad|)",
    params=SsdParams, recipe=None, trains=False,
    space={"alpha": log_uniform(1.0, 100.0), "lam": log_uniform(0.1, 10.0)},
    reference="if-loops/selective-synaptic-dampening src/ssd.py (calc_importance, modify_weight); "
    "README 'Implementing LFSSD'",
)
def ssd(ctx: UnlearnContext, params: SsdParams) -> Unlearned:
    reference = ctx.retain_rows if params.reference_rows == "retain" else np.concatenate([ctx.retain_rows,
                                                                                          ctx.forget_rows])

    def batches(rows: np.ndarray, purpose: str):
        if params.augment_batches:
            return ctx.loader(rows, purpose=purpose, batch_size=params.batch_size, augment=True).epoch(0)
        return ctx.eval_loader(rows, batch_size=params.batch_size).epoch(0)

    forget_batches, all_batches = batches(ctx.forget_rows, "ssd-forget"), batches(reference, "ssd-reference")
    dampened = selective_synaptic_dampening(ctx.model, forget_batches, all_batches, params, amp=ctx.switches.amp)
    total = sum(p.numel() for p in ctx.model.parameters())
    return Unlearned(ctx.model, {"dampened": dampened, "dampened_fraction": dampened / total})
