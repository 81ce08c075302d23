"""benchmarks/tune.py at a tiny scale: it runs a study end to end and reports its figures."""

from __future__ import annotations

import json

import pytest

from benchmarks import tune as bench

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]  # one `unlearn tune` process


def test_the_tune_benchmark_reports_a_study(tmp_path, capsys):
    bench.main(["--methods", "finetune", "--trials", "2", "--width", "0.25", "--epochs", "1", "--fresh-seeds", "1", "--json",
                "--workdir", str(tmp_path)])
    result = json.loads(capsys.readouterr().out)
    study = result["studies"][0]
    assert study["method"] == "finetune" and study["trials"]["COMPLETE"] == 2
    assert study["wall_seconds"] > 0 and study["trials_per_minute"] > 0
    assert study["best_avg_gap"] <= study["default_avg_gap"]  # the defaults are trial 0
    assert {"FA", "RA", "TA", "avg_gap"} <= set(study["best_fresh"]) and {"TA"} <= set(study["default_fresh"])
