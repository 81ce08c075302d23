"""Presets (docs/methods.md "Presets") as data: resolution order, the manifest's record, every (preset, method)
pair from the CLI; and every registered method from the CLI on a CIFAR-10-format fixture."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import assert_one_line_error
from tests.methods.runs import FORGET
from tests.methods.surgery_helpers import run_ok
from unlearn_cli.methods import METHODS
from unlearn_cli.methods.presets import PRESETS
from unlearn_cli.steps.options import UnlearnOptions
from unlearn_cli.steps.unlearn import prepare
from unlearn_cli.train.options import GenericOptions

pytest_plugins = ["tests.methods.surgery_fixtures"]

PAIRS = [(preset, method) for preset, entry in PRESETS.items() for method in entry.methods]


def _training(ws, method, preset=None, params=None, **generic):
    run = prepare(ws, UnlearnOptions(method=method, forget=FORGET, preset=preset, params=params or {},
                                     generic=GenericOptions(**generic), device="cpu"))
    return run.plan.params, run.ctx.training, run.config


def test_resolution_order_method_then_preset_then_options_then_params(mws):
    params, training, config = _training(mws, "badteacher", "natmu-cifar10")
    recipe = training.recipe
    assert (recipe.optimizer.name, recipe.optimizer.lr, recipe.optimizer.weight_decay) == ("adamw", 5e-5, 9e-4)
    assert recipe.epochs == 5 and recipe.batch_size == 128
    assert (params.temperature, params.retain_fraction) == (7.2, 1.0)  # NatMU's badteacher: all of D_r
    # Explicit options and --param win over the preset.
    params, training, config = _training(mws, "badteacher", "natmu-cifar10", params={"temperature": "2"},
                                         lr=1e-3, epochs=1)
    assert training.recipe.optimizer.lr == 1e-3 and training.recipe.epochs == 1
    assert training.recipe.optimizer.weight_decay == 9e-4  # still the preset's
    assert params.temperature == 2.0
    # The manifest config records the preset and every resolved value.
    assert config["preset"] == "natmu-cifar10"
    assert config["params"]["temperature"] == 2.0 and config["params"]["retain_fraction"] == 1.0
    assert config["training"]["recipe"]["optimizer"]["lr"] == 1e-3


@pytest.mark.slow
def test_corrective_preset_gives_eu_k_its_short_budget(bnws):
    bnws_forget = bnws  # resnet18 allows odd k
    _, full, _ = _training(bnws_forget, "retrain", "corrective-cifar10")
    assert full.recipe.steps == 4000 and full.recipe.batch_size == 512 and full.recipe.optimizer.lr == 0.025
    assert full.recipe.schedule.name == "linear" and full.recipe.schedule.decay_horizon == 1.25
    _, eu_k, _ = _training(bnws_forget, "retrain", "corrective-cifar10", params={"k": "3"})
    assert eu_k.recipe.steps == 1000
    _, scrub, _ = _training(bnws_forget, "scrub", "corrective-cifar100")
    assert scrub.recipe.optimizer.lr == 0.0025


def test_a_preset_for_another_dataset_is_a_warning(mws, caplog):
    with caplog.at_level(logging.WARNING, logger="unlearn_cli"):
        _training(mws, "natmu", "natmu-cifar100")
    assert "preset natmu-cifar100 was tuned on cifar100" in caplog.text and "not on digits" in caplog.text


@pytest.mark.parametrize(("preset", "method"), PAIRS)
def test_every_preset_entry_runs_from_the_cli(cli, mws, preset, method):
    cli.workspace = mws
    length = ["--steps", "2"] if METHODS.get(method).trains else []
    result = cli("unlearn", "--method", method, "--forget", FORGET, "--preset", preset, "--device", "cpu", *length)
    assert result.exit_code == 0, result.stderr
    run = mws.read("unlearned", f"{FORGET}-{method}-{preset}-s0")
    assert run.config["preset"] == preset


def test_unknown_preset_lists_them(cli, mws):
    cli.workspace = mws
    assert_one_line_error(cli("unlearn", "--method", "natmu", "--forget", FORGET, "--preset", "nope"),
                          "unknown preset 'nope'", ", ".join(PRESETS.names()[:2]))


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS.names())
def test_every_method_runs_on_a_cifar10_format_fixture(cifar10_cli, method):
    spec = METHODS.get(method)
    length = ["--steps", "2"] if spec.trains else []
    run_ok(cifar10_cli, "unlearn", "--method", method, "--forget", "cf", "--device", "cpu", "--name", "m", *length)
    result = run_ok(cifar10_cli, "evaluate", "--run", "m", "--reference", "cf-retrain-s0", "--json", "--device", "cpu")
    assert '"avg_gap"' in result.stdout
