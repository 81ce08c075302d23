"""`unlearn report` in-process: what it writes, what it prints, and every user error."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from typer.testing import CliRunner

from tests.conftest import assert_one_line_error
from tests.report.fixtures import Chain, files_under
from unlearn_cli.artifacts import atomic_path, load_table
from unlearn_cli.cli.app import app
from unlearn_cli.steps import report as report_step


def basic(chain: Chain, dataset: str = "digits") -> list:
    """Two pretrain seeds; per seed a retrain and a finetune (FA 80 and 86)."""
    evaluations = []
    for seed, ft in ((0, 80.0), (1, 86.0)):
        model = chain.model(dataset=dataset, seed=seed)
        forget = chain.forget(model)
        retrain = chain.unlearned(model, forget, method="retrain", wall_seconds=30.0)
        finetune = chain.unlearned(model, forget, method="finetune", wall_seconds=2.0)
        evaluations.append(chain.evaluation(retrain, forget, {"FA": 90.0 + seed, "TA": 95.0}))
        evaluations.append(chain.evaluation(finetune, forget, {"FA": ft, "TA": 93.0, "avg_gap": 3.0 + seed},
                                            reference=retrain))
    return evaluations


def ok(cli, *args):
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.mark.slow
def test_report_writes_its_folder_and_manifest(cli, chain):
    evaluations = basic(chain)
    ws = chain.ws
    result = ok(cli, "report", *[str(e.source) for e in evaluations], "--name", "r1")
    manifest_path = ws.manifest_path("report", "r1")
    assert result.stdout == f"{manifest_path}\n"
    manifest = ws.read("report", "r1")  # verifies every file's and parent's sha256
    assert set(manifest.parents) == {e.name for e in evaluations}
    assert {ref.path for ref in manifest.parents.values()} == {ws.rel(e.source) for e in evaluations}
    folder = ws.root / "reports" / "r1"
    assert set(manifest.files) == files_under(folder)
    assert {"summary.md", "summary.parquet"} <= set(manifest.files)
    assert any(name.startswith("metrics-") for name in manifest.files)
    assert any(name.startswith("frontier-") for name in manifest.files)
    assert all(ref.path.startswith("reports/r1/") for ref in manifest.files.values())
    assert manifest.summary == {"settings": 1, "methods": 2, "runs": 4, "plots": 2}
    # The table goes to stderr, with the numbers of the markdown.
    assert "finetune" in result.stderr and "83.00 ± 4.24" in result.stderr
    markdown = (folder / "summary.md").read_text()
    assert "| finetune | 2 | 83.00 ± 4.24 |" in markdown
    assert markdown.index("| retrain |") < markdown.index("| finetune |")
    assert "Directions: `FA` (%) closest to retrain is best" in markdown


@pytest.mark.slow
def test_summary_parquet_holds_the_means_and_every_run(cli, chain):
    basic(chain)
    ok(cli, "report", "--all", "--name", "r")
    table = load_table(chain.ws.root / "reports" / "r" / "summary.parquet").to_pylist()
    summary = {(r["method"], r["metric"]): r for r in table if r["level"] == "summary"}
    fa = summary[("finetune", "FA")]
    assert fa["mean"] == pytest.approx(83.0) and fa["std"] == pytest.approx(math.sqrt(18)) and fa["n"] == 2
    assert fa["direction"] == "closest to retrain is best" and fa["unit"] == "%"
    assert fa["dataset"] == "digits" and fa["model"] == "cnn(width=0.5)" and fa["forget"] == "random 10 %"
    runs = [r for r in table if r["level"] == "run" and r["method"] == "finetune" and r["metric"] == "FA"]
    assert sorted(r["value"] for r in runs) == [80.0, 86.0]
    assert sorted(r["pretrain_seed"] for r in runs) == [0, 1]
    assert all(r["reference"] and r["evaluation"] and r["run"] for r in runs)
    assert summary[("retrain", "wall_seconds")]["mean"] == 30.0


@pytest.mark.slow
def test_format_md_csv_json_print_the_summary_instead_of_the_path(cli, chain):
    basic(chain)
    md = ok(cli, "report", "--all", "--name", "a", "--format", "md").stdout
    assert md == (chain.ws.root / "reports" / "a" / "summary.md").read_text()
    rows = list(csv.DictReader(io.StringIO(ok(cli, "report", "--all", "--name", "b", "--format", "csv").stdout)))
    fa = next(r for r in rows if r["method"] == "finetune" and r["metric"] == "FA")
    assert float(fa["mean"]) == pytest.approx(83.0) and float(fa["std"]) == pytest.approx(math.sqrt(18))
    data = json.loads(ok(cli, "report", "--all", "--name", "c", "--format", "json").stdout)
    assert data["manifest"] == str(chain.ws.manifest_path("report", "c"))
    fa = next(r for r in data["summary"] if r["method"] == "finetune" and r["metric"] == "FA")
    assert fa["mean"] == pytest.approx(83.0) and fa["n"] == 2 and fa["best"] is False


@pytest.mark.slow
def test_one_seed_is_a_dash_in_every_format(cli, chain):
    model = chain.model()
    forget = chain.forget(model)
    chain.evaluation(chain.unlearned(model, forget, method="finetune"), forget, {"FA": 81.0})
    assert "81.00 ± –" in ok(cli, "report", "--all", "--name", "a", "--format", "md").stdout
    rows = list(csv.DictReader(io.StringIO(ok(cli, "report", "--all", "--name", "b", "--format", "csv").stdout)))
    assert rows[0]["std"] == "" and rows[0]["n"] == "1"
    data = json.loads(ok(cli, "report", "--all", "--name", "c", "--format", "json").stdout)
    assert data["summary"][0]["std"] is None


@pytest.mark.slow
def test_different_datasets_are_separate_sections_not_an_error(cli, chain):
    basic(chain, "digits")
    basic(chain, "cifar10")
    result = ok(cli, "report", "--all")
    manifest = chain.ws.read("report", "cifar10+digits")  # the default name: the datasets
    assert result.stdout == f"{manifest.source}\n"
    assert manifest.summary["settings"] == 2
    markdown = (chain.ws.root / "reports" / "cifar10+digits" / "summary.md").read_text()
    assert "## 1. cifar10 · cnn(width=0.5) · forget random 10 %" in markdown
    assert "## 2. digits · cnn(width=0.5) · forget random 10 %" in markdown


@pytest.mark.slow
def test_names_and_repeated_inputs_count_once(cli, chain):
    evaluations = basic(chain)
    first = evaluations[0]
    ok(cli, "report", first.name, str(first.source), *[str(e.source) for e in evaluations], "--name", "r")
    assert chain.ws.read("report", "r").summary["runs"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["dash", "pipe"])
def test_stdin_in_process(chain, mode):
    """typer's runner feeds stdin (the subprocess test does it through a real pipe)."""
    evaluations = basic(chain)
    lines = "\n".join(str(e.source) for e in evaluations) + "\n\n"
    args = ["report", "--name", "s"] + (["-"] if mode == "dash" else [])
    result = CliRunner().invoke(app, args, input=lines,
                                env={"UNLEARN_WORKSPACE": str(chain.ws.root), "UNLEARN_DEBUG": ""})
    assert result.exit_code == 0, result.stderr
    assert chain.ws.read("report", "s").summary["runs"] == 4


