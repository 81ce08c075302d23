"""`unlearn report` reads audits beside evaluations: one row per audit with U-LiRA's balanced
accuracy, AUC and TPR at 1 % FPR (each with its interval), F, F_null, the final score and
KLoM's forget median, in summary.md, summary.parquet, --format csv/json and on stderr."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from tests.conftest import Cli, assert_one_line_error
from tests.steps.pipeline import copy_workspace, prepared, pretrained
from unlearn_cli.artifacts import Workspace
from unlearn_cli.cli.app import app
from unlearn_cli.report.audits import METRICS, method_label
from unlearn_cli.steps.evaluate import evaluate
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import EvaluateOptions, ForgetSetOptions

FORGET = "digits-cnn-s0-per10-s0"
FAST = ("--models", "5", "--device", "cpu", "--jobs", "2", "--threads", "1", "--resamples", "100",
        "--retain-rows", "100", "--test-rows", "100")


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> Workspace:
    """A quarter-width template, its random 10 %, an audit of retrain and of a one-step
    finetune (N = 5), and one evaluation of a finetune run. Read-only for tests."""
    ws = prepared(tmp_path_factory.mktemp("report-audits") / "ws")
    pretrained(ws, width=0.25, epochs=4)
    make_forget_set(ws, ForgetSetOptions(model="digits-cnn-s0", kind="per", params={"per": 10}, device="cpu"))
    cli = Cli(ws)
    for name, method in (("retrain", ("--method", "retrain")),
                         ("finetune", ("--method", "finetune", "--steps", "1", "--lr", "1e-9"))):
        result = cli("audit", *method, "--forget", FORGET, *FAST, "--name", name)
        assert result.exit_code == 0, result.stderr
    run = ws.read("audit", "finetune").config["queries"]["unlearned"][0].split("--q")[0]
    evaluate(ws, EvaluateOptions(run=run, metrics=("accuracy",), device="cpu"))
    return ws


@pytest.fixture
def ws(audited, tmp_path) -> Workspace:
    return copy_workspace(audited, tmp_path / "ws")


def test_method_labels_name_the_settings_given():
    config = {"method": {"method": "finetune"},
              "settings": {"params": {"k": 2}, "generic": {"steps": 1, "lr": None}, "preset": "p"}}
    assert method_label(config) == "finetune[p](k=2, steps=1)"


@pytest.mark.slow
def test_all_tabulates_each_audit_beside_the_evaluations(ws):
    cli = Cli(ws)
    result = cli("report", "--all", "--name", "r", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["summary"]
    audit_rows = [row for row in rows if row["audit"]]
    assert {row["audit"] for row in audit_rows} == {"retrain", "finetune"}
    assert any(not row["audit"] for row in rows)  # the evaluation's rows are still there
    for name in ("retrain", "finetune"):
        summary = ws.read("audit", name).summary
        by_metric = {row["metric"]: row for row in audit_rows if row["audit"] == name}
        assert set(by_metric) == {"ulira_balanced_accuracy", "ulira_auc", "ulira_tpr_at_1pct_fpr",
                                  "forget_score", "final_score", "klom_forget_median"}  # F_null needs N ≥ 8
        ba = by_metric["ulira_balanced_accuracy"]
        assert ba["mean"] == summary["ulira"]["balanced_accuracy"] and ba["n"] == 5
        assert [ba["ci_low"], ba["ci_high"]] == summary["ulira"]["balanced_accuracy_ci"]
        assert by_metric["forget_score"]["mean"] == summary["epsilon"]["forget_score"]
        assert by_metric["klom_forget_median"]["ci_low"] is not None
    markdown = (ws.root / "reports" / "r" / "summary.md").read_text()
    assert "## Audits" in markdown and "2 audits" in markdown, markdown
    line = next(line for line in markdown.splitlines() if line.startswith("| finetune | finetune("))
    assert "finetune(steps=1, lr=1e-09)" in line and "fixed, N = 5" in line
    assert line.count("[") == 4  # U-LiRA's three and KLoM's median carry intervals; F has none
    # stderr (not a terminal here) carries the same tables
    assert "## Audits" in result.stderr
    manifest = ws.read("report", "r")
    assert manifest.config["audits"] == ["finetune", "retrain"] and manifest.summary["audits"] == 2
    table = pq.read_table(ws.root / "reports" / "r" / "summary.parquet").to_pylist()
    assert {row["audit"] for row in table if row["level"] == "audit"} == {"retrain", "finetune"}


@pytest.mark.slow
def test_audits_by_name_path_and_stdin_and_csv(ws):
    cli = Cli(ws)
    path = ws.root / "audits" / "retrain" / "manifest.json"
    result = cli("report", "finetune", str(path), "--name", "a", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {row["audit"] for row in rows} == {"finetune", "retrain"}
    assert all(row["ci_low"] for row in rows if row["metric"].startswith("ulira"))
    piped = cli.runner.invoke(app, ["report", "-", "--name", "b", "--format", "md"], input=f"{path}\n",
                              env={"UNLEARN_WORKSPACE": str(ws.root), "COLUMNS": "200"})
    assert piped.exit_code == 0, piped.stderr
    assert "| retrain | retrain |" in piped.stdout and "0 evaluated runs, 1 audit" in piped.stdout
    assert ws.read("report", "b").parents["audit:retrain"].path == "audits/retrain/manifest.json"


@pytest.mark.slow
def test_a_changed_audit_is_refused(ws):
    summary = ws.root / "audits" / "retrain" / "summary.json"
    summary.write_text(summary.read_text().replace("0", "1", 1))
    assert_one_line_error(Cli(ws)("report", "retrain"), "fails its checksum")


def test_every_metric_has_a_direction():
    assert all(metric.direction.text for metric in METRICS)
