"""The Ray and Slurm executors: the same artifacts as the local executor, and their bad input.

Ray runs on a local Ray started inside the test (`ray.init(num_cpus=2)`); Slurm through
submitit's local executor, the same submission path without a cluster. Each is skipped, saying
why, when its extra is not installed (`pip install -c constraints.txt -e '.[dev]'` installs both).
"""

from __future__ import annotations

import builtins
import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.sweep.helpers import SMALL_GRID, artifacts, write_grid
from unlearn_cli.artifacts import Workspace
from unlearn_cli.errors import InputError
from unlearn_cli.sweep import shared
from unlearn_cli.sweep.run import SweepOptions, run_sweep
from unlearn_cli.sweep.slurm import minutes

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'unlearn-cli[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_executor_gives_the_local_executors_artifacts(local_ray, baseline, tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    result = run_sweep(ws, SweepOptions(grid=write_grid(tmp_path), executor="ray", threads=1))
    assert result.tally() == {"done": 11, "ran": 11, "already": 0, "failed": 0, "skipped": 0}
    assert artifacts(ws) == artifacts(baseline)
    assert ws.read("report", "small")
    assert not list((ws.root / "sweeps" / "small").glob(".shared-*"))  # the check's marker is gone


def test_a_workspace_the_ray_workers_cannot_see_is_refused_before_any_work(local_ray, tmp_path, monkeypatch):
    """A local Ray shares this machine's disk, so the invisible workspace is simulated: the
    marker the workers look for is never written where they look."""
    def unseen(root: Path, sweep: str) -> tuple[Path, str]:
        return Path(root) / "sweeps" / sweep / ".shared-never-written", "token"

    monkeypatch.setattr(shared, "write_marker", unseen)
    ws = Workspace.at(tmp_path / "ws")
    with pytest.raises(InputError) as error:
        run_sweep(ws, SweepOptions(grid=write_grid(tmp_path), executor="ray", threads=1))
    assert f"workspace {ws.root} is not visible from the Ray workers" in error.value.message
    assert "cannot read it" in error.value.message and "shared" in error.value.hint
    assert not (ws.root / "manifests").exists()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nobody listens once it is closed


def test_a_ray_address_that_does_not_answer(cli, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'unlearn-cli[ray]')")
    started = time.monotonic()
    result = cli("sweep", str(write_grid(tmp_path)), "--executor", "ray", "--address", f"127.0.0.1:{_closed_port()}")
    assert_one_line_error(result, "the Ray cluster at 127.0.0.1:", "does not answer", "ray start --head")
    assert time.monotonic() - started < 30
    assert not (cli.workspace.root / "manifests").exists()


@pytest.mark.parametrize(("executor", "module", "extra"), [("ray", "ray", "ray"), ("slurm", "submitit", "slurm")])
def test_an_executor_without_its_extra_says_how_to_install_it(cli, tmp_path, monkeypatch, executor, module, extra):
    real_import = builtins.__import__

    def without(name, *args, **kwargs):
        if name == module or name.startswith(f"{module}."):
            raise ImportError(f"No module named '{module}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without)
    result = cli("sweep", str(write_grid(tmp_path)), "--executor", executor)
    assert_one_line_error(result, f"--executor {executor} needs", f"pip install -c constraints.txt 'unlearn-cli[{extra}]'")
    assert not (cli.workspace.root / "manifests").exists()


def test_slurm_executor_through_submitits_local_executor_gives_the_same_artifacts(baseline, tmp_path):
    pytest.importorskip("submitit", reason="the slurm extra is not installed (pip install 'unlearn-cli[slurm]')")
    ws = Workspace.at(tmp_path / "ws")
    # Without finetune (each job is a fresh process: fewer jobs, a shorter test); the rest is the baseline's.
    grid = write_grid(tmp_path, SMALL_GRID.replace('[[methods]]\nname = "finetune"\n', ""))
    result = run_sweep(ws, SweepOptions(grid=grid, executor="slurm", cluster="local", threads=1, time="10",
                                        poll_seconds=0.2))
    assert result.tally() == {"done": 9, "ran": 9, "already": 0, "failed": 0, "skipped": 0}
    made, expected = artifacts(ws), artifacts(baseline)
    assert len(made) == 8 and made == {name: expected[name] for name in made}
    # submitit's own files (the jobs' stdout/stderr) beside the nodes' logs.
    assert list((ws.root / "sweeps" / "small" / "slurm").glob("*_log.err"))


def test_slurm_where_there_is_no_slurm(cli, tmp_path):
    pytest.importorskip("submitit", reason="the slurm extra is not installed (pip install 'unlearn-cli[slurm]')")
    if shutil.which("srun"):
        pytest.skip("this machine has Slurm")
    result = cli("sweep", str(write_grid(tmp_path)), "--executor", "slurm", "--partition", "gpu")
    assert_one_line_error(result, "cannot submit Slurm jobs from here", "srun", "--executor local")
    assert not (cli.workspace.root / "manifests").exists()


@pytest.mark.parametrize(("text", "expected"), [("240", 240), ("4:00:00", 240), ("90:30", 91), ("1-12", 2160),
                                                 ("1-00:00:30", 1441), ("2-1:30", 2970)])
def test_slurm_time_limits(text, expected):
    assert minutes(text) == expected


@pytest.mark.parametrize("text", ["four hours", "0", "1:2:3:4", ""])
def test_bad_slurm_time_limits(text):
    with pytest.raises(InputError, match="--time"):
        minutes(text)
