"""Artifact names derived from what made the artifact: deterministic, readable, and the same
whether a step picks its default name or a sweep names its nodes (one rule, here).

    manipulation   <dataset>-<kind><size>[-patch<p>][-target<t>][-classes<a>,<b>][-known<F>]-s<seed>
    model          <dataset | manipulation>-<model>[-w<width>][-<recipe>][-<option tags>]-s<seed>
    forget set     <model>-<selection tag: per10 | frac0.1 | class-<c> | … | known<F>>-s<seed>
    unlearned      <forget set>-<method>[-<preset>][-<param><value>…][-<option tags>]-s<seed>
    evaluation     <unlearned run>; the model before unlearning: <forget set>--original[-<preset>]
    audit copies   <model of seed k> = the template model's name with its -s<seed> replaced;
                   its forget set: <model of seed k>-<the template forget set's tail>-copy
    query          <run>--q<digest of the rows queried>

A parameter shows only where it differs from the method's default under the preset; option
tags are `GenericOptions.name_tags()` (`e5`, `lr0.01`, `noaug`). Values are written with
`format(v, 'g')` and characters outside a name's alphabet become `_`, so two values can still
meet on one name (1e-7 and 1.0000001e-7): the sweep's planner checks for that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any


def compact(value: Any) -> str:
    """A value as a name part."""
    if isinstance(value, tuple):
        text = ",".join(map(str, value))
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return safe(text)


def safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._+-" else "_" for ch in text)


def manipulation_name(dataset: str, kind: str, size: int, seed: int, *, patch_size: int | None = None,
                      target: str | None = None, classes: str | None = None, known: float | None = None) -> str:
    """The settings that are given show (a sweep gives its grid's, `make-forget-set` the known
    fraction)."""
    tag = f"{kind}{size}"
    if patch_size is not None:
        tag += f"-patch{patch_size}"
    if target is not None:
        tag += f"-target{target}"
    if classes is not None:
        tag += f"-classes{classes}"
    if known is not None:
        tag += f"-known{known:g}"
    return f"{dataset}-{safe(tag)}-s{seed}"


def model_name(base: str, model: str, seed: int, *, width: float | None = None, recipe: str | None = None,
               tags: Sequence[str] = ()) -> str:
    """`recipe` None (or the default recipe, left out by the caller) and width 1 show nothing."""
    parts = [base, model]
    if width is not None and width != 1.0:
        parts.append(f"w{compact(float(width))}")
    if recipe is not None:
        parts.append(recipe)
    return "-".join([*parts, *tags, f"s{seed}"])


def forget_name(model: str, selection_tag: str, seed: int) -> str:
    return f"{model}-{safe(selection_tag)}-s{seed}"


def changed_params(params: Any, baseline: Any) -> list[str]:
    """`key<value>` for every resolved parameter that differs from the baseline."""
    defaults = asdict(baseline)
    return [f"{key}{compact(value)}" for key, value in asdict(params).items() if value != defaults.get(key)]


def run_name(base: str, method: str, preset: str | None, changed: Sequence[str], seed: int,
             tags: Sequence[str] = ()) -> str:
    parts = [base, method, *([preset] if preset else []), *changed, *tags]
    return "-".join([*parts, f"s{seed}"])


def original_evaluation_name(model: str, forget: str, preset: str | None) -> str:
    """The model before unlearning, on a forget set: `<forget set>--original`, since a forget
    set's name already starts with its model's (`<model>--<forget set>` would say it twice)."""
    if forget.startswith(model):
        return f"{forget}--original" + (f"-{preset}" if preset else "")
    return f"{model}--{forget}" + (f"-{preset}" if preset else "")


def with_seed(name: str, seed: int, new_seed: int) -> str | None:
    """`name` (ending in `-s<seed>`) with that seed replaced: the same model pretrained with
    another seed. None when the name does not end in its seed (a hand-picked name)."""
    suffix = f"-s{seed}"
    if not name.endswith(suffix):
        return None
    return f"{name[: -len(suffix)]}-s{new_seed}"


def copied_forget_name(model: str, forget: str, template: str) -> str:
    """The rows of forget set `forget` (made from model `template`) imported on another model:
    the template's selection tag kept (`…-per10-s0`) and `-copy` added, so a copy never takes
    the name of a set drawn on that model itself (whose rows would differ)."""
    tail = forget[len(template) + 1:] if forget.startswith(f"{template}-") else forget
    return f"{model}-{safe(tail)}-copy"


def query_name(run: str, digest: str) -> str:
    """A run's query of one set of rows: the digest tells apart the row sets different audits
    query, and makes a second audit of the same rows find the first one's query."""
    return f"{run}--q{digest}"
