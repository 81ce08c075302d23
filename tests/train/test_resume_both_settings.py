"""Determinism and resume stay bit-exact for a given setting of the speed switches, with
them on (bf16 autocast + channels_last, the default on CPUs with native bf16) and off (fp32,
the default elsewhere). Both settings are forced, so both are tested on every CPU. The
manifests record the setting that was used."""

from __future__ import annotations

import pytest

from tests.methods.runs import FORGET, make_workspace
from tests.steps.pipeline import copy_workspace
from unlearn_cli.steps.options import PretrainOptions, UnlearnOptions
from unlearn_cli.steps.pretrain import pretrain
from unlearn_cli.steps.unlearn import unlearn
from unlearn_cli.train.checkpoint import Checkpointer
from unlearn_cli.train.options import GenericOptions

SETTINGS = {"on": {"amp": True, "channels_last": True}, "off": {"amp": False, "channels_last": False}}


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory):
    """digits, a tiny cnn pretrained with the defaults, and its 10 % forget set."""
    return make_workspace(tmp_path_factory.mktemp("speed") / "ws", model={"model": "cnn", "width": 0.5, "epochs": 3})


@pytest.fixture
def speed_ws(base_ws, tmp_path):
    return copy_workspace(base_ws, tmp_path / "ws")


def _die_after_first_checkpoint(monkeypatch):
    real_save = Checkpointer.save

    def save_then_die(self, state):
        real_save(self, state)
        raise KeyboardInterrupt  # killed right after the first epoch checkpoint

    monkeypatch.setattr(Checkpointer, "save", save_then_die)
    return real_save


@pytest.mark.slow
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_pretrain_same_seed_same_bytes_and_resume_bit_identical(speed_ws, monkeypatch, setting):
    switches = SETTINGS[setting]

    def options(name, **extra):
        return PretrainOptions(dataset="digits", model="cnn", width=0.5, epochs=3, device="cpu", name=name,
                               **switches, **extra)

    full = speed_ws.read("model", pretrain(speed_ws, options("full")).stem)
    again = speed_ws.read("model", pretrain(speed_ws, options("again")).stem)
    assert full.config["speed"] == {**switches, "compile": False}
    assert again.files["weights"].sha256 == full.files["weights"].sha256

    real_save = _die_after_first_checkpoint(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        pretrain(speed_ws, options("killed"))
    monkeypatch.setattr(Checkpointer, "save", real_save)
    resumed = speed_ws.read("model", pretrain(speed_ws, options("killed", resume=True)).stem)
    assert resumed.files["weights"].sha256 == full.files["weights"].sha256
    assert resumed.files["difficulty"].sha256 == full.files["difficulty"].sha256


@pytest.mark.slow
def test_the_two_settings_really_differ(speed_ws):
    """Otherwise the tests above would test one setting twice."""
    shas = {}
    for setting, switches in SETTINGS.items():
        path = pretrain(speed_ws, PretrainOptions(dataset="digits", model="cnn", width=0.5, epochs=1, device="cpu",
                                                  name=f"one-{setting}", **switches))
        shas[setting] = speed_ws.read("model", path.stem).files["weights"].sha256
    assert shas["on"] != shas["off"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["scrub", "salun"])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_unlearn_resume_bit_identical(speed_ws, monkeypatch, method, setting):
    """scrub: a frozen teacher and two kinds of passes; salun: a gradient pass before
    training and exactly frozen weights, both under the switches."""
    switches = SETTINGS[setting]

    def run(name, **extra):
        path = unlearn(speed_ws, UnlearnOptions(method=method, forget=FORGET, name=name, device="cpu",
                                                generic=GenericOptions(epochs=3), **switches, **extra))
        return speed_ws.read("unlearned", path.stem)

    full = run("full")
    assert full.config["speed"] == {**switches, "compile": False}
    real_save = _die_after_first_checkpoint(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run("killed")
    monkeypatch.setattr(Checkpointer, "save", real_save)
    resumed = run("killed", resume=True)
    assert resumed.files["weights"].sha256 == full.files["weights"].sha256
    assert run("again").files["weights"].sha256 == full.files["weights"].sha256
