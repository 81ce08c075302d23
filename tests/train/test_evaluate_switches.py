"""`evaluate` takes the speed switches (--amp/--channels-last, default: the device's) and
records them; with both off its forward passes are the plain fp32 ones."""

from __future__ import annotations

import json

import pytest
import torch

from tests.steps.pipeline import copy_workspace, prepared, pretrained
from unlearn_cli.steps.common import load_weights, view_loader
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import ForgetSetOptions
from unlearn_cli.train.device import SpeedSwitches
from unlearn_cli.train.inference import accuracy, predict_logits


@pytest.fixture(scope="module")
def evaluated_base(tmp_path_factory):
    ws = prepared(tmp_path_factory.mktemp("evalspeed") / "ws")
    pretrained(ws, width=0.25, epochs=2)
    make_forget_set(ws, ForgetSetOptions(model="digits-cnn-s0", kind="per", params={"per": 10}, name="f10"))
    return ws


@pytest.fixture
def ews(evaluated_base, tmp_path, cli):
    cli.workspace = copy_workspace(evaluated_base, tmp_path / "copy")
    return cli


def _evaluate(cli, name, *flags):
    result = cli("evaluate", "--run", "digits-cnn-s0", "--forget", "f10", "--name", name, "--device", "cpu",
                 "--json", *flags)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["metrics"], cli.workspace.read("evaluation", name)


@pytest.mark.slow
def test_default_switches_are_recorded(ews):
    _, manifest = _evaluate(ews, "default")
    expected = SpeedSwitches.for_device(torch.device("cpu"), compile=False)
    assert manifest.config["speed"] == {"amp": expected.amp, "channels_last": expected.channels_last,
                                        "compile": False}


@pytest.mark.slow
def test_switches_off_is_the_fp32_reference(ews):
    metrics, manifest = _evaluate(ews, "fp32", "--no-amp", "--no-channels-last")
    assert manifest.config["speed"] == {"amp": False, "channels_last": False, "compile": False}
    ws = ews.workspace
    from unlearn_cli.data.loader import DeviceSplit
    from unlearn_cli.data.prepared import DatasetInfo, load_split

    dataset = ws.read("dataset", "digits")
    info = DatasetInfo.from_manifest(dataset)
    test = load_split(ws, dataset, "test")
    model = load_weights(ws, ws.read("model", "digits-cnn-s0"), torch.device("cpu"))
    logits = predict_logits(model, view_loader(DeviceSplit.from_numpy(test.images, test.labels, torch.device("cpu")),
                                               info))
    assert metrics["TA"] == pytest.approx(accuracy(logits, torch.from_numpy(test.labels)), abs=1e-4)  # float32 vs float64 percentages


@pytest.mark.slow
def test_forced_on_is_recorded_and_close(ews):
    on, manifest = _evaluate(ews, "on", "--amp", "--channels-last")
    off, _ = _evaluate(ews, "off", "--no-amp", "--no-channels-last")
    assert manifest.config["speed"] == {"amp": True, "channels_last": True, "compile": False}
    # Digits' test set has 360 images: a point is ~3 of them.
    assert abs(on["TA"] - off["TA"]) < 1.0 and abs(on["RA"] - off["RA"]) < 1.0
