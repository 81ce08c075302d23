"""`unlearn report` through real processes: evaluations piped on stdin, and --format output
that other tools parse."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report.fixtures import Chain
from tests.report.test_report_command import basic
from unlearn_cli.artifacts import Workspace

pytestmark = pytest.mark.subprocess

TIMEOUT = 120


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    ws = Workspace.at(tmp_path_factory.mktemp("pipe") / "ws")
    basic(Chain(ws))
    return ws.root


def shell(root: Path, script: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UNLEARN_WORKSPACE": str(root), "UNLEARN_DEBUG": "", "UNLEARN_PYTHON": sys.executable}
    return subprocess.run(["sh", "-c", 'u() { "$UNLEARN_PYTHON" -m unlearn_cli "$@"; }\n' + script], cwd=root,
                          env=env, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.slow
def test_ls_piped_into_report_dash(root):
    done = shell(root, "ls manifests/evaluation/*.json | u report - --name piped")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{root / 'manifests' / 'report' / 'piped.json'}\n"
    manifest = json.loads(Path(done.stdout.strip()).read_text())
    assert manifest["kind"] == "report" and len(manifest["parents"]) == 4
    assert "finetune" in done.stderr  # the table, on stderr


@pytest.mark.slow
def test_a_plain_pipe_without_dash_and_csv_on_stdout(root):
    done = shell(root, "ls manifests/evaluation/*.json | u report --name plain --format csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    fa = next(r for r in rows if r["method"] == "finetune" and r["metric"] == "FA")
    assert float(fa["mean"]) == pytest.approx(83.0) and float(fa["std"]) == pytest.approx(math.sqrt(18))


@pytest.mark.slow
def test_json_on_stdout_feeds_another_program(root):
    done = shell(root, "u report --all --name js --format json | "
                       "\"$UNLEARN_PYTHON\" -c 'import json,sys; d=json.load(sys.stdin); "
                       "print(len(d[\"summary\"]), d[\"manifest\"])'")
    assert done.returncode == 0, done.stderr
    count, manifest = done.stdout.split()
    assert int(count) > 0 and manifest.endswith("manifests/report/js.json")


@pytest.mark.slow
def test_a_bad_line_on_stdin_fails_cleanly(root):
    done = shell(root, "ls manifests/evaluation/* | u report - --name bad")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("Error: ") and "is not an evaluation manifest" in done.stderr
    assert not (root / "reports" / "bad").exists()
