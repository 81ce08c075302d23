"""Hand-made provenance chains for report tests: dataset → model → forget set → unlearned
run → evaluation, written with the artifacts API in the shapes the steps write, with metric
values chosen by the test (so every mean and std can be computed by hand).

Only the evaluations' own files are real (the report verifies them); weights and data files
are never read by a report, so they are not written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from unlearn_cli.artifacts import Manifest, Workspace, save_table

ARCH = {"name": "cnn", "width": 0.5, "channels": 1, "image_size": 8, "num_classes": 10}


@dataclass
class Chain:
    """Builds manifests in one workspace; each call returns the written Manifest."""

    ws: Workspace

    def _write(self, manifest: Manifest) -> Manifest:
        self.ws.write(manifest)
        return manifest

    def dataset(self, name: str = "digits") -> Manifest:
        existing = self.ws.manifest_path("dataset", name)
        if existing.exists():
            return self.ws.read("dataset", name, verify=False)
        return self._write(Manifest(kind="dataset", name=name, config={"name": name},
                                    summary={"train_size": 1437, "test_size": 360}))

    def model(self, *, dataset: str = "digits", seed: int = 0, arch: dict | None = None,
              manipulation: Manifest | None = None, name: str | None = None) -> Manifest:
        data = self.dataset(dataset)
        architecture = {**ARCH, **(arch or {})}
        name = name or f"{dataset}-{architecture['name']}-w{architecture['width']:g}-s{seed}" + (
            f"-{manipulation.name}" if manipulation else "")
        parents = {"dataset": self.ws.parent_ref(data)}
        if manipulation is not None:
            parents["manipulation"] = self.ws.parent_ref(manipulation)
        return self._write(Manifest(
            kind="model", name=name, parents=parents,
            config={"dataset": dataset, "architecture": architecture, "recipe": {"name": "fast"}, "seed": seed,
                    "manipulation": manipulation.name if manipulation else None},
            summary={"test_accuracy": 95.0, "wall_seconds": 3.0}))

    def forget(self, model: Manifest, *, kind: str = "per", params: dict | None = None, seed: int = 0,
               name: str | None = None) -> Manifest:
        params = {"per": 10, "difficulty": "record"} if params is None and kind == "per" else (params or {})
        name = name or f"{model.name}-{kind}{'-'.join(str(v) for v in params.values())}-f{seed}"
        manipulation = None
        if "manipulation" in model.parents:
            manipulation = self.ws.read("forget-set", self.ws.abs(model.parents["manipulation"].path),
                                        verify=False).config["manipulation"]
        return self._write(Manifest(
            kind="forget-set", name=name,
            parents={"dataset": model.parents["dataset"], "model": self.ws.parent_ref(model)},
            config={"kind": kind, "params": params, "manipulation": manipulation,
                    "dataset": model.config["dataset"], "model": model.name, "seed": seed},
            summary={"forget": 140, "retain": 1297}))

    def manipulation(self, *, dataset: str = "digits", kind: str = "poison", size: int = 150, known: float = 0.5,
                     seed: int = 0) -> Manifest:
        data = self.dataset(dataset)
        recorded = {"kind": kind, "size": size, "known": known}
        if kind == "poison":
            recorded.update(patch_size=3, target=0)
        return self._write(Manifest(
            kind="forget-set", name=f"{dataset}-{kind}{size}-known{known:g}-s{seed}",
            parents={"dataset": self.ws.parent_ref(data)},
            config={"kind": None, "params": {}, "manipulation": recorded, "dataset": dataset, "model": None,
                    "seed": seed},
            summary={"forget": int(size * known), "retain": 1437 - int(size * known)}))

    def known_forget(self, model: Manifest, fraction: float, *, seed: int = 0) -> Manifest:
        """`make-forget-set --model M --known F`: the known fraction F of the rows the model's
        manipulation changed (the corrective setting since one model serves every F)."""
        return self.forget(model, kind="known", params={"fraction": fraction}, seed=seed)

    def unlearned(self, model: Manifest, forget: Manifest, *, method: str, seed: int = 0,
                  params: dict | None = None, training: dict | None = None, wall_seconds: float = 1.0,
                  name: str | None = None, preset: str | None = None, steps: int = 50,
                  summary: dict | None = None, history: bool = False) -> Manifest:
        params = params or {}
        tag = "".join(f"-{k}{v}" for k, v in params.items()) + (f"-{preset}" if preset else "")
        name = name or f"{forget.name}-{method}{tag}-u{seed}"
        files = {}
        if history and steps and training != {}:  # a training curve of 5 epochs, falling with the seed's offset
            path = self.ws.table_path("unlearned", name, "history")
            save_table(path, history_table(steps, offset=0.1 * seed))
            files["history"] = self.ws.file_ref(path)
        return self._write(Manifest(
            kind="unlearned", name=name,
            parents={"model": self.ws.parent_ref(model), "forget": self.ws.parent_ref(forget)},
            config={"method": method, "preset": preset, "params": params, "seed": seed, "model": model.name,
                    "forget": forget.name, "dataset": model.config["dataset"],
                    "architecture": model.config["architecture"],
                    # {} records no training (a method without a training loop, as SSD).
                    "training": ({"optimizer": {"name": "adamw", "lr": 1e-3}, "epochs": 5, "batch_size": 128,
                                  "device": "cpu"} if training is None else training or None)},
            files=files,
            summary={"wall_seconds": wall_seconds, "steps": steps, "epochs": 5, "final_loss": 0.1,
                     **(summary or {})}))

    def evaluation(self, run: Manifest, forget: Manifest, values: dict[str, float], *,
                   reference: Manifest | None = None, name: str | None = None,
                   tool_version: str | None = None) -> Manifest:
        name = name or (run.name if run.kind == "unlearned" else f"{run.name}--{forget.name}")
        method = run.config.get("method", "original") if run.kind == "unlearned" else "original"
        paths = {"metrics": self.ws.table_path("evaluation", name, "metrics"),
                 "samples": self.ws.table_path("evaluation", name, "samples")}
        n = len(values)
        save_table(paths["metrics"], pa.table({
            "run": [run.name] * n, "method": [method] * n,
            "seed": pa.array([int(run.config.get("seed", 0))] * n, pa.int64()),
            "forget_set": [forget.name] * n, "metric": list(values),
            "value": pa.array(list(values.values()), pa.float64())}))
        save_table(paths["samples"], pa.table({"split": ["forget"], "index": pa.array([0], pa.int64())}))
        parents = {"run": self.ws.parent_ref(run), "forget": self.ws.parent_ref(forget)}
        if reference is not None:
            parents["reference"] = self.ws.parent_ref(reference)
        manifest = Manifest(
            kind="evaluation", name=name, parents=parents,
            config={"run": run.name, "run_kind": run.kind, "method": method, "forget": forget.name,
                    "reference": reference.name if reference else None, "metrics": None, "seed": 0,
                    "dataset": run.config["dataset"]},
            files={role: self.ws.file_ref(path) for role, path in paths.items()},
            summary=dict(values))
        if tool_version is not None:
            manifest.tool_version = tool_version
        return self._write(manifest)


def history_table(steps: int, *, offset: float = 0.0, epochs: int = 5) -> pa.Table:
    """A run's curve in train/history.py's schema: a step row every 10 steps and one row per
    epoch, the loss 2 / (1 + step / 10) + offset."""
    from unlearn_cli.train.history import SCHEMA

    rows = []
    per_epoch = max(steps // epochs, 1)
    for step in range(1, steps + 1):
        epoch = min((step - 1) // per_epoch + 1, epochs)
        loss = 2 / (1 + step / 10) + offset
        if step % 10 == 0:
            rows.append({"scope": "step", "epoch": epoch, "step": step, "loss": loss, "lr": 0.01, "accuracy": None,
                         "images": None, "seconds": step * 0.1})
        if step == steps or step % per_epoch == 0 and epoch < epochs:
            rows.append({"scope": "epoch", "epoch": epoch, "step": step, "loss": loss, "lr": 0.01,
                         "accuracy": min(1.0, 0.5 + step / (2 * steps)), "images": per_epoch * 128,
                         "seconds": step * 0.1})
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def recipe(*, optimizer: str = "sgd", lr: float = 0.01, weight_decay: float = 5e-4, epochs: int | None = 5,
           steps: int | None = None, schedule: str = "constant", batch_size: int = 128) -> dict:
    """A training config in the shape `unlearn` records it: the resolved Recipe and augment."""
    return {"recipe": {"name": "fast", "optimizer": {"name": optimizer, "lr": lr, "weight_decay": weight_decay,
                                                     "momentum": 0.9, "nesterov": False},
                       "batch_size": batch_size, "schedule": {"name": schedule, "warmup_fraction": 0.0},
                       "epochs": epochs, "steps": steps, "drop_last": False, "normalization": "dataset"},
            "augment": True}


# Twelve unlearning configurations, as a sweep over the seed papers' methods gives them:
# (method, params, preset, training). Two SSD alphas and two SCRUB presets make rows of one
# method that differ, the rest one row each.
TWELVE_METHODS: tuple[tuple[str, dict, str | None, dict], ...] = (
    ("finetune", {"k": None}, None, recipe(lr=0.02)),
    ("neggrad", {}, None, recipe(lr=0.001, epochs=2)),
    ("neggrad_plus", {"alpha": 0.9}, None, recipe(lr=0.01)),
    ("random_label", {}, "natmu-cifar10", recipe(optimizer="adamw", lr=1e-4, weight_decay=0.0)),
    ("badteacher", {"kl_temperature": 1.0}, "natmu-cifar10", recipe(optimizer="adamw", lr=1e-4)),
    ("boundary_shrink", {"bound": 0.1, "poison_epoch": 10}, None, recipe(lr=1e-5)),
    ("l1_sparse", {"alpha": 5e-4}, None, recipe(lr=0.01, epochs=10)),
    ("salun", {"threshold": 0.5}, "natmu-cifar10", recipe(optimizer="adamw", lr=5e-4)),
    ("scrub", {"alpha": 0.5, "gamma": 0.99, "msteps": 2}, "natmu-cifar10",
     recipe(optimizer="adamw", lr=5e-4, schedule="natmu_cosine")),
    ("scrub", {"alpha": 0.5, "gamma": 0.99, "msteps": 4}, "corrective-cifar10",
     recipe(lr=0.0025, epochs=10, schedule="linear")),
    ("ssd", {"alpha": 10.0, "lam": 1.0}, None, {}),
    ("ssd", {"alpha": 100.0, "lam": 1.0}, None, {}),
)


def corrective_sweep(chain: Chain, *, fractions=(0.1, 0.5, 1.0), methods=TWELVE_METHODS, seeds=(0, 1),
                     size: int = 150, kind: str = "poison", history: bool = False) -> Manifest:
    """The corrective sweep as `unlearn sweep` makes it: one manipulation (every row known),
    one model pretrained on it, and per known fraction F a forget set of kind `known` from that
    model, unlearned by retrain and every method with each seed. The numbers follow F so a
    plot shows where each point belongs: acc_corr = 40 + 50·F (+ i per method, + seed)."""
    manipulation = chain.manipulation(kind=kind, size=size, known=1.0)
    model = chain.model(manipulation=manipulation)
    for fraction in fractions:
        forget = chain.known_forget(model, fraction)
        retrain = chain.unlearned(model, forget, method="retrain", wall_seconds=30.0, steps=500, history=history)
        chain.evaluation(retrain, forget, {"FA": 10.0, "RA": 99.0, "TA": 95.0, "acc_corr": 90.0,
                                           "attack_success": 2.0})
        chain.evaluation(model, forget, {"FA": 100.0, "RA": 100.0, "TA": 95.0, "acc_corr": 20.0,
                                         "attack_success": 95.0})
        for i, (method, params, preset, training) in enumerate(methods):
            for seed in seeds:
                run = chain.unlearned(model, forget, method=method, params=params, preset=preset, seed=seed,
                                      training=training, wall_seconds=2.0 + i, steps=10 * i, history=history)
                chain.evaluation(run, forget, {"FA": 50.0 + i, "RA": 98.0 - i / 4, "TA": 94.0 - i / 4,
                                               "acc_corr": 40.0 + 50.0 * fraction + i + seed,
                                               "attack_success": 80.0 - 60.0 * fraction - i - seed},
                                 reference=retrain)
    return manipulation


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
