"""The stdin pipe through a real shell: each step prints the path the next one reads,
so no option names an upstream artifact:

    unlearn make-forget-set --model M --per 10 | unlearn unlearn --method scrub | unlearn evaluate --json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.methods.runs import FORGET

pytestmark = pytest.mark.subprocess

PIPE = r"""
u() { "$UNLEARN_PYTHON" -m unlearn_cli "$@"; }
u make-forget-set --model digits-cnn-s0 --per 10 --seed 3 --name piped \
  | u unlearn --method scrub --epochs 1 --device cpu \
  | u evaluate --json --device cpu
"""


@pytest.mark.slow
def test_make_forget_set_unlearn_evaluate_in_one_pipe(mws):
    env = {**os.environ, "UNLEARN_WORKSPACE": str(mws.root), "UNLEARN_PYTHON": sys.executable,
           "OMP_NUM_THREADS": "1", "UNLEARN_DEBUG": ""}
    done = subprocess.run(["bash", "-o", "pipefail", "-c", PIPE], env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["manifest"] == str(mws.manifest_path("evaluation", "piped-scrub-s0"))
    assert {"FA", "RA", "TA", "mia_entropy"} <= set(result["metrics"])
    run = mws.read("unlearned", "piped-scrub-s0")
    assert run.config["method"] == "scrub" and run.config["forget"] == "piped"
    assert run.config["model"] == "digits-cnn-s0"  # inferred from the forget set's parents


def test_stdin_fills_the_options_its_manifests_kinds_name(mws):
    from typer.testing import CliRunner

    from unlearn_cli.cli.app import app

    env = {"UNLEARN_WORKSPACE": str(mws.root), "UNLEARN_DEBUG": "", "COLUMNS": "200"}
    model = mws.manifest_path("model", "digits-cnn-s0")
    forget = mws.manifest_path("forget-set", FORGET)
    # Both omitted: each path fills the option of its kind, in any order.
    result = CliRunner().invoke(app, ["unlearn", "--method", "finetune", "--epochs", "1"],
                                input=f"{model}\n{forget}\n", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{mws.manifest_path('unlearned', f'{FORGET}-finetune-s0')}\n"
    # An option given explicitly is not filled again: a model on stdin then has no taker.
    result = CliRunner().invoke(app, ["unlearn", "--method", "finetune", "--model", "digits-cnn-s0", "--forget", "-"],
                                input=f"{forget}\n{model}\n", env=env)
    assert result.exit_code == 1 and "stdin gave a model manifest" in result.stderr
    assert "no option here takes" in result.stderr
    # '-' with nothing of its kind on stdin.
    result = CliRunner().invoke(app, ["unlearn", "--method", "finetune", "--forget", "-"], input="", env=env)
    assert result.exit_code == 1 and "--forget - found no forget-set manifest on stdin" in result.stderr
