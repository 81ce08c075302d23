"""A grid expanded into a DAG of step nodes, each one call of a step's library function.

What crosses with what (per setting document, `grid.py`):

    datasets × manipulations (kinds × sizes × known × … × seeds, or none)
      × models × pretrain (recipe × width × epochs/steps/lr/… × seeds)        → one model each
      forget targets: the manipulation's known part, and every selection
        (per / fraction / class / subclass / indices × their modifiers × seeds) made from the model
      × presets × unlearning seeds × methods (each entry's params and generic options crossed)
      → one unlearned run and one evaluation each (against the reference run of the same forget
        set, preset and seed), plus one evaluation of the model before unlearning per forget set
    then one report over every evaluation.

A node is identified by the artifact it writes (`kind/name`, names from `naming.py`). Cells
that need the same artifact share its node; two different nodes with one name are an error,
found here, before anything runs. Every value is checked against the registries (datasets,
models, recipes, presets, methods and their parameters, forget kinds, manipulations, metrics)
while expanding, and an error names the grid line the value came from.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from unlearn_cli.artifacts import check_name, naming
from unlearn_cli.data.sources import DATASETS
from unlearn_cli.errors import InputError
from unlearn_cli.forget import MANIPULATIONS
from unlearn_cli.forget.base import selection_tag
from unlearn_cli.methods import METHODS
from unlearn_cli.methods.preset_files import is_preset_file
from unlearn_cli.methods.presets import PRESETS, load_preset, preset_for
from unlearn_cli.metrics import check_metric_names
from unlearn_cli.models import MODELS
from unlearn_cli.paths import user_path
from unlearn_cli.steps.options import (
    DEFAULT_RECIPE,
    TUNED_PRESET,
    EvaluateOptions,
    ForgetSetOptions,
    ManipulationOptions,
    PrepareOptions,
    PretrainOptions,
    ReportOptions,
    TuneOptions,
    UnlearnOptions,
)
from unlearn_cli.steps.registry import STEPS
from unlearn_cli.sweep.grid import GENERIC, NO_PRESET, Doc, Grid
from unlearn_cli.sweep.tomlindex import Path as KeyPath
from unlearn_cli.train.options import GenericOptions
from unlearn_cli.train.recipes import RECIPES

# How --plan and the final count group the nodes (manipulations are make-forget-set steps).
LABELS = ("prepare", "pretrain", "forget", "tune", "unlearn", "query", "evaluate", "report")
SELECTION_KEYS = ("per", "fraction", "class", "subclass", "indices")


@dataclass(frozen=True)
class Node:
    """One step to run: `options` is the step's own options dataclass."""

    step: str  # prepare | manipulate | pretrain | forget | unlearn | query | evaluate | report
    kind: str  # the manifest kind it writes
    name: str
    options: Any
    deps: tuple[str, ...] = ()
    gpu: bool = False  # trains or runs a model: a GPU where there is one

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def label(self) -> str:
        return "forget" if self.step == "manipulate" else self.step


def _node(step: str, name: str, options: Any, deps: tuple[str, ...] = ()) -> Node:
    """A node of `step`: the kind it writes and whether it wants a GPU, from the step registry."""
    spec = STEPS.get(step)
    return Node(step, spec.kind, name, options, deps, gpu=spec.wants_gpu(options))


