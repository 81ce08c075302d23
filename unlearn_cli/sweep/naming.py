"""Artifact names of a grid's nodes: deterministic, readable, derived from the cell.

The steps' own default names, plus a tag for every setting the grid changes that the default
name does not show, so two different cells never share a name by accident:

    dataset        <dataset>
    manipulation   <dataset>-<kind><size>[-patch<p>][-target<t>][-classes<a>,<b>]-s<seed>
    model          <dataset | manipulation>-<model>[-w<width>][-<recipe>][-e<epochs>][-steps<n>][-lr<lr>]
                   [-b<batch>][-wd<wd>]-s<seed>
    forget set     <model>-<per10 | frac0.1 | class-<c> | subclass-<c> | indices-<stem> | known<F>>-s<seed>
    unlearned      <forget set>-<method>[-<preset>][-<param><value>…]
                   [-e<epochs>][-steps<n>][-lr<lr>][-opt<name>][-b<batch>][-wd<wd>][-aug|-noaug]-s<seed>
    evaluation     <unlearned run>; the model before unlearning: <forget set>--original[-<preset>]

(The recipe tag is left out for `fast`, the pretrain default; a parameter shows only where it
differs from the method's default under the preset, as `unlearn` names runs.) Values are
written with `format(v, 'g')` and characters outside a name's alphabet become `_`, so two
values can still meet on one name (1e-7 and 1.0000001e-7): the plan checks for that.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from unlearn_cli.forget.base import selection_tag

DEFAULT_RECIPE = "fast"


def compact(value: Any) -> str:
    """A value as a name part (the `unlearn` step's own rule)."""
    if isinstance(value, tuple):
        text = ",".join(map(str, value))
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return safe(text)


def safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._+-" else "_" for ch in text)


def manipulation_name(dataset: str, kind: str, size: int, seed: int, *, patch_size: int | None,
                      target: str | None, classes: str | None) -> str:
    """A manipulation is pretrained on once; its known fractions are forget sets of the model."""
    tag = f"{kind}{size}"
    if patch_size is not None:
        tag += f"-patch{patch_size}"
    if target is not None:
        tag += f"-target{target}"
    if classes is not None:
        tag += f"-classes{classes}"
    return f"{dataset}-{safe(tag)}-s{seed}"


def model_name(base: str, model: str, seed: int, *, width: float | None, recipe: str | None,
               overrides: dict[str, Any]) -> str:
    parts = [base, model]
    if width is not None and width != 1.0:
        parts.append(f"w{compact(float(width))}")
    if recipe is not None and recipe != DEFAULT_RECIPE:
        parts.append(recipe)
    parts += _override_tags(overrides)
    return "-".join([*parts, f"s{seed}"])


def forget_name(model: str, kind: str, params: dict[str, Any], seed: int) -> str:
    return f"{model}-{safe(selection_tag(kind, params))}-s{seed}"


def changed_params(params: Any, baseline: Any) -> list[str]:
    """`key<value>` for every resolved parameter that differs from the baseline."""
    defaults = asdict(baseline)
    return [f"{key}{compact(value)}" for key, value in asdict(params).items() if value != defaults.get(key)]


def run_name(base: str, method: str, preset: str | None, changed: list[str], generic: dict[str, Any],
             seed: int) -> str:
    parts = [base, method, *([preset] if preset else []), *changed, *_override_tags(generic)]
    return "-".join([*parts, f"s{seed}"])


def original_evaluation_name(model: str, forget: str, preset: str | None) -> str:
    """The model before unlearning, on a forget set: `<forget set>--original`, since a forget
    set's name already starts with its model's (`<model>--<forget set>` would say it twice)."""
    base = forget if forget.startswith(model) else f"{model}--{forget}"
    return f"{base}--original" + (f"-{preset}" if preset else "") if base == forget else \
        base + (f"-{preset}" if preset else "")


_TAGS = (("epochs", "e"), ("steps", "steps"), ("lr", "lr"), ("optimizer", "opt"), ("batch_size", "b"),
         ("weight_decay", "wd"))


def _override_tags(values: dict[str, Any]) -> list[str]:
    tags = [f"{prefix}{compact(values[key])}" for key, prefix in _TAGS if values.get(key) is not None]
    if values.get("augment") is not None:
        tags.append("aug" if values["augment"] else "noaug")
    return tags
