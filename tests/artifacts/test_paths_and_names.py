"""Every manifest path stays inside the workspace; names are matched whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from unlearn_cli.artifacts import Manifest, Workspace, check_name, name_or_default, parse_manifest, save_tensors
from unlearn_cli.artifacts.files import sha256_file
from unlearn_cli.errors import ArtifactError, InputError


def _model_pointing_at(ws: Workspace, path: str, sha256: str) -> Path:
    """A model manifest whose weights entry was edited to `path`."""
    manifest = Manifest(kind="model", name="m")
    text = json.loads(manifest.to_json())
    text["files"] = {"weights": {"path": path, "sha256": sha256}}
    target = ws.manifest_path("model", "m")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(text))
    return target


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the workspace whose checksum an attacker knows."""
    secret = tmp_path / "secret.safetensors"
    save_tensors(secret, {"w": torch.arange(3.0)})
    return secret


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "backslash-dotdot"])
def test_manifest_paths_that_leave_the_workspace_are_refused_on_reading(ws, outside, monkeypatch, kind):
    ws.root.mkdir(parents=True)
    path = {"absolute": str(outside),
            "dotdot": f"../{outside.name}",
            "backslash-dotdot": f"ckpt\\..\\..\\{outside.name}"}[kind]
    _model_pointing_at(ws, path, sha256_file(outside))
    opened: list[str] = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda file, *a, **k: opened.append(str(file)) or real_open(file, *a, **k))
    with pytest.raises(ArtifactError) as error:
        ws.read("model", "m")
    assert path in error.value.message and "inside the workspace" in error.value.message
    assert str(outside) not in opened  # refused before anything is opened


def test_a_symbolic_link_out_of_the_workspace_is_refused(ws, outside):
    (ws.root / "ckpt").mkdir(parents=True)
    (ws.root / "ckpt" / "m.safetensors").symlink_to(outside)
    _model_pointing_at(ws, "ckpt/m.safetensors", sha256_file(outside))
    with pytest.raises(ArtifactError, match="symbolic link"):
        ws.read("model", "m")
    with pytest.raises(ArtifactError, match="symbolic link"):
        ws.abs("ckpt/m.safetensors")


def test_a_manifest_outside_the_workspace_is_refused(ws, tmp_path):
    ws.root.mkdir(parents=True)
    elsewhere = tmp_path / "other.json"
    elsewhere.write_text(Manifest(kind="model", name="other").to_json())
    with pytest.raises(ArtifactError, match="outside workspace"):
        ws.read("model", str(elsewhere))
    with pytest.raises(ArtifactError, match="outside workspace"):
        ws.rel(elsewhere)


def test_parse_refuses_escaping_parent_paths(tmp_path):
    text = Manifest(kind="model", name="m").to_json().replace(
        '"parents": {}', '"parents": {"dataset": {"path": "/etc/passwd", "sha256": "0"}}')
    with pytest.raises(ArtifactError, match="parents.dataset path '/etc/passwd' is absolute"):
        parse_manifest(text, tmp_path / "m.json")


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"schema": ' + "1" * 5000 + "}"],
                         ids=["deeply-nested", "huge-number"])
def test_pathological_json_is_a_corrupt_manifest(tmp_path, text):
    with pytest.raises(ArtifactError, match="is not a manifest"):
        parse_manifest(text, tmp_path / "m.json")


@pytest.mark.parametrize("name", ["nl\n", "", "tab\there", "a" * 151, "m.init", "m.resume", "x.json", " lead"])
def test_names_are_matched_whole(name):
    with pytest.raises(InputError) as error:
        check_name(name)
    assert repr(name) in error.value.message


def test_names_that_are_fine(ws):
    for name in ("cifar10-resnet18-s0", "frac0.2-unbalanced", "a+b_c", "a" * 150, "m.initial"):
        assert check_name(name) == name
    assert not ws.names("model")


def test_an_empty_name_is_an_error_not_the_default():
    assert name_or_default(None, "default-name") == "default-name"
    assert name_or_default("mine", "default-name") == "mine"
    with pytest.raises(InputError, match="invalid artifact name ''"):
        name_or_default("", "default-name")


def test_find_by_name_needs_the_whole_name(ws):
    ws.root.mkdir(parents=True)
    ws.write(Manifest(kind="model", name="m"))
    assert ws.read("model", "m").name == "m"
    with pytest.raises(ArtifactError, match="no model"):
        ws.read("model", "m\n")
