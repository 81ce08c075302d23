"""Resumable training state in safetensors (weights, optimiser state, callback state).

Optimiser state dicts mix tensors and plain values; tensors go into the safetensors body and
the plain values into its JSON metadata, so no pickle is ever written or read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from unlearn_cli.artifacts import load_metadata, load_tensors, save_tensors
from unlearn_cli.errors import InputError, TrainingError


@dataclass
class TrainState:
    step: int
    epoch: int  # next epoch to run
    wall_seconds: float
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    extra: dict[str, torch.Tensor]  # callback accumulators


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {}
    for param_id, entries in state_dict["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optim.{param_id}.{key}"] = value
            else:
                plain[f"{param_id}.{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "plain": plain}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, param_id, key = name.split(".", 2)
        state.setdefault(int(param_id), {})[key] = value
    for name, value in meta["plain"].items():
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


class Checkpointer:
    """Writes and reads one resume file; `fingerprint` is the settings it belongs to, so a
    resume with changed settings is refused instead of silently mixing two runs."""

    def __init__(self, path: Path, fingerprint: dict[str, Any]) -> None:
        self.path = Path(path)
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))

    def exists(self) -> bool:
        return self.path.is_file()

    def refuse_to_start_over(self, what: str, *, resume: bool, force: bool) -> None:
        """A killed run's checkpoint is work the user has: a new run of the name without
        `--resume` would silently write over it, so it is refused (`--force` starts over)."""
        if self.exists() and not resume and not force:
            raise InputError(f"a killed run of {what} left its checkpoint ({self.path})",
                             hint="pass --resume to continue it where it stopped, or --force to start over")

    def save(self, state: TrainState) -> None:
        optim_tensors, optim_meta = _flatten_optimizer(state.optimizer)
        tensors = {f"model.{k}": v for k, v in state.model.items()}
        tensors.update(optim_tensors)
        tensors.update({f"extra.{k}": v for k, v in state.extra.items()})
        metadata = {
            "step": state.step,
            "epoch": state.epoch,
            "wall_seconds": state.wall_seconds,
            "optimizer": optim_meta,
            "fingerprint": self.fingerprint,
        }
        save_tensors(self.path, tensors, metadata=metadata)

    def load(self) -> TrainState:
        if not self.exists():
            raise TrainingError(f"nothing to resume: {self.path} does not exist",
                                hint="run without --resume to start from scratch")
        metadata = load_metadata(self.path)
        saved = metadata.get("fingerprint", {})
        if saved != self.fingerprint:
            changed = sorted(k for k in set(saved) | set(self.fingerprint) if saved.get(k) != self.fingerprint.get(k))
            details = ", ".join(f"{k}: {saved.get(k)!r} → {self.fingerprint.get(k)!r}" for k in changed)
            raise TrainingError(f"cannot resume {self.path}: settings changed ({details})",
                                hint="resume with the original settings, or start over with --force")
        tensors = load_tensors(self.path)
        model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        extra = {k[len("extra."):]: v for k, v in tensors.items() if k.startswith("extra.")}
        optim = {k: v for k, v in tensors.items() if k.startswith("optim.")}
        return TrainState(
            step=int(metadata["step"]),
            epoch=int(metadata["epoch"]),
            wall_seconds=float(metadata["wall_seconds"]),
            model=model,
            optimizer=_unflatten_optimizer(optim, metadata["optimizer"]),
            extra=extra,
        )

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
