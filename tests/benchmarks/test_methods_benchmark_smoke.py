"""The method benchmark runs end to end on a tiny setting (no timing claims)."""

from __future__ import annotations

import json

import pytest

from benchmarks.methods import format_table, main


@pytest.mark.slow
def test_methods_benchmark_times_retrain_first_and_gives_rte(capsys):
    bench = main(["--dataset", "digits", "--width", "0.25", "--pretrain-epochs", "1", "--epochs", "1",
                  "--methods", "finetune", "ssd", "--device", "cpu", "--json"])
    assert [t.method for t in bench.methods] == ["retrain", "finetune", "ssd"]
    retrain = bench.methods[0]
    assert retrain.rte == pytest.approx(1.0) and retrain.metrics["avg_gap"] == 0.0
    for timing in bench.methods:
        assert timing.wall_seconds > 0
        assert timing.rte == pytest.approx(retrain.wall_seconds / timing.wall_seconds)
        assert set(timing.metrics) == {"FA", "RA", "TA", "avg_gap"}
    assert bench.methods[1].steps > 0 and bench.methods[2].steps == 0  # ssd does not train
    printed = json.loads(capsys.readouterr().out)
    assert printed["methods"][1]["method"] == "finetune"
    assert "| ssd |" in format_table(bench)


def test_unknown_method_is_refused():
    with pytest.raises(SystemExit, match="unknown methods: nope"):
        main(["--methods", "nope"])
