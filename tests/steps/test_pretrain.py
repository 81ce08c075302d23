"""`pretrain`: artifacts, determinism, resume after SIGKILL, and every user error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import assert_one_line_error
from tests.steps.pipeline import TINY, copy_workspace, prepared, pretrained
from unlearn_cli.artifacts import load_table, load_tensors
from unlearn_cli.data.prepared import load_split


def test_pretrain_writes_every_artifact(trained_workspace):
    ws = trained_workspace
    manifest = ws.read("model", "digits-cnn-s0")
    assert set(manifest.files) == {"weights", "init", "difficulty", "history"}
    assert manifest.parents["dataset"].path == "manifests/dataset/digits.json"
    assert manifest.summary["test_accuracy"] > 90
    assert manifest.summary["wall_seconds"] > 0
    assert manifest.config["recipe"]["name"] == "fast"
    init = load_tensors(ws.abs(manifest.files["init"].path))
    final = load_tensors(ws.abs(manifest.files["weights"].path))
    assert init.keys() == final.keys()
    assert any(not torch.equal(init[k], final[k]) for k in init)
    difficulty = load_table(ws.abs(manifest.files["difficulty"].path))
    n_train = len(load_split(ws, ws.read("dataset", "digits"), "train"))
    assert difficulty.num_rows == n_train
    assert difficulty.column_names == ["index", "misclassified_fraction", "mean_loss", "epochs_seen"]
    fractions = difficulty.column("misclassified_fraction").to_numpy()
    assert ((0 <= fractions) & (fractions <= 1)).all() and fractions.max() > 0
    # drop_last: every row is seen in most epochs, none more often than there are epochs
    seen = difficulty.column("epochs_seen").to_numpy()
    assert seen.max() <= TINY["epochs"] and seen.mean() > TINY["epochs"] * 0.9


@pytest.mark.slow
def test_same_seed_gives_identical_weights_and_difficulty(trained_workspace, tmp_path):
    ws = copy_workspace(trained_workspace, tmp_path / "ws")
    pretrained(ws, name="again")
    a, b = ws.read("model", "digits-cnn-s0"), ws.read("model", "again")
    for role in ("weights", "init", "difficulty"):
        assert a.files[role].sha256 == b.files[role].sha256, role


def test_other_seed_differs(trained_workspace, tmp_path):
    ws = copy_workspace(trained_workspace, tmp_path / "ws")
    pretrained(ws, seed=1, epochs=1)
    assert ws.read("model", "digits-cnn-s1").files["init"].sha256 != \
        ws.read("model", "digits-cnn-s0").files["init"].sha256


def _pretrain_cmd(ws, *extra):
    return [sys.executable, "-m", "unlearn_cli", "pretrain", "--workspace", str(ws.root), "--model", "cnn",
            "--width", "0.5", "--device", "cpu", "--epochs", "30", *extra]


@pytest.mark.slow
def test_sigkill_then_resume_is_bit_identical(tmp_path):
    ws = prepared(tmp_path / "ws")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_pretrain_cmd(ws, "--name", "full"), check=True, env=env, capture_output=True)

    resume_file = ws.ckpt_path("killed", ".resume")
    proc = subprocess.Popen(_pretrain_cmd(ws, "--name", "killed"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not resume_file.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.15)  # now mid-way through a later epoch
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not ws.manifest_path("model", "killed").exists()
    assert resume_file.exists()

    # Started again without --resume, the run says so instead of writing over the checkpoint.
    refused = subprocess.run(_pretrain_cmd(ws, "--name", "killed"), env=env, capture_output=True, text=True)
    assert refused.returncode == 1 and "left its checkpoint" in refused.stderr and "--resume" in refused.stderr
    assert resume_file.exists()

    done = subprocess.run(_pretrain_cmd(ws, "--name", "killed", "--resume"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(ws.manifest_path("model", "killed"))
    full, resumed = ws.read("model", "full"), ws.read("model", "killed")
    assert full.files["weights"].sha256 == resumed.files["weights"].sha256
    assert full.files["difficulty"].sha256 == resumed.files["difficulty"].sha256
    # The training curve survived the kill too: the uninterrupted run's, but for the seconds.
    curves = [load_table(ws.abs(m.files["history"].path)).drop_columns(["seconds"]) for m in (full, resumed)]
    assert curves[0].equals(curves[1])
    assert not resume_file.exists()  # removed once the run is complete


def test_pretrain_cli_prints_only_the_manifest_path(cli):
    assert cli("prepare-data").exit_code == 0
    result = cli("pretrain", "--width", "0.25", "--epochs", "1", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    path = cli.workspace.manifest_path("model", "digits-cnn-w0.25-e1-s0")  # the default name says what differs
    assert result.stdout == f"{path}\n"
    assert json.loads(path.read_text())["kind"] == "model"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--model", "resnet1000"], ["unknown model 'resnet1000'", "resnet18"]),
        (["--recipe", "slow"], ["unknown recipe 'slow'", "natmu"]),
        (["--model", "vgg16"], ["vgg16 needs images of at least 32×32", "digits has 8×8"]),
        (["--dataset", "cifar10"], ["no dataset 'cifar10'"]),
        (["--lr", "-1"], ["--lr must be positive"]),
        (["--epochs", "1", "--steps", "3"], ["exclude each other"]),
        (["--resume"], ["nothing to resume"]),
        (["--device", "cuda:3"], ["not available"]),
        (["--name", "../x"], ["invalid artifact name"]),
        (["--width", "0"], ["--width must be positive"]),
        (["--device", "tpu:9"], ["unknown device 'tpu:9'"]),
        (["--manipulation", "ghost"], ["no forget-set 'ghost'"]),
    ],
)
def test_pretrain_user_errors(trained_ws, cli, args, fragments):
    cli.workspace = trained_ws
    result = cli("pretrain", "--width", "0.25", "--epochs", "1", "--name", "other", *args)
    assert_one_line_error(result, *fragments)
    assert not trained_ws.manifest_path("model", "other").exists()


def test_existing_model_needs_force(trained_ws, cli):
    cli.workspace = trained_ws
    result = cli("pretrain", "--width", "0.5", "--epochs", "1", "--name", "digits-cnn-s0")
    assert_one_line_error(result, "model 'digits-cnn-s0' exists already", "--force")


def test_corrupt_dataset_manifest(trained_ws, cli):
    cli.workspace = trained_ws
    trained_ws.manifest_path("dataset", "digits").write_text("{broken")
    assert_one_line_error(cli("pretrain", "--epochs", "1", "--name", "x"), "is not valid JSON")


@pytest.mark.slow
def test_changed_settings_refuse_resume(tmp_path):
    ws = prepared(tmp_path / "ws")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_pretrain_cmd(ws, "--name", "r"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    resume_file = ws.ckpt_path("r", ".resume")
    deadline = time.monotonic() + 120
    while not resume_file.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    result = subprocess.run(_pretrain_cmd(ws, "--name", "r", "--resume", "--lr", "0.3"), env=env,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "settings changed" in result.stderr and "Traceback" not in result.stderr


def test_nan_loss_is_a_clear_error(trained_ws, cli):
    cli.workspace = trained_ws
    result = cli("pretrain", "--width", "0.5", "--epochs", "2", "--lr", "1e12", "--name", "boom", "--device", "cpu")
    assert_one_line_error(result, "the loss became", "at step", "lr ")


def test_manipulation_must_be_a_manipulation_of_this_dataset(trained_ws, cli, tmp_path):
    from tests.fixtures.formats import write_cifar10

    cli.workspace = trained_ws
    assert cli("make-forget-set", "--model", "digits-cnn-s0", "--per", "10", "--name", "plain").exit_code == 0
    assert_one_line_error(cli("pretrain", "--epochs", "1", "--name", "x", "--manipulation", "plain"),
                          "without a manipulation", "--manipulation poison")
    assert cli("prepare-data", "--dataset", "cifar10", "--source", str(write_cifar10(tmp_path / "c"))).exit_code == 0
    assert cli("make-forget-set", "--dataset", "cifar10", "--manipulation", "poison", "--size", "4",
               "--name", "c10poison").exit_code == 0
    assert_one_line_error(cli("pretrain", "--dataset", "digits", "--epochs", "1", "--name", "x",
                              "--manipulation", "c10poison"),
                          "made for another dataset than digits")
    # Without --dataset, the manipulation names its own dataset.
    result = cli("pretrain", "--epochs", "1", "--width", "0.25", "--name", "y", "--manipulation", "c10poison")
    assert result.exit_code == 0, result.stderr
    assert trained_ws.read("model", "y").config["dataset"] == "cifar10"


def test_resume_checkpoint_is_removed_before_the_name_is_unlocked(trained_ws, monkeypatch):
    """Once the model's lock is released another run of the name may start and write its own
    checkpoints; this run must have removed its checkpoint before that, not after."""
    from unlearn_cli.artifacts import lock

    checkpoint = trained_ws.ckpt_path("digits-cnn-s9", ".resume")
    seen_at_release: list[bool] = []
    real_release = lock.release

    def release(path):
        if path == trained_ws.lock_path("model", "digits-cnn-s9"):
            seen_at_release.append(checkpoint.exists())
        real_release(path)

    monkeypatch.setattr(lock, "release", release)
    pretrained(trained_ws, seed=9, epochs=2)  # 2 epochs: a checkpoint is written after the first
    assert seen_at_release == [False]
    assert not checkpoint.exists()


def test_default_names_say_what_makes_a_model_differ():
    from unlearn_cli.steps.options import PretrainOptions

    def name(**options):
        return PretrainOptions(dataset="digits", model=options.pop("model", "cnn"), **options).default_name("digits")

    assert name() == "digits-cnn-s0"
    assert name(width=0.25, epochs=6) == "digits-cnn-w0.25-e6-s0"
    assert name(recipe="natmu", seed=2) == "digits-cnn-natmu-s2"
    assert name(val_fraction=0.1, batch_size=512) == "digits-cnn-val0.1-b512-s0"
    assert name(drop_last=False, normalization="unit", lr=0.05) == "digits-cnn-lr0.05-keeplast-normunit-s0"
    variants = [{}, {"width": 0.5}, {"epochs": 3}, {"steps": 3}, {"lr": 0.1}, {"batch_size": 64},
                {"weight_decay": 0.0}, {"drop_last": True}, {"normalization": "unit"}, {"recipe": "natmu"},
                {"val_fraction": 0.1}, {"model": "resnet18"}]
    names = [name(**variant) for variant in variants]
    assert len(set(names)) == len(names), names  # no two different models share a default name
    # On a manipulated view the manipulation names the model, not the clean dataset.
    options = PretrainOptions(dataset=None, model="cnn", manipulation="digits-poison150-s0")
    assert options.default_name("digits-poison150-s0") == "digits-poison150-s0-cnn-s0"


@pytest.mark.slow
def test_a_model_pretrained_on_a_manipulation_is_named_after_it(cli):
    assert cli("prepare-data").exit_code == 0
    made = cli("make-forget-set", "--dataset", "digits", "--manipulation", "poison", "--size", "20", "--known", "1")
    assert made.exit_code == 0, made.stderr
    manipulation = cli.workspace.read("forget-set", made.stdout.strip()).name
    result = cli("pretrain", "--epochs", "1", "--width", "0.25", "--manipulation", manipulation)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().endswith(f"/{manipulation}-cnn-w0.25-e1-s0.json")
