import os

import pytest
import torch

from unlearn_cli.artifacts import (
    Manifest,
    Workspace,
    atomic_path,
    load_table,
    load_tensors,
    save_tensors,
    sha256_file,
)
from unlearn_cli.errors import ArtifactError, ArtifactExistsError, InputError


def write_artifact(ws: Workspace, name="m1", kind="model") -> Manifest:
    weights = ws.ckpt_path(name)
    save_tensors(weights, {"w": torch.arange(4.0)})
    manifest = Manifest(kind=kind, name=name, files={"weights": ws.file_ref(weights)})
    ws.write(manifest)
    return manifest


def test_workspace_from_env_and_option(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_WORKSPACE", str(tmp_path / "env"))
    assert Workspace.at().root == (tmp_path / "env").resolve()
    assert Workspace.at(tmp_path / "opt").root == (tmp_path / "opt").resolve()
    monkeypatch.delenv("UNLEARN_WORKSPACE")
    monkeypatch.chdir(tmp_path)
    assert Workspace.at().root == tmp_path.resolve()


def test_read_by_name_and_by_path(ws):
    write_artifact(ws)
    by_name = ws.read("model", "m1")
    by_path = ws.read("model", str(ws.manifest_path("model", "m1")))
    assert by_name == by_path
    assert by_name.source == ws.manifest_path("model", "m1")


def test_unknown_name_lists_known_ones(ws):
    write_artifact(ws, "alpha")
    with pytest.raises(ArtifactError) as error:
        ws.read("model", "beta")
    assert "no model 'beta'" in error.value.message
    assert "alpha" in error.value.hint


def test_wrong_kind_is_refused(ws):
    write_artifact(ws)
    with pytest.raises(ArtifactError, match="is a model manifest, not a dataset"):
        ws.read("dataset", str(ws.manifest_path("model", "m1")))


def test_checksum_mismatch_names_the_file(ws):
    write_artifact(ws)
    save_tensors(ws.ckpt_path("m1"), {"w": torch.zeros(4)})
    with pytest.raises(ArtifactError) as error:
        ws.read("model", "m1")
    assert "fails its checksum" in error.value.message
    assert "m1.safetensors" in error.value.message


def test_missing_file_is_reported(ws):
    write_artifact(ws)
    ws.ckpt_path("m1").unlink()
    with pytest.raises(ArtifactError, match="weights file .* is missing"):
        ws.read("model", "m1")


def test_changed_parent_is_detected(ws):
    parent = write_artifact(ws, "parent")
    child = Manifest(kind="forget-set", name="child", parents={"model": ws.parent_ref(parent)})
    ws.write(child)
    ws.read("forget-set", "child")
    parent.summary["x"] = 1
    ws.write(parent)
    with pytest.raises(ArtifactError, match="changed since it was made"):
        ws.read("forget-set", "child")


def test_no_silent_overwrite(ws):
    write_artifact(ws)
    with pytest.raises(ArtifactExistsError) as error:
        ws.check_new("model", "m1", force=False)
    assert "--force" in error.value.hint
    ws.check_new("model", "m1", force=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_workspace(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    with pytest.raises(ArtifactError, match="not writable"):
        Workspace.at(locked).check_new("model", "m", force=False)


def test_unwritable_workspace_path_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ArtifactError, match="cannot create workspace"):
        Workspace.at(blocker / "ws").check_new("model", "m", force=False)


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x.json"])
def test_unsafe_names_are_refused(ws, name):
    with pytest.raises(InputError):
        ws.manifest_path("model", name)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_whole_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_tensor_and_table_io_errors(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(ArtifactError, match="not a readable safetensors"):
        load_tensors(bad)
    bad_table = tmp_path / "bad.parquet"
    bad_table.write_bytes(b"nope")
    with pytest.raises(ArtifactError, match="not a readable Parquet"):
        load_table(bad_table)


def test_sha256_matches_hashlib(tmp_path):
    import hashlib

    path = tmp_path / "f"
    path.write_bytes(b"x" * 3_000_000)
    assert sha256_file(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


@pytest.mark.slow
def test_tensor_files_are_byte_identical_across_processes(tmp_path):
    """safetensors orders multi-key metadata randomly per process; our files must not vary."""
    import subprocess
    import sys

    code = ("import sys, torch; from unlearn_cli.artifacts import save_tensors; "
            "save_tensors(sys.argv[1], {'w': torch.arange(3.0)}, {'b': 1, 'a': 2, 'c': 'x', 'd': [1]})")
    hashes = set()
    for i in range(4):
        out = tmp_path / f"{i}.safetensors"
        subprocess.run([sys.executable, "-c", code, str(out)], check=True)
        hashes.add(sha256_file(out))
    assert len(hashes) == 1


def test_metadata_round_trip(tmp_path):
    from unlearn_cli.artifacts import load_metadata

    save_tensors(tmp_path / "t.safetensors", {"w": torch.zeros(1)}, {"step": 3, "nested": {"a": [1, 2]}})
    assert load_metadata(tmp_path / "t.safetensors") == {"step": 3, "nested": {"a": [1, 2]}}


