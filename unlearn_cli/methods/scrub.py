"""`scrub` (Kurmanji et al.): the student starts as the model, the teacher is the frozen model.

`form=epochs` (meghdadk/SCRUB): each epoch (1-based) e: while e ≤ msteps, one "max" pass over
D_f maximising KL(teacher ‖ student) at kd_T; then one "min" pass over D_r minimising
γ·CE + α·KL. KL is batchmean ×T² (repdistiller's DistillKL); the lr is ×0.1 after each of
`lr_decay_epochs`.

`form=steps` (drimpossible/corrective-unlearning-bench src/methods.py:220-263, `Scrub`): msteps
counts optimiser steps: every epoch that starts before step msteps opens with a max pass over
D_f maximising γ·CE + α·KL (the min pass's loss, negated), then the min pass over D_r; both
passes' steps count towards the run's length and train under the recipe's own schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from unlearn_cli.errors import InputError
from unlearn_cli.methods.base import Unlearned, register_method, sgd
from unlearn_cli.methods.context import UnlearnContext
from unlearn_cli.methods.losses import ce_loss, distill_kl, soft_targets
from unlearn_cli.space import integers, log_uniform, uniform
from unlearn_cli.train.loop import StepOutput
from unlearn_cli.train.sources import PhaseBatch, Phased

LR_DECAY_RATE = 0.1


@dataclass(frozen=True)
class ScrubParams:
    kd_T: float = 4.0
    alpha: float = 0.5  # weight of the KL term in the min pass
    gamma: float = 1.0  # weight of the CE term in the min pass
    msteps: int = 3  # epochs (form=steps: optimiser steps) that start with a max pass
    lr_decay_epochs: tuple[int, ...] = (3,)  # form=epochs: the lr is ×0.1 after each of these epochs
    forget_batch_size: int | None = None  # D_f batch of the max pass (default: --batch-size)
    form: Literal["epochs", "steps"] = "epochs"  # steps: the corrective repository's Scrub

    def __post_init__(self) -> None:
        if not self.kd_T > 0:
            raise InputError(f"scrub kd_T={self.kd_T} is not positive", hint="e.g. --param kd_T=4")
        if self.msteps < 0:
            raise InputError(f"scrub msteps={self.msteps} is negative", hint="e.g. --param msteps=3")
        if self.forget_batch_size is not None and self.forget_batch_size < 1:
            raise InputError(f"scrub forget_batch_size={self.forget_batch_size} is not positive",
                             hint="e.g. --param forget_batch_size=32")


def scrub_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """repdistiller's DistillKL: KL(teacher ‖ student) at T, batchmean, times T²."""
    return distill_kl(student_logits, soft_targets(teacher_logits, temperature), temperature) * temperature**2


def scrub_objective(teacher: nn.Module, params: ScrubParams):
    def objective(model: nn.Module, batch: PhaseBatch, step: int) -> StepOutput:
        x, y = batch.batch.x, batch.batch.y
        logits = model(x)
        with torch.no_grad():
            teacher_logits = teacher(x)
        kl = scrub_kl(logits, teacher_logits, params.kd_T)
        if batch.phase == "max" and params.form == "epochs":
            return StepOutput(-kl)
        loss = params.gamma * ce_loss(logits, y) + params.alpha * kl
        return StepOutput(-loss if batch.phase == "max" else loss)

    return objective


def lr_factor(epoch: int, decay_epochs: tuple[int, ...]) -> float:
    """The lr multiplier in 0-based epoch `epoch`: ×0.1 for each decay epoch already passed
    (repdistiller's adjust_learning_rate with the 1-based epoch)."""
    return LR_DECAY_RATE ** sum(epoch + 1 > d for d in decay_epochs)


@register_method(
    "scrub",
    description="max passes on D_f (maximise KL to the frozen teacher) while epoch <= msteps, then "
    "min passes on D_r (gamma*CE + alpha*KL); KL x T^2, batchmean; form=steps: msteps in optimiser "
    "steps, max passes maximise gamma*CE + alpha*KL, the recipe's schedule (the corrective repository)",
    params=ScrubParams, recipe=sgd(5e-4, epochs=5),
    space={"lr": log_uniform(1e-5, 1e-2), "epochs": integers(2, 10), "msteps": integers(1, 5),
           "alpha": uniform(0.1, 1.0), "kd_T": log_uniform(1.0, 8.0)},
    reference="meghdadk/SCRUB (repdistiller loops.train_distill, DistillKL); form=steps: "
    "corrective-unlearning-bench src/methods.py Scrub",
)
def scrub(ctx: UnlearnContext, params: ScrubParams) -> Unlearned:
    teacher = ctx.frozen_original()
    forget = ctx.loader(ctx.forget_rows, purpose="forget", batch_size=params.forget_batch_size)
    retain = ctx.loader(ctx.retain_rows, purpose="retain")
    objective = scrub_objective(teacher, params)
    if params.form == "steps":
        source = Phased(steps_form_plan(forget, retain, params.msteps))
        ctx.fit(ctx.model, source, objective)  # the recipe's schedule over every step
        return Unlearned(ctx.model)

    def plan(epoch: int):
        return ([("max", forget)] if epoch + 1 <= params.msteps else []) + [("min", retain)]

    source = Phased(plan)
    ctx.fit(ctx.model, source, objective,
            schedule=lambda step: lr_factor(source.epoch_of_step(step), params.lr_decay_epochs))
    return Unlearned(ctx.model)


def steps_form_plan(forget, retain, msteps: int):
    """The corrective repository's Scrub.unlearn loop (src/methods.py:248-263): an epoch opens
    with a max pass over D_f if the steps taken before it number fewer than `msteps`, then
    runs its min pass over D_r. Pure in the epoch: the steps before epoch e follow from the
    pass lengths of the epochs before it."""
    starts = [0]  # steps taken before epoch e, for the epochs planned so far

    def passes(epoch: int) -> list:
        return ([("max", forget)] if starts[epoch] < msteps else []) + [("min", retain)]

    def plan(epoch: int) -> list:
        while len(starts) <= epoch:
            e = len(starts) - 1
            starts.append(starts[e] + sum(len(loader) for _, loader in passes(e)))
        return passes(epoch)

    return plan
