"""benchmarks/gpu.sh, the prepared GPU benchmark, runs end to end on the CPU with tiny sizes
(`--device cpu --smoke`), writes its JSON and log under $OUT, and fails fast, with a clear
message, when something it needs is missing. No timing claims."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from unlearn_cli.methods import METHODS

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]  # one smoke run of gpu.sh (a minute) serves every test

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu.sh"


def _run(*args: str, out: Path | None, python: str = sys.executable, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": python, "OMP_NUM_THREADS": "1"}
    env.pop("OUT", None)
    if out is not None:
        env["OUT"] = str(out)
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=REPO)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-out")
    return out, _run("--device", "cpu", "--smoke", out=out)


def test_smoke_run_writes_every_file_and_a_complete_summary(smoke):
    out, done = smoke
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    names = {p.name for p in out.iterdir()}
    assert names == {"env.json", "throughput.json", "evaluate.json", "natmu.json", "methods.json", "summary.json",
                     "gpu.log"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env"]["device"] == "cpu"
    assert {name: s["status"] for name, s in summary["stages"].items()} == {
        "throughput": "ok", "evaluate": "ok", "natmu": "ok", "methods": "ok"}
    assert summary["throughput"]["ours_images_per_second"] > 0 and summary["throughput"]["ratio_ours_over_reference"] > 0
    assert summary["evaluate"]["best_seconds"] > 0
    natmu = summary["natmu_recipe"]
    assert natmu["complete"] and natmu["recipe"] == "natmu" and natmu["epochs"] == 1 and natmu["images_per_second"] > 0
    assert summary["methods_setting"]["recipe"] == "natmu" and summary["methods_setting"]["pretrain_epochs"] == 1
    methods = {m["method"]: m for m in summary["methods"]}
    assert set(methods) == set(METHODS.names())  # every registered method, timed
    assert methods["retrain"]["rte"] == 1.0 and all(m["wall_seconds"] > 0 for m in methods.values())
    assert all(m["rte_vs_full_recipe_retrain"] > 0 for m in methods.values())


def test_the_log_holds_what_was_printed(smoke):
    out, done = smoke
    log = (out / "gpu.log").read_text()
    assert "stage throughput" in log and "stage methods" in log and "gpu.sh: done" in log
    assert "pretrain " in log and "epoch 1 step" in log  # the plain per-epoch progress lines


def test_fails_fast_without_out():
    done = _run("--device", "cpu", "--smoke", out=None)
    assert done.returncode == 1
    assert "OUT is not set" in done.stderr


def test_fails_fast_without_a_gpu_when_cuda_is_asked(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = _run("--smoke", out=tmp_path / "out")
    assert done.returncode == 1
    assert "sees no CUDA GPU" in done.stdout + done.stderr
    assert not (tmp_path / "out" / "summary.json").exists()


def test_fails_fast_naming_missing_packages(tmp_path):
    # A Python without site-packages: torch and the rest are missing, and no wheels are carried.
    shim = tmp_path / "bare-python"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    shim.chmod(0o755)
    if (REPO / ".whl").exists():
        pytest.skip("this checkout carries wheels in .whl/")
    done = _run("--device", "cpu", "--smoke", out=tmp_path / "out", python=str(shim))
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "missing Python packages: torch" in output and ".whl" in output


@pytest.mark.parametrize(("args", "message"), [
    (["--frobnicate"], "unknown option '--frobnicate'"),
    (["--stages", "throughput nonsense"], "unknown stage 'nonsense'"),
    (["--methods-pretrain-epochs", "0"], "--methods-pretrain-epochs must be a positive whole number"),
    (["--budget", "soon"], "--budget must be a whole number"),
    (["--audit-models", "many"], "--audit-models must be a whole number"),
    (["--device", "tpu"], "--device must be cuda, cuda:N or cpu"),
])
def test_bad_options(tmp_path, args, message):
    done = _run(*args, out=tmp_path / "out")
    assert done.returncode in (1, 2)
    assert message in done.stderr


def test_missing_python_is_named(tmp_path):
    done = _run("--device", "cpu", "--smoke", out=tmp_path / "out", python="no-such-python-3")
    assert done.returncode == 1
    assert "no Python: 'no-such-python-3'" in done.stdout + done.stderr


def test_summary_reads_a_cut_short_stage_from_the_log(tmp_path):
    """A stage stopped by its time limit leaves no JSON; the summary reports its progress lines."""
    from benchmarks.gpu_summary import summarise

    (tmp_path / ".status").write_text("natmu timed_out 180\nmethods timed_out 90\n")
    (tmp_path / "gpu.log").write_text("\n".join([
        "gpu.sh: stage natmu (at most 180s): python -m benchmarks.recipe_run",
        "pretrain recipe-run: epoch 1 step 390/39000 loss 2.3 lr 0.05 images/s 20000.0 elapsed 30.0s",
        "pretrain recipe-run: epoch 2 step 780/39000 loss 2.3 lr 0.1 images/s 25000.0 elapsed 50.0s",
        "gpu.sh: stage natmu ran out of its 180s",
        "gpu.sh: stage methods (at most 90s): python -m benchmarks.methods",
        "retrain               40.00 s    3510 steps",
        "finetune               4.00 s     351 steps",
        "pretrain other: epoch 1 step 1/2 loss 1 lr 1 images/s 1 elapsed 1.0s",
    ]) + "\n")
    summary = summarise(tmp_path)
    natmu = summary["natmu_recipe"]
    assert not natmu["complete"] and natmu["epochs_done"] == 2 and natmu["steps_done"] == 780
    assert natmu["images_per_second_so_far"] == pytest.approx(780 * 128 / 50.0)  # natmu's batch is 128
    assert natmu["projected_wall_seconds"] == pytest.approx(39000 / 780 * 50.0)
    methods = {m["method"]: m for m in summary["methods"]}
    assert methods["finetune"]["rte"] == pytest.approx(10.0)
    assert methods["finetune"]["rte_vs_full_recipe_retrain"] == pytest.approx(0.9 * 2500.0 / 4.0)
    assert summary["stages"]["natmu"] == {"status": "timed_out", "seconds": 180}
