"""Optimisers by name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from unlearn_cli.errors import InputError

OPTIMIZERS = ("sgd", "adam", "adamw")


@dataclass(frozen=True)
class OptimizerSpec:
    name: str = "sgd"
    lr: float = 0.1
    weight_decay: float = 5e-4
    momentum: float = 0.9
    nesterov: bool = False

    def validate(self) -> None:
        if self.name not in OPTIMIZERS:
            raise InputError(f"unknown optimizer '{self.name}'", hint=f"valid optimizers: {', '.join(OPTIMIZERS)}")
        if not self.lr > 0:
            raise InputError(f"--lr must be positive (got {self.lr})", hint="e.g. --lr 0.1")
        if self.weight_decay < 0:
            raise InputError(f"--weight-decay must be ≥ 0 (got {self.weight_decay})", hint="e.g. --weight-decay 5e-4")


def build_optimizer(spec: OptimizerSpec, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    spec.validate()
    params = list(params)
    if spec.name == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum,
                               weight_decay=spec.weight_decay, nesterov=spec.nesterov and spec.momentum > 0)
    if spec.name == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
