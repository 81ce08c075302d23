"""The shell-pipe contract through real processes: stdout carries only manifest paths, so
`model=$(unlearn pretrain ...)` chains steps; errors go to stderr with exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

# Each step imports torch in a fresh interpreter; generous, but a hang must not stall the suite.
TIMEOUT = 240


@pytest.fixture(scope="module")
def ws_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pipe") / "ws"


@pytest.fixture(scope="module")
def env(ws_root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "UNLEARN_WORKSPACE": str(ws_root),
        "OMP_NUM_THREADS": "1",
        "UNLEARN_DEBUG": "",
        "UNLEARN_PYTHON": sys.executable,
    }


def unlearn(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unlearn_cli", *args], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def prepared(env) -> subprocess.CompletedProcess[str]:
    """`prepare-data --dataset digits` run once in a real process; the pipeline builds on it
    (each interpreter start imports torch, which is most of what these tests cost)."""
    return unlearn(env, "prepare-data", "--dataset", "digits")


@pytest.mark.slow
def test_prepare_data_prints_only_the_manifest_path(prepared, ws_root):
    assert prepared.returncode == 0, prepared.stderr
    lines = prepared.stdout.splitlines()
    assert len(lines) == 1 and prepared.stdout == lines[0] + "\n"
    path = Path(lines[0])
    assert path == ws_root / "manifests" / "dataset" / "digits.json"
    assert path.is_file() and json.loads(path.read_text())["kind"] == "dataset"


PIPELINE = r"""
u() { "$UNLEARN_PYTHON" -m unlearn_cli "$@"; }
model=$(u pretrain --width 0.25 --epochs 1 --device cpu) &&
forget=$(u make-forget-set --model "$model" --per 10) &&
echo "model=$model" >&2 &&
echo "forget=$forget" >&2 &&
u evaluate --run "$model" --forget "$forget" --device cpu
"""


@pytest.mark.slow
def test_steps_chain_in_a_shell_pipeline(env, prepared, ws_root):
    assert prepared.returncode == 0, prepared.stderr
    done = subprocess.run(["sh", "-c", PIPELINE], env=env, capture_output=True, text=True,
                          timeout=4 * TIMEOUT)
    assert done.returncode == 0, done.stderr
    ws = ws_root
    # Only the last step writes to the script's stdout: exactly the evaluation manifest path.
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    evaluation = Path(lines[-1])
    assert evaluation.parent == ws / "manifests" / "evaluation" and evaluation.is_file()
    manifest = json.loads(evaluation.read_text())
    assert manifest["kind"] == "evaluation"

    # Each captured value was exactly one manifest path (stdout unpolluted by progress or logs).
    captured = dict(line.split("=", 1) for line in done.stderr.splitlines()
                    if line.startswith(("model=", "forget=")))
    model, forget = Path(captured["model"]), Path(captured["forget"])
    assert model == ws / "manifests" / "model" / "digits-cnn-w0.25-e1-s0.json" and model.is_file()
    assert forget.parent == ws / "manifests" / "forget-set" and forget.is_file()
    assert json.loads(model.read_text())["kind"] == "model"
    assert json.loads(forget.read_text())["kind"] == "forget-set"
    # The evaluation descends from exactly the artifacts the pipeline passed along.
    parent_paths = {ref["path"] for ref in manifest["parents"].values()}
    assert model.relative_to(ws).as_posix() in parent_paths
    assert forget.relative_to(ws).as_posix() in parent_paths

    # Run twice, the same pipeline finds every artifact made by the same request: exit 0, the
    # same evaluation path, and nothing rewritten.
    before = {path: path.stat().st_mtime_ns for path in ws.rglob("*")
              if path.is_file() and ".lock" not in path.name and ".hashcache" not in path.parts}
    again = subprocess.run(["sh", "-c", PIPELINE], env=env, capture_output=True, text=True, timeout=4 * TIMEOUT)
    assert again.returncode == 0, again.stderr
    assert again.stdout == done.stdout
    after = {path: path.stat().st_mtime_ns for path in before if path.exists()}
    assert after == before


@pytest.mark.slow
def test_error_in_a_subprocess(env):
    done = unlearn(env, "prepare-data", "--dataset", "nope")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("Error: unknown dataset 'nope'")
    assert "Hint: valid datasets:" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_debug_env_shows_the_traceback(env):
    done = unlearn({**env, "UNLEARN_DEBUG": "1"}, "prepare-data", "--dataset", "nope")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback (most recent call last)" in done.stderr
    assert "UnknownNameError: unknown dataset 'nope'" in done.stderr


def test_a_reader_that_stops_early_is_not_an_error(env):
    """`unlearn ls datasets | head -1`: the closed pipe ends the command quietly."""
    proc = subprocess.Popen([sys.executable, "-m", "unlearn_cli", "ls", "datasets"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    assert proc.wait() == 141
    assert proc.stderr.read() == b""
