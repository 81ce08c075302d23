"""What a study records of its settings, and the digest that names a trial's runs (torch-free)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from unlearn_cli.space import Range, describe_space
from unlearn_cli.steps.options import TuneOptions


@dataclass(frozen=True)
class StudySettings:
    """What makes two studies comparable: a study of the same name must have these equal."""

    method: str
    model: str
    forget: str
    seeds: tuple[int, ...]
    objective: str
    space: str  # describe_space of the resolved space
    preset: str | None

    @classmethod
    def of(cls, options: TuneOptions, model: str, forget: str, space: dict[str, Range]) -> StudySettings:
        return cls(options.method, model, forget, tuple(options.seeds), options.objective, describe_space(space),
                   options.preset)

    def to_attrs(self) -> dict[str, Any]:
        return {"method": self.method, "model": self.model, "forget": self.forget, "seeds": list(self.seeds),
                "objective": self.objective, "space": self.space, "preset": self.preset}

    def differences(self, attrs: dict[str, Any]) -> list[str]:
        ours = self.to_attrs()
        return [f"{key} {attrs.get(key)!r} (now {value!r})" for key, value in ours.items() if attrs.get(key) != value]


def trial_tag(values: dict[str, Any], preset: str | None) -> str:
    """A short digest of a trial's drawn values (and base preset): its runs' names, so the same
    values in any study find the same artifacts."""
    text = json.dumps({"preset": preset, "values": values}, sort_keys=True, default=str)
    return "t" + hashlib.sha256(text.encode()).hexdigest()[:10]
