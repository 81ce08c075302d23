"""Every mistake a user can make with `unlearn unlearn`: one red line with a hint, before any
training, and nothing left behind."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import assert_one_line_error
from tests.methods.runs import FORGET
from unlearn_cli.artifacts import Manifest, save_table
from unlearn_cli.forget.table import forget_table
from unlearn_cli.methods import METHODS


@pytest.fixture
def ucli(cli, mws):
    cli.workspace = mws
    return cli


def _nothing_written(ws):
    unlearned = ws.root / "manifests" / "unlearned"
    assert not unlearned.exists() or not any(unlearned.glob("*.json"))
    assert not any(p.name.startswith(FORGET) for p in (ws.root / "ckpt").rglob("*") if "resume" not in p.name)


@pytest.mark.parametrize(("args", "fragments"), [
    (["--method", "forgetful"], ["unknown method 'forgetful'", "retrain", "scrub"]),
    (["--method", "scrub", "--param", "alpah=1", "--param", "kd_T=hot", "--param", "msteps=1.5"],
     ["unknown parameter alpah", "kd_T='hot' is not a valid float", "msteps='1.5' is not a valid int",
      "valid parameters: kd_T (float)"]),
    (["--method", "scrub", "--param", "alpha"], ["--param 'alpha' is not key=value"]),
    (["--method", "finetune", "--param", "k=4"], ["k=4 is not a valid k for cnn", "choose k from 1, 2, 3"]),
    (["--method", "neggrad_plus", "--param", "alpha=2"], ["alpha=2.0 is outside [0, 1]"]),
    (["--method", "finetune", "--lr", "-1"], ["--lr must be positive"]),
    (["--method", "finetune", "--optimizer", "lion"], ["unknown optimizer 'lion'", "sgd, adam, adamw"]),
    (["--method", "finetune", "--epochs", "1", "--steps", "2"], ["exclude each other"]),
    (["--method", "finetune", "--preset", "natmu-imagenet"], ["unknown preset 'natmu-imagenet'", "natmu-cifar10"]),
    (["--method", "neggrad", "--preset", "natmu-cifar10"], ["preset natmu-cifar10 has no settings for method 'neggrad'",
                                                           "random_label"]),
    (["--method", "finetune", "--name", "bad/name"], ["invalid artifact name"]),
    (["--method", "finetune", "--name", ""], ["invalid artifact name ''"]),  # not the default name
])
def test_bad_options(ucli, args, fragments):
    assert_one_line_error(ucli("unlearn", "--forget", FORGET, *args), *fragments)
    _nothing_written(ucli.workspace)


def test_a_method_that_does_not_train_refuses_training_options(ucli):
    static = [name for name, spec in METHODS.items() if not spec.trains]
    if not static:
        pytest.skip("no registered method without training")
    assert_one_line_error(ucli("unlearn", "--method", static[0], "--forget", FORGET, "--lr", "0.1", "--epochs", "2"),
                          "--epochs, --lr do not apply", f"method '{static[0]}' does not train")
    assert_one_line_error(ucli("unlearn", "--method", static[0], "--forget", FORGET, "--resume"),
                          "--resume does not apply")
    _nothing_written(ucli.workspace)


def test_nothing_to_unlearn_without_model_forget_or_stdin(ucli):
    assert_one_line_error(ucli("unlearn", "--method", "finetune"), "nothing to unlearn: give --forget and/or --model")


def test_two_forget_sets_on_stdin(ucli):
    ws = ucli.workspace
    assert ucli("make-forget-set", "--model", "digits-cnn-s0", "--per", "1", "--name", "f1").exit_code == 0
    paths = f"{ws.manifest_path('forget-set', FORGET)}\n{ws.manifest_path('forget-set', 'f1')}\n"
    result = ucli.runner.invoke(__import__("unlearn_cli.cli.app", fromlist=["app"]).app,
                                ["unlearn", "--method", "finetune"], input=paths,
                                env={"UNLEARN_WORKSPACE": str(ws.root), "UNLEARN_DEBUG": "", "COLUMNS": "200"})
    assert_one_line_error(result, "stdin gave two manifests for --forget")


def test_forget_set_of_another_model(ucli):
    ws = ucli.workspace
    assert ucli("pretrain", "--width", "0.25", "--epochs", "1", "--seed", "1").exit_code == 0
    other = "digits-cnn-w0.25-e1-s1"
    assert_one_line_error(ucli("unlearn", "--method", "finetune", "--forget", FORGET, "--model", other),
                          f"forget set {FORGET} was made from another model than {other}")
    _nothing_written(ws)


def test_forget_set_of_another_dataset(ucli, tmp_path):
    from tests.fixtures.formats import write_cifar10

    assert ucli("prepare-data", "--dataset", "cifar10", "--source", str(write_cifar10(tmp_path / "c"))).exit_code == 0
    assert ucli("make-forget-set", "--dataset", "cifar10", "--fraction", "0.5", "--no-balance", "--name", "c10").exit_code == 0
    assert_one_line_error(ucli("unlearn", "--method", "finetune", "--forget", "c10", "--model", "digits-cnn-s0"),
                          "forget set c10 was made for another dataset than model digits-cnn-s0")


@pytest.mark.parametrize(("forget_all", "fragment"), [(False, "has an empty D_f"), (True, "leaves D_r empty")])
def test_empty_forget_or_retain_set(ucli, forget_all, fragment):
    """A forget-set artifact whose D_f or D_r is empty (written by hand: make-forget-set refuses both)."""
    ws = ucli.workspace
    good = ws.read("forget-set", FORGET)
    from unlearn_cli.artifacts import load_table

    table = load_table(ws.abs(good.files["index"].path))
    labels = table.column("label").to_numpy()
    mask = np.full(len(labels), forget_all)
    bad = forget_table(labels, mask, labels, np.zeros(len(labels), bool))
    path = ws.table_path("forget-set", "empty", "index")
    save_table(path, bad)
    ws.write(Manifest(kind="forget-set", name="empty", config=dict(good.config), parents=dict(good.parents),
                      files={"index": ws.file_ref(path)},
                      summary={"forget": int(mask.sum()), "retain": int((~mask).sum())}))
    assert_one_line_error(ucli("unlearn", "--method", "finetune", "--forget", "empty"), fragment)
    _nothing_written(ws)


def test_nan_loss_names_the_step_and_the_lr(ucli):
    result = ucli("unlearn", "--method", "neggrad", "--forget", FORGET, "--lr", "1e12", "--epochs", "20")
    assert_one_line_error(result, "the loss became", "at step", "(lr 1e+12)", "lower --lr")
    assert not ucli.workspace.manifest_path("unlearned", f"{FORGET}-neggrad-s0").exists()


def test_existing_name_needs_force(ucli):
    first = ucli("unlearn", "--method", "finetune", "--forget", FORGET, "--epochs", "1")
    assert first.exit_code == 0, first.stderr
    weights = ucli.workspace.ckpt_path(f"{FORGET}-finetune-s0", kind="unlearned")
    before = (weights.read_bytes(), weights.stat().st_mtime_ns)
    # The same request again: the run exists, so its path is the answer and nothing is redone.
    same = ucli("unlearn", "--method", "finetune", "--forget", FORGET, "--epochs", "1")
    assert same.exit_code == 0, same.stderr
    assert same.stdout == first.stdout
    assert (weights.read_bytes(), weights.stat().st_mtime_ns) == before
    # Other settings under the same name are refused.
    result = ucli("unlearn", "--method", "finetune", "--forget", FORGET, "--epochs", "2",
                  "--name", f"{FORGET}-finetune-s0")
    assert_one_line_error(result, f"unlearned '{FORGET}-finetune-s0' exists already", "made with other settings",
                          "--force")
    again = ucli("unlearn", "--method", "finetune", "--forget", FORGET, "--epochs", "1", "--force")
    assert again.exit_code == 0, again.stderr


def test_a_run_named_like_a_model_never_touches_the_models_weights(ucli):
    ws = ucli.workspace
    model = ws.read("model", "digits-cnn-s0")
    result = ucli("unlearn", "--method", "finetune", "--forget", FORGET, "--epochs", "1", "--name", "digits-cnn-s0")
    assert result.exit_code == 0, result.stderr
    assert ws.read("model", "digits-cnn-s0").files["weights"].sha256 == model.files["weights"].sha256
    assert ws.read("unlearned", "digits-cnn-s0").files["weights"].path == "ckpt/unlearned/digits-cnn-s0.safetensors"
