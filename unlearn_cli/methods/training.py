"""Resolving a run's generic training options: method defaults → preset → CLI options.

The result is a `Training` (recipe + augmentation) recorded whole in the run's manifest, so the
same run can be replayed from the manifest alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from unlearn_cli.errors import ArtifactError
from unlearn_cli.methods.base import MethodSpec
from unlearn_cli.methods.context import Training
from unlearn_cli.train.optim import OptimizerSpec
from unlearn_cli.train.options import GenericOptions
from unlearn_cli.train.recipes import Recipe
from unlearn_cli.train.schedules import ScheduleSpec


def recipe_from_config(config: dict[str, Any], source: str) -> Recipe:
    """The resolved pretraining recipe a model manifest recorded (`asdict(Recipe)`)."""
    try:
        raw = dict(config["recipe"])
        schedule = dict(raw["schedule"])
        for key in ("milestones", "factors"):
            schedule[key] = tuple(schedule.get(key, ()))
        # Models from before these fields were recorded dropped the partial batch and used
        # their dataset's statistics.
        return Recipe(name=raw["name"], optimizer=OptimizerSpec(**raw["optimizer"]),
                      batch_size=int(raw["batch_size"]), schedule=ScheduleSpec(**schedule),
                      epochs=raw.get("epochs"), steps=raw.get("steps"),
                      drop_last=bool(raw.get("drop_last", True)),
                      normalization=str(raw.get("normalization", "dataset")))
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"{source}: no usable pretraining recipe recorded ({error})",
                            hint="re-create the model with this version of unlearn") from None


def apply_fields(recipe: Recipe, fields: dict[str, Any]) -> Recipe:
    """`recipe` with a preset's fields set: optimizer (name), lr, weight_decay, momentum,
    batch_size, epochs or steps (each replaces the other), schedule, drop_last."""
    optimizer = recipe.optimizer
    for key in ("lr", "weight_decay", "momentum"):
        if key in fields:
            optimizer = replace(optimizer, **{key: fields[key]})
    if "optimizer" in fields:
        optimizer = replace(optimizer, name=fields["optimizer"])
    recipe = replace(recipe, optimizer=optimizer)
    if "batch_size" in fields:
        recipe = replace(recipe, batch_size=fields["batch_size"])
    if "schedule" in fields:
        recipe = replace(recipe, schedule=fields["schedule"])
    if "drop_last" in fields:
        recipe = replace(recipe, drop_last=fields["drop_last"])
    if "steps" in fields:
        recipe = replace(recipe, steps=fields["steps"], epochs=None)
    if "epochs" in fields:
        recipe = replace(recipe, epochs=fields["epochs"], steps=None)
    return recipe


def resolve_training(spec: MethodSpec, params: Any, own_recipe: Recipe | None,
                     options: GenericOptions, preset_fields: dict[str, Any] | None = None) -> Training | None:
    """The run's recipe: the method's default (or the model's own, for retrain), then the
    preset's fields, then the generic options; augmentation likewise (on unless a preset or
    --no-augment turns it off). None for a method that does not train (whose options
    `UnlearnOptions.resolve` has refused already)."""
    if not spec.trains:
        return None
    if spec.recipe is None:
        if own_recipe is None:
            raise ArtifactError("the model records no pretraining recipe to retrain with",
                                hint="re-create the model with this version of unlearn")
        recipe = own_recipe
    elif callable(spec.recipe):
        recipe = spec.recipe(params, own_recipe)
    else:
        recipe = spec.recipe
    fields = dict(preset_fields or {})
    augment = fields.pop("augment", True)
    recipe = apply_fields(recipe, fields)
    recipe = recipe.with_overrides(epochs=options.epochs, steps=options.steps, lr=options.lr,
                                   batch_size=options.batch_size, weight_decay=options.weight_decay)
    if options.optimizer is not None:
        recipe = replace(recipe, optimizer=replace(recipe.optimizer, name=options.optimizer.lower()))
        recipe.optimizer.validate()
    return Training(recipe=recipe, augment=augment if options.augment is None else options.augment)
