"""`unlearn tune`'s options and the settings a study records (torch-free)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from unlearn_cli.errors import InputError
from unlearn_cli.space import TRAINING_KEYS, Range, describe_space, parse_space, setting_types
from unlearn_cli.tune.objective import OBJECTIVES

FRESH_SEEDS = 3  # the best trial is re-run on this many seeds none of the trials used


@dataclass(frozen=True)
class TuneOptions:
    method: str
    forget: str | None = None
    model: str | None = None
    trials: int = 20
    seeds: tuple[int, ...] = (0,)
    space: tuple[str, ...] = ()  # --space items
    objective: str = "avg_gap"
    sampler_seed: int = 0
    preset: str | None = None  # the base every trial starts from (a registered preset or a file)
    study: str | None = None
    storage: str | None = None
    jobs: int = 1
    final_seeds: tuple[int, ...] | None = None  # None: FRESH_SEEDS seeds after the trials' seeds
    device: str | None = None
    force: bool = False
    plots: bool = True

    def validate(self) -> None:
        if self.trials < 1:
            raise InputError(f"--trials {self.trials} is not positive", hint="e.g. --trials 30")
        if self.jobs < 1:
            raise InputError(f"--jobs {self.jobs} is not positive", hint="e.g. --jobs 2")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise InputError(f"--seeds {','.join(map(str, self.seeds))} must be distinct seeds ≥ 0", hint="e.g. --seeds 0,1")
        if self.objective not in OBJECTIVES:
            raise InputError(f"unknown objective '{self.objective}'", hint=f"valid objectives: {', '.join(OBJECTIVES)}")
        if self.final_seeds is not None and set(self.final_seeds) & set(self.seeds):
            raise InputError("--final-seeds must be seeds no trial used",
                             hint="the best trial is judged on fresh seeds: pick seeds outside --seeds")

    def fresh_seeds(self) -> tuple[int, ...]:
        if self.final_seeds is not None:
            return self.final_seeds
        start = max(self.seeds) + 1
        return tuple(range(start, start + FRESH_SEEDS))

    def resolved_space(self, spec: Any) -> dict[str, Range]:
        """The method's declared space with --space's keys replaced (every bad one at once)."""
        types = setting_types(spec.params)
        if not spec.trains:
            types = {key: tp for key, tp in types.items() if key not in TRAINING_KEYS}
        space = {**spec.space, **parse_space(self.space, types, f"method '{spec.name}'")}
        if not space:
            raise InputError(f"method '{spec.name}' has nothing to tune",
                             hint="tune a method with parameters or training (unlearn ls methods shows each space)")
        return space


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
