"""The audit's models as a plan of sweep nodes (the `fixed` design; torch-free).

`--forget F` names a forget set made from a template model M0. The design repeats M0:

    originals   M0's pretraining with seeds 0…N−1 (the seed of M0 is M0 itself)
    forget sets F's rows imported on each original (`indices`; F itself on M0)
    unlearned   the method on original k and its forget set, seed k
                (--single-original: on M0 and F, seeds 0…N−1)
    retrained   `retrain` on original k and its forget set, seed k (both variants)
    queries     one per unlearned and retrained run

Every name comes from `artifacts/naming.py`, so an audit of a second method on the same F
finds the originals, forget sets, retrains and their queries of the first, and a sweep or a
hand-run `unlearn` of the same setting is found too. M0 and F are inputs, never nodes: they
must exist and validate, and the audit never remakes them.

The retrains of `--single-original` are the same as the fixed design's (independent
trainings from N initialisations), so they need the N originals' initial weights: a
single-original audit still pretrains the originals.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from unlearn_cli.artifacts import Manifest, Workspace, load_table, naming
from unlearn_cli.errors import ArtifactError, InputError
from unlearn_cli.steps.options import ForgetSetOptions, PretrainOptions, QueryOptions, UnlearnOptions
from unlearn_cli.sweep.plan import Node, Plan, _node
from unlearn_cli.sweep.status import DONE, REDO
from unlearn_cli.train.options import GenericOptions

MIN_MODELS = 4  # the statistics' floor (U-LiRA's MIN_SHADOWS, the challenge's buckets)
DESIGNS = ("fixed", "halves")
ATTACKS = ("ulira", "epsilon", "klom")
DESIGN_ATTACKS = {"fixed": ATTACKS, "halves": ("ulira",)}
DEFAULT_SAMPLE_ROWS = 500  # KLoM's retain and test samples
FORGET_ROWS_FILE = "forget-rows.npy"


@dataclass(frozen=True)
class AuditSettings:
    """What an audit was asked for: two audits with equal settings are the same audit."""

    method: str
    forget: str | None  # F (fixed); halves draws its pool from the train set instead
    params: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    generic: GenericOptions = field(default_factory=GenericOptions)
    design: str = "fixed"
    models: int = 8
    single_original: bool = False
    attacks: tuple[str, ...] | None = None  # None: every attack the design supports
    retain_rows: int = DEFAULT_SAMPLE_ROWS
    test_rows: int = DEFAULT_SAMPLE_ROWS
    seed: int = 0
    model: str | None = None  # the template model; must be F's when given (halves: required)
    pool: int | None = None  # halves: the audited train rows

    def validate(self) -> None:
        if self.design not in DESIGNS:
            raise InputError(f"unknown design '{self.design}'", hint=f"valid designs: {', '.join(DESIGNS)}")
        if self.design == "halves":
            if self.model is None or self.pool is None:
                raise InputError("the halves design needs --model (the template M0) and --pool (the audited rows)",
                                 hint="e.g. --design halves --model digits-cnn-s0 --pool 300 --models 16")
            if self.single_original:
                raise InputError("--single-original is a fixed-design option", hint="leave it out with --design halves")
        elif self.forget is None:
            raise InputError("the fixed design needs --forget (a forget set made from the template model)",
                             hint="make one: make-forget-set --model M --per 10")
        elif self.pool is not None:
            raise InputError("--pool is a halves-design option", hint="use --design halves, or leave out --pool")
        if self.models < MIN_MODELS:
            raise InputError(f"--models {self.models} is too few: the attacks need at least {MIN_MODELS} models a side",
                             hint="e.g. --models 8; LiRA's baseline is 16")
        if self.design == "fixed" and "ulira" in self.chosen_attacks() and self.models < MIN_MODELS + 1:
            # Every model is a held-out target, leaving N − 1 shadows on its own side.
            raise InputError(f"U-LiRA needs --models {MIN_MODELS + 1} or more: a target leaves N − 1 shadow models "
                             f"on its side and a row needs {MIN_MODELS}",
                             hint=f"e.g. --models 8, or --attacks epsilon,klom with --models {self.models}")
        for flag, value in (("--retain-rows", self.retain_rows), ("--test-rows", self.test_rows)):
            if value < 1:
                raise InputError(f"{flag} must be positive (got {value})", hint=f"e.g. {flag} {DEFAULT_SAMPLE_ROWS}")
        self.chosen_attacks()

    def chosen_attacks(self) -> tuple[str, ...]:
        supported = DESIGN_ATTACKS[self.design]
        if self.attacks is None:
            return supported
        unknown = [name for name in self.attacks if name not in ATTACKS]
        if unknown or not self.attacks:
            raise InputError(f"unknown attack '{unknown[0] if unknown else ''}' in --attacks",
                             hint=f"valid attacks: {', '.join(ATTACKS)}")
        refused = [name for name in self.attacks if name not in supported]
        if refused:
            raise InputError(f"the {self.design} design cannot run the {refused[0]} attack",
                             hint=f"the {self.design} design supports: {', '.join(supported)}")
        return tuple(dict.fromkeys(self.attacks))

    def to_config(self) -> dict[str, Any]:
        """The settings as the audit manifest records them (and compares them on a re-run)."""
        config = asdict(self)
        config["attacks"] = list(self.chosen_attacks())
        config["params"] = {key: config["params"][key] for key in sorted(config["params"])}
        return json.loads(json.dumps(config, default=str))


@dataclass
class AuditPlan:
    """The nodes to run and what the statistics read: the query of each model, by side."""

    plan: Plan
    settings: AuditSettings
    forget: Manifest | None  # F (None: halves)
    template: Manifest  # M0
    rows: np.ndarray  # F's forget rows, the audited rows
    retain: np.ndarray  # KLoM's retain sample
    test: np.ndarray  # KLoM's test sample
    unlearned: list[str]  # query node ids, model k at index k
    retrained: list[str]
    unlearned_seeds: list[int]
    index_file: Path  # F's rows, for the copies' `indices` import
    method_config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    # halves: the shadows' keep masks (K × train rows), their files, and IN per (shadow, pool row)
    masks: np.ndarray | None = None
    halves_files: Any = None  # halves.HalvesFiles
    membership: np.ndarray | None = None
    copy_rows: dict[str, np.ndarray] | None = None  # halves: each forget node's rows (F_k); fixed: F's

    def query_names(self, side: str) -> list[str]:
        return [self.plan.nodes[node_id].name for node_id in getattr(self, side)]


# ---------------------------------------------------------------------------- inputs


def template_of(ws: Workspace, settings: AuditSettings) -> tuple[Manifest, Manifest, Manifest]:
    """(F, M0, the dataset), checked: F made from a model, M0 (if given) that model."""
    forget = ws.read("forget-set", settings.forget)
    if "model" not in forget.parents:
        raise InputError(f"forget set {forget.name} was not made from a model (it is a manipulation of a dataset)",
                         hint="make the forget set from a pretrained model: make-forget-set --model M --per 10")
    template = ws.read("model", ws.abs(forget.parents["model"].path))
    dataset = ws.read("dataset", ws.abs(template.parents["dataset"].path))
    if forget.parents.get("dataset") != template.parents.get("dataset"):
        raise InputError(f"forget set {forget.name} belongs to another dataset than its model {template.name}",
                         hint="make the forget set again from the model")
    if settings.model is not None:
        given = ws.read("model", settings.model)
        if ws.parent_ref(given) != forget.parents["model"]:
            given_dataset = given.config.get("dataset")
            what = (f"another dataset ({given_dataset}) than" if given_dataset != template.config.get("dataset")
                    else "another model than")
            raise InputError(f"forget set {forget.name} was made for {what} model {given.name}",
                             hint=f"pass a forget set made from {given.name}, or leave out --model")
    return forget, template, dataset


def forget_rows(ws: Workspace, forget: Manifest) -> np.ndarray:
    table = load_table(ws.abs(forget.file("index").path))
    index = table.column("index").to_numpy()
    return np.sort(index[table.column("forget").to_numpy().astype(bool)]).astype(np.int64)


def pretrain_options(template: Manifest, seed: int, name: str, device: str | None) -> PretrainOptions:
    """M0's pretraining with another seed: its recipe by name plus every field an option can
    override, refused if that does not resolve to exactly the recipe M0 recorded (a recipe
    changed since, or a field no option reaches)."""
    config = template.config
    recorded = config.get("recipe")
    arch = config.get("architecture")
    if not isinstance(recorded, dict) or not isinstance(arch, dict) or "name" not in recorded:
        raise ArtifactError(f"{template.source}: no recipe or architecture recorded, so it cannot be repeated",
                            hint="pretrain the template model again with this version of unlearn")
    optimizer = recorded.get("optimizer", {})
    options = PretrainOptions(
        dataset=config.get("dataset"), model=arch["name"], recipe=recorded["name"], seed=seed,
        width=float(arch["width"]), device=device, name=name,
        epochs=recorded.get("epochs"), steps=recorded.get("steps"), lr=optimizer.get("lr"),
        batch_size=recorded.get("batch_size"), weight_decay=optimizer.get("weight_decay"),
        drop_last=recorded.get("drop_last"), normalization=recorded.get("normalization"),
        manipulation=config.get("manipulation"))
    resolved = json.loads(json.dumps(asdict(options.recipe_for(config["dataset"]))))
    differing = sorted(_differences(resolved, recorded))
    if differing:
        raise InputError(f"model {template.name}'s recipe cannot be repeated: recipe '{recorded['name']}' now "
                         f"resolves to another {differing[0]} than the model recorded",
                         hint="pretrain the template again with this version of unlearn, then make the forget set "
                         "from it")
    return options


def _differences(new: Any, old: Any, prefix: str = "") -> list[str]:
    if isinstance(new, dict) and isinstance(old, dict):
        return [item for key in sorted(set(new) | set(old))
                for item in _differences(new.get(key), old.get(key), f"{prefix}{key}.")]
    return [] if new == old else [prefix.rstrip(".")]


def samples(rows: np.ndarray, train_size: int, test_size: int, settings: AuditSettings) -> tuple[np.ndarray, np.ndarray]:
    """KLoM's seeded retain sample (train rows outside F) and test sample, sorted; the whole
    split where it is smaller than asked."""
    rng = np.random.default_rng(settings.seed)
    outside = np.setdiff1d(np.arange(train_size), rows)
    retain = np.sort(rng.choice(outside, size=min(settings.retain_rows, outside.size), replace=False))
    test = np.sort(rng.choice(test_size, size=min(settings.test_rows, test_size), replace=False))
    return retain.astype(np.int64), test.astype(np.int64)


# ---------------------------------------------------------------------------- the plan


class _Nodes:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def add(self, node: Node) -> str:
        node.options.validate()
        existing = self.nodes.get(node.id)
        if existing is not None and existing != node:
            raise InputError(f"the audit would make two different {node.kind}s named '{node.name}'",
                             hint="choose other parameters; a name shows only the settings that differ")
        self.nodes.setdefault(node.id, node)
        return node.id


def fixed_plan(ws: Workspace, settings: AuditSettings, name: str, *, device: str | None = None) -> AuditPlan:
    settings.validate()
    forget, template, dataset = template_of(ws, settings)
    method = UnlearnOptions(method=settings.method, model=template.name, forget=forget.name,
                            params=dict(settings.params), preset=settings.preset, generic=settings.generic)
    choice = method.resolve()
    if choice.spec.check_model is not None or getattr(choice.params, "k", None) is not None:
        _check_method_fits(template, choice)
    template_seed = int(template.config.get("seed", -1))
    rows = forget_rows(ws, forget)
    retain, test = samples(rows, int(dataset.summary["train_size"]), int(dataset.summary["test_size"]), settings)
    folder = ws.root / "audits" / name
    index_file = folder / FORGET_ROWS_FILE
    queried = dict(rows=tuple(int(r) for r in rows), retain=tuple(int(r) for r in retain),
                   test=tuple(int(r) for r in test))
    nodes = _Nodes()
    n = settings.models

    def original(k: int) -> tuple[str, str, tuple[str, ...]]:
        """(model name, forget-set name, node ids to wait for) of original k."""
        if k == template_seed:
            return template.name, forget.name, ()
        model = naming.with_seed(template.name, template_seed, k)
        if model is None:
            raise InputError(f"model {template.name} is not named <...>-s{template_seed}, so the audit cannot name "
                             "its other seeds",
                             hint="pretrain the template under its default name, or make the forget set from one")
        pretrain = nodes.add(_node("pretrain", model, pretrain_options(template, k, model, device)))
        copy = naming.copied_forget_name(model, forget.name, template.name)
        options = ForgetSetOptions(model=model, kind="indices", params={"path": index_file}, seed=0, name=copy,
                                   device=device)
        return model, copy, (pretrain, nodes.add(_node("forget", copy, options, (pretrain,))))

    def run(k: int, model: str, copy: str, deps: tuple[str, ...], options: UnlearnOptions, seed: int) -> str:
        resolved = options.resolve()
        run_name = naming.run_name(copy, resolved.spec.name, resolved.preset.preset.name if resolved.preset else None,
                                   naming.changed_params(resolved.params, resolved.baseline), seed,
                                   tags=options.generic.name_tags())
        options = replace(options, model=model, forget=copy, seed=seed, name=run_name, device=device)
        unlearn = nodes.add(_node("unlearn", run_name, options, deps))
        query = QueryOptions(run=run_name, device=device, **queried)
        query = replace(query, name=query.default_name())
        return nodes.add(_node("query", query.name, query, (unlearn,)))

    retrain = UnlearnOptions(method="retrain")
    retrained, unlearned, seeds = [], [], []
    for k in range(n):
        model, copy, deps = original(k)
        retrained.append(run(k, model, copy, deps, retrain, k))
    notes = []
    for k in range(n):
        if settings.single_original:
            model, copy, deps = template.name, forget.name, ()
        else:
            model, copy, deps = original(k)
        seed = k
        candidate = run(k, model, copy, deps, method, seed)
        if candidate in retrained:
            # Auditing plain retrain: its runs would be the reference runs themselves (the two
            # sides identical). Independent retrains take the seeds after the reference's.
            seed = n + k
            candidate = run(k, model, copy, deps, method, seed)
            if not notes:
                notes.append(f"the audited retrains use seeds {n}…{2 * n - 1}, the reference retrains 0…{n - 1}")
        unlearned.append(candidate)
        seeds.append(seed)
    plan = Plan(name, folder, nodes.nodes)
    method_config = {"method": choice.spec.name, "preset": settings.preset,
                     "params": json.loads(json.dumps(asdict(choice.params), default=str)),
                     "training": {key: value for key, value in asdict(settings.generic).items() if value is not None}}
    return AuditPlan(plan, settings, forget, template, rows, retain, test, unlearned, retrained, seeds,
                     index_file, method_config, notes)


def _check_method_fits(template: Manifest, choice: Any) -> None:
    """A method with needs of the architecture (a `k`, its own check) is tried on the
    template's architecture before anything is planned. Imports torch only for those."""
    from unlearn_cli.models import valid_ks
    from unlearn_cli.models.architecture import Architecture

    skeleton = Architecture.from_config(template.config, str(template.source)).build()
    k = getattr(choice.params, "k", None)
    if k is not None and k not in valid_ks(skeleton):
        raise InputError(f"method '{choice.spec.name}' cannot run on model {template.name}: k={k} is not a valid k "
                         f"for {template.config['architecture']['name']}",
                         hint=f"choose k from {', '.join(map(str, valid_ks(skeleton)))}")
    if choice.spec.check_model is not None:
        choice.spec.check_model(skeleton, choice.params)


