"""The speed switches: CPU bf16 detection, the defaults per device, explicit flags, and what
the manifests record. The detector is monkeypatched, so these tests mean the same on a CPU
with native bf16 and on one without."""

from __future__ import annotations

import pytest
import torch

from unlearn_cli.train import device as device_module
from unlearn_cli.train.device import SpeedSwitches, autocast, cpu_has_native_bf16, cpuinfo_flags

CPU = torch.device("cpu")

ZEN4_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu vme sse2 avx2 avx512f avx512bw avx512_bf16 avx512vl
processor\t: 1
flags\t\t: fpu vme sse2 avx2 avx512f avx512bw avx512_bf16 avx512vl
"""
SKYLAKE_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512vl\n"
SAPPHIRE_RAPIDS_CPUINFO = "processor\t: 0\nflags\t\t: avx512f amx_bf16 amx_tile amx_int8\n"
ARM_CPUINFO = "processor\t: 0\nFeatures\t: fp asimd evtstrm bf16 i8mm\n"


def test_cpuinfo_flags_reads_x86_flags_and_arm_features():
    assert {"avx512_bf16", "avx512f", "fpu"} <= cpuinfo_flags(ZEN4_CPUINFO)
    assert "vendor_id" not in cpuinfo_flags(ZEN4_CPUINFO) and "AuthenticAMD" not in cpuinfo_flags(ZEN4_CPUINFO)
    assert {"bf16", "asimd"} <= cpuinfo_flags(ARM_CPUINFO)
    assert cpuinfo_flags("") == frozenset()


@pytest.fixture
def detector(monkeypatch, tmp_path):
    """Point the detector at a fake /proc/cpuinfo with torch's own probes silenced."""
    monkeypatch.setattr(device_module, "_torch_reports_native_bf16", lambda: False)

    def use(text: str | None) -> bool:
        path = tmp_path / "cpuinfo"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)
        monkeypatch.setattr(device_module, "CPUINFO", path)
        cpu_has_native_bf16.cache_clear()
        return cpu_has_native_bf16()

    yield use
    cpu_has_native_bf16.cache_clear()


@pytest.mark.parametrize(("text", "native"), [
    (ZEN4_CPUINFO, True),
    (SAPPHIRE_RAPIDS_CPUINFO, True),
    (SKYLAKE_CPUINFO, False),  # AVX512 without any bf16 instruction: emulated bf16 would be slower
    (ARM_CPUINFO, False),  # not measured on Arm: stays fp32
    (None, False),  # no /proc/cpuinfo (macOS, Windows) and torch's probes say no
])
def test_detection_from_cpuinfo(detector, text, native):
    assert detector(text) is native


def test_torch_probes_win_without_cpuinfo(monkeypatch, tmp_path):
    monkeypatch.setattr(device_module, "_torch_reports_native_bf16", lambda: True)
    monkeypatch.setattr(device_module, "CPUINFO", tmp_path / "missing")
    cpu_has_native_bf16.cache_clear()
    try:
        assert cpu_has_native_bf16() is True
    finally:
        cpu_has_native_bf16.cache_clear()


def test_this_machine_agrees_with_its_cpuinfo():
    # Whatever machine runs the tests: the detector says what /proc/cpuinfo (or torch) says.
    cpu_has_native_bf16.cache_clear()
    try:
        flags = cpuinfo_flags(device_module.CPUINFO.read_text()) if device_module.CPUINFO.exists() else frozenset()
        if flags & device_module.NATIVE_BF16_FLAGS:
            assert cpu_has_native_bf16()
    finally:
        cpu_has_native_bf16.cache_clear()


def _native(monkeypatch, value: bool) -> None:
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: value)


def test_cpu_defaults_with_native_bf16(monkeypatch):
    _native(monkeypatch, True)
    assert SpeedSwitches.for_device(CPU) == SpeedSwitches(amp=True, channels_last=True, compile=False)


def test_cpu_defaults_without_native_bf16_keep_fp32(monkeypatch):
    _native(monkeypatch, False)
    assert SpeedSwitches.for_device(CPU) == SpeedSwitches(amp=False, channels_last=False, compile=False)


@pytest.mark.parametrize("native", [True, False])
def test_explicit_choices_win_on_cpu(monkeypatch, native):
    _native(monkeypatch, native)
    off = SpeedSwitches.for_device(CPU, amp=False, channels_last=False)
    assert off == SpeedSwitches(amp=False, channels_last=False, compile=False)
    on = SpeedSwitches.for_device(CPU, amp=True, channels_last=True, compile=True)
    assert on == SpeedSwitches(amp=True, channels_last=True, compile=True)
    only_amp_off = SpeedSwitches.for_device(CPU, amp=False)
    assert only_amp_off.amp is False and only_amp_off.channels_last is native


def test_cuda_defaults_everything_on(monkeypatch):
    _native(monkeypatch, False)  # the CPU's bf16 does not matter for a GPU
    assert SpeedSwitches.for_device(torch.device("cuda")) == SpeedSwitches(amp=True, channels_last=True, compile=True)
    assert SpeedSwitches.for_device(torch.device("cuda"), compile=False).compile is False


def test_amp_is_off_where_bf16_autocast_does_not_exist(monkeypatch):
    _native(monkeypatch, True)
    switches = SpeedSwitches.for_device(torch.device("meta"), amp=True)
    assert switches.amp is False


def test_autocast_context_runs_bf16_matmuls_on_cpu():
    layer = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with autocast(CPU, True):
        assert layer(x).dtype == torch.bfloat16
    with autocast(CPU, False):
        assert layer(x).dtype == torch.float32
    with SpeedSwitches(amp=True, channels_last=False, compile=False).autocast(CPU):
        assert layer(x).dtype == torch.bfloat16
    assert layer(x).dtype == torch.float32  # off again after the block


def test_channels_last_hazard_finds_small_strided_1x1_convolutions():
    from unlearn_cli.models import build_model
    from unlearn_cli.train.device import cpu_channels_last_hazard

    tiny = build_model("resnet18", channels=3, image_size=32, num_classes=10, width=0.125)  # 8→16 shortcut
    assert "layer2.0.shortcut.0" in cpu_channels_last_hazard(tiny)
    for width in (0.25, 1.0):  # 16 or more input channels: safe
        assert cpu_channels_last_hazard(build_model("resnet18", channels=3, image_size=32, num_classes=10,
                                                    width=width)) is None
    assert cpu_channels_last_hazard(torch.nn.Conv2d(8, 16, 3, stride=2)) is None  # 3×3: safe
    assert cpu_channels_last_hazard(torch.nn.Conv2d(8, 16, 1, stride=1)) is None  # stride 1: safe


def test_for_model_turns_channels_last_off_only_where_needed(monkeypatch):
    from unlearn_cli.models import build_model

    _native(monkeypatch, True)
    tiny = build_model("resnet18", channels=3, image_size=32, num_classes=10, width=0.0625)
    safe = build_model("cnn", channels=1, image_size=8, num_classes=10, width=0.5)
    on = SpeedSwitches.for_device(CPU)
    assert on.for_model(tiny, CPU) == SpeedSwitches(amp=True, channels_last=False, compile=False)
    assert on.for_model(safe, CPU) == on
    cuda = SpeedSwitches.for_device(torch.device("cuda"))
    assert cuda.for_model(tiny, torch.device("cuda")) == cuda  # a oneDNN (CPU) bug only
    off = SpeedSwitches.for_device(CPU, channels_last=False)
    assert off.for_model(tiny, CPU) is off
