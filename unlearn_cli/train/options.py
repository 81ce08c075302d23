"""The generic training options of an unlearning run, defined once: their flags, help texts,
types and name tags all come from `GenericOptions`' fields, so the CLI (`cli/options.py`), the
grid schema (`sweep/grid.py`), run names (`artifacts/naming.py`) and the manifest agree.

Torch-free: the CLI and the sweep planner build these without importing torch.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from unlearn_cli.artifacts.naming import compact
from unlearn_cli.params import field_types


def _option(flag: str, help: str, tag: str | tuple[str, str]) -> dict[str, Any]:
    # `tag`: how a set value shows in a run's name: a prefix before the value (lr0.01), or
    # for a switch the word for on and for off (aug / noaug).
    return {"flag": flag, "help": help, "tag": tag}


@dataclass(frozen=True)
class GenericOptions:
    """Options every training method takes (None = not given: the method's default, then the
    preset's)."""

    epochs: int | None = field(default=None, metadata=_option("--epochs", "Override the method's epochs.", "e"))
    steps: int | None = field(default=None, metadata=_option(
        "--steps", "Override with a number of optimiser steps.", "steps"))
    lr: float | None = field(default=None, metadata=_option("--lr", "Override the learning rate.", "lr"))
    optimizer: str | None = field(default=None, metadata=_option(
        "--optimizer", "Override the optimiser: sgd, adam or adamw.", "opt"))
    batch_size: int | None = field(default=None, metadata=_option("--batch-size", "Override the batch size.", "b"))
    weight_decay: float | None = field(default=None, metadata=_option(
        "--weight-decay", "Override the weight decay.", "wd"))
    augment: bool | None = field(default=None, metadata=_option(
        "--augment/--no-augment", "Crop/flip training batches (default: on, as in pretraining).", ("aug", "noaug")))

    def given(self) -> list[str]:
        """The options a user set, as flags (for refusing them where they mean nothing)."""
        return [f.metadata["flag"].split("/")[0] for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def check(self) -> None:
        """The values' ranges, said before any work (a grid's `--plan` included): positive
        counts and learning rate, a weight decay of zero or more."""
        from unlearn_cli.errors import InputError

        for name in ("epochs", "steps", "batch_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                flag = _flag(name)
                raise InputError(f"{flag} must be positive (got {value})", hint=f"e.g. {flag} 10")
        for name, lowest, word in (("lr", 0.0, "positive"), ("weight_decay", None, "zero or more")):
            value = getattr(self, name)
            if value is None:
                continue
            bad = not math.isfinite(value) or (value <= lowest if lowest is not None else value < 0)
            if bad:
                raise InputError(f"{_flag(name)} must be {word} (got {value})",
                                 hint=f"e.g. {_flag(name)} {'0.01' if name == 'lr' else '0.0005'}")

    def name_tags(self) -> list[str]:
        """The name parts of the options that are set (`e5`, `lr0.01`, `noaug`), in field order."""
        tags = []
        for f in dataclasses.fields(self):
            value, tag = getattr(self, f.name), f.metadata["tag"]
            if value is not None:
                tags.append(tag[0 if value else 1] if isinstance(tag, tuple) else f"{tag}{compact(value)}")
        return tags

    @classmethod
    def value_types(cls) -> dict[str, type]:
        """Each option's value type (int, float, str or bool), for schemas that check them."""
        hints = field_types(cls)  # evaluated once per class (params.py)
        return {f.name: next(t for t in typing.get_args(hints[f.name]) if t is not type(None))
                for f in dataclasses.fields(cls)}

    @classmethod
    def coerced(cls, values: dict[str, Any]) -> GenericOptions:
        """Options from a mapping of plain values (a grid's): ints stand for floats where a
        float is wanted (lr = 1 in TOML)."""
        types = cls.value_types()
        return cls(**{key: (float(value) if types[key] is float and value is not None else value)
                      for key, value in values.items()})


def _flag(name: str) -> str:
    return next(f.metadata["flag"].split("/")[0] for f in dataclasses.fields(GenericOptions) if f.name == name)

