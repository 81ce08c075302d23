"""Progress where there is no terminal: one plain line per epoch on stderr, nothing on stdout.
On a terminal the rich bar stays, and DDP ranks other than 0 print nothing."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest
import torch
from rich.console import Console
from torch import nn

from tests.steps.pipeline import prepared
from unlearn_cli.train import progress as progress_module
from unlearn_cli.train.loop import LoopConfig, StepOutput, images_in, train
from unlearn_cli.train.optim import OptimizerSpec, build_optimizer
from unlearn_cli.train.progress import PlainLog, progress_bar
from unlearn_cli.train.schedules import ScheduleSpec, build_schedule
from unlearn_cli.train.sources import PairedBatch, PhaseBatch

LINE = re.compile(
    r"^(?P<desc>.+): epoch (?P<epoch>\d+) step (?P<step>\d+)/(?P<total>\d+) loss (?P<loss>\S+) "
    r"lr (?P<lr>\S+) images/s (?P<rate>\S+) elapsed (?P<elapsed>[0-9.]+)s$"
)


class Toy:
    """Three batches of 8 images per epoch (epoch e depends on e only)."""

    def __len__(self):
        return 3

    def steps_in(self, epoch):
        return 3

    def epoch(self, epoch):
        g = torch.Generator().manual_seed(epoch)
        for _ in range(3):
            x = torch.randn(8, 5, generator=g)
            yield x, (x.sum(1) > 0).long()


def _ce(model, batch, step):
    x, y = batch
    return StepOutput(nn.functional.cross_entropy(model(x), y))


def _train(steps: int) -> None:
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    optimizer = build_optimizer(OptimizerSpec("sgd", lr=0.25, momentum=0.0, weight_decay=0.0), model.parameters())
    train(model, Toy(), _ce, optimizer, build_schedule(ScheduleSpec("constant"), steps),
          LoopConfig(total_steps=steps, device=torch.device("cpu"), description="toy run"))


def test_plain_log_line_has_every_field():
    stream = io.StringIO()
    log = PlainLog("pretrain m", total=20, stream=stream)
    log.epoch_end(epoch=2, step=10, loss=torch.tensor(0.123456), lr=0.05, images=640)
    log.epoch_end(epoch=3, step=15, loss=torch.tensor(0.5), lr=None, images=0)
    first, second = stream.getvalue().splitlines()
    match = LINE.match(first)
    assert match, first
    assert match["desc"] == "pretrain m" and match["epoch"] == "2" and match["step"] == "10"
    assert match["total"] == "20" and match["loss"] == "0.1235" and match["lr"] == "0.05"
    assert float(match["rate"]) > 0 and float(match["elapsed"]) >= 0
    assert LINE.match(second)["lr"] == "-"  # a pass without an optimiser has no lr


def test_loop_prints_one_line_per_epoch_to_stderr_when_not_a_terminal(capsys):
    _train(steps=7)  # epochs of 3 steps: 3 + 3 + 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [(m["epoch"], m["step"], m["total"]) for m in matches] == [("1", "3", "7"), ("2", "6", "7"), ("3", "7", "7")]
    assert all(m["desc"] == "toy run" and float(m["lr"]) == 0.25 for m in matches)
    # 3 batches of 8 images in a full epoch, 1 in the last: the rate is images over seconds.
    assert all(float(m["rate"]) > 0 for m in matches)
    elapsed = [float(m["elapsed"]) for m in matches]
    assert elapsed == sorted(elapsed)


def test_epoch_loss_is_the_mean_of_the_epochs_batch_losses():
    seen = []

    class Recording(PlainLog):
        def epoch_end(self, *, epoch, step, loss, lr, images):
            seen.append((float(loss), images))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(progress_module, "PlainLog", lambda description, total: Recording(description, total=total))
        torch.manual_seed(0)
        model = nn.Linear(5, 2)
        batch_losses = []

        def recording_ce(model, batch, step):
            out = _ce(model, batch, step)
            batch_losses.append(float(out.loss.detach()))
            return out

        optimizer = build_optimizer(OptimizerSpec("sgd", lr=0.1, momentum=0.0, weight_decay=0.0), model.parameters())
        train(model, Toy(), recording_ce, optimizer, build_schedule(ScheduleSpec("constant"), 3),
              LoopConfig(total_steps=3, device=torch.device("cpu")))
    assert seen == [(pytest.approx(sum(batch_losses) / 3, rel=1e-6), 24)]  # 3 batches of 8 images


def test_terminal_keeps_the_rich_bar_and_no_plain_lines(monkeypatch, capsys):
    terminal = Console(file=io.StringIO(), force_terminal=True)
    monkeypatch.setattr(progress_module, "stderr_console", lambda: terminal)
    with progress_bar("t", total=4) as bar:
        assert type(bar).__name__ == "_Bar"
        bar.epoch_end(epoch=1, step=4, loss=torch.tensor(1.0), lr=0.1, images=8)
    assert capsys.readouterr().err == ""


def test_other_ranks_print_nothing(capsys):
    with progress_bar("t", total=4, enabled=False) as bar:
        bar.advance(torch.tensor(1.0))
        bar.epoch_end(epoch=1, step=4, loss=torch.tensor(1.0), lr=0.1, images=8)
    assert capsys.readouterr().err == ""


def test_images_in_counts_every_kind_of_batch():
    from unlearn_cli.data.loader import Batch

    def batch(n):
        return Batch(torch.zeros(n, 3, 4, 4), torch.zeros(n, dtype=torch.long), torch.arange(n))

    assert images_in(batch(5)) == 5
    assert images_in((torch.zeros(7, 2), torch.zeros(7))) == 7
    assert images_in(PairedBatch(batch(4), batch(2))) == 6
    assert images_in(PhaseBatch("max", batch(3), 0)) == 3
    assert images_in(torch.zeros(9, 1)) == 9
    assert images_in(object()) == 0


@pytest.mark.slow
def test_pretrain_with_stderr_a_pipe_logs_each_epoch_and_keeps_stdout_clean(tmp_path):
    """The case the plain lines are for: a run whose stderr is a pipe (CI logs, nohup, cluster
    jobs)."""
    ws = prepared(tmp_path / "ws")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "unlearn_cli", "pretrain", "--workspace", str(ws.root), "--model", "cnn",
         "--width", "0.25", "--epochs", "3", "--device", "cpu", "--name", "piped"],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{ws.manifest_path('model', 'piped')}\n"
    epoch_lines = [m for m in map(LINE.match, done.stderr.splitlines()) if m]
    steps_per_epoch = ws.read("model", "piped").config["steps_per_epoch"]
    assert [int(m["epoch"]) for m in epoch_lines] == [1, 2, 3]
    assert [int(m["step"]) for m in epoch_lines] == [steps_per_epoch * e for e in (1, 2, 3)]
    assert all(m["desc"] == "pretrain piped" for m in epoch_lines)
    assert "\x1b[" not in done.stderr  # no terminal escape codes in a log file
