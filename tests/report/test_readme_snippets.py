"""README's "Reading results without unlearn": its exact code blocks, run on a workspace with
evaluations and a report named `results`, print the numbers the report computed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.report.fixtures import Chain
from tests.report.test_report_command import basic
from unlearn_cli.steps.options import ReportOptions
from unlearn_cli.steps.report import report

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Reading results without unlearn"


def snippets() -> list[str]:
    text = README.read_text()
    assert SECTION in text, f"README lost its section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "expected a pyarrow and a duckdb block"
    return blocks


@pytest.fixture
def results(chain: Chain, monkeypatch) -> Path:
    basic(chain)
    report(chain.ws, ReportOptions(every=True, name="results"))
    monkeypatch.chdir(chain.ws.root)
    return chain.ws.root


def run(snippet: str) -> tuple[dict, str]:
    namespace: dict = {"__name__": "__readme__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, str(README), "exec"), namespace)  # noqa: S102  (our own README)
    return namespace, out.getvalue()


@pytest.mark.slow
def test_the_pyarrow_snippet(results):
    namespace, printed = run(snippets()[0])
    assert namespace["metrics"].num_rows == 10  # 2 retrain runs × 2 metrics + 2 finetune × 3
    assert "finetune FA: 83.00 over 2 runs" in printed
    assert "digits · cnn(width=0.5) · forget random 10 % | finetune | FA: 83.00 ± 4.24 (n=2)" in printed
    assert "| retrain | FA: 90.50 ± 0.71 (n=2)" in printed


@pytest.mark.slow
def test_the_duckdb_snippet(results, chain):
    pytest.importorskip("duckdb", reason="duckdb is a dev extra (pip install -e '.[dev]')")
    namespace, printed = run(snippets()[1])
    duckdb = namespace["duckdb"]
    # The first query, recomputed from the evaluations' tables, equals the report's numbers.
    rows = duckdb.sql("""
        SELECT method, metric, avg(value), stddev_samp(value), count(*)
        FROM 'manifests/evaluation/*.metrics.parquet' WHERE metric = 'FA' GROUP BY ALL ORDER BY method
    """).fetchall()
    assert rows[0][0] == "finetune" and rows[0][2] == pytest.approx(83.0) and rows[0][3] == pytest.approx(18 ** 0.5)
    assert "finetune" in printed and "retrain" in printed
    assert "83.0" in printed and "4.24" in printed  # the evaluations' and the report's FA
    finetune_runs = [name for name in chain.ws.names("unlearned") if "finetune" in name]
    assert len(finetune_runs) == 2 and all(name in printed for name in finetune_runs)  # the runs behind it
