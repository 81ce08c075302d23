"""Training curves beside the manifest, and `--tracker tensorboard|mlflow` mirroring them."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging

import pytest

from tests.conftest import assert_one_line_error
from unlearn_cli.artifacts import load_table
from unlearn_cli.errors import InputError, UnknownNameError
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import ForgetSetOptions, UnlearnOptions
from unlearn_cli.steps.unlearn import unlearn
from unlearn_cli.trackers import ENV, TRACKERS, chosen_tracker
from unlearn_cli.train.options import GenericOptions

pytestmark = pytest.mark.slow


def _finetune(ws, **options):
    if not ws.manifest_path("forget-set", "f").exists():
        make_forget_set(ws, ForgetSetOptions(model="digits-cnn-s0", kind="per", params={"per": 10}, name="f"))
    path = unlearn(ws, UnlearnOptions(method="finetune", forget="f", device="cpu", generic=GenericOptions(epochs=2),
                                      **options))
    return ws.read("unlearned", path.stem)


def _epoch_losses(ws, manifest):
    rows = load_table(ws.abs(manifest.files["history"].path)).to_pylist()
    return [(row["step"], row["loss"]) for row in rows if row["scope"] == "epoch"]


def _assert_same_curve(logged, recorded):
    assert [step for step, _ in logged] == [step for step, _ in recorded]
    assert [value for _, value in logged] == pytest.approx([value for _, value in recorded], rel=1e-6)


def test_pretrain_keeps_its_curve_beside_the_manifest(trained_workspace):
    model = trained_workspace.read("model", "digits-cnn-s0")
    ref = model.files["history"]
    assert ref.path == "manifests/model/digits-cnn-s0.history.parquet"
    rows = load_table(trained_workspace.abs(ref.path)).to_pylist()
    epochs = [row for row in rows if row["scope"] == "epoch"]
    assert [row["epoch"] for row in epochs] == list(range(1, model.summary["epochs"] + 1))
    assert epochs[-1]["step"] == model.summary["steps"]
    # Pretraining fits digits: the loss falls and the batches' accuracy rises.
    assert epochs[-1]["loss"] < epochs[0]["loss"] and epochs[-1]["accuracy"] > epochs[0]["accuracy"]
    assert sum(row["scope"] == "step" for row in rows) == model.summary["steps"] // 10


def test_tensorboard_gets_the_curve_summary_and_parameters(trained_ws):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = _finetune(trained_ws, tracker="tensorboard")
    folder = trained_ws.root / "tensorboard" / "unlearned" / run.name
    events = EventAccumulator(str(folder))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"epoch/loss", "epoch/lr", "step/loss", "summary/wall_seconds"} <= set(scalars)
    _assert_same_curve([(event.step, event.value) for event in events.Scalars("epoch/loss")],
                       _epoch_losses(trained_ws, run))
    assert events.Scalars("summary/forget_size")[0].value == run.summary["forget_size"]
    # Made again (--force): the folder is replaced, not overlaid with a second run.
    _finetune(trained_ws, tracker="tensorboard", force=True)
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1


def test_mlflow_gets_a_run_with_params_metrics_and_tags(trained_ws, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = _finetune(trained_ws, tracker="mlflow")
    store = trained_ws.root / "mlflow" / "mlflow.db"
    assert store.is_file()  # a local store in the workspace, not ./mlruns in the working directory
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    [found] = client.search_runs([client.get_experiment_by_name("unlearn").experiment_id])
    assert found.info.run_name == run.name and found.info.status == "FINISHED"
    assert found.data.params["method"] == "finetune" and found.data.params["training.recipe.epochs"] == "2"
    assert found.data.tags["unlearn.kind"] == "unlearned" and found.data.tags["unlearn.forget"] == "f"
    assert found.data.metrics["forget_size"] == run.summary["forget_size"]
    history = [(m.step, m.value) for m in client.get_metric_history(found.info.run_id, "epoch_loss")]
    _assert_same_curve(sorted(history), _epoch_losses(trained_ws, run))


def test_the_environment_names_the_tracker_when_the_option_does_not(trained_ws, monkeypatch):
    monkeypatch.setenv(ENV, "tensorboard")
    run = _finetune(trained_ws)
    assert (trained_ws.root / "tensorboard" / "unlearned" / run.name).is_dir()
    monkeypatch.setenv(ENV, "none")
    assert chosen_tracker(None) is None


def test_a_failing_tracker_is_a_warning_and_the_run_is_kept(trained_ws, monkeypatch, caplog):
    def unreachable(run, folder):
        raise ConnectionError("tracking server refused the connection")

    spec = TRACKERS.get("mlflow")
    monkeypatch.setitem(TRACKERS._items, "mlflow", dataclasses.replace(spec, mirror=unreachable))
    with caplog.at_level(logging.WARNING):
        run = _finetune(trained_ws, tracker="mlflow")
    assert trained_ws.manifest_path("unlearned", run.name).is_file()
    assert "not mirrored to mlflow (ConnectionError: tracking server refused" in caplog.text


def test_an_unknown_tracker_lists_the_valid_ones():
    with pytest.raises(UnknownNameError) as error:
        chosen_tracker("wandb")
    assert "mlflow" in error.value.hint and "tensorboard" in error.value.hint


def test_a_tracker_whose_package_is_missing_says_which_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(InputError) as error:
        chosen_tracker("mlflow")
    assert "pip install 'unlearn-cli[mlflow]'" in error.value.hint


def test_the_cli_refuses_an_unknown_tracker_before_training(cli):
    result = cli("pretrain", "--tracker", "wandb", "--epochs", "1")
    assert_one_line_error(result, "unknown tracker 'wandb'")
    assert not list((cli.workspace.root / "manifests").glob("model/*.json"))
