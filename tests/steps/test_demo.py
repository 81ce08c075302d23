"""`unlearn demo`: the whole story on digits in one command, re-runnable."""

from __future__ import annotations

import pytest

from tests.conftest import Cli
from unlearn_cli.artifacts import Workspace, load_table
from unlearn_cli.steps.demo import FORGET_SETS, METHODS


@pytest.mark.slow
def test_demo_runs_every_step_and_reports_every_method(tmp_path):
    ws = Workspace.at(tmp_path / "demo")
    cli = Cli(ws)
    result = cli("demo", "--workspace", str(ws.root), "--seeds", "1", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    manifest_path = ws.manifest_path("report", "demo")
    assert result.stdout == f"{manifest_path}\n"
    methods = {"retrain", *(m for m, _ in METHODS)}
    for forget, _ in FORGET_SETS:
        assert ws.read("forget-set", forget)
        for method in methods:
            assert ws.read("evaluation", f"{forget}-{method}-s0").config["reference"] == f"{forget}-retrain-s0"
    ws.read("report", "demo")
    summary = load_table(ws.root / "reports" / "demo" / "summary.parquet")
    markdown = (ws.root / "reports" / "demo" / "summary.md").read_text()
    for method in methods | {"original"}:
        assert f"| {method}" in markdown or f"{method} |" in markdown, method
    assert "random 10 %" in markdown and "hardest 10 %" in markdown
    assert set(summary.column("method").to_pylist()) >= methods
    # A progress line per step, and the table at the end, on stderr.
    assert "pretrain the cnn on digits" in result.stderr and "natmu on hardest10, seed 0" in result.stderr
    assert "avg_gap" in result.stderr

    # Re-running reuses every artifact (and rewrites only the report).
    made = ws.read("unlearned", "random10-natmu-s0").created
    again = cli("demo", "--workspace", str(ws.root), "--seeds", "1", "--device", "cpu")
    assert again.exit_code == 0, again.stderr
    steps = [line for line in again.stderr.splitlines() if line.rstrip().endswith("…") or "reusing" in line]
    assert steps and all("reusing" in line for line in steps if "report" not in line), steps
    assert ws.read("unlearned", "random10-natmu-s0").created == made

    # A damaged artifact is made again (with force), the rest still reused.
    damaged = ws.read("evaluation", "random10-finetune-s0")
    ws.abs(damaged.files["metrics"].path).write_bytes(b"not parquet")
    third = cli("demo", "--workspace", str(ws.root), "--seeds", "1", "--device", "cpu")
    assert third.exit_code == 0, third.stderr
    assert "random10-finetune-s0 is damaged, making it again" in third.stderr
    assert ws.read("evaluation", "random10-finetune-s0")  # valid again

    # `demo --audit` on the same workspace: the demo's artifacts are reused, the three audits
    # (5 models a side here, U-LiRA's least; the default is 8) are made with their ROC plots,
    # their U-LiRA table goes to stderr and a row each into the report; a re-run reuses them.
    # Here rather than in a test of its own, so the suite pays for one demo, not two.
    from unlearn_cli.steps.demo import AUDIT_METHODS, audit_name

    audit_args = ("demo", "--workspace", str(ws.root), "--seeds", "1", "--device", "cpu", "--audit",
                  "--audit-models", "5", "--jobs", "2")
    audited = cli(*audit_args)
    assert audited.exit_code == 0, audited.stderr
    for method in AUDIT_METHODS:
        audit = ws.read("audit", audit_name(method, 5))
        assert audit.config["method"]["method"] == method and audit.config["models"] == 5
        assert (ws.root / "audits" / audit_name(method, 5) / "roc.png").stat().st_size > 1000
        assert "roc.png" in audited.stderr
    table = audited.stderr[audited.stderr.index("U-LiRA on random10"):]
    assert all(method in table for method in AUDIT_METHODS), table
    assert set(ws.read("report", "demo").config["audits"]) == {audit_name(m, 5) for m in AUDIT_METHODS}
    made = ws.read("audit", audit_name("natmu", 5)).created
    audited_again = cli(*audit_args)
    assert audited_again.exit_code == 0, audited_again.stderr
    assert all(f"reusing {audit_name(m, 5)}" in audited_again.stderr for m in AUDIT_METHODS), audited_again.stderr
    assert ws.read("audit", audit_name("natmu", 5)).created == made


def test_demo_refuses_a_silly_seed_count(tmp_path):
    cli = Cli(Workspace.at(tmp_path / "demo"))
    result = cli("demo", "--workspace", str(tmp_path / "demo"), "--seeds", "0")
    assert result.exit_code == 1 and "--seeds 0 is outside 1..10" in result.stderr


def test_the_piped_example_script_is_valid_shell():
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "digits.sh"
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
