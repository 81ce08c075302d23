"""The seed papers' tuned settings (docs/methods.md "Presets") as data: one flat entry per
(preset, method).

Resolution order for a run: the method's defaults → the preset's entry → the generic CLI
options → `--param`. An entry sets method parameters and recipe fields; `with_k` holds the
recipe fields that replace them when the run sets `k` (EU-k, CF-k train for fewer steps).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from unlearn_cli.errors import InputError
from unlearn_cli.registry import Registry
from unlearn_cli.train.schedules import ScheduleSpec

log = logging.getLogger(__name__)

# The corrective repository's schedule: warm-up over 1 % of the steps, then linear decay as if
# to zero at 1.25× the steps (src/utils.py LinearLR; see train/recipes.py "corrective").
CORRECTIVE_SCHEDULE = ScheduleSpec("linear", warmup_fraction=0.01, decay_horizon=1.25)


@dataclass(frozen=True)
class PresetEntry:
    params: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)  # Recipe/optimizer fields to set
    with_k: dict[str, Any] = field(default_factory=dict)  # recipe fields when k is set


@dataclass(frozen=True)
class Preset:
    name: str
    setting: str  # what the paper ran it on, e.g. "VGG16, CIFAR-10"
    datasets: tuple[str, ...]  # the datasets it was tuned on
    methods: dict[str, PresetEntry]
    differences: str = ""  # where we deliberately differ from the reference, in one line


@dataclass(frozen=True)
class ResolvedPreset:
    """One preset's entry for one method, as the unlearn step applies it."""

    preset: Preset
    method: str
    entry: PresetEntry

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.entry.params)

    def recipe_fields(self, params: Any) -> dict[str, Any]:
        fields = dict(self.entry.recipe)
        if getattr(params, "k", None) is not None:
            fields.update(self.entry.with_k)
        return fields

    def warn_if_other_dataset(self, dataset: str) -> None:
        # Presets are starting points, not constraints: say so, don't refuse.
        if dataset not in self.preset.datasets:
            log.warning("preset %s was tuned on %s (%s), not on %s", self.preset.name,
                        " / ".join(self.preset.datasets), self.preset.setting, dataset)


PRESETS: Registry[Preset] = Registry("preset")


# NatMU's unlearning scripts all run its `lr_lambda_cosine` per step with no warm-up
# (utils/lr_scheduler.py:39-50; every script leaves --lr_scheduler at "cosine").
NATMU_COSINE = ScheduleSpec("natmu_cosine")
# NatMU's SalUn computes its saliency on un-augmented D_f in index order, 500 rows a batch
# (sample-wise/salun.py:61, 83, 88-110).
NATMU_SALIENCY_BATCH = 500


NATMU_DIFFERENCES = (
    "salun keeps masked-out weights exactly fixed (NatMU only masks gradients, so AdamW's decay "
    "still shrinks them, by under 1e-5 at these settings); bf16 on capable hardware where NatMU "
    "trains in fp32; shuffles, random labels and initialisations come from our seeded generators "
    "(natmu's pairing and --per 1/10 rows draw NatMU's own numpy stream)")
CORRECTIVE_DIFFERENCES = (
    "exactly the given steps (its loop takes one more); the trigger is pixel value 255 before "
    "normalisation (it writes the normalised maximum); bf16 where it uses fp16 autocast; the "
    "final weights (it keeps the best on the test set)")


def _adamw(lr: float, wd: float, batch_size: int = 128, *, augment: bool) -> dict[str, Any]:
    """NatMU's scripts: AdamW, 5 epochs, the cosine schedule, the last partial batch kept
    (their DataLoaders keep it); `augment` False where the script trains on `transform_valid`."""
    return {"optimizer": "adamw", "lr": lr, "weight_decay": wd, "epochs": 5, "batch_size": batch_size,
            "schedule": NATMU_COSINE, "drop_last": False, "augment": augment}


def _natmu_preset(name: str, setting: str, datasets: tuple[str, ...], *, batch: int = 128, class_wise: bool = False,
                  natmu: tuple, random_label: tuple, badteacher: tuple, salun: tuple,
                  init_linear: tuple[str, ...] = ()) -> Preset:
    """NatMU's scripts. natmu trains on augmented D_r and plain hybrids (natmu.py:127-128);
    the class-wise natmu.py pairs without the sample-wise overflow rule; amnesiac, blindspot
    and salun train on un-augmented data (amnesiac.py:71-77, blindspot.py:61-67,
    salun.py:72-78); blindspot uses the full D_r (blindspot.py:61). `init_linear` lists the
    methods whose class-wise script passes `-i` (scripts/full-class, scripts/sub-class)."""
    natmu_params: dict[str, Any] = {"delta": natmu[2]}
    if len(natmu) > 3:
        natmu_params["init_linear"] = natmu[3]
    if class_wise:
        natmu_params["reassign_overflow"] = False
    head = {method: {"init_linear": True} for method in init_linear}
    return Preset(name, setting, datasets, differences=NATMU_DIFFERENCES, methods={
        "natmu": PresetEntry(natmu_params, _adamw(natmu[0], natmu[1], batch, augment=True)),
        "random_label": PresetEntry(head.get("random_label", {}),
                                    _adamw(random_label[0], random_label[1], batch, augment=False)),
        "badteacher": PresetEntry({"temperature": badteacher[2], "retain_fraction": 1.0, **head.get("badteacher", {})},
                                  _adamw(badteacher[0], badteacher[1], batch, augment=False)),
        "salun": PresetEntry({"threshold": salun[2], "saliency_clean": True,
                              "saliency_batch_size": NATMU_SALIENCY_BATCH},
                             _adamw(salun[0], salun[1], batch, augment=False)),
    })


