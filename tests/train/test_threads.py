"""The CPU thread count and OpenMP wait policy chosen before torch starts its pool."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from unlearn_cli.errors import InputError
from unlearn_cli.train import threads


def test_the_wait_policy_is_passive_unless_the_user_chose_one():
    environ: dict[str, str] = {}
    threads.configure_openmp(environ)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    chosen = {"OMP_WAIT_POLICY": "ACTIVE"}
    threads.configure_openmp(chosen)
    assert chosen == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_the_cli_sets_the_policy_before_torch_loads():
    code = ("import os, sys\nimport unlearn_cli.cli.app\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    environment = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["PASSIVE", "False"]


@pytest.mark.parametrize("files, expected", [
    ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2 quota of 1.5 cores
    ({"cpu.max": "max 100000\n"}, None),  # v2, no quota
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3.0),  # v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, no quota
    ({"cpu.max": "garbage"}, None),
    ({}, None),
])
def test_the_cgroup_quota_is_read_from_v1_or_v2(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert threads.cgroup_cpu_limit(tmp_path) == expected


def test_usable_cores_are_the_affinity_capped_by_the_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    assert threads.usable_cores(tmp_path) == 8
    (tmp_path / "cpu.max").write_text("150000 100000")  # 1.5 cores: two threads may run
    assert threads.usable_cores(tmp_path) == 2
    (tmp_path / "cpu.max").write_text("20000 100000")  # a fifth of a core still runs one
    assert threads.usable_cores(tmp_path) == 1


def test_the_users_choice_wins(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert threads.choose_threads({}, tmp_path) == 4
    assert threads.choose_threads({"UNLEARN_THREADS": "1"}, tmp_path) == 1
    assert threads.choose_threads({"UNLEARN_THREADS": ""}, tmp_path) == 4


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_thread_count_is_a_user_error(value):
    with pytest.raises(InputError, match="positive whole number"):
        threads.choose_threads({"UNLEARN_THREADS": value})


def test_apply_threads_sets_torchs_pool(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("UNLEARN_THREADS", "1")
    try:
        assert threads.apply_threads() == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_the_threads_option_reaches_the_run_and_its_manifest(cli, monkeypatch):
    import torch

    monkeypatch.delenv("UNLEARN_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        assert cli("prepare-data", "--dataset", "digits").exit_code == 0
        result = cli("--threads", "1", "pretrain", "--model", "cnn", "--width", "0.25", "--epochs", "1")
        assert result.exit_code == 0, result.stderr
        assert cli.workspace.read("model", result.stdout.strip()).summary["threads"] == 1
    finally:
        os.environ.pop("UNLEARN_THREADS", None)
        torch.set_num_threads(before)


def test_a_bad_threads_option_is_one_line(cli):
    result = cli("--threads", "0", "pretrain", "--model", "cnn")
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr
