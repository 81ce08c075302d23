"""`unlearn tune` end to end on digits: a study that beats the defaults without reading the test
split, its outputs, a finished study re-run, its preset file in `unlearn unlearn` and a grid,
several processes on one study, kill-and-resume, and every bad input as one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from tests.conftest import Cli, assert_one_line_error
from tests.tune.conftest import FORGET
from unlearn_cli.artifacts import Workspace

pytestmark = pytest.mark.slow

FAST = ("--final-seeds", "5", "--device", "cpu")
SHORT = ("--space", "epochs=1:3", *FAST)


def _study(ws: Workspace, name: str, storage: str | None = None):
    import optuna

    url = storage or f"sqlite:///{ws.root / 'tune' / name / 'study.sqlite3'}"
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        url = optuna.storages.JournalStorage(JournalFileBackend(url[len("journal:"):]))
    return optuna.load_study(study_name=name, storage=url)


def _summary(ws: Workspace, name: str) -> dict:
    return json.loads((ws.root / "tune" / name / "summary.json").read_text())


def test_a_study_beats_the_defaults_on_validation_and_never_reads_the_test_split(tws, test_split_guard):
    cli = Cli(tws)
    result = cli("tune", "--method", "finetune", "--forget", FORGET, "--trials", "8", "--final-seeds", "5",
                 "--device", "cpu", "--study", "ft")
    assert result.exit_code == 0, result.stderr
    folder = tws.root / "tune" / "ft"
    assert result.stdout == f"{folder / 'manifest.json'}\n"
    assert len([line for line in result.stderr.splitlines() if line.startswith("trial ")]) == 8
    summary = _summary(tws, "ft")
    # The defaults (lr 0.01, 10 epochs) are trial 0; the study found better values.
    assert summary["defaults"]["trial"] == 0 and summary["defaults"]["values"] == {"lr": 0.01, "epochs": 10}
    assert summary["best"]["avg_gap"] < summary["defaults"]["avg_gap"]
    assert summary["trials"] == {"COMPLETE": 8, "FAIL": 0, "RUNNING": 0}
    # Only the final evaluation on the fresh seed read the test split.
    assert test_split_guard.reads_in_evaluate >= 1
    final = summary["final"]
    assert final["seeds"] == [5] and {"TA", "RA", "FA", "VA", "avg_gap"} <= set(final["mean"])
    trials = pq.read_table(folder / "trials.parquet")
    assert trials.num_rows == 8
    for column in ("number", "state", "objective_avg_gap", "gap_RA", "gap_FA", "gap_VA", "gap_mia_entropy",
                   "avg_gap", "param_lr", "param_epochs", "wall_seconds", "runs", "error"):
        assert column in trials.column_names
    gaps = trials.to_pylist()[summary["best"]["trial"]]
    assert gaps["avg_gap"] == pytest.approx(
        (gaps["gap_RA"] + gaps["gap_FA"] + gaps["gap_VA"] + gaps["gap_mia_entropy"]) / 4)
    for plot in ("history.png", "parallel-coordinate.png", "importance.png"):
        assert (folder / plot).stat().st_size > 1000
    manifest = tws.read("tune", "ft")
    assert manifest.config["method"] == "finetune" and manifest.config["forget"] == FORGET
    assert {"model", "forget"} <= set(manifest.parents)
    # Trials are ordinary runs, named by their values.
    run = tws.read("unlearned", summary["best"]["runs"][0])
    assert run.name.startswith(f"{FORGET}-finetune-t") and run.config["training"]["recipe"]["optimizer"]["lr"] == (
        summary["best"]["values"]["lr"])

    # A finished study re-run trains nothing and rewrites its outputs.
    again = cli("tune", "--method", "finetune", "--forget", FORGET, "--trials", "8", "--final-seeds", "5",
                "--device", "cpu", "--study", "ft")
    assert again.exit_code == 0, again.stderr
    assert not [line for line in again.stderr.splitlines() if line.startswith("trial ")]
    assert len(_study(tws, "ft").trials) == 8

    # The preset file in `unlearn unlearn`: the best values, the preset's name in the run name.
    preset = folder / "ft.toml"
    ran = cli("unlearn", "--method", "finetune", "--forget", FORGET, "--preset", str(preset), "--seed", "7",
              "--device", "cpu")
    assert ran.exit_code == 0, ran.stderr
    made = tws.read("unlearned", ran.stdout.strip())
    assert made.name == f"{FORGET}-finetune-ft-s7"
    recipe = made.config["training"]["recipe"]
    assert recipe["optimizer"]["lr"] == summary["best"]["values"]["lr"]
    assert recipe["epochs"] == summary["best"]["values"]["epochs"]


def test_the_preset_file_in_a_sweep_grid(tmp_path):
    from unlearn_cli.sweep.grid import load_grid
    from unlearn_cli.sweep.plan import build_plan

    preset = tmp_path / "tuned.toml"
    preset.write_text('name = "tuned"\nsetting = "a test"\ndatasets = ["digits"]\n\n'
                      '[methods.finetune]\nparams = {}\nrecipe = { lr = 0.002, epochs = 2 }\n')
    grid = tmp_path / "grid.toml"
    grid.write_text(f'datasets = ["digits"]\nmodels = ["cnn"]\npresets = ["{preset}"]\n'
                    '[pretrain]\nwidth = [0.25]\nepochs = [2]\n[forget]\nper = [10]\n'
                    '[[methods]]\nname = "finetune"\n[[methods]]\nname = "retrain"\nreference = true\n')
    nodes = build_plan(load_grid(grid)).nodes.values()
    run = next(node for node in nodes if node.step == "unlearn" and node.options.method == "finetune")
    assert run.name.endswith("-finetune-tuned-s0") and run.options.preset == str(preset)


def test_two_local_workers_share_the_study(tws):
    result = Cli(tws)("tune", "--method", "finetune", "--forget", FORGET, "--trials", "4", "--jobs", "2",
                      "--no-plots", *SHORT, "--study", "two")
    assert result.exit_code == 0, result.stderr
    trials = _study(tws, "two").trials
    finished = [t for t in trials if t.state.is_finished()]
    # Workers that start a trial at the same moment may each finish one more.
    assert 4 <= len(finished) <= 5
    assert len({t.number for t in trials}) == len(trials)
    assert len({tuple(sorted(t.params.items())) for t in finished}) == len(finished)


def _tune_process(ws: Workspace, *args: str) -> subprocess.Popen:
    env = {**os.environ, "UNLEARN_WORKSPACE": str(ws.root), "UNLEARN_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "unlearn_cli", "tune", "--method", "finetune", "--forget", FORGET,
                             "--no-plots", *FAST, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    # As a terminal starts it: a test runner's worker may ignore SIGINT, and an ignored signal
    # stays ignored across exec (Python then installs no KeyboardInterrupt handler).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.subprocess
def test_two_processes_share_one_journal_storage(tws):
    journal = f"journal:{tws.root / 'shared.journal'}"
    processes = [_tune_process(tws, "--trials", "6", "--space", "epochs=1:3", "--study", "shared", "--storage", journal)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err for _, err in outputs]
    trials = _study(tws, "shared", journal).trials
    finished = [t for t in trials if t.state.is_finished()]
    assert 6 <= len(finished) <= 7
    assert len({t.number for t in trials}) == len(trials)
    # Both processes ran trials.
    assert all("trial " in err for _, err in outputs)


@pytest.mark.subprocess
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_a_stopped_study_continues_and_its_running_trial_is_failed(tws, stop):
    # Stopped while a trial runs, far from the study's end (a process already exiting would
    # take a Ctrl-C as done): 12 trials, stopped at one of the first ones.
    process = _tune_process(tws, "--trials", "12", "--study", "stopped", "--space", "epochs=8,9")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        try:
            study = _study(tws, "stopped")
        except Exception:  # noqa: BLE001 - not created yet
            continue
        states = [t.state.name for t in study.trials]
        if states.count("COMPLETE") >= 1 and "RUNNING" in states:
            break
    assert len(study.trials) <= 8, "the study ran too far before it could be stopped"
    assert process.poll() is None, process.communicate()[1]
    process.send_signal(stop)
    _, stderr = process.communicate()
    before = [t.state.name for t in _study(tws, "stopped").trials]
    if stop == signal.SIGINT:
        # Ctrl-C: Optuna fails the running trial on the way out; one line, exit 130.
        assert process.returncode == 130 and "Error: interrupted" in stderr
        assert "RUNNING" not in before and "FAIL" in before
    else:
        assert "RUNNING" in before
    result = Cli(tws)("tune", "--method", "finetune", "--forget", FORGET, "--trials", "12", "--no-plots", *FAST,
                      "--space", "epochs=8,9", "--study", "stopped")
    assert result.exit_code == 0, result.stderr
    trials = _study(tws, "stopped").trials
    assert len([t for t in trials if t.state.is_finished()]) == 12
    assert not [t for t in trials if t.state.name == "RUNNING"]
    if stop == signal.SIGKILL:
        assert "trial(s) of a killed run marked failed" in result.stderr
        killed = [t for t in trials if t.user_attrs.get("error") == "its process was killed"]
        assert len(killed) == 1 and killed[0].state.name == "FAIL"


def test_a_diverging_trial_fails_and_the_study_goes_on(tws):
    result = Cli(tws)("tune", "--method", "finetune", "--forget", FORGET, "--trials", "2", "--no-plots",
                      "--space", "lr=1e8:1e9:log", *SHORT, "--study", "nan")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("fail:") == 2
    summary = _summary(tws, "nan")
    assert summary["trials"]["FAIL"] == 2 and "best" not in summary
    trials = pq.read_table(tws.root / "tune" / "nan" / "trials.parquet").to_pylist()
    assert all(t["state"] == "FAIL" and t["error"] for t in trials)


def test_every_bad_input_is_one_line(tws):
    cli = Cli(tws)
    base = ("tune", "--forget", FORGET, "--trials", "1", "--device", "cpu")
    assert_one_line_error(cli(*base, "--method", "finetune", "--space", "alpha=0:1", "--space", "lr=1:0.1",
                              "--space", "lr2=-1:1:log"),
                          "alpha is not a setting of method 'finetune'", "lo 1 is not below hi 0.1")
    assert_one_line_error(cli(*base, "--method", "finetune", "--space", "lr=-1:1:log"),
                          "a log range needs positive bounds")
    assert_one_line_error(cli(*base, "--method", "retrain"), "nothing to tune")
    assert_one_line_error(cli(*base, "--method", "finetune", "--objective", "best"), "unknown objective 'best'")
    assert_one_line_error(cli(*base, "--method", "finetune", "--seeds", "0,0"), "must be distinct")
    assert_one_line_error(cli(*base, "--method", "finetune", "--seeds", "0", "--final-seeds", "0"), "no trial used")
    assert_one_line_error(cli(*base, "--method", "finetune", "--preset", "tune:other"), "pass its file")
    assert_one_line_error(cli(*base, "--method", "finetune", "--seeds", "0,x"), "--seeds '0,x' is not a comma-separated")
    assert_one_line_error(cli(*base, "--method", "finetune", "--jobs", "0"), "--jobs 0 is not positive")
    assert_one_line_error(cli(*base, "--method", "finetune", "--trials", "0"), "--trials 0 is not positive")
    # A model without a validation split.
    made = cli("pretrain", "--model", "cnn", "--width", "0.25", "--epochs", "1", "--device", "cpu")
    assert made.exit_code == 0, made.stderr
    forget = cli("make-forget-set", "--model", "digits-cnn-w0.25-e1-s0", "--per", "1", "--device", "cpu")
    assert forget.exit_code == 0, forget.stderr
    assert_one_line_error(cli("tune", "--method", "finetune", "--forget", "digits-cnn-w0.25-e1-s0-per1-s0", "--trials", "1"),
                          "has no validation split", "--val-fraction")


def test_a_study_of_another_setting_is_refused_unless_forced(tws):
    cli = Cli(tws)
    first = cli("tune", "--method", "finetune", "--forget", FORGET, "--trials", "1", "--no-plots", *SHORT,
                "--study", "same")
    assert first.exit_code == 0, first.stderr
    other = ("tune", "--method", "neggrad", "--forget", FORGET, "--trials", "1", "--no-plots", *SHORT,
             "--study", "same")
    assert_one_line_error(cli(*other), "study same exists with other settings", "method 'finetune' (now 'neggrad')")
    forced = cli(*other, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert _study(tws, "same").user_attrs["settings"]["method"] == "neggrad"


def test_an_unreachable_storage_is_one_line_without_its_password(tws):
    started = time.monotonic()
    result = Cli(tws)("tune", "--method", "finetune", "--forget", FORGET, "--trials", "1", "--device", "cpu",
                      "--storage", "postgresql://tuner:s3cr3t-pw@127.0.0.1:9/optuna")
    assert_one_line_error(result, "cannot open the study storage postgresql://tuner:***@127.0.0.1:9/optuna")
    assert "s3cr3t-pw" not in result.stderr
    assert time.monotonic() - started < 30


def test_the_nsga_objective_minimises_the_four_gaps_and_picks_the_smallest_norm(tws):
    result = Cli(tws)("tune", "--method", "finetune", "--forget", FORGET, "--trials", "3", "--objective", "nsga",
                      "--no-plots", *SHORT, "--study", "nsga", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)  # --json: the summary instead of the manifest path
    study = _study(tws, "nsga")
    assert len(study.directions) == 4
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    norms = {t.number: sum(v * v for v in t.values) ** 0.5 for t in complete}
    pareto = {t.number for t in study.best_trials}
    assert summary["best"]["trial"] == min(pareto, key=lambda n: (norms[n], n))
    columns = pq.read_table(tws.root / "tune" / "nsga" / "trials.parquet").column_names
    assert {"objective_gap_RA", "objective_gap_FA", "objective_gap_VA", "objective_gap_mia_entropy"} <= set(columns)


def test_without_optuna_the_hint_names_the_extra(tws, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_optuna(name, *args, **kwargs):
        if name == "optuna" or name.startswith("optuna."):
            raise ImportError("No module named 'optuna'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_optuna)
    assert_one_line_error(Cli(tws)("tune", "--method", "finetune", "--forget", FORGET, "--trials", "1"),
                          "needs Optuna", "unlearn-cli[tune]")
