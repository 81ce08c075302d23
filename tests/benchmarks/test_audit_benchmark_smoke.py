"""The audit benchmark runs end to end at a tiny scale (no timing claims): both designs, their
timings, shares and the --plan profile, and a second call reuses the kept workspace."""

from __future__ import annotations

import json

import pytest

from benchmarks.audit import format_table, main

TINY = ("--width", "0.25", "--epochs", "1", "--resamples", "100", "--jobs", "2")


@pytest.mark.slow
def test_audit_benchmark_times_a_fixed_audit(tmp_path, capsys):
    # The halves design runs through the same code path (tests/audit/test_halves.py runs it end to end).
    workdir = str(tmp_path / "bench")
    fixed = main(["--designs", "fixed", "--models", "5", *TINY, "--workdir", workdir, "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["audits"][0]["design"] == "fixed" and printed["config"]["models"] == 5
    [timing] = fixed.audits
    # 4 originals (M0 is the fifth), 5 retrains, 5 unlearning runs; 10 queries and 4 copies
    assert timing.models_trained == 14 and timing.nodes_run == 28
    assert set(timing.node_seconds) == {"pretrain", "forget", "unlearn", "query"}
    assert timing.wall_seconds > timing.seconds_per_model > 0 and timing.training_seconds > 0
    assert timing.plan_seconds > 0 and timing.plan_profile.import_seconds > 0 and timing.plan_profile.top
    assert timing.statistics_seconds is not None
    assert abs(sum(v for k, v in timing.shares.items() if not k.startswith("plan_")) - 1.0) < 1e-9
    table = format_table(fixed)
    assert "| fixed | 14 |" in table and "--plan profile" in table


def test_halves_needs_an_even_k_of_ten_or_more():
    with pytest.raises(SystemExit, match="at least 10"):
        main(["--designs", "halves", "--models", "8"])
    with pytest.raises(SystemExit, match="even"):
        main(["--designs", "halves", "--models", "11"])
