"""Device choice and the speed switches that default on where they help (docs/design.md
"Speed switches").

bf16 autocast and channels_last are on by default on CUDA and on CPUs with native bf16
arithmetic (AVX512-BF16 or AMX): there a CIFAR ResNet-18 training step ran 2.2–3.2× faster
than fp32 (BENCHMARKS.md). A CPU without native bf16 would emulate it, which is slower than
fp32, so it keeps fp32 and the contiguous layout. `torch.compile` is on by default on CUDA
only: on a CPU its inductor compilation costs tens of seconds per run.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import torch

from unlearn_cli.errors import InputError
from unlearn_cli.train.threads import apply_threads

log = logging.getLogger(__name__)

# /proc/cpuinfo flags of x86 CPUs that compute in bf16 natively (Cooper Lake, Zen 4 and later:
# avx512_bf16; Sapphire Rapids and later: also amx_bf16).
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def resolve_device(name: str | None) -> torch.device:
    """The device a step runs on; also sizes torch's CPU threads (train/threads.py), which every
    step that runs a model does first."""
    apply_threads()
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device '{name}'", hint="e.g. --device cpu or --device cuda:0") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device '{name}' is not available: no CUDA GPU here", hint="use --device cpu")
    return device


def cpuinfo_flags(text: str) -> frozenset[str]:
    """Every CPU feature flag named on a `flags` (x86) or `Features` (Arm) line of /proc/cpuinfo."""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def _torch_reports_native_bf16() -> bool:
    # torch's own CPUID probes (torch >= 2.1; private, so guarded). get_cpu_capability()
    # only says "AVX512", which Skylake-X also reports without any bf16 instruction.
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        return any(probe() for probe in probes if callable(probe))
    except RuntimeError:
        return False


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively: torch's CPUID probes, else /proc/cpuinfo."""
    if _torch_reports_native_bf16():
        return True
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        return False
    return bool(cpuinfo_flags(text) & NATIVE_BF16_FLAGS)


def _bf16_is_fast(device: torch.device) -> bool:
    if device.type == "cuda":
        return True
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` when `enabled` (CUDA or CPU), else a no-op context.
    Under it, matrix products and convolutions run in bf16; callers compute losses and
    statistics from `.float()` outputs."""
    if enabled and device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class SpeedSwitches:
    amp: bool  # bf16 autocast
    channels_last: bool
    compile: bool

    @classmethod
    def for_device(cls, device: torch.device, *, amp: bool | None = None, channels_last: bool | None = None,
                   compile: bool | None = None) -> SpeedSwitches:
        """The defaults for `device` with explicit choices (True/False) taking precedence.
        bf16 autocast exists on CUDA and CPU only; an explicit `amp=True` elsewhere is off."""
        fast = _bf16_is_fast(device)
        return cls(
            amp=(fast if amp is None else amp) and device.type in ("cuda", "cpu"),
            channels_last=fast if channels_last is None else channels_last,
            compile=device.type == "cuda" if compile is None else compile,
        )

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        return autocast(device, self.amp)

    def for_model(self, model: torch.nn.Module, device: torch.device) -> SpeedSwitches:
        """These switches for `model` on `device`: channels_last off on a CPU where the model
        has a convolution that oneDNN mishandles in that layout (`cpu_channels_last_hazard`)."""
        if not (self.channels_last and device.type == "cpu"):
            return self
        hazard = cpu_channels_last_hazard(model)
        if hazard is None:
            return self
        log.warning("channels_last is off for this model on the CPU: oneDNN corrupts memory in the backward "
                    "pass of its %s", hazard)
        return replace(self, channels_last=False)


def cpu_channels_last_hazard(model: torch.nn.Module) -> str | None:
    """A convolution whose channels_last backward pass crashes oneDNN on the CPU, or None.

    Seen with torch 2.14.1 on AVX-512 (BENCHMARKS.md): a 1×1 convolution with stride > 1 and
    3 to 15 input channels, in channels_last, with an odd batch size, corrupts the heap in
    its backward pass (segfaults, "double free"); 16 or more input channels, stride 1, even
    batches and the contiguous layout are fine, and gradients elsewhere match the contiguous
    ones exactly. Such layers are ResNet shortcuts at widths below 0.25, i.e. tiny test
    models; at full width there are none. Checked conservatively: any such layer."""
    for name, module in model.named_modules():
        if (isinstance(module, torch.nn.Conv2d) and module.kernel_size == (1, 1)
                and max(module.stride) > 1 and module.in_channels < 16):
            return f"1×1 stride-{max(module.stride)} convolution {name} with {module.in_channels} input channels"
    return None
