"""`neggrad` (gradient ascent on D_f) and `neggrad_plus` (ascent on D_f balanced by descent
on D_r, each retain batch paired with a cycled forget batch)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from unlearn_cli.data.loader import Batch
from unlearn_cli.errors import InputError
from unlearn_cli.methods.base import NoParams, Unlearned, register_method, sgd
from unlearn_cli.methods.context import UnlearnContext
from unlearn_cli.methods.losses import ce_loss
from unlearn_cli.space import integers, log_uniform, uniform
from unlearn_cli.train.loop import StepOutput
from unlearn_cli.train.sources import Paired, PairedBatch


def _ascent(model: nn.Module, batch: Batch, step: int) -> StepOutput:
    return StepOutput(-ce_loss(model(batch.x), batch.y))


@register_method(
    "neggrad",
    description="gradient ascent on D_f: minimise -CE on the forget set",
    params=NoParams, recipe=sgd(1e-4, epochs=5),
    space={"lr": log_uniform(1e-6, 1e-2), "epochs": integers(1, 5)},
    reference="Unlearn-Sparse unlearn/GA.py",
)
def neggrad(ctx: UnlearnContext, params: NoParams) -> Unlearned:
    ctx.fit(ctx.model, ctx.loader(ctx.forget_rows, purpose="forget"), _ascent)
    return Unlearned(ctx.model)


@dataclass(frozen=True)
class NegGradPlusParams:
    alpha: float = 0.95  # weight of the retain loss; 1 - alpha weighs the forget ascent

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise InputError(f"neggrad_plus alpha={self.alpha} is outside [0, 1]", hint="e.g. --param alpha=0.95")


def neggrad_plus_loss(alpha: float):
    def objective(model: nn.Module, batch: PairedBatch, step: int) -> StepOutput:
        retain, forget = batch.primary, batch.secondary
        loss = alpha * ce_loss(model(retain.x), retain.y) - (1 - alpha) * ce_loss(model(forget.x), forget.y)
        return StepOutput(loss)

    return objective


@register_method(
    "neggrad_plus",
    description="minimise alpha*CE(retain batch) - (1-alpha)*CE(forget batch), each retain batch "
    "paired with a cycled forget batch",
    params=NegGradPlusParams, recipe=sgd(0.01, epochs=5),
    space={"lr": log_uniform(1e-4, 1e-1), "epochs": integers(1, 10), "alpha": uniform(0.5, 1.0)},
    reference="Kurmanji et al. (SCRUB paper) NegGrad+",
)
def neggrad_plus(ctx: UnlearnContext, params: NegGradPlusParams) -> Unlearned:
    source = Paired(ctx.loader(ctx.retain_rows, purpose="retain"), ctx.loader(ctx.forget_rows, purpose="forget"))
    ctx.fit(ctx.model, source, neggrad_plus_loss(params.alpha))
    return Unlearned(ctx.model)
