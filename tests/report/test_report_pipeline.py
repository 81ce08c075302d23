"""The report over real evaluations of the digits pipeline: its numbers are the evaluations'."""

from __future__ import annotations

import statistics

import pytest

from tests.steps.conftest import trained_workspace, trained_ws  # noqa: F401  (the real digits pipeline)
from unlearn_cli.artifacts import load_table


@pytest.mark.slow
def test_report_over_real_evaluations(cli, trained_ws):  # noqa: F811
    cli.workspace = trained_ws
    evaluations = []
    for seed in (0, 1):
        forget = f"f10-s{seed}"
        assert cli("make-forget-set", "--model", "digits-cnn-s0", "--per", "10", "--seed", str(seed),
                   "--name", forget).exit_code == 0
        result = cli("evaluate", "--run", "digits-cnn-s0", "--forget", forget, "--device", "cpu")
        assert result.exit_code == 0, result.stderr
        evaluations.append(result.stdout.strip())
    result = cli("report", *evaluations, "--name", "real")
    assert result.exit_code == 0, result.stderr
    ws = trained_ws
    summaries = [ws.read("evaluation", path).summary for path in evaluations]
    table = load_table(ws.root / "reports" / "real" / "summary.parquet").to_pylist()
    means = {r["metric"]: r for r in table if r["level"] == "summary"}
    assert {r["method"] for r in table} == {"original"}
    for metric in ("FA", "RA", "TA", "mia_entropy", "mia_loss"):
        values = [s[metric] for s in summaries]
        assert means[metric]["mean"] == pytest.approx(statistics.mean(values))
        assert means[metric]["std"] == pytest.approx(statistics.stdev(values))
        assert means[metric]["n"] == 2
    markdown = (ws.root / "reports" / "real" / "summary.md").read_text()
    assert "## 1. digits · cnn(width=0.5) · forget random 10 %" in markdown
    assert "| original | 2 |" in markdown
