"""A manifest path that is absolute, climbs out with `..`, or leaves through a
symbolic link is refused before anything is opened, even when its checksum matches."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import assert_one_line_error
from unlearn_cli.artifacts import Workspace

TINY = ("--epochs", "1", "--width", "0.25", "--device", "cpu")


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_a_dataset_manifest_pointing_outside_the_workspace_is_refused(cli, ws, tmp_path, how):
    assert cli("prepare-data").exit_code == 0
    manifest_path = ws.manifest_path("dataset", "digits")
    manifest = json.loads(manifest_path.read_text())
    # The attacker's copy outside the workspace, with the very checksum the manifest records.
    outside = tmp_path / "outside" / "train.safetensors"
    outside.parent.mkdir()
    shutil.copyfile(ws.root / manifest["files"]["train"]["path"], outside)
    if how == "symlink":
        link = ws.root / "data" / "digits" / "link.safetensors"
        link.symlink_to(outside)
        path = "data/digits/link.safetensors"
    else:
        path = str(outside) if how == "absolute" else "../outside/train.safetensors"
    manifest["files"]["train"]["path"] = path
    manifest_path.write_text(json.dumps(manifest))

    result = cli("pretrain", *TINY)
    assert_one_line_error(result, path, "inside", "--force")
    assert ws.names("model") == []


@pytest.mark.parametrize("ref, shown", [
    ("a\x00b", "a\\x00b"),  # no file name holds a NUL byte
    ("~nobody-here-at-all/m.json", "~nobody-here-at-all/m.json"),  # an unknown user's home
    ("/" * 5000, "/" * 200 + "…"),  # a path with no name at all
    ("d/" + "x" * 5000 + ".json", "d/" + "x" * 198 + "…"),  # longer than a file name may be
    ("\x1b[31mred", "\\x1b[31mred"),  # no terminal escapes in the error line
])
def test_a_reference_no_file_can_have_is_not_found_not_a_crash(cli, trained_ws, ref, shown):
    cli.workspace = trained_ws
    result = cli("make-forget-set", "--model", ref, "--per", "10")
    assert_one_line_error(result, f"no model '{shown}' in workspace")


def test_a_run_reference_no_file_can_have_is_shown_escaped_and_cut(cli, trained_ws):
    cli.workspace = trained_ws
    result = cli("evaluate", "--run", "a\x01b" + "/" * 3000, "--forget", "digits-cnn-s0")
    assert_one_line_error(result, "no unlearned or model 'a\\x01b" + "/" * 194 + "…' in workspace")


def test_an_over_long_name_is_quoted_cut(cli, trained_ws):
    cli.workspace = trained_ws
    result = cli("make-forget-set", "--model", "digits-cnn-s0", "--per", "10", "--name", "x" * 5000)
    assert_one_line_error(result, "invalid artifact name '" + "x" * 200 + "…'")


def test_a_source_under_an_unknown_users_home_is_not_found(cli, tmp_path):
    cli.workspace = Workspace.at(tmp_path / "ws")
    result = cli("prepare-data", "--dataset", "cifar10", "--source", "~nobody-here-at-all/cifar.tar.gz")
    assert_one_line_error(result, "~nobody-here-at-all/cifar.tar.gz does not exist")
