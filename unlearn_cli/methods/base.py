"""The method registry: what a method is, what it declares about itself, what it returns.

A method is one function `run(ctx, params) -> Unlearned` over an `UnlearnContext` (which owns
the data, the models and the one training loop), plus data the step checks *before* any work:
its typed parameters, its default training recipe, and its capabilities (does it train at all,
may it run under torchrun). So a method module holds only what differs between methods: the
batches it draws, the loss of a batch, what it freezes, and passes without an optimiser step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unlearn_cli.registry import Registry
from unlearn_cli.space import TRAINING_KEYS, Range, check_declared
from unlearn_cli.train.optim import OptimizerSpec
from unlearn_cli.train.recipes import Recipe
from unlearn_cli.train.schedules import ScheduleSpec

if TYPE_CHECKING:
    from torch import nn

    from unlearn_cli.methods.context import UnlearnContext


@dataclass
class Unlearned:
    """What a method returns: the unlearned model (same architecture and outputs as the
    original) and a few method-specific numbers for the manifest's summary."""

    model: nn.Module
    summary: dict[str, Any] = field(default_factory=dict)


RunFn = Callable[["UnlearnContext", Any], Unlearned]
RecipeFn = Callable[[Any, Recipe | None], Recipe]
ModelCheck = Callable[["nn.Module", Any], None]
"""(a freshly built model of the run's architecture, resolved params) -> raises if the method
cannot work on it; run by the step before any data is loaded."""
"""(resolved params, the model's own pretraining recipe) -> the method's default recipe."""


@dataclass(frozen=True)
class MethodSpec:
    name: str
    description: str
    params: type  # a frozen dataclass of the method's parameters (typed, with defaults)
    run: RunFn
    # The default optimiser, batch size, length and schedule: a fixed recipe, a function of
    # the params and the model's own recipe (EU-k), or None = the model's own recipe
    # (retrain) or, for a method that does not train, nothing at all.
    recipe: Recipe | RecipeFn | None
    trains: bool = True  # False: no optimiser steps, so --lr/--epochs/... are refused
    distributed: bool = False  # may run under torchrun (DDP)
    reference: str = ""  # where its rule comes from, for `unlearn ls methods`
    check_model: ModelCheck | None = None  # what it needs of the architecture (e.g. a linear head)
    # What `unlearn tune` searches by default: training settings and the method's own
    # parameters (unlearn_cli/space.py); empty: nothing to tune (retrain).
    space: dict[str, Range] = field(default_factory=dict)

    def refused(self, training_options: list[str]) -> list[str]:
        """Which of the given training options this method refuses: all of them if it does not
        train (it would otherwise ignore them silently), none if it does."""
        return [] if self.trains else list(training_options)


METHODS: Registry[MethodSpec] = Registry("method")


def register_method(
    name: str,
    *,
    description: str,
    params: type,
    recipe: Recipe | RecipeFn | None,
    trains: bool = True,
    distributed: bool = False,
    reference: str = "",
    check_model: ModelCheck | None = None,
    space: dict[str, Range] | None = None,
) -> Callable[[RunFn], RunFn]:
    """Decorator: register `run` as the unlearning method `name`."""
    if not (dataclasses.is_dataclass(params) and params.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"method '{name}': params must be a frozen dataclass")
    space = dict(space or {})
    check_declared(space, params, f"method '{name}'")
    if not trains and set(space) & set(TRAINING_KEYS):
        raise TypeError(f"method '{name}' does not train, so its space cannot draw {sorted(set(space) & set(TRAINING_KEYS))}")

    def decorator(run: RunFn) -> RunFn:
        METHODS.add(name, MethodSpec(name, description, params, run, recipe, trains, distributed, reference,
                                     check_model, space))
        return run

    return decorator


def sgd(lr: float, *, epochs: int, weight_decay: float = 5e-4, momentum: float = 0.9,
        batch_size: int = 128) -> Recipe:
    """A constant-lr SGD recipe (the fine-tuning methods' reference scripts)."""
    return Recipe(name="method", optimizer=OptimizerSpec("sgd", lr=lr, weight_decay=weight_decay, momentum=momentum),
                  batch_size=batch_size, epochs=epochs, schedule=ScheduleSpec("constant"))


def adam(lr: float, *, epochs: int, weight_decay: float = 0.0, decoupled: bool = False,
         batch_size: int = 128, schedule: ScheduleSpec | None = None) -> Recipe:
    """An Adam (or AdamW with `decoupled`) recipe, constant lr unless a schedule is given."""
    return Recipe(name="method", optimizer=OptimizerSpec("adamw" if decoupled else "adam", lr=lr,
                                                         weight_decay=weight_decay, momentum=0.0),
                  batch_size=batch_size, epochs=epochs, schedule=schedule or ScheduleSpec("constant"))


@dataclass(frozen=True)
class NoParams:
    """For methods without parameters of their own."""
