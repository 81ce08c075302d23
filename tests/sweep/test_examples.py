"""examples/: the shell scripts that pipe the steps for one cell of each paper.

Running them for real takes CIFAR (or a minute each on digits), so here each script runs against
a stand-in `unlearn` that parses every command line with the real CLI's own parser — subcommand,
option names, value types — prints a manifest path like the real step, and records the call.
A misspelt option or a wrong subcommand fails the script, as it would for a user.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = ["natmu-samplewise.sh", "natmu-classwise.sh", "corrective-poison.sh", "corrective-interclass.sh"]

STAND_IN = f"""#!{sys.executable}
import os
import sys

import typer

from unlearn_cli.cli.app import app

KINDS = {{"prepare-data": "dataset", "pretrain": "model", "make-forget-set": "forget-set",
          "unlearn": "unlearned", "evaluate": "evaluation", "report": "report"}}
name, args = sys.argv[1], sys.argv[2:]
command = typer.main.get_command(app).commands[name]  # KeyError: no such subcommand
try:
    command.make_context(name, list(args))  # the real options, types and ranges
except Exception as error:
    sys.exit(f"unlearn {{name}}: {{error}}")
if not sys.stdin.isatty():
    sys.stdin.read()
with open(os.environ.get("CALLS", os.devnull), "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
print(f"manifests/{{KINDS[name]}}/stand-in.json")
"""


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bin")
    path = folder / "unlearn"
    path.write_text(STAND_IN)
    path.chmod(0o755)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_command_of_the_example_parses(stand_in, tmp_path, script):
    calls = tmp_path / "calls"
    env = {**os.environ, "PATH": f"{stand_in}{os.pathsep}{os.environ['PATH']}", "CALLS": str(calls),
           "CIFAR10": "cifar-10-python.tar.gz", "CIFAR100": "cifar-100-python.tar.gz",
           "UNLEARN_WORKSPACE": str(tmp_path / "ws")}
    done = subprocess.run(["sh", str(EXAMPLES / script)], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines()
    assert lines[0].startswith("prepare-data") and lines[-1].startswith("report")
    assert sum(line.startswith("unlearn ") for line in lines) >= 4
    if script.startswith("corrective"):
        assert any("--manipulation" in line for line in lines if line.startswith("make-forget-set"))


def test_the_stand_in_refuses_a_bad_option(stand_in, tmp_path):
    env = {**os.environ, "PATH": f"{stand_in}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["unlearn", "unlearn", "--methd", "ssd"], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert done.returncode != 0 and "--methd" in done.stderr
