"""The CPU step-variant benchmark runs end to end on a tiny model (no timing claims)."""

from __future__ import annotations

import json

import pytest

from benchmarks.cpu_step import FAMILIES, main

TINY = ["--model", "cnn", "--width", "0.25", "--batch-size", "8", "--steps", "2", "--warmup", "1"]


def test_each_variant_is_timed_and_the_profile_shares_sum_to_100(capsys):
    result = main([*TINY, "--variants", "foreach", "fused", "--profile", "--json"])
    assert [v["variant"] for v in result["variants"]] == ["foreach", "fused"]
    for v in result["variants"]:
        assert v["ms_per_step"] > 0 and v["images_per_second"] > 0
    shares = result["profile_shares_percent"]
    assert set(shares) == {*FAMILIES, "other"}
    assert sum(shares.values()) == pytest.approx(100.0)
    assert shares["convolution"] > 0  # the cnn's convolutions are seen and classified
    assert json.loads(capsys.readouterr().out)["config"]["model"] == "cnn"


def test_unknown_variant_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_info:
        main([*TINY, "--variants", "turbo"])
    assert exit_info.value.code == 2
