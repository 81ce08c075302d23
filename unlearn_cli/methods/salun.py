"""`salun` (SalUn, Fan et al.): random-label training restricted to the salient weights.

1. Saliency (OPTML-Group/Unlearn-Saliency `Classification/generate_mask.py`
   `save_gradient_ratio`): in eval mode, the gradient of each D_f batch's mean CE, summed
   over the batches of the forget loader, then its absolute value. The reference negates the
   loss first; the absolute value makes that irrelevant. Like the reference's forget loader,
   the batches are shuffled and augmented as the run's training batches are (`--no-augment`
   turns that off); `saliency_clean=true` takes them un-augmented in index order instead, and
   `saliency_batch_size` sets their size, as NatMU's salun.py does (batches of 500, lines
   83 and 88-110).
2. The mask: the top `threshold` fraction of all parameter entries of the model, ranked
   together (one global ranking, not per layer): exactly int(N·threshold) entries, as the
   reference's `rank < int(len(all_elements) * i)`.
3. `random_label` (`unlearn/RL.py`): fine-tune on D_r ∪ D_f with each forget sample's fixed
   random wrong label, where every entry outside the mask stays exactly at its original
   value, although weight decay and momentum would move it (the loop's `FrozenMask` masks
   the gradients and restores frozen entries after every optimiser step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from unlearn_cli.errors import InputError
from unlearn_cli.methods.base import Unlearned, register_method, sgd
from unlearn_cli.methods.context import UnlearnContext
from unlearn_cli.methods.random_label import relabelled
from unlearn_cli.space import integers, log_uniform, uniform
from unlearn_cli.train.gradients import batch_cross_entropy, summed_gradient_statistic
from unlearn_cli.train.loop import FrozenMask
from unlearn_cli.train.objectives import cross_entropy


@dataclass(frozen=True)
class SalunParams:
    threshold: float = 0.5  # fraction of all parameter entries that may change
    saliency_batch_size: int | None = None  # D_f batches of the saliency pass (None: --batch-size)
    saliency_clean: bool = False  # saliency on un-augmented D_f in index order (NatMU), not training batches

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise InputError(f"salun threshold={self.threshold} is outside (0, 1]",
                             hint="the fraction of weights that may change, e.g. --param threshold=0.5")
        if self.saliency_batch_size is not None and self.saliency_batch_size < 1:
            raise InputError(f"salun saliency_batch_size={self.saliency_batch_size} is not positive",
                             hint="e.g. --param saliency_batch_size=500")


def global_top_fraction(scores: dict[str, Tensor], fraction: float) -> dict[str, Tensor]:
    """A bool mask per tensor marking the int(N·fraction) highest scores among all N entries
    of all tensors together. Ties are broken by position (tensor order, then entry order),
    so the mask is deterministic."""
    flat = torch.cat([s.detach().flatten().float() for s in scores.values()])
    count = int(flat.numel() * fraction)
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    order = torch.argsort(flat, descending=True, stable=True)
    chosen[order[:count]] = True
    masks, start = {}, 0
    for name, s in scores.items():
        masks[name] = chosen[start:start + s.numel()].view(s.shape)
        start += s.numel()
    return masks


def saliency_mask(model: nn.Module, forget_batches, threshold: float, *, amp: bool = False) -> dict[str, Tensor]:
    """SalUn's mask: the top `threshold` fraction, globally, of |Σ_batches ∇θ CE(batch)|
    (`amp`: the run's bf16 speed switch for the forward passes)."""
    gradients, _ = summed_gradient_statistic(model, forget_batches, batch_cross_entropy, amp=amp)
    return global_top_fraction({name: g.abs() for name, g in gradients.items()}, threshold)


def frozen_outside(model: nn.Module, masks: dict[str, Tensor]) -> FrozenMask:
    return FrozenMask(trainable={p: masks[name] for name, p in model.named_parameters()})


@register_method(
    "salun",
    description="saliency mask = top `threshold` fraction (global) of |grad CE| summed over D_f; then "
    "random_label training in which the weights outside the mask stay exactly fixed",
    params=SalunParams, recipe=sgd(0.013, epochs=10),
    space={"lr": log_uniform(1e-4, 1e-1), "epochs": integers(1, 10), "threshold": uniform(0.1, 0.9)},
    reference="OPTML-Group/Unlearn-Saliency Classification/generate_mask.py, unlearn/RL.py",
)
def salun(ctx: UnlearnContext, params: SalunParams) -> Unlearned:
    model = ctx.model
    if params.saliency_clean:
        forget = ctx.eval_loader(ctx.forget_rows,
                                 batch_size=params.saliency_batch_size or ctx.training.recipe.batch_size)
    else:
        forget = ctx.loader(ctx.forget_rows, purpose="saliency", batch_size=params.saliency_batch_size)
    masks = saliency_mask(model, forget.epoch(0), params.threshold, amp=ctx.switches.amp)
    loader = ctx.loader(ctx.all_rows, purpose="all", labels=relabelled(ctx))
    ctx.fit(model, loader, cross_entropy, frozen=frozen_outside(model, masks))
    salient = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    return Unlearned(model, {"salient": salient, "salient_fraction": salient / total})
