"""`unlearn pretrain` under `torchrun --nproc_per_node 2` (gloo on CPU) against one process.

The ranks each take their half of every global batch; with the GroupNorm `cnn` (per-sample
normalisation) and gradients averaged by DDP, two ranks compute what one process computes on
the whole batch, so the final weights and the difficulty record must agree up to float
rounding (the order of the gradient sums differs). Both runs are real CLI subprocesses,
started together so the test stays short on a small machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist

from tests.steps.pipeline import prepared
from unlearn_cli.artifacts import Workspace, load_table, load_tensors

pytestmark = pytest.mark.subprocess

EPOCHS = 2
TIMEOUT_S = 240  # generous: the pair normally finishes in ~20 s; a hang must not stall CI


def _gloo_missing_reason() -> str | None:
    if not dist.is_available():
        return "this torch build has no torch.distributed"
    if not dist.is_gloo_available():
        return "this torch build has no gloo backend"
    return None


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pretrain_args(ws: Workspace, name: str) -> list[str]:
    # fp32 and the contiguous layout on every CPU: the two runs agree "up to float rounding"
    # only in fp32. Under bf16 autocast (the default on CPUs with native bf16) a half batch
    # and a whole batch may take different kernels whose fp32 differences bf16 rounding then
    # magnifies to ~1e-2 in the loss.
    return ["-m", "unlearn_cli", "pretrain", "--workspace", str(ws.root), "--model", "cnn", "--width", "0.5",
            "--epochs", str(EPOCHS), "--device", "cpu", "--name", name, "--no-amp", "--no-channels-last"]


def _torchrun_args(port: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
            "--master_addr", "127.0.0.1", "--master_port", str(port)]


@pytest.fixture(scope="module")
def ddp_and_single(tmp_path_factory) -> tuple[Workspace, subprocess.CompletedProcess, subprocess.CompletedProcess]:
    reason = _gloo_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    ws = prepared(tmp_path_factory.mktemp("ddp") / "ws")
    # One thread per process: two ranks plus the single run share a small machine, and
    # oversubscribed OpenMP threads would make the test many times slower.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNLEARN_DEBUG": "1"}
    env.pop("UNLEARN_WORKSPACE", None)
    procs = {
        "ddp": subprocess.Popen([*_torchrun_args(_free_loopback_port()), *_pretrain_args(ws, "ddp")],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        "single": subprocess.Popen([sys.executable, *_pretrain_args(ws, "single")],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    }
    done = {}
    try:
        for key, proc in procs.items():
            out, err = proc.communicate(timeout=TIMEOUT_S)
            done[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return ws, done["ddp"], done["single"]


@pytest.mark.slow
def test_both_runs_succeed_and_only_rank_0_prints(ddp_and_single):
    ws, ddp, single = ddp_and_single
    assert single.returncode == 0, single.stderr[-3000:]
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    manifest = str(ws.manifest_path("model", "ddp"))
    lines = ddp.stdout.splitlines()
    assert lines.count(manifest) == 1, ddp.stdout
    assert ddp.stdout.count(manifest) == 1, ddp.stdout
    assert single.stdout.strip() == str(ws.manifest_path("model", "single"))
    # The epoch checkpoint is rank 0's and is removed once the model is written.
    assert not ws.ckpt_path("ddp", ".resume").exists()


def test_manifest_records_the_world_size(ddp_and_single):
    ws, _, _ = ddp_and_single
    ddp, single = ws.read("model", "ddp"), ws.read("model", "single")
    assert ddp.config["world_size"] == 2
    assert single.config["world_size"] == 1
    # Same global batches: the step count does not halve under DDP.
    assert ddp.config["steps_per_epoch"] == single.config["steps_per_epoch"]
    assert ddp.summary["steps"] == single.summary["steps"] == EPOCHS * single.config["steps_per_epoch"]
    # The reported loss is the global batch's (averaged over ranks), not rank 0's half.
    assert ddp.summary["final_loss"] == pytest.approx(single.summary["final_loss"], rel=1e-4, abs=1e-5)


def test_weights_equal_single_process(ddp_and_single):
    ws, _, _ = ddp_and_single
    ddp, single = ws.read("model", "ddp"), ws.read("model", "single")
    init_ddp = load_tensors(ws.abs(ddp.files["init"].path))
    init_single = load_tensors(ws.abs(single.files["init"].path))
    assert init_ddp.keys() == init_single.keys()
    for key in init_ddp:
        assert torch.equal(init_ddp[key], init_single[key]), key
    final_ddp = load_tensors(ws.abs(ddp.files["weights"].path))
    final_single = load_tensors(ws.abs(single.files["weights"].path))
    assert final_ddp.keys() == final_single.keys()
    # Training moved the weights, so equality below is not the trivial init == init.
    assert any(not torch.equal(final_single[k], init_single[k]) for k in final_single)
    for key in final_ddp:
        torch.testing.assert_close(final_ddp[key], final_single[key], rtol=1e-5, atol=1e-5, msg=key)
    # Observed on a 2-core CPU: max |Δ| ≈ 1.2e-7 (float32 rounding of the gradient all-reduce).


def test_difficulty_record_equals_single_process(ddp_and_single):
    ws, _, _ = ddp_and_single
    ddp = load_table(ws.abs(ws.read("model", "ddp").files["difficulty"].path))
    single = load_table(ws.abs(ws.read("model", "single").files["difficulty"].path))
    assert ddp.num_rows == single.num_rows
    col = lambda table, name: table.column(name).to_numpy()  # noqa: E731
    np.testing.assert_array_equal(col(ddp, "index"), col(single, "index"))
    # Every row was counted once per epoch it was visited, by exactly one rank.
    np.testing.assert_array_equal(col(ddp, "epochs_seen"), col(single, "epochs_seen"))
    assert col(ddp, "epochs_seen").sum() > 0
    # Exactly equal in practice; a logit near-tie could flip one view's argmax under the
    # ~1e-7 weight differences, so allow a few rows off by one epoch's share.
    wrong_gap = np.abs(col(ddp, "misclassified_fraction") - col(single, "misclassified_fraction"))
    assert (wrong_gap > 1e-9).mean() <= 0.01, wrong_gap.max()
    assert wrong_gap.max() <= 1 / EPOCHS + 1e-9
    np.testing.assert_allclose(col(ddp, "mean_loss"), col(single, "mean_loss"), rtol=1e-4, atol=1e-5)