# --- user errors -----------------------------------------------------------------------------

def test_no_evaluations_in_the_workspace(cli, chain):
    chain.dataset()
    assert_one_line_error(cli("report", "--all"), "no evaluations found in workspace", "unlearn evaluate")
    assert not (chain.ws.root / "reports").exists()


def test_no_evaluations_given(cli, chain):
    chain.dataset()
    assert_one_line_error(cli("report"), "no evaluations given", "--all")


def test_arguments_and_all_together(cli, chain):
    evaluations = basic(chain)
    assert_one_line_error(cli("report", evaluations[0].name, "--all"), "not both")


def test_a_manifest_of_another_kind(cli, chain):
    model = chain.model()
    assert_one_line_error(cli("report", str(model.source)), "is a model manifest, not a evaluation")


def test_a_file_that_is_not_a_manifest(cli, chain):
    evaluations = basic(chain)
    table = chain.ws.abs(evaluations[0].files["metrics"].path)
    assert_one_line_error(cli("report", str(table)), "is not an evaluation manifest", "manifests/evaluation")


def test_an_unknown_evaluation_name(cli, chain):
    basic(chain)
    assert_one_line_error(cli("report", "nope"), "no evaluation 'nope'", "known evaluations")


def test_an_evaluation_outside_the_workspace(cli, chain, tmp_path):
    evaluations = basic(Chain(type(chain.ws).at(tmp_path / "elsewhere")))
    chain.dataset()
    assert_one_line_error(cli("report", str(evaluations[0].source)), "outside workspace", "--workspace")


def test_a_changed_ancestor_is_caught(cli, chain):
    evaluations = basic(chain)
    model = chain.ws.manifest_path("model", "digits-cnn-w0.5-s0")
    model.write_text(model.read_text().replace('"seed": 0', '"seed": 7'))
    assert_one_line_error(cli("report", *[str(e.source) for e in evaluations]), "changed since it was made")


@pytest.mark.slow
def test_an_existing_report_needs_force_and_force_drops_stale_plots(cli, chain):
    basic(chain)
    ok(cli, "report", "--all", "--name", "r")
    folder = chain.ws.root / "reports" / "r"
    before = files_under(folder)
    assert_one_line_error(cli("report", "--all", "--name", "r"), "report 'r' exists already", "--force")
    # Rerun on the retrain evaluations only: no avg_gap any more, so no frontier plot.
    retrains = [name for name in chain.ws.names("evaluation") if "retrain" in name]
    ok(cli, "report", *retrains, "--name", "r", "--force")
    after = files_under(folder)
    assert not any(name.startswith("frontier-") for name in after)
    assert any(name.startswith("frontier-") for name in before)
    assert after == set(chain.ws.read("report", "r").files)


def test_nothing_is_left_behind_when_a_plot_fails(cli, chain, monkeypatch):
    basic(chain)

    def broken(plot, path):
        # As the real save_plot writes: through atomic_path, failing half-way.
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half a png")
            raise RuntimeError("disk full")

    monkeypatch.setattr(report_step, "save_plot", broken)
    result = cli("report", "--all", "--name", "r")
    assert result.exit_code == 1
    assert not chain.ws.manifest_path("report", "r").exists()
    assert not (chain.ws.root / "reports").exists()


def test_a_bad_format_is_a_usage_error(cli, chain):
    basic(chain)
    result = cli("report", "--all", "--format", "xlsx")
    assert result.exit_code == 2
