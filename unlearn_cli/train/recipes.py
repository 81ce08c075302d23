"""Pretraining recipes (README.md "Models and pretraining"; `unlearn ls recipes`), each a fully
resolved bundle that options can override."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from unlearn_cli.data.normalization import RULES
from unlearn_cli.errors import InputError, shown
from unlearn_cli.registry import Registry
from unlearn_cli.train.loop import BatchSource, run_length
from unlearn_cli.train.optim import OptimizerSpec
from unlearn_cli.train.options import GenericOptions
from unlearn_cli.train.schedules import ScheduleSpec


@dataclass(frozen=True)
class Recipe:
    name: str
    optimizer: OptimizerSpec
    batch_size: int
    schedule: ScheduleSpec
    epochs: int | None = None  # exactly one of epochs / steps is set
    steps: int | None = None
    # The last partial batch of an epoch: kept (False), as a DataLoader's default keeps it and
    # the references train, or dropped (True) for equal steps (ours, `fast`).
    drop_last: bool = False
    # The input normalisation a model is pretrained with (one of data/normalization.py's RULES). Only
    # pretraining reads it: every later pass over a model uses the numbers its manifest records.
    normalization: str = "dataset"

    def total_steps(self, source: BatchSource) -> int:
        """The optimiser steps of this recipe over `source`."""
        return run_length(source, epochs=self.epochs, steps=self.steps)

    def with_overrides(self, *, epochs: int | None = None, steps: int | None = None, lr: float | None = None,
                       batch_size: int | None = None, weight_decay: float | None = None,
                       drop_last: bool | None = None, normalization: str | None = None) -> Recipe:
        if epochs is not None and steps is not None:
            raise InputError("--epochs and --steps exclude each other", hint="give one of them")
        # The same ranges as an unlearning run's generic options, checked by the one rule.
        GenericOptions(epochs=epochs, steps=steps, lr=lr, batch_size=batch_size, weight_decay=weight_decay).check()
        recipe = self
        if epochs is not None:
            recipe = replace(recipe, epochs=epochs, steps=None)
        if steps is not None:
            recipe = replace(recipe, steps=steps, epochs=None)
        if batch_size is not None:
            recipe = replace(recipe, batch_size=batch_size)
        if drop_last is not None:
            recipe = replace(recipe, drop_last=drop_last)
        if normalization is not None:
            if normalization not in RULES:
                raise InputError(f"--normalization {shown(normalization)} is not a normalisation rule",
                                 hint=f"valid rules: {', '.join(RULES)}")
            recipe = replace(recipe, normalization=normalization)
        optimizer = recipe.optimizer
        if lr is not None:
            optimizer = replace(optimizer, lr=lr)
        if weight_decay is not None:
            optimizer = replace(optimizer, weight_decay=weight_decay)
        recipe = replace(recipe, optimizer=optimizer)
        recipe.optimizer.validate()
        return recipe


RecipeFactory = Callable[[str, str], Recipe]  # (dataset, model) -> Recipe
RECIPES: Registry[RecipeFactory] = Registry("recipe")


@RECIPES.register("natmu")
def natmu(dataset: str, model: str) -> Recipe:
    """NatMU's train_origin.py: SGD 0.1, 100 epochs, its `lr_lambda_step`: warm-up from 0 over
    2 epochs (step k at k/W), then ×0.1 after step int(0.6·total) and ×0.01 after int(0.8·total);
    the last partial batch of every epoch kept (its DataLoader, train_origin.py:56); inputs
    normalised with NatMU's constants (utils/util.py get_model)."""
    return Recipe(
        name="natmu",
        optimizer=OptimizerSpec("sgd", lr=0.1, weight_decay=5e-4, momentum=0.9),
        batch_size=256 if dataset == "tinyimagenet" else 128,
        epochs=100,
        schedule=ScheduleSpec("step", warmup_epochs=2, milestones=(0.6, 0.8), factors=(0.1, 0.01)),
        drop_last=False,
        normalization="natmu",
    )


@RECIPES.register("corrective")
def corrective(dataset: str, model: str) -> Recipe:
    """The corrective-unlearning repo: SGD 0.025, batch 512, 4000 steps (6000 on CIFAR-100), its
    `LinearLR`: warm-up over W = steps // 100 steps ((k+1)/(W+1)), then 1 − (k−W)/(1.25·steps),
    which ends near 20 % of the peak; the last partial batch of every epoch kept (main.py's
    DataLoaders); inputs normalised with the CIFAR-10 constants (src/datasets.py:30). Exactly
    `steps` optimiser steps: the repository's loop takes one more (methods.py:57 tests
    `curr_step > train_iters` after stepping)."""
    long_run = dataset in ("cifar100", "cifar20") or model == "wrn28_10"
    return Recipe(
        name="corrective",
        optimizer=OptimizerSpec("sgd", lr=0.025, weight_decay=5e-4, momentum=0.9),
        batch_size=512,
        steps=6000 if long_run else 4000,
        schedule=ScheduleSpec("linear", warmup_fraction=0.01, decay_horizon=1.25),
        drop_last=False,
        normalization="corrective",
    )


@RECIPES.register("fast")
def fast(dataset: str, model: str) -> Recipe:
    """Ours: one-cycle SGD-Nesterov, large batch, for the on-device pipeline (bf16,
    channels_last, compile on CUDA), full batches only, the dataset's own statistics. No label
    smoothing or TTA (they distort the MIA metrics)."""
    if dataset == "digits":
        return Recipe(
            name="fast",
            optimizer=OptimizerSpec("sgd", lr=0.05, weight_decay=5e-4, momentum=0.9, nesterov=True),
            batch_size=64,
            epochs=10,
            schedule=ScheduleSpec("onecycle", warmup_fraction=0.15, end_factor=0.0),
            drop_last=True,
        )
    epochs = {"cifar10": 40, "cifar100": 60, "cifar20": 60, "tinyimagenet": 60}.get(dataset, 40)
    return Recipe(
        name="fast",
        optimizer=OptimizerSpec("sgd", lr=0.2, weight_decay=5e-4, momentum=0.9, nesterov=True),
        batch_size=512,
        epochs=epochs,
        schedule=ScheduleSpec("onecycle", warmup_fraction=0.15, end_factor=0.0),
        drop_last=True,
    )


def resolve_recipe(name: str, dataset: str, model: str) -> Recipe:
    return RECIPES.get(name)(dataset, model)