@dataclass
class Plan:
    name: str
    grid: Path
    nodes: dict[str, Node]  # in an order where every node comes after its dependencies
    origin: dict[str, tuple[str, str]] = field(default_factory=dict)  # node id -> (grid file:line, cell) that asked for it

    @property
    def report(self) -> Node | None:
        return next((node for node in self.nodes.values() if node.step == "report"), None)

    def dependants(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {node_id: [] for node_id in self.nodes}
        for node in self.nodes.values():
            for dep in node.deps:
                result[dep].append(node.id)
        return result


# ---------------------------------------------------------------------------- building


def build_plan(grid: Grid, *, device: str | None = None) -> Plan:
    try:
        check_name(grid.name)  # it names the report and the folder sweeps/<name>/
    except InputError as error:
        source = ("smoke", "name") if grid.smoke and "name" in grid.file.data.get("smoke", {}) else ("name",)
        raise grid.file.error(source, f"the grid's name {grid.name!r} cannot name a report", hint=error.hint) from None
    builder = _Builder(grid, device)
    evaluations: list[str] = []
    report_enabled = True
    for doc in grid.settings:
        evaluations += _Setting(builder, doc).expand()
        report_enabled = bool(doc.get(("report", "enabled"), True)) and report_enabled
    if report_enabled and evaluations:

        deps = tuple(dict.fromkeys(evaluations))
        node = _node("report", check_name(grid.name),
                     ReportOptions(evaluations=tuple(builder.nodes[d].name for d in deps), name=grid.name), deps)
        builder.nodes[node.id] = node
        builder.origin[node.id] = (str(grid.file.path), "the sweep's report")
    return Plan(grid.name, grid.file.path, builder.nodes, builder.origin)


class _Builder:
    def __init__(self, grid: Grid, device: str | None) -> None:
        self.grid = grid
        self.device = device
        self.nodes: dict[str, Node] = {}
        self.origin: dict[str, tuple[str, str]] = {}

    def add(self, node: Node, doc: Doc, path: KeyPath, cell: str) -> str:
        """Plan `node` (a cell of the grid at `path`), checked as its step would check it."""
        try:
            check_name(node.name)
        except InputError as error:
            raise doc.error(path, f"{cell}: the {node.kind} name '{node.name}' is not a valid artifact name",
                            hint=f"{error.hint}; fewer or shorter settings shorten it") from None
        try:
            node.options.validate()
        except InputError as error:
            raise doc.error(path, f"{cell}: {error.message}", hint=error.hint) from None
        here = (doc.where(path), cell)
        existing = self.nodes.get(node.id)
        if existing is None:
            self.nodes[node.id] = node
            self.origin[node.id] = here
        elif existing != node:
            first = self.origin[node.id]
            raise InputError(
                f"two cells of the grid would write the same {node.kind} '{node.name}': "
                f"{first[1]} ({first[0]}) and {cell} ({here[0]})",
                hint="a name shows only the settings that differ from the defaults and formats numbers with 6 "
                "significant digits; make the cells differ in a setting the name shows, or drop one")
        return node.id


def _values(doc: Doc, path: KeyPath, default: list[Any]) -> list[tuple[Any, KeyPath]]:
    """The grid values of a key with where each is written (a scalar is one value)."""
    value = doc.get(path)
    if value is None:
        return [(item, path) for item in default]
    if isinstance(value, list):
        return [(item, (*path, index)) for index, item in enumerate(value)]
    return [(value, path)]


def _registered(doc: Doc, path: KeyPath, registry: Any, what: str, *, required: bool = False,
                default: list[Any] | None = None) -> list[tuple[Any, KeyPath]]:
    values = _values(doc, path, default or [])
    if required and not values:
        raise doc.error(path[:-1] or path, f"the grid names no {what}s: add {path[-1]} = [...]",
                        hint=f"valid {what}s: {', '.join(registry.names())}")
    for value, where in values:
        if value is not None and value != NO_PRESET and value not in registry and not (
                registry is PRESETS and is_preset_file(value)):
            raise doc.error(where, f"unknown {what} '{value}'", hint=f"valid {what}s: {', '.join(registry.names())}")
    return values


def _cross(doc: Doc, section: str, keys: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Every combination of the listed keys of `[section]` (absent keys: None)."""
    axes = [[value for value, _ in _values(doc, (section, key), [None])] for key in keys]
    for combo in itertools.product(*axes):
        yield dict(zip(keys, combo))


def _rewrap(doc: Doc, path: KeyPath, error: InputError) -> InputError:
    """A registry's or a params class's error, at the grid line of the value."""
    return doc.error(path, error.message, hint=error.hint)


@dataclass(frozen=True)
class _Manipulation:
    """A manipulation node, and the known fractions its models are unlearned with."""

    node: str
    name: str
    seed: int
    known: tuple[float, ...]
    where: tuple[KeyPath, ...]


@dataclass(frozen=True)
class _Target:
    """A forget set that runs are made on."""

    node: str
    name: str
    run_base: str  # unlearned names start with it: the forget set
    cell: str


@dataclass
class _MethodEntry:
    index: int
    spec: Any
    preset: str | None  # "none" in the file: never a preset; None: the setting's preset
    variants: list[tuple[dict[str, Any], dict[str, Any]]]  # (params as given, generic options)
    reference: bool
    models: set[str] | None = None  # only on these architectures (e.g. k values that fit them)
    datasets: set[str] | None = None
    tune: dict[str, Any] | None = None  # `tune = {...}`: tuned per forget set, cells run its best preset

    def applies(self, dataset: str, model: str) -> bool:
        return (self.models is None or model in self.models) and (self.datasets is None or dataset in self.datasets)


class _Setting:
    def __init__(self, builder: _Builder, doc: Doc) -> None:
        self.b = builder
        self.doc = doc
        self.grid_dir = builder.grid.file.path.parent

    # --- the whole setting -------------------------------------------------------------
    def expand(self) -> list[str]:

        doc = self.doc
        datasets = _registered(doc, ("datasets",), DATASETS, "dataset", required=True)
        models = _registered(doc, ("models",), MODELS, "model", required=True)
        presets = [(None if value == NO_PRESET else value, where)
                   for value, where in _registered(doc, ("presets",), PRESETS, "preset", default=[NO_PRESET])]
        for key in doc.get(("data",), {}) or {}:
            if key not in DATASETS:
                raise doc.error(("data", key), f"unknown dataset '{key}' in [data]",
                                hint=f"valid datasets: {', '.join(DATASETS.names())}")
        methods = self._methods()
        self.metrics = self._metrics()
        self.evaluate_seed = int(doc.get(("evaluate", "seed"), 0))
        self.original = bool(doc.get(("evaluate", "original"), True))
        evaluations: list[str] = []
        for dataset, dataset_where in datasets:
            prepare = self._prepare(dataset, dataset_where)
            for manipulation in self._manipulations(dataset, prepare):
                for model, model_where in models:
                    for pretrain in self._pretrains(dataset, model, model_where, prepare, manipulation):
                        for target in self._targets(pretrain, manipulation):
                            applicable = [entry for entry in methods if entry.applies(dataset, model)]
                            evaluations += self._runs(pretrain, target, presets, applicable)
        return evaluations

    # --- data ----------------------------------------------------------------------------
    def _prepare(self, dataset: str, where: KeyPath) -> str:

        source = self.doc.get(("data", dataset, "source"))
        path = None
        if source is not None:
            path = user_path(source)
            path = path if path.is_absolute() else (self.grid_dir / path).resolve()
        options = PrepareOptions(dataset=dataset, source=path, download=bool(self.doc.get(("data", dataset, "download"), False)))
        return self.b.add(_node("prepare", dataset, options), self.doc, where, f"dataset {dataset}")

    def _manipulations(self, dataset: str, prepare: str) -> list[_Manipulation | None]:
        """Every manipulation of this dataset, or [None] without any. A manipulation is made
        (and pretrained on) once; its known fractions become forget sets of each model, as the
        corrective paper pretrains once per manipulation and reuses the model for every F."""

        doc = self.doc
        kinds = _registered(doc, ("manipulation", "kinds"), MANIPULATIONS, "manipulation")
        if not kinds:
            return [None]
        sizes = _values(doc, ("manipulation", "sizes"), [])
        if not sizes:
            raise doc.error(("manipulation",), "a manipulation needs sizes = [N, ...] (how many train samples)",
                            hint="e.g. sizes = [100, 500, 1000]")
        known = _values(doc, ("manipulation", "known"), [1.0])  # sizes and fractions: checked by the schema
        result = []
        for kind, kind_where in kinds:
            patches = _values(doc, ("manipulation", "patch_size"), [None]) if kind == "poison" else [(None, ())]
            targets = _values(doc, ("manipulation", "target"), [None]) if kind == "poison" else [(None, ())]
            pairs = _values(doc, ("manipulation", "classes"), [None]) if kind == "interclass" else [(None, ())]
            seeds = _values(doc, ("manipulation", "seeds"), [0])
            for (size, _), (patch, _), (target, _), (classes, classes_where), (seed, _) in \
                    itertools.product(sizes, patches, targets, pairs, seeds):
                pair = None
                if classes is not None:
                    parts = [part.strip() for part in str(classes).split(",")]
                    if len(parts) != 2 or not all(parts):
                        raise doc.error(classes_where, f"classes = {classes!r} is not a pair", hint='e.g. classes = "3,5"')
                    pair = (parts[0], parts[1])
                name = naming.manipulation_name(dataset, kind, size, seed, patch_size=patch,
                                                target=None if target is None else str(target), classes=classes)
                options = ForgetSetOptions(
                    dataset=dataset, seed=seed, name=name, device=self.b.device,
                    manipulation=ManipulationOptions(kind=kind, size=size, known=1.0,
                                                     patch_size=3 if patch is None else patch,
                                                     target="0" if target is None else str(target), classes=pair))
                node = self.b.add(_node("manipulate", name, options, (prepare,)), doc, kind_where,
                                  f"{kind} {size}, seed {seed}")
                result.append(_Manipulation(node, name, seed, tuple(float(f) for f, _ in known),
                                            tuple(w for _, w in known)))
        return result

    # --- models --------------------------------------------------------------------------
    def _pretrains(self, dataset: str, model: str, where: KeyPath, prepare: str,
                   manipulation: _Manipulation | None) -> list[tuple[str, str, str]]:
        """(node id, name, cell) of every pretrained model of this dataset and architecture."""

        doc = self.doc
        _registered(doc, ("pretrain", "recipe"), RECIPES, "recipe")
        keys = ("recipe", "width", "val_fraction", "epochs", "steps", "lr", "batch_size", "weight_decay", "seeds")
        result = []
        for combo in _cross(doc, "pretrain", keys):
            seed = 0 if combo["seeds"] is None else combo["seeds"]
            overrides = {key: combo[key] for key in ("epochs", "steps", "lr", "batch_size", "weight_decay")}
            base = manipulation.name if manipulation else dataset
            recipe = combo["recipe"] or DEFAULT_RECIPE
            typed = GenericOptions.coerced(overrides)  # the training options pretraining shares
            val_fraction = float(combo["val_fraction"] or 0.0)
            unnamed = PretrainOptions(
                dataset=dataset, model=model, recipe=recipe, seed=seed, val_fraction=val_fraction,
                width=1.0 if combo["width"] is None else float(combo["width"]), device=self.b.device,
                manipulation=manipulation.name if manipulation else None,
                **{key: getattr(typed, key) for key in overrides})
            name = unnamed.default_name(base)  # the name `unlearn pretrain` gives the same model
            options = replace(unnamed, name=name)
            deps = (prepare, *([manipulation.node] if manipulation else []))
            cell = f"model {name}"
            result.append((self.b.add(_node("pretrain", name, options, deps), doc, where, cell), name, cell))
        return result

    # --- forget sets ---------------------------------------------------------------------
    def _targets(self, pretrain: tuple[str, str, str], manipulation: _Manipulation | None) -> list[_Target]:

        doc = self.doc
        model_node, model, _ = pretrain
        targets = []
        if manipulation is not None:
            for fraction, where in zip(manipulation.known, manipulation.where):
                params = {"fraction": fraction}
                name = naming.forget_name(model, selection_tag("known", params), manipulation.seed)
                options = ForgetSetOptions(model=model, kind="known", params=params, seed=manipulation.seed,
                                           name=name, device=self.b.device)
                node = self.b.add(_node("forget", name, options, (model_node,)), doc, where,
                                  f"known {fraction:g} of {model}'s manipulation")
                targets.append(_Target(node, name, name, f"forget set {name}"))
        difficulties = _values(doc, ("forget", "difficulty"), ["record"])
        balances = _values(doc, ("forget", "balance"), [True])
        seeds = _values(doc, ("forget", "seeds"), [0])
        for kind in SELECTION_KEYS:
            for value, where in _values(doc, ("forget", kind), []):
                modifiers: list[tuple[dict[str, Any], KeyPath]]
                if kind == "per":
                    modifiers = [({"per": value, "difficulty": d}, w) for d, w in difficulties]
                elif kind == "fraction":
                    modifiers = [({"fraction": float(value), "balance": b}, w) for b, w in balances]
                elif kind == "class":
                    modifiers = [({"target": str(value)}, where)]
                elif kind == "subclass":
                    modifiers = [({"name": str(value)}, where)]
                else:
                    path = user_path(str(value))
                    modifiers = [({"path": path if path.is_absolute() else (self.grid_dir / path).resolve()}, where)]
                for params, _ in modifiers:
                    for seed, _ in seeds:
                        name = naming.forget_name(model, selection_tag(kind, params), seed)
                        options = ForgetSetOptions(model=model, kind=kind, params=params, seed=seed, name=name,
                                                   device=self.b.device)
                        node = self.b.add(_node("forget", name, options, (model_node,)), doc, where,
                                          f"forget set {name}")
                        targets.append(_Target(node, name, name, f"forget set {name}"))
        if not targets:
            raise doc.error(("forget",), "the grid makes no forget set: give [forget] per/fraction/class/subclass/"
                            "indices, or a [manipulation]",
                            hint="e.g. [forget] per = [10], or [manipulation] kinds = [\"poison\"] sizes = [500]")
        return targets

    # --- methods -------------------------------------------------------------------------
    def _methods(self) -> list[_MethodEntry]:
        doc = self.doc
        entries = doc.get(("methods",), []) or []
        if not entries:
            raise doc.error(("methods",), "the grid runs no method: add [[methods]] entries",
                            hint=f'e.g. [[methods]] name = "retrain"; valid methods: {", ".join(METHODS.names())}')
        result = []
        for index, entry in enumerate(entries):
            at: KeyPath = ("methods", index)
            name = entry.get("name")
            if name is None:
                raise doc.error(at, "a [[methods]] entry needs name = \"<method>\"",
                                hint=f"valid methods: {', '.join(METHODS.names())}")
            if name not in METHODS:
                raise doc.error((*at, "name"), f"unknown method '{name}'", hint=f"valid methods: {', '.join(METHODS.names())}")
            spec = METHODS.get(name)
            preset = entry.get("preset")
            if preset is not None and preset != NO_PRESET:
                try:
                    preset_for(preset, name)
                except InputError as error:
                    raise _rewrap(doc, (*at, "preset"), error) from None
            generic = self._generic(entry, at, spec)
            params = list(self._params(entry.get("params", {}) or {}, (*at, "params")))
            variants = [(p, g) for p in params for g in generic]
            models = _registered(doc, (*at, "models"), MODELS, "model")
            datasets = _registered(doc, (*at, "datasets"), DATASETS, "dataset")
            result.append(_MethodEntry(index, spec, preset, variants, bool(entry.get("reference", False)),
                                       {m for m, _ in models} or None, {d for d, _ in datasets} or None,
                                       self._tune(entry, at, spec)))
        for entry in result:
            if entry.reference and entry.tune is not None:
                raise doc.error(("methods", entry.index, "tune"), "the reference entry cannot be tuned",
                                hint="tune the methods compared with retrain, not retrain itself")
        marked = [entry for entry in result if entry.reference]
        if len(marked) > 1:
            raise doc.error(("methods", marked[1].index, "reference"), "more than one [[methods]] entry is the reference",
                            hint="mark one entry reference = true (by default: the first plain retrain)")
        reference = marked[0] if marked else next(
            (e for e in result if e.spec.name == "retrain" and not entries[e.index].get("params")
             and not any(key in entries[e.index] for key in (*GENERIC, "models", "datasets"))), None)
        if reference is not None:
            reference.reference = True
            if len(reference.variants) != 1:
                raise doc.error(("methods", reference.index), "the reference entry expands to several runs",
                                hint="give the reference single values (no lists), so each forget set has one reference")
        return result

    def _tune(self, entry: dict[str, Any], at: KeyPath, spec: Any) -> dict[str, Any] | None:
        """An entry's `tune = {...}`: the study's settings, checked as `unlearn tune` checks them."""
        table = entry.get("tune")
        if table is None:
            return None
        where: KeyPath = (*at, "tune")
        settings = {
            "trials": int(self.doc.get((*where, "trials"), 20)),
            "seeds": tuple(value for value, _ in _values(self.doc, (*where, "seeds"), [0])),
            "space": tuple(value for value, _ in _values(self.doc, (*where, "space"), [])),
            "objective": self.doc.get((*where, "objective"), "avg_gap"),
        }
        try:
            options = TuneOptions(method=spec.name, **settings)
            options.validate()
            options.resolved_space(spec)
        except InputError as error:
            raise _rewrap(self.doc, where, error) from None
        return settings

    def _generic(self, entry: dict[str, Any], at: KeyPath, spec: Any) -> list[dict[str, Any]]:
        """The generic training options of an entry's runs: its own, else the [unlearn] ones
        (those only for methods that train), every list crossed."""
        refused = spec.refused([key for key in GENERIC if key in entry])
        if refused:
            raise self.doc.error((*at, refused[0]), f"method '{spec.name}' does not train; {refused[0]} means nothing to it",
                                 hint=f"leave {', '.join(refused)} out of this entry")
        axes = []
        for key in GENERIC:
            if key in entry:
                axes.append([value for value, _ in _values(self.doc, (*at, key), [])])
            elif spec.trains:
                axes.append([value for value, _ in _values(self.doc, ("unlearn", key), [None])])
            else:
                axes.append([None])
        return [dict(zip(GENERIC, combo)) for combo in itertools.product(*axes)]

    def _params(self, params: dict[str, Any], at: KeyPath) -> Iterator[dict[str, Any]]:
        plain = {key: value for key, value in params.items() if not isinstance(value, dict)}
        relative = {key: value for key, value in params.items() if isinstance(value, dict)}
        keys = list(plain)
        for combo in itertools.product(*[value if isinstance(value, list) else [value] for value in plain.values()]):
            values = dict(zip(keys, combo))
            scaled = []
            for key, rule in relative.items():
                base = values.get(rule["times"])
                if not isinstance(base, (int, float)) or isinstance(base, bool):
                    raise self.doc.error((*at, key, "times"), f"{key} = {{ times = \"{rule['times']}\" }} needs a numeric "
                                         f"parameter {rule['times']} in the same params",
                                         hint=f"give params.{rule['times']} = [numbers]")
                scaled.append([(key, base * factor) for factor in rule["by"]])
            for extra in itertools.product(*scaled):
                yield {**values, **dict(extra)}

    def _metrics(self) -> tuple[str, ...] | None:
        values = _values(self.doc, ("evaluate", "metrics"), [])
        if not values:
            return None
        try:
            check_metric_names([value for value, _ in values])
        except InputError as error:
            raise _rewrap(self.doc, ("evaluate", "metrics"), error) from None
        return tuple(value for value, _ in values)

    # --- runs and evaluations ------------------------------------------------------------
    def _runs(self, pretrain: tuple[str, str, str], target: _Target, presets: list[tuple[str | None, KeyPath]],
              methods: list[_MethodEntry]) -> list[str]:
        model_node, model, _ = pretrain
        evaluations = []
        seeds = [seed for seed, _ in _values(self.doc, ("unlearn", "seeds"), [0])]
        for preset, _ in presets:
            first_reference: tuple[str, str, str | None] | None = None  # (node id, name, preset) at the first seed
            for seed in seeds:
                runs = []  # (node id, name, entry index)
                reference: tuple[str, str] | None = None
                for entry in methods:
                    for params, generic in entry.variants:
                        node_id, name, applied = self._run(model, model_node, target, preset, entry, params, generic, seed)
                        runs.append((node_id, name, entry.index))
                        if entry.reference:
                            reference = (node_id, name)
                            first_reference = first_reference or (node_id, name, applied)
                for node_id, name, index in runs:
                    options = EvaluateOptions(run=name, reference=reference[1] if reference else None,
                                              metrics=self.metrics, name=name, seed=self.evaluate_seed,
                                              device=self.b.device)
                    deps = tuple(dict.fromkeys([node_id, *([reference[0]] if reference else [])]))
                    evaluations.append(self.b.add(_node("evaluate", name, options, deps), self.doc,
                                                  ("methods", index), f"evaluation of {name}"))
            if self.original:
                evaluations.append(self._original(model_node, model, target, first_reference))
        return evaluations

    def _original(self, model_node: str, model: str, target: _Target,
                  reference: tuple[str, str, str | None] | None) -> str:
        """The model before unlearning, on the forget set: the report's "original" row."""
        preset = reference[2] if reference else None
        name = naming.original_evaluation_name(model, target.name, load_preset(preset).name if preset else None)
        options = EvaluateOptions(run=model, forget=target.name, reference=reference[1] if reference else None,
                                  metrics=self.metrics, name=name, seed=self.evaluate_seed, device=self.b.device)
        deps = (model_node, target.node, *([reference[0]] if reference else []))
        return self.b.add(_node("evaluate", name, options, deps), self.doc, ("evaluate",),
                          f"evaluation of {model} before unlearning")

    def _run(self, model: str, model_node: str, target: _Target, preset: str | None, entry: _MethodEntry,
             params: dict[str, Any], generic: dict[str, Any], seed: int) -> tuple[str, str, str | None]:
        spec = entry.spec
        at: KeyPath = ("methods", entry.index)
        if entry.preset == NO_PRESET:
            applied = None
        elif entry.preset is not None:
            applied = entry.preset
        else:
            applied = preset if preset is not None and spec.name in load_preset(preset).methods else None
        generic_options = GenericOptions.coerced(generic)
        options = UnlearnOptions(method=spec.name, model=model, forget=target.name, params=dict(params), preset=applied,
                                 generic=generic_options, seed=seed, device=self.b.device)
        try:
            choice = options.resolve()
        except InputError as error:
            raise _rewrap(self.doc, (*at, "params"), error) from None
        tag = choice.preset.preset.name if choice.preset else None
        deps = (model_node, target.node)
        if entry.tune is not None:
            # The cells run with the study's best preset, read when they start (after the study).
            study, tune_node = self._study(model, model_node, target, entry, applied, tag)
            options = replace(options, preset=TUNED_PRESET + study)
            tag = "tuned" if tag is None else f"{tag}-tuned"
            deps = (*deps, tune_node)
        name = naming.run_name(target.run_base, spec.name, tag, naming.changed_params(choice.params, choice.baseline),
                               seed, tags=generic_options.name_tags())
        options = replace(options, name=name)
        describe = ", ".join([spec.name, *([f"preset {applied}"] if applied else []),
                              *(f"{k}={v}" for k, v in params.items()), f"seed {seed}"])
        node_id = self.b.add(_node("unlearn", name, options, deps), self.doc, at, f"{describe} on {target.name}")
        return node_id, name, applied

    def _study(self, model: str, model_node: str, target: _Target, entry: _MethodEntry, applied: str | None,
               tag: str | None) -> tuple[str, str]:
        """The tune node of an entry on a forget set (one per preset it starts from)."""
        study = "-".join([target.name, entry.spec.name, *([tag] if tag else [])])
        options = TuneOptions(method=entry.spec.name, forget=target.name, model=model, preset=applied, study=study,
                              device=self.b.device, **entry.tune)
        node = self.b.add(_node("tune", study, options, (model_node, target.node)), self.doc,
                          ("methods", entry.index, "tune"), f"tuning of {entry.spec.name} on {target.name}")
        return study, node
