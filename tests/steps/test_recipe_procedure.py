"""What a recipe carries beside its optimiser: whether an epoch's last partial batch is kept, and
the input normalisation, which the model manifest records and every later pass over the model
uses; and evaluation in exact float32 unless asked otherwise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.conftest import assert_one_line_error
from tests.fixtures.formats import write_cifar10
from tests.steps.pipeline import pretrained
from unlearn_cli.artifacts import Workspace, load_table
from unlearn_cli.data.augment import normalize
from unlearn_cli.data.normalization import NATMU_CONSTANTS, resolve_normalization
from unlearn_cli.data.prepared import DatasetInfo, load_split
from unlearn_cli.steps.common import load_weights
from unlearn_cli.steps.evaluate import evaluate
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import EvaluateOptions, ForgetSetOptions, UnlearnOptions
from unlearn_cli.steps.unlearn import unlearn
from unlearn_cli.train.options import GenericOptions
from unlearn_cli.train.recipes import resolve_recipe


def test_the_reference_recipes_keep_the_last_partial_batch():
    # NatMU train_origin.py:56 and retrain.py:60, the corrective main.py:55: DataLoader(…,
    # shuffle=True) without drop_last. Ours (`fast`) drops it for equal steps.
    assert resolve_recipe("natmu", "cifar100", "resnet18").drop_last is False
    assert resolve_recipe("corrective", "cifar10", "resnet9").drop_last is False
    assert resolve_recipe("fast", "cifar10", "resnet18").drop_last is True


def test_the_reference_recipes_normalise_as_their_code_does():
    # NatMU normalises inside its models with per-dataset constants (utils/util.py:157-166);
    # the corrective repository with the CIFAR-10 ones for CIFAR-10 and CIFAR-100 alike
    # (src/datasets.py:30).
    assert resolve_recipe("natmu", "cifar10", "vgg16").normalization == "natmu"
    assert resolve_recipe("corrective", "cifar100", "wrn28_10").normalization == "corrective"
    info = DatasetInfo("cifar100", 100, (32, 32, 3), [str(i) for i in range(100)], (0.5, 0.5, 0.5), (0.2, 0.2, 0.2),
                       10, 10)
    assert resolve_normalization("natmu", info).mean == (0.5071, 0.4865, 0.4409)
    assert resolve_normalization("natmu", info).std == (0.2673, 0.2564, 0.2762)
    assert resolve_normalization("corrective", info).mean == (0.4914, 0.4822, 0.4465)
    assert resolve_normalization("corrective", info).std == (0.2470, 0.2435, 0.2616)
    assert resolve_normalization("dataset", info).mean == (0.5, 0.5, 0.5)
    assert resolve_normalization("unit", info).std == (1.0, 1.0, 1.0)
    assert NATMU_CONSTANTS["cifar20"] == NATMU_CONSTANTS["cifar100"]
    # A dataset the reference has no constants for keeps its own statistics.
    digits = DatasetInfo("digits", 10, (8, 8, 1), [str(i) for i in range(10)], (0.3,), (0.4,), 10, 10)
    assert resolve_normalization("natmu", digits).mean == (0.3,)
    assert resolve_normalization("corrective", digits).std == (0.4,)


def _train_rows(ws: Workspace) -> int:
    return int(ws.read("dataset", "digits").summary["train_size"])


@pytest.mark.parametrize("recipe, flag, keeps", [("natmu", None, True), ("fast", None, False),
                                                 ("fast", "keep", True), ("natmu", "drop", False)])
def test_pretraining_keeps_or_drops_the_partial_batch_as_its_recipe_says(trained_ws, recipe, flag, keeps):
    rows = _train_rows(trained_ws)
    assert rows % 100, "the test needs a partial batch"
    path = pretrained(trained_ws, recipe=recipe, epochs=1, batch_size=100, name=f"m-{recipe}-{flag}",
                      drop_last={None: None, "keep": False, "drop": True}[flag])
    manifest = trained_ws.read("model", path.stem)
    assert manifest.config["steps_per_epoch"] == (math.ceil(rows / 100) if keeps else rows // 100)
    assert manifest.config["recipe"]["drop_last"] is not keeps


def test_retraining_keeps_the_partial_batch_as_the_model_was_pretrained(trained_ws):
    pretrained(trained_ws, recipe="natmu", epochs=1, batch_size=100, name="m")
    make_forget_set(trained_ws, ForgetSetOptions(model="m", kind="per", params={"per": 10}, name="f"))
    run = trained_ws.read("unlearned", unlearn(trained_ws, UnlearnOptions(method="retrain", forget="f",
                                                                          device="cpu")).stem)
    retain = run.summary["retain_size"]
    assert retain % 100 and run.summary["steps"] == math.ceil(retain / 100)


@pytest.mark.slow
def test_the_normalisation_is_recorded_and_every_later_pass_uses_it(trained_ws):
    path = pretrained(trained_ws, epochs=1, normalization="unit", name="u")
    model = trained_ws.read("model", path.stem)
    assert model.config["normalization"] == {"rule": "unit", "mean": [0.0], "std": [1.0]}
    make_forget_set(trained_ws, ForgetSetOptions(model="u", kind="per", params={"per": 10}, name="fu"))
    run = unlearn(trained_ws, UnlearnOptions(method="finetune", forget="fu", device="cpu",
                                             generic=GenericOptions(steps=1))).stem
    for name, kind in (("u", "model"), (run, "unlearned")):
        manifest = trained_ws.read(kind, name)
        result = evaluate(trained_ws, EvaluateOptions(run=name, forget="fu", name=f"e-{name}", device="cpu"))
        samples = load_table(trained_ws.abs(trained_ws.read("evaluation", result.manifest_path).files["samples"].path))
        split = load_split(trained_ws, trained_ws.read("dataset", "digits"), "test")
        net = load_weights(trained_ws, manifest, torch.device("cpu")).eval()
        x = normalize(torch.from_numpy(split.images).permute(0, 3, 1, 2), [0.0], [1.0])  # pixels / 255 only
        with torch.no_grad():
            expected = net(x).argmax(1).numpy()
        test = samples.filter(np.asarray(samples.column("split").to_pylist()) == "test")
        assert test.column("prediction").to_pylist() == expected.tolist()


def test_a_model_pretrained_with_the_natmu_rule_records_natmus_constants(tmp_path, cli):
    source = write_cifar10(tmp_path / "source", per_batch=10, n_test=20)
    assert cli("prepare-data", "--dataset", "cifar10", "--source", str(source)).exit_code == 0
    result = cli("pretrain", "--dataset", "cifar10", "--model", "cnn", "--width", "0.25", "--recipe", "natmu",
                 "--steps", "1", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    config = cli.workspace.read("model", result.stdout.strip()).config
    assert config["normalization"] == {"rule": "natmu", "mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616]}


def test_an_unknown_normalisation_is_one_line_listing_the_rules(trained_ws, cli):
    cli.workspace = trained_ws
    result = cli("pretrain", "--normalization", "imagenet", "--epochs", "1", "--name", "x")
    assert_one_line_error(result, "imagenet", "dataset, unit, natmu, corrective")
    assert not trained_ws.exists("model", "x")


def test_evaluation_is_float32_unless_amp_is_asked_for(trained_ws, cli):
    cli.workspace = trained_ws
    assert cli("make-forget-set", "--model", "digits-cnn-s0", "--per", "10", "--name", "f10").exit_code == 0
    assert cli("evaluate", "--run", "digits-cnn-s0", "--forget", "f10", "--name", "exact").exit_code == 0
    assert trained_ws.read("evaluation", "exact").config["speed"] == {"amp": False, "channels_last": False,
                                                                      "compile": False}
    assert cli("evaluate", "--run", "digits-cnn-s0", "--forget", "f10", "--name", "fast", "--amp").exit_code == 0
    assert trained_ws.read("evaluation", "fast").config["speed"]["amp"] is True
