"""The papers' grids at smoke scale, end to end: digits, a tiny cnn, a few steps."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

GRIDS = Path(__file__).resolve().parents[2] / "grids"

# grid -> (nodes, a metric its report must hold: what the setting is about)
SMOKES = {
    "natmu-samplewise": (15, "mia_entropy"),
    "natmu-classwise": (9, "TA_forget"),
    "corrective-poison": (10, "attack_success"),
    "corrective-interclass": (10, "acc_corr"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMOKES))
def test_the_papers_grid_runs_at_smoke_scale(cli, name):
    nodes, metric = SMOKES[name]
    result = cli("sweep", str(GRIDS / f"{name}.toml"), "--smoke", "--threads", "1")
    assert result.exit_code == 0, result.stderr
    assert f"{nodes} done ({nodes} run now, 0 already there), 0 failed, 0 skipped" in result.stderr
    ws = cli.workspace
    report = ws.read("report", f"{name}-smoke")
    assert result.stdout == f"{ws.manifest_path('report', f'{name}-smoke')}\n"
    summary = pq.read_table(ws.root / report.files["summary.parquet"].path).to_pylist()
    methods = {row["method"] for row in summary if row["level"] == "summary"}
    assert {"retrain", "original"} <= methods and len(methods) == 3, methods
    assert any(row["metric"] == metric and row["mean"] is not None for row in summary if row["level"] == "summary")
