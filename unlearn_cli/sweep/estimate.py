"""What a planned sweep will cost, said before it runs (`unlearn sweep --plan`).

- Optimiser steps of every pretraining node still to run: its resolved recipe over the train
  split's size (from the prepared dataset's manifest; unknown before the dataset is prepared).
- Seconds, where the workspace already holds a finished run like the node: a model with the
  same dataset, architecture, width and resolved recipe (any seed), or an unlearned run of the
  same method, parameters and generic options on a model of the same dataset and architecture.
  The median of their `wall_seconds` stands for the node; nodes with no such run are counted
  as not timed, never guessed.

Manifests are read without verifying their files: an estimate needs their numbers, not their
integrity, and a large workspace would otherwise be hashed for a preview.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from unlearn_cli.artifacts import Manifest, Workspace
from unlearn_cli.errors import UnlearnError
from unlearn_cli.steps.options import DEFAULT_DATASET
from unlearn_cli.sweep.plan import LABELS, Node
from unlearn_cli.sweep.status import DONE

TIMED_STEPS = ("pretrain", "unlearn")


@dataclass(frozen=True)
class StepEstimate:
    nodes: int  # nodes of this label still to run
    steps: int | None  # their optimiser steps, where every one is known (pretraining only)
    seconds: float  # the estimated seconds of the timed ones
    timed: int  # how many had a similar finished run


def estimate_plan(ws: Workspace, nodes: Iterable[Node], status: dict[str, str]) -> dict[str, StepEstimate]:
    """Per step label with nodes to run: their count, steps and the seconds similar runs took."""
    nodes = list(nodes)
    todo = [node for node in nodes if status.get(node.id) != DONE and node.step in TIMED_STEPS]
    past = _PastRuns(ws, {node.name: node.options for node in nodes if node.step == "pretrain"})
    result: dict[str, StepEstimate] = {}
    for label in LABELS:
        mine = [node for node in todo if node.label == label]
        if not mine:
            continue
        steps = [_pretrain_steps(ws, node) if node.step == "pretrain" else None for node in mine]
        known = None if any(count is None for count in steps) else sum(steps)  # type: ignore[arg-type]
        seconds = [past.seconds(node) for node in mine]
        timed = [value for value in seconds if value is not None]
        result[label] = StepEstimate(len(mine), known, float(sum(timed)), len(timed))
    return result


def _pretrain_steps(ws: Workspace, node: Node) -> int | None:
    options = node.options
    dataset = options.dataset or DEFAULT_DATASET
    try:
        rows = int(ws.read("dataset", dataset, verify=False).summary["train_size"])
        recipe = options.recipe_for(dataset)
    except (UnlearnError, KeyError, TypeError, ValueError):
        return None
    if recipe.steps is not None:
        return int(recipe.steps)
    per_epoch = rows // recipe.batch_size if recipe.drop_last else -(-rows // recipe.batch_size)
    return int(recipe.epochs) * max(1, per_epoch)


class _PastRuns:
    """The workspace's finished models and unlearned runs, grouped by what makes one like a node."""

    def __init__(self, ws: Workspace, planned_models: dict[str, Any]) -> None:
        self.ws = ws
        self.planned_models = planned_models  # a model the plan will pretrain may not exist yet
        self._groups: dict[str, dict[tuple, list[tuple[dict, float]]]] = {}

    def seconds(self, node: Node) -> float | None:
        try:
            kind, key, wanted = self._pretrain(node) if node.step == "pretrain" else self._unlearn(node)
        except (UnlearnError, KeyError, TypeError, ValueError):
            return None
        found = [seconds for recipe, seconds in self._group(kind).get(key, [])
                 if all(_frozen(recipe.get(field)) == _frozen(value) for field, value in wanted.items())]
        return statistics.median(found) if found else None

    def _pretrain(self, node: Node) -> tuple[str, tuple, dict]:
        options = node.options
        dataset = options.dataset or DEFAULT_DATASET
        return "model", (dataset, options.model, float(options.width)), asdict(options.recipe_for(dataset))

    def _unlearn(self, node: Node) -> tuple[str, tuple, dict]:
        options = node.options
        choice = options.resolve()
        planned = self.planned_models.get(options.model)
        if planned is not None:
            model = (planned.dataset or DEFAULT_DATASET, planned.model, float(planned.width))
        else:
            config = self.ws.read("model", options.model, verify=False).config
            model = (config["dataset"], config["architecture"]["name"], float(config["architecture"]["width"]))
        key = (choice.spec.name, options.preset, _frozen(asdict(choice.params)), *model)
        # The generic options the node sets must match the past run's resolved training recipe.
        given = {name: getattr(options.generic, name) for name in GENERIC_RECIPE_FIELDS
                 if getattr(options.generic, name) is not None}
        return "unlearned", key, given

    def _group(self, kind: str) -> dict[tuple, list[tuple[dict, float]]]:
        if kind not in self._groups:
            groups: dict[tuple, list[tuple[dict, float]]] = {}
            for name in self.ws.names(kind):
                try:
                    manifest = self.ws.read(kind, name, verify=False)
                    key, recipe = self._manifest_key(kind, manifest)
                    groups.setdefault(key, []).append((recipe, float(manifest.summary["wall_seconds"])))
                except (UnlearnError, KeyError, TypeError, ValueError, AttributeError):
                    continue
            self._groups[kind] = groups
        return self._groups[kind]

    @staticmethod
    def _manifest_key(kind: str, manifest: Manifest) -> tuple[tuple, dict]:
        config = manifest.config
        architecture = config["architecture"]
        if kind == "model":
            return (config["dataset"], architecture["name"], float(architecture["width"])), dict(config["recipe"])
        training = config.get("training") or {}
        return ((config["method"], config.get("preset"), _frozen(config.get("params", {})), config["dataset"],
                 architecture["name"], float(architecture["width"])), dict(training.get("recipe") or {}))


# GenericOptions fields that are fields of the resolved training recipe under the same name.
GENERIC_RECIPE_FIELDS = ("epochs", "steps", "batch_size")


def _frozen(value: Any) -> Any:
    """A hashable, order-free form of JSON-like data (lists and tuples compare alike)."""
    if isinstance(value, dict):
        return tuple(sorted((str(key), _frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    return value
