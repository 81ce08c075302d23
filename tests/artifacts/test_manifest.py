import json

import pytest

from unlearn_cli.artifacts import SCHEMA_VERSION, FileRef, Manifest, parse_manifest
from unlearn_cli.errors import ArtifactError


def make_manifest(**overrides) -> Manifest:
    base = dict(kind="dataset", name="digits", config={"dataset": "digits"},
                files={"train": FileRef("data/digits/train.safetensors", "ab" * 32)},
                summary={"train_size": 3})
    base.update(overrides)
    return Manifest(**base)


def test_round_trip_keeps_every_field(tmp_path):
    manifest = make_manifest(parents={"model": FileRef("manifests/model/m.json", "cd" * 32)})
    parsed = parse_manifest(manifest.to_json(), tmp_path / "m.json")
    assert parsed == manifest
    data = json.loads(manifest.to_json())
    assert list(data) == ["kind", "schema", "name", "created", "tool_version", "parents", "config", "files", "summary"]
    assert data["schema"] == SCHEMA_VERSION
    assert data["created"].endswith("+00:00")


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.update(schema=99), "unknown schema 99"),
        (lambda d: d.update(kind="banana"), "unknown kind"),
        (lambda d: d.pop("name"), "lacks name"),
        (lambda d: d.update(files={"train": {"path": "x"}}), "files.train needs 'path' and 'sha256'"),
        (lambda d: d.update(config=[1]), "'config' is not an object"),
    ],
)
def test_invalid_manifests_name_the_file(tmp_path, mutate, fragment):
    data = json.loads(make_manifest().to_json())
    mutate(data)
    path = tmp_path / "bad.json"
    with pytest.raises(ArtifactError) as error:
        parse_manifest(json.dumps(data), path)
    assert fragment in error.value.message
    assert str(path) in error.value.message


def test_not_json_is_an_artifact_error(tmp_path):
    with pytest.raises(ArtifactError, match="is not valid JSON"):
        parse_manifest("{not json", tmp_path / "m.json")
