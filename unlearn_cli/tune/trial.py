"""One trial: the drawn values run through the same library call as `unlearn unlearn`, once per
seed, each scored against that seed's retrain on validation-only quantities.

A trial's runs are ordinary `unlearned` artifacts named by a digest of the drawn values
(`<forget>-<method>-t<digest>-s<seed>`), so the same values in any study (or a re-run of a
killed one) find them instead of training again. A run that fails (a NaN loss, a setting the
method refuses) fails its trial, and the study goes on.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearn_cli.artifacts import Manifest, Workspace, naming
from unlearn_cli.errors import ArtifactBusyError, UnlearnError
from unlearn_cli.space import TRAINING_KEYS, Range
from unlearn_cli.steps.options import UnlearnOptions
from unlearn_cli.sweep.node import output_to
from unlearn_cli.train.options import GenericOptions
from unlearn_cli.tune import objective
from unlearn_cli.tune.settings import trial_tag

BUSY_POLL_S = 1.0


def made_once(ws: Workspace, options: UnlearnOptions) -> Path:
    """`unlearn` of `options`; where another process of the study is making that very run (its
    lock is held), wait for it and take its result instead of failing."""
    from unlearn_cli.steps.unlearn import unlearn

    while True:
        try:
            return unlearn(ws, options)
        except ArtifactBusyError:
            time.sleep(BUSY_POLL_S)


def suggest(trial: Any, space: dict[str, Range]) -> dict[str, Any]:
    """The trial's values, drawn by Optuna from the space, in the space's order."""
    values: dict[str, Any] = {}
    for key, r in space.items():
        if r.choices is not None:
            values[key] = trial.suggest_categorical(key, list(r.choices))
        elif r.integer:
            values[key] = trial.suggest_int(key, int(r.low), int(r.high), log=r.log)
        else:
            values[key] = trial.suggest_float(key, float(r.low), float(r.high), log=r.log)
    return values


def split_values(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(training settings, method parameters) of a trial's values."""
    training = {key: value for key, value in values.items() if key in TRAINING_KEYS}
    return training, {key: value for key, value in values.items() if key not in TRAINING_KEYS}


def run_options(method: str, model: Manifest, forget: Manifest, preset: str | None, values: dict[str, Any],
                seed: int, device: str | None) -> UnlearnOptions:
    """The `unlearn` call of one trial's values at one seed, with its digest name."""
    training, params = split_values(values)
    name = f"{forget.name}-{method}-{trial_tag(values, preset)}-s{seed}"
    return UnlearnOptions(method=method, model=model.name, forget=forget.name, params=params, preset=preset,
                          generic=GenericOptions(**training), seed=seed, device=device, name=name)


def retrain_options(model: Manifest, forget: Manifest, seed: int, device: str | None) -> UnlearnOptions:
    """The forget set's retrain at `seed`, under the name `unlearn unlearn --method retrain` gives it."""
    name = naming.run_name(forget.name, "retrain", None, [], seed)
    return UnlearnOptions(method="retrain", model=model.name, forget=forget.name, seed=seed, device=device, name=name)


@dataclass
class TrialRunner:
    """What a worker needs to score trials: the workspace, the study's fixed settings and a
    validation scorer (the train split loaded once per worker)."""

    ws: Workspace
    method: str
    model: Manifest
    forget: Manifest
    preset: str | None
    seeds: tuple[int, ...]
    objective_name: str
    space: dict[str, Range]
    device: str | None
    scorer: Any  # steps.validation.ValidationScorer
    logs: Path  # each trial's runs write their progress to logs/trial-<number>.log here

    def log_file(self, number: int) -> Path:
        return self.logs / f"trial-{number}.log"

    def __call__(self, trial: Any) -> list[float] | float:
        values = suggest(trial, self.space)
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        started = time.perf_counter()
        per_seed, runs = [], []
        try:
            # The runs' progress lines go to the trial's log; the study prints one line a trial.
            with output_to(str(self.log_file(trial.number))):
                for seed in self.seeds:
                    path = made_once(self.ws, run_options(self.method, self.model, self.forget, self.preset, values,
                                                          seed, self.device))
                    run = self.ws.read("unlearned", path)
                    retrain = self.ws.read("unlearned", retrain_options(self.model, self.forget, seed, self.device).name)
                    ctx = self.scorer.context(run, seed, reference=self.scorer.reference(retrain, seed))
                    per_seed.append(objective.gaps(ctx))
                    runs.append(run.name)
        except UnlearnError as error:
            trial.set_user_attr("error", error.message)
            trial.set_user_attr("log", str(self.log_file(trial.number)))
            raise
        finally:
            trial.set_user_attr("wall_seconds", time.perf_counter() - started)
            trial.set_user_attr("runs", runs)
        gaps = objective.mean_gaps(per_seed)
        trial.set_user_attr("gaps", gaps)
        trial.set_user_attr("avg_gap", objective.avg_gap(gaps))
        result = objective.values_of(self.objective_name, gaps)
        if not objective.finite(result):
            trial.set_user_attr("error", "the objective is not finite (the run diverged)")
        return result[0] if len(result) == 1 else result
