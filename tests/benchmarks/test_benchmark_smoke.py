"""The pretraining-throughput benchmark runs end to end on a tiny setting (no timing claims)."""

from __future__ import annotations

import json
import pickle
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch

from benchmarks.pretrain_throughput import BenchConfig, _torchvision_cifar10, cli, main, measure_reference
from benchmarks.synthetic_cifar import FOLDER, write_synthetic_cifar10
from unlearn_cli.data.sources import read_dataset
from unlearn_cli.errors import InputError
from unlearn_cli.models import build_model
from unlearn_cli.train.device import SpeedSwitches

TINY = ["--device", "cpu", "--model", "resnet18", "--width", "0.0625", "--batch-size", "32",
        "--train-size", "256", "--steps", "2", "--warmup", "1", "--num-workers", "0", "--threads", "1"]


@pytest.mark.slow
def test_main_measures_both_pipelines(capsys):
    threads_before = torch.get_num_threads()
    result = main([*TINY, "--json"])
    for t in (result.ours, result.reference):
        assert t.steps == 2
        assert t.images == 2 * 32  # 256 images = 8 full batches: no partial batch in the timed steps
        assert t.seconds > 0 and t.images_per_second > 0 and t.ms_per_step > 0
    assert result.ratio > 0
    assert result.config["width"] == 0.0625
    # CPU defaults on our side (bf16 + channels_last only where the CPU has native bf16, and
    # channels_last never for this tiny resnet's 4-channel strided shortcut; no compile);
    # the reference is plain fp32.
    tiny = build_model("resnet18", channels=3, image_size=32, num_classes=10, width=0.0625)
    expected = SpeedSwitches.for_device(torch.device("cpu")).for_model(tiny, torch.device("cpu"))
    assert {k: result.ours.detail[k] for k in ("amp", "channels_last", "compile")} == asdict(expected)
    assert result.ours.detail["channels_last"] is False and result.ours.detail["compile"] is False
    assert result.ours.detail["batches_per_epoch"] == 8
    assert result.reference.detail["num_workers"] == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ratio_ours_over_reference"] == pytest.approx(result.ratio)
    assert printed["ours"]["images_per_second"] == pytest.approx(result.ours.images_per_second)
    assert torch.get_num_threads() == threads_before  # --threads does not leak out of main()


def test_table_output_names_both_pipelines_and_the_ratio(capsys):
    main([*TINY, "--steps", "1", "--warmup", "0"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("ours ") for line in lines)
    assert any(line.startswith("reference ") for line in lines)
    assert "ratio ours/reference:" in out


def test_reference_counts_the_partial_last_batch(tmp_path):
    # 40 images in batches of 32: the reference loader's second batch holds 8 images.
    write_synthetic_cifar10(tmp_path, train_size=40, test_size=10)
    config = BenchConfig(width=0.0625, batch_size=32, steps=2, warmup=0, train_size=40, num_workers=0)
    t = measure_reference(config, tmp_path, 0.0625, torch.device("cpu"), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert t.images == 32 + 8


def test_synthetic_cifar_reads_back_with_both_readers(tmp_path):
    folder = write_synthetic_cifar10(tmp_path, train_size=23, test_size=7, seed=3)
    assert folder == tmp_path / FOLDER
    ours = read_dataset("cifar10", folder)
    theirs = _torchvision_cifar10()(str(tmp_path), train=True, download=False)
    assert ours.train.images.shape == (23, 32, 32, 3) and len(ours.test.labels) == 7
    np.testing.assert_array_equal(ours.train.images, theirs.data)
    np.testing.assert_array_equal(ours.train.labels, np.asarray(theirs.targets))
    assert theirs.classes == ours.class_names
    # 23 images over five files: sizes differ by at most one.
    sizes = [len(pickle.loads((folder / f"data_batch_{b}").read_bytes())["labels"]) for b in range(1, 6)]
    assert sum(sizes) == 23 and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(("args", "fragment"), [
    (["--steps", "0"], "--steps"),
    (["--warmup", "-1"], "--warmup"),
    (["--batch-size", "0"], "--batch-size"),
    (["--train-size", "16"], "--train-size 16"),
    (["--num-workers", "-2"], "--num-workers"),
    (["--threads", "0"], "--threads"),
    (["--width", "0"], "--width"),
    (["--model", "nosuchnet"], "nosuchnet"),
])
def test_bad_options_raise_input_error_naming_the_option(args, fragment):
    with pytest.raises(InputError) as error:
        main([*TINY, *args])
    assert fragment in error.value.message


def test_several_bad_options_are_reported_together():
    with pytest.raises(InputError) as error:
        main([*TINY, "--steps", "0", "--model", "nosuchnet"])
    assert "--steps" in error.value.message and "nosuchnet" in error.value.message


def test_unknown_device_is_an_input_error():
    with pytest.raises(InputError, match="nosuchdevice"):
        main([*TINY, "--device", "nosuchdevice"])


def test_synthetic_writer_rejects_too_few_images(tmp_path):
    with pytest.raises(InputError, match="train size 3"):
        write_synthetic_cifar10(tmp_path, train_size=3, test_size=5)
    with pytest.raises(InputError, match="test size 0"):
        write_synthetic_cifar10(tmp_path, train_size=5, test_size=0)


def test_cli_reports_a_user_error_on_one_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["pretrain_throughput", *TINY, "--steps", "0"])
    assert cli() == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("Error: ") and "--steps must be at least 1" in captured.err
    assert "hint:" in captured.err and "Traceback" not in captured.err