for _preset in (
    _natmu_preset("natmu-cifar10", "VGG16, CIFAR-10", ("cifar10",),
                  natmu=(1e-3, 2e-3, -0.19), random_label=(1.8e-5, 4e-4),
                  badteacher=(5e-5, 9e-4, 7.2), salun=(5e-5, 3e-4, 0.05)),
    _natmu_preset("natmu-cifar100", "ResNet18, CIFAR-100", ("cifar100",),
                  natmu=(1.1e-3, 5e-4, -0.03), random_label=(1.9e-5, 8e-4),
                  badteacher=(2.8e-4, 9e-4, 2.4), salun=(5.7e-5, 1e-3, 0.21)),
    _natmu_preset("natmu-tiny", "ResNet34, Tiny-ImageNet, batch 256", ("tinyimagenet",), batch=256,
                  natmu=(8.3e-4, 7e-5, 0.045), random_label=(1.5e-5, 5.6e-4),
                  badteacher=(2.7e-4, 7.5e-4, 1.8), salun=(5.5e-5, 5.3e-4, 0.20)),
    _natmu_preset("natmu-fullclass", "ResNet18, CIFAR-100, forget class rocket", ("cifar100",), class_wise=True,
                  natmu=(2.8e-4, 0.0, -0.053, True), random_label=(1.45e-4, 8e-5),
                  badteacher=(3.4e-5, 0.0, 0.77), salun=(1.3e-4, 0.0, 0.7), init_linear=("badteacher",)),
    _natmu_preset("natmu-subclass", "ResNet18, CIFAR-20, forget sub-class rocket", ("cifar20",), class_wise=True,
                  natmu=(9e-4, 3.7e-4, -0.053), random_label=(1.8e-5, 3.7e-4),
                  badteacher=(7.4e-5, 0.0, 0.72), salun=(1.7e-4, 0.0, 0.01), init_linear=("random_label",)),
):
    PRESETS.add(_preset.name, _preset)


def _corrective_preset(name: str, setting: str, datasets: tuple[str, ...], *, retrain_steps: int,
                       short_steps: int) -> Preset:
    """The corrective repository's main.py and methods.py: SGD momentum 0.9, wd 5e-4, lr
    0.025, batch 512, its linear schedule over each run's own steps (methods.py:20), augmented
    batches with the last partial one kept (every unlearning loader of main.py:99-103 reads
    the augmented train set); EU-k / CF-k and BadT for the short budget. Its Scrub counts
    msteps in optimiser steps and maximises −(CE + α·KL) (methods.py:227-263, opts.py
    defaults α 0.001, msteps 400 — its scripts pass 100); its BadT's KL is F.kl_div's default
    elementwise mean (methods.py:299); its SSD takes importances on augmented batches of 512
    over D_f and over the retain loader, not the whole train set (main.py:108, methods.py:320)."""
    sgd = {"optimizer": "sgd", "lr": 0.025, "weight_decay": 5e-4, "momentum": 0.9, "batch_size": 512,
           "schedule": CORRECTIVE_SCHEDULE, "drop_last": False, "augment": True}
    return Preset(name, setting, datasets, differences=CORRECTIVE_DIFFERENCES, methods={
        "retrain": PresetEntry({}, {**sgd, "steps": retrain_steps}, {"steps": short_steps}),
        "finetune": PresetEntry({}, {**sgd, "steps": short_steps}),
        "badteacher": PresetEntry({"retain_fraction": 1.0, "kl_reduction": "mean"}, {**sgd, "steps": short_steps}),
        "scrub": PresetEntry({"form": "steps", "msteps": 100, "alpha": 0.001},
                             {**sgd, "lr": 0.0025, "steps": short_steps}),
        "ssd": PresetEntry({"batch_size": 512, "reference_rows": "retain", "augment_batches": True}, {}),
    })


PRESETS.add("corrective-cifar10", _corrective_preset(
    "corrective-cifar10", "ResNet9, CIFAR-10 (EU-k/CF-k with k 2 or 4)", ("cifar10",),
    retrain_steps=4000, short_steps=1000))
PRESETS.add("corrective-cifar100", _corrective_preset(
    "corrective-cifar100", "WideResNet28x10, CIFAR-100 (EU-k/CF-k with k 5 or 13)", ("cifar100",),
    retrain_steps=6000, short_steps=1500))


def load_preset(name: str) -> Preset:
    """A registered preset, or a preset file (`preset_files.py`) where `name` ends in .toml."""
    from unlearn_cli.methods.preset_files import is_preset_file, read_preset_file

    return read_preset_file(name) if is_preset_file(name) else PRESETS.get(name)


def preset_for(name: str, method: str) -> ResolvedPreset:
    """The entry of preset `name` (registered, or a preset file) for `method`; an unknown preset
    lists the presets, a preset without that method lists the methods it has."""
    preset = load_preset(name)
    if method not in preset.methods:
        raise InputError(f"preset {name} has no settings for method '{method}'",
                         hint=f"it has: {', '.join(preset.methods)}")
    return ResolvedPreset(preset, method, preset.methods[method])
