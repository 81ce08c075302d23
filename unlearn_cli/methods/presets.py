"""The seed papers' tuned settings (SPEC §5.3) as data: one flat entry per (preset, method).

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


def _adamw(lr: float, wd: float, batch_size: int = 128) -> dict[str, Any]:
    return {"optimizer": "adamw", "lr": lr, "weight_decay": wd, "epochs": 5, "batch_size": batch_size}


def _natmu_preset(name: str, setting: str, datasets: tuple[str, ...], *, batch: int = 128,
                  natmu: tuple, random_label: tuple, badteacher: tuple, salun: tuple) -> Preset:
    """NatMU's scripts: AdamW, 5 epochs; its badteacher uses the full D_r."""
    natmu_params = {"delta": natmu[2]}
    if len(natmu) > 3:
        natmu_params["init_linear"] = natmu[3]
    return Preset(name, setting, datasets, {
        "natmu": PresetEntry(natmu_params, _adamw(natmu[0], natmu[1], batch)),
        "random_label": PresetEntry({}, _adamw(random_label[0], random_label[1], batch)),
        "badteacher": PresetEntry({"temperature": badteacher[2], "retain_fraction": 1.0},
                                  _adamw(badteacher[0], badteacher[1], batch)),
        "salun": PresetEntry({"threshold": salun[2]}, _adamw(salun[0], salun[1], batch)),
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
    _natmu_preset("natmu-fullclass", "ResNet18, CIFAR-100, forget class rocket", ("cifar100",),
                  natmu=(2.8e-4, 0.0, -0.053, True), random_label=(1.45e-4, 8e-5),
                  badteacher=(3.4e-5, 0.0, 0.77), salun=(1.3e-4, 0.0, 0.7)),
    _natmu_preset("natmu-subclass", "ResNet18, CIFAR-20, forget sub-class rocket", ("cifar20",),
                  natmu=(9e-4, 3.7e-4, -0.053), random_label=(1.8e-5, 3.7e-4),
                  badteacher=(7.4e-5, 0.0, 0.72), salun=(1.7e-4, 0.0, 0.01)),
):
    PRESETS.add(_preset.name, _preset)


def _corrective_preset(name: str, setting: str, datasets: tuple[str, ...], *, retrain_steps: int,
                       short_steps: int) -> Preset:
    """The corrective paper's settings: SGD momentum 0.9, wd 5e-4, lr 0.025, batch 512 and its
    linear schedule; EU-k / CF-k and badteacher for the short budget."""
    sgd = {"optimizer": "sgd", "lr": 0.025, "weight_decay": 5e-4, "momentum": 0.9, "batch_size": 512,
           "schedule": CORRECTIVE_SCHEDULE}
    return Preset(name, setting, datasets, {
        "retrain": PresetEntry({}, {**sgd, "steps": retrain_steps}, {"steps": short_steps}),
        "finetune": PresetEntry({}, {**sgd, "steps": short_steps}),
        "badteacher": PresetEntry({"retain_fraction": 1.0}, {**sgd, "steps": short_steps}),
        "scrub": PresetEntry({}, {**sgd, "lr": 0.0025}),
        "ssd": PresetEntry({}, {}),
    })


PRESETS.add("corrective-cifar10", _corrective_preset(
    "corrective-cifar10", "ResNet9, CIFAR-10 (EU-k/CF-k with k 2 or 4)", ("cifar10",),
    retrain_steps=4000, short_steps=1000))
PRESETS.add("corrective-cifar100", _corrective_preset(
    "corrective-cifar100", "WideResNet28x10, CIFAR-100 (EU-k/CF-k with k 5 or 13)", ("cifar100",),
    retrain_steps=6000, short_steps=1500))


def preset_for(name: str, method: str) -> ResolvedPreset:
    """The entry of preset `name` for `method`; an unknown preset lists the presets, a preset
    without that method lists the methods it has."""
    preset = PRESETS.get(name)
    if method not in preset.methods:
        raise InputError(f"preset {name} has no settings for method '{method}'",
                         hint=f"it has: {', '.join(preset.methods)}")
    return ResolvedPreset(preset, method, preset.methods[method])
