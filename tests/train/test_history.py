"""Training curves (train/history.py): hand-computed records, the loop's rows, resume."""

import math

import pytest
import torch

from tests.train.test_loop import CPU, ToySource, ce, make
from unlearn_cli.train.checkpoint import Checkpointer
from unlearn_cli.train.history import SCHEMA, History
from unlearn_cli.train.loop import LoopConfig, StepOutput, train
from unlearn_cli.train.schedules import ScheduleSpec, build_schedule


def _output(loss, logits=None, labels=None):
    return StepOutput(torch.tensor(loss), None if logits is None else torch.tensor(logits),
                      None if labels is None else torch.tensor(labels))


def test_records_by_hand():
    history = History(CPU, every=2)
    # Epoch 1: three steps; steps 2 is recorded (every 2); 3 of 4 rows right.
    history.on_step(step=1, lr=0.1, seconds=1.0, output=_output(3.0, [[2.0, 1.0], [0.0, 1.0]], [0, 1]))
    history.on_step(step=2, lr=0.1, seconds=2.0, output=_output(1.0, [[2.0, 1.0], [0.0, 1.0]], [1, 1]))
    history.on_step(step=3, lr=0.05, seconds=3.0, output=_output(2.0))  # no logits: not counted
    history.epoch_end(epoch=1, step=3, loss=torch.tensor(2.0), lr=0.05, images=6, seconds=3.5)
    # Epoch 2: no objective gave logits: accuracy unknown.
    history.on_step(step=4, lr=0.01, seconds=4.0, output=_output(0.5))
    history.epoch_end(epoch=2, step=4, loss=torch.tensor(0.5), lr=0.01, images=2, seconds=4.5)
    rows = history.table().to_pylist()
    assert rows == [
        {"scope": "step", "epoch": 1, "step": 2, "loss": 1.0, "lr": 0.1, "accuracy": None, "images": None,
         "seconds": 2.0},
        {"scope": "epoch", "epoch": 1, "step": 3, "loss": 2.0, "lr": 0.05, "accuracy": 0.75, "images": 6,
         "seconds": 3.5},
        {"scope": "step", "epoch": 2, "step": 4, "loss": 0.5, "lr": 0.01, "accuracy": None, "images": None,
         "seconds": 4.0},
        {"scope": "epoch", "epoch": 2, "step": 4, "loss": 0.5, "lr": 0.01, "accuracy": None, "images": 2,
         "seconds": 4.5},
    ]
    assert history.table().schema == SCHEMA


def test_state_round_trips_every_value_and_none():
    history = History(CPU, every=1)
    history.on_step(step=1, lr=None, seconds=0.25, output=_output(float("nan"), [[1.0, 0.0]], [0]))
    history.epoch_end(epoch=1, step=1, loss=torch.tensor(1.5), lr=None, images=1, seconds=0.5)
    restored = History(CPU, every=1)
    restored.load_state(history.state())
    assert restored.table().equals(history.table()) and len(restored.records) == 2
    assert restored.table().column("loss").to_pylist() == [None, 1.5]  # a NaN loss is a null
    empty = History(CPU)
    empty.load_state({})  # a checkpoint from before runs kept curves
    assert empty.records == []


def test_every_must_be_positive():
    with pytest.raises(ValueError):
        History(CPU, every=0)


def _run(model, opt, steps, every, **kwargs):
    return train(model, ToySource(), ce, opt, build_schedule(ScheduleSpec("constant"), steps),
                 LoopConfig(total_steps=steps, device=CPU, history_every=every), **kwargs)


def test_the_loop_records_each_epoch_and_every_n_steps():
    model, opt = make()
    result = _run(model, opt, 10, every=3)  # 4 batches an epoch: epochs end at 4, 8, 10
    rows = result.history.table().to_pylist()
    assert [(r["scope"], r["step"]) for r in rows] == [
        ("step", 3), ("epoch", 4), ("step", 6), ("epoch", 8), ("step", 9), ("epoch", 10)]
    epochs = [r for r in rows if r["scope"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert [r["images"] for r in epochs] == [32, 32, 16]
    assert all(0 <= r["accuracy"] <= 1 and r["lr"] == pytest.approx(0.1) for r in epochs)
    assert math.isclose(epochs[-1]["loss"] * 2, sum(_batch_losses(model_steps=10)[8:10]), rel_tol=1e-5)
    seconds = [r["seconds"] for r in rows]
    assert seconds == sorted(seconds) and seconds[-1] <= result.wall_seconds + 1e-6


def _batch_losses(model_steps):
    """Every batch loss of an uninterrupted run, recomputed step by step."""
    model, opt = make()
    losses = []

    def recording(model, batch, step):
        out = ce(model, batch, step)
        losses.append(float(out.loss.detach()))
        return out

    train(model, ToySource(), recording, opt, build_schedule(ScheduleSpec("constant"), model_steps),
          LoopConfig(total_steps=model_steps, device=CPU))
    return losses


def test_a_resumed_run_keeps_the_curve_of_an_uninterrupted_one(tmp_path):
    steps = 14
    full, opt = make()
    uninterrupted = _run(full, opt, steps, every=2).history.table().drop_columns(["seconds"])

    ckpt = Checkpointer(tmp_path / "r.safetensors", {"lr": 0.1})
    partial, opt = make()
    _run(partial, opt, 9, every=2, checkpoint=ckpt)  # "killed" in the third epoch; checkpoint at step 8
    resumed, opt = make(seed=123)
    result = _run(resumed, opt, steps, every=2, checkpoint=ckpt, resume=True)
    assert result.history.table().drop_columns(["seconds"]).equals(uninterrupted)
