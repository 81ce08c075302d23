"""Device choice and the speed switches that default on where they help (DESIGN "Speed switches")."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn_cli.errors import InputError


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device '{name}'", hint="e.g. --device cpu or --device cuda:0") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device '{name}' is not available: no CUDA GPU here", hint="use --device cpu")
    return device


@dataclass(frozen=True)
class SpeedSwitches:
    amp: bool
    channels_last: bool
    compile: bool

    @classmethod
    def for_device(cls, device: torch.device, *, amp: bool | None = None, channels_last: bool | None = None,
                   compile: bool | None = None) -> SpeedSwitches:
        on_cuda = device.type == "cuda"
        return cls(
            amp=on_cuda if amp is None else amp and on_cuda,  # bf16 autocast is used on CUDA only
            channels_last=on_cuda if channels_last is None else channels_last,
            compile=on_cuda if compile is None else compile,
        )
