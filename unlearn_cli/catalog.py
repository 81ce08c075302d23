"""(name, description) rows of each registry, for `unlearn ls` and the docs.

Registries are imported lazily so that `unlearn ls datasets` does not import every model."""

from __future__ import annotations

from collections.abc import Callable


def _datasets() -> list[tuple[str, str]]:
    from unlearn_cli.data.sources import DATASETS

    return [(name, spec.description) for name, spec in DATASETS.items()]


def _models() -> list[tuple[str, str]]:
    from unlearn_cli.models import MODELS

    return [(name, spec.description) for name, spec in MODELS.items()]


def _forget_kinds() -> list[tuple[str, str]]:
    from unlearn_cli.forget import FORGET_KINDS

    return [(name, kind.description) for name, kind in FORGET_KINDS.items()]


def _metrics() -> list[tuple[str, str]]:
    from unlearn_cli.metrics import METRICS

    return [(name, metric.description) for name, metric in METRICS.items()]


def _recipes() -> list[tuple[str, str]]:
    from unlearn_cli.train.recipes import RECIPES

    note = ("Keeps the final weights: a model is never selected by test accuracy (the corrective "
            "repo keeps its best-on-test checkpoint, which leaks the test set into the model).")
    return [(name, " ".join((factory.__doc__ or "").split()) + " " + note) for name, factory in RECIPES.items()]


def _manipulations() -> list[tuple[str, str]]:
    from unlearn_cli.forget.manipulations import MANIPULATIONS

    return [(name, m.description) for name, m in MANIPULATIONS.items()]


def _methods() -> list[tuple[str, str]]:
    from unlearn_cli.methods import METHODS
    from unlearn_cli.params import describe_fields
    from unlearn_cli.space import describe_space

    rows = []
    for name, spec in METHODS.items():
        fields = describe_fields(spec.params)
        params = "; ".join(f"{key} ({kind}) = {default!r}" for key, kind, default in fields) or "none"
        training = _recipe_line(spec)
        space = describe_space(spec.space) or "nothing to tune"
        rows.append((name, f"{spec.description}. Params: {params}. Training: {training}. Tune space: {space}."))
    return rows


def _recipe_line(spec) -> str:
    if not spec.trains:
        return "none (no optimiser steps)"
    if spec.recipe is None or callable(spec.recipe):
        return "the model's own pretraining recipe" + (" (EU-k: 1000 steps)" if spec.name == "retrain" else "")
    r = spec.recipe
    length = f"{r.epochs} epochs" if r.epochs is not None else f"{r.steps} steps"
    wd = f", wd {r.optimizer.weight_decay:g}" if r.optimizer.weight_decay else ""
    return f"{r.optimizer.name} lr {r.optimizer.lr:g}{wd}, batch {r.batch_size}, {length}, {r.schedule.name} lr"


def _presets() -> list[tuple[str, str]]:
    from unlearn_cli.methods.presets import PRESETS

    rows = []
    for name, preset in PRESETS.items():
        per_method = []
        for method, entry in preset.methods.items():
            values = {**{k: (v.name if hasattr(v, "name") and not isinstance(v, str) else v)
                         for k, v in entry.recipe.items()}, **entry.params}
            text = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
            if entry.with_k:
                text += " (with k: " + ", ".join(f"{k}={v}" for k, v in entry.with_k.items()) + ")"
            per_method.append(f"{method}: {text or 'defaults'}")
        differs = f" Differs from the reference: {preset.differences}." if preset.differences else ""
        rows.append((name, f"{preset.setting}. " + "; ".join(per_method) + "." + differs))
    return rows


def _trackers() -> list[tuple[str, str]]:
    from unlearn_cli.trackers import TRACKERS

    return [(name, f"{spec.description} ({'installed' if spec.installed() else 'not installed: ' + spec.install}).")
            for name, spec in TRACKERS.items()]


CATALOGS: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "datasets": _datasets,
    "models": _models,
    "forget-kinds": _forget_kinds,
    "metrics": _metrics,
    "methods": _methods,
    "presets": _presets,
    "recipes": _recipes,
    "manipulations": _manipulations,
    "trackers": _trackers,
}


def catalog(what: str) -> list[tuple[str, str]]:
    return CATALOGS[what]()
