"""What surfaced as "internal error" is one error line with a hint, and nothing is
left behind: an out-of-range --seed, a deeply nested JSON index file, a write that hits a
file-size limit (or a full disk), and a tar.gz cut exactly at a member boundary.

(A non-ASCII --class digit, another such case, is fixed and tested with the forget kinds.)"""

from __future__ import annotations

import gzip
import io
import resource
import signal
import tarfile
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.fixtures.formats import write_cifar10
from tests.hostile.conftest import assert_clean_failure, run_unlearn

COMMANDS = {
    "pretrain": ("pretrain", "--epochs", "1", "--width", "0.25", "--device", "cpu", "--name", "seeded"),
    "make-forget-set": ("make-forget-set", "--model", "digits-cnn-s0", "--per", "10"),
    "evaluate": ("evaluate", "--run", "digits-cnn-s0", "--forget", "digits-cnn-s0-per10-s0"),
}


@pytest.mark.parametrize("seed", [str(2**70), "-1", str(2**32)])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_out_of_range_seed_is_a_usage_error(cli, trained_ws, command, seed):
    cli.workspace = trained_ws
    if command == "evaluate":
        assert cli(*COMMANDS["make-forget-set"]).exit_code == 0
    names = {kind: trained_ws.names(kind) for kind in ("model", "forget-set", "evaluation")}
    result = cli(*COMMANDS[command], "--seed", seed)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    bound = "greater than or equal to 0" if seed == "-1" else "less than or equal to 4294967295"
    assert "Invalid value for '--seed'" in result.stderr and bound in result.stderr
    assert "internal error" not in result.stderr
    assert {kind: trained_ws.names(kind) for kind in names} == names


def test_a_deeply_nested_json_index_file(cli, trained_ws, tmp_path):
    cli.workspace = trained_ws
    deep = tmp_path / "rows.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = cli("make-forget-set", "--model", "digits-cnn-s0", "--indices", str(deep))
    assert_one_line_error(result, "rows.json", "too deeply")
    assert trained_ws.names("forget-set") == []


def _file_size_limit(limit: int):
    def apply() -> None:
        # As a shell's `ulimit -f` does; SIGXFSZ ignored (Python ignores it too), so the
        # write fails with EFBIG instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_write_past_the_file_size_limit_names_the_file_and_leaves_nothing(tmp_path):
    ws = tmp_path / "ws"
    done = run_unlearn(["prepare-data"], ws, limits=_file_size_limit(50_000))  # train split: ~100 kB
    assert_clean_failure(done, f"cannot write {ws / 'data' / 'digits' / 'train.safetensors'}",
                         "larger than this system allows")
    assert _files(ws) == {}


@pytest.mark.slow
def test_a_forced_prepare_data_on_a_full_disk_keeps_the_old_dataset(cli, ws):
    """A failed --force keeps the old artifact (docs/design.md "Manifests"): prepare-data
    --force where the write fails (here at the file-size limit, as on a full disk) must leave
    the old dataset in place."""
    assert cli("prepare-data").exit_code == 0
    before = _files(ws.root)
    done = run_unlearn(["prepare-data", "--force"], ws.root, limits=_file_size_limit(50_000))
    assert_clean_failure(done, "train.safetensors", "larger than this system allows")
    assert _files(ws.root) == before
    ws.read("dataset", "digits")


def test_a_tar_gz_cut_exactly_at_a_member_boundary_says_it_is_truncated(cli, ws, tmp_path):
    archive = write_cifar10(tmp_path, archive=True)
    raw = gzip.decompress(archive.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        cut = next(m.offset for m in tar.getmembers() if m.name.endswith("data_batch_3"))
    archive.write_bytes(gzip.compress(raw[:cut]))  # a whole gzip of a tar cut between members
    result = cli("prepare-data", "--dataset", "cifar10", "--source", str(archive))
    assert_one_line_error(result, str(archive), "the archive is truncated", "after member "
                          "'cifar-10-batches-py/data_batch_2'", "download it again")
    assert not ws.manifest_path("dataset", "cifar10").exists()