# ---------------------------------------------------------------------------- status


def copies_changed(ws: Workspace, audit: AuditPlan, status: dict[str, str]) -> list[str]:
    """Forget-set copies that exist but hold other rows than F (F was made again): to remake,
    so no run of an old copy is ever mixed with runs of the current F."""
    changed = []
    for node in audit.plan.nodes.values():
        if node.step != "forget" or status[node.id] != DONE:
            continue
        try:
            copy = ws.read("forget-set", node.name)
        except ArtifactError:
            continue
        expected = audit.rows if audit.copy_rows is None else audit.copy_rows[node.id]
        if not np.array_equal(forget_rows(ws, copy), expected):
            changed.append(node.id)
    return changed


def redo(plan: Plan, status: dict[str, str], node_ids: list[str]) -> dict[str, str]:
    """`status` with `node_ids` to make again and every node that needs them too."""
    status = dict(status)
    for node_id in node_ids:
        status[node_id] = REDO
    for node in plan.nodes.values():
        if status[node.id] == DONE and any(status[dep] != DONE for dep in node.deps):
            status[node.id] = REDO
    return status


def halves_plan(ws: Workspace, settings: AuditSettings, name: str, *, device: str | None = None) -> AuditPlan:
    """The halves design (`audit/halves.py`): K shadows on seeded halves of the train set,
    each unlearning the pool rows it trained on."""
    from unlearn_cli.audit import halves

    settings.validate()
    template = ws.read("model", settings.model)
    if "exclude" in template.files:
        raise InputError(f"model {template.name} was itself trained on part of the train set",
                         hint="pass a model pretrained on the whole train set as --model")
    dataset = ws.read("dataset", ws.abs(template.parents["dataset"].path))
    train_size = int(dataset.summary["train_size"])
    assert settings.pool is not None
    halves.check(settings.models, settings.pool, train_size)
    method = UnlearnOptions(method=settings.method, model=template.name, forget="-", params=dict(settings.params),
                            preset=settings.preset, generic=settings.generic)
    choice = method.resolve()
    if choice.spec.check_model is not None or getattr(choice.params, "k", None) is not None:
        _check_method_fits(template, choice)
    labels = _train_labels(ws, dataset)
    pool = halves.pool_rows(labels, settings.pool, settings.seed)
    masks = halves.keep_masks(settings.models, train_size, settings.seed)
    files = halves.files_for(ws.root, template, settings.models, settings.pool, settings.seed)
    nodes = _Nodes()
    queried = dict(rows=tuple(int(r) for r in pool))
    unlearned, copy_rows = [], {}
    in_pool = np.zeros(train_size, dtype=bool)
    in_pool[pool] = True
    for k in range(settings.models):
        shadow = halves.shadow_name(template, k, settings.models, settings.pool, settings.seed)
        options = replace(pretrain_options(template, k, shadow, device), exclude=files.excluded(k))
        pretrain = nodes.add(_node("pretrain", shadow, options))
        copy = f"{shadow}-pool"
        forget = nodes.add(_node("forget", copy, ForgetSetOptions(
            model=shadow, kind="indices", params={"path": files.forget(k)}, seed=0, name=copy, device=device),
            (pretrain,)))
        copy_rows[forget] = np.flatnonzero(masks[k] & in_pool).astype(np.int64)
        resolved = method.resolve()
        run_name = naming.run_name(copy, resolved.spec.name, resolved.preset.preset.name if resolved.preset else None,
                                   naming.changed_params(resolved.params, resolved.baseline), k,
                                   tags=method.generic.name_tags())
        run = nodes.add(_node("unlearn", run_name, replace(method, model=shadow, forget=copy, seed=k, name=run_name,
                                                           device=device), (forget,)))
        query = QueryOptions(run=run_name, device=device, **queried)
        query = replace(query, name=query.default_name())
        unlearned.append(nodes.add(_node("query", query.name, query, (run,))))
    method_config = {"method": choice.spec.name, "preset": settings.preset,
                     "params": json.loads(json.dumps(asdict(choice.params), default=str)),
                     "training": {key: value for key, value in asdict(settings.generic).items() if value is not None}}
    empty = np.zeros(0, dtype=np.int64)
    plan = Plan(name, ws.root / "audits" / name, nodes.nodes)
    return AuditPlan(plan, settings, None, template, pool, empty, empty, unlearned, [], list(range(settings.models)),
                     files.pool, method_config, [], masks=masks, halves_files=files,
                     membership=halves.membership(masks, pool), copy_rows=copy_rows)


def _train_labels(ws: Workspace, dataset: Manifest) -> np.ndarray:
    """The train split's labels without loading its images (safetensors reads one tensor)."""
    from safetensors import safe_open

    with safe_open(str(ws.abs(dataset.file("train").path)), framework="numpy") as handle:
        return handle.get_tensor("labels").astype(np.int64)
