"""The contract every registered method keeps, parametrised over the registry: a new method is
tested the moment it is registered.

Same architecture out with finite weights; the same seed gives the same bytes; a run
interrupted after an epoch checkpoint and resumed ends bit-identical (methods that train)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.methods.runs import FORGET, SHORT, run
from unlearn_cli.artifacts import load_table, load_tensors
from unlearn_cli.methods import METHODS
from unlearn_cli.train.checkpoint import Checkpointer
from unlearn_cli.train.options import GenericOptions

NAMES = METHODS.names()
TRAINING = [name for name, spec in METHODS.items() if spec.trains]


def _short(method: str) -> GenericOptions:
    return SHORT if METHODS.get(method).trains else GenericOptions()


@pytest.mark.slow
@pytest.mark.parametrize("method", NAMES)
def test_same_architecture_finite_weights_and_a_complete_manifest(mws, method):
    manifest = run(mws, method, generic=_short(method))
    original = load_tensors(mws.abs(mws.read("model", "digits-cnn-s0").files["weights"].path))
    weights = load_tensors(mws.abs(manifest.files["weights"].path))
    assert {k: v.shape for k, v in weights.items()} == {k: v.shape for k, v in original.items()}
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    assert set(manifest.parents) == {"model", "forget"}
    assert manifest.config["method"] == method and manifest.config["forget"] == FORGET
    assert manifest.config["params"] == {k: (list(v) if isinstance(v, tuple) else v)
                                         for k, v in vars(METHODS.get(method).params()).items()}
    assert manifest.summary["wall_seconds"] > 0
    if METHODS.get(method).trains:
        assert manifest.summary["steps"] > 0 and manifest.summary["epochs"] == 2
        assert math.isfinite(manifest.summary["final_loss"])
        # Its training curve: one row per epoch, the last at the run's last step.
        epochs = [row for row in _history(mws, manifest) if row["scope"] == "epoch"]
        assert [row["epoch"] for row in epochs] == [1, 2]
        assert epochs[-1]["step"] == manifest.summary["steps"]
    else:
        assert "history" not in manifest.files  # nothing trained, no curve


def _history(ws, manifest):
    return load_table(ws.abs(manifest.files["history"].path)).to_pylist()


@pytest.mark.slow
@pytest.mark.parametrize("method", NAMES)
def test_same_seed_same_bytes(mws, method):
    a = run(mws, method, name="a", generic=_short(method))
    b = run(mws, method, name="b", generic=_short(method))
    assert a.files["weights"].sha256 == b.files["weights"].sha256


@pytest.mark.slow
@pytest.mark.parametrize("method", TRAINING)
def test_interrupted_after_a_checkpoint_then_resumed_is_bit_identical(mws, method, monkeypatch):
    generic = GenericOptions(epochs=3)
    full = run(mws, method, name="full", generic=generic)

    real_save = Checkpointer.save

    def save_then_die(self, state):
        real_save(self, state)
        raise KeyboardInterrupt  # killed right after the first epoch checkpoint

    monkeypatch.setattr(Checkpointer, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(mws, method, name="killed", generic=generic)
    monkeypatch.setattr(Checkpointer, "save", real_save)
    assert not mws.manifest_path("unlearned", "killed").exists()
    assert mws.ckpt_path("killed", ".resume", kind="unlearned").exists()

    resumed = run(mws, method, name="killed", generic=generic, resume=True)
    assert resumed.files["weights"].sha256 == full.files["weights"].sha256
    assert resumed.summary["steps"] == full.summary["steps"]
    # The curve survives the kill: the resumed run's is the uninterrupted run's.
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in _history(mws, resumed)] == \
        [{k: v for k, v in row.items() if k != "seconds"} for row in _history(mws, full)]
    assert not mws.ckpt_path("killed", ".resume", kind="unlearned").exists()


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_is_bit_identical(mws):
    """A real SIGKILL of a SCRUB run (two kinds of passes per epoch) in a subprocess."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def cmd(name, *extra):
        return [sys.executable, "-m", "unlearn_cli", "unlearn", "--workspace", str(mws.root), "--method", "scrub",
                "--forget", FORGET, "--epochs", "40", "--device", "cpu", "--name", name, *extra]

    subprocess.run(cmd("full"), check=True, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    resume_file = mws.ckpt_path("killed", ".resume", kind="unlearned")
    proc = subprocess.Popen(cmd("killed"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not resume_file.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.1)  # now mid-way through a later epoch
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not mws.manifest_path("unlearned", "killed").exists()

    done = subprocess.run(cmd("killed", "--resume"), env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(mws.manifest_path("unlearned", "killed"))
    assert mws.read("unlearned", "killed").files["weights"].sha256 == mws.read("unlearned", "full").files["weights"].sha256
