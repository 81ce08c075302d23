"""Preset files: written and read back exactly, merged over a registered base, and every bad
file refused with its name."""

from __future__ import annotations

import pytest

from unlearn_cli.errors import InputError
from unlearn_cli.methods.preset_files import MAX_BYTES, PresetFile, parse_preset_file, preset_text, read_preset_file
from unlearn_cli.methods.presets import PRESETS, PresetEntry, load_preset, preset_for


def _write(tmp_path, text: str):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return str(path)


def test_a_preset_file_round_trips(tmp_path):
    written = PresetFile(name="tuned-x", setting='tuned "here"\non digits', datasets=("digits",), base=None,
                         methods={"scrub": PresetEntry(params={"alpha": 0.1 + 0.2, "form": "steps", "msteps": 3,
                                                               "lr_decay_epochs": [2, 4]},
                                                       recipe={"lr": 1e-3 / 3, "epochs": 4})})
    path = _write(tmp_path, preset_text(written, comment="a comment\non two lines"))
    assert parse_preset_file(path) == written  # floats exactly (repr), strings escaped
    resolved = preset_for(path, "scrub")
    assert resolved.params["alpha"] == 0.1 + 0.2 and resolved.recipe_fields(None) == {"lr": 1e-3 / 3, "epochs": 4}


def test_a_base_preset_supplies_what_the_file_does_not_set(tmp_path):
    path = _write(tmp_path, 'name = "over"\nbase = "natmu-cifar10"\n[methods.salun]\nparams = { threshold = 0.3 }\n'
                            'recipe = { lr = 0.0001 }\n')
    base = PRESETS.get("natmu-cifar10").methods["salun"]
    entry = read_preset_file(path).methods["salun"]
    assert entry.params == {**base.params, "threshold": 0.3}
    assert entry.recipe == {**base.recipe, "lr": 0.0001}  # AdamW, its schedule and batch kept
    assert load_preset(path).name == "over"


@pytest.mark.parametrize(("text", "fragment"), [
    ("name = 'x'\n[methods.finetune]\nrecipe = { momentum = 0.5 }\n", "recipe has unknown key momentum"),
    ("name = 'x'\nextra = 1\n[methods.finetune]\n", "unknown key extra"),
    ("name = 'has space'\n[methods.finetune]\n", "name must be"),
    ("name = 'x'\n", "it has no [methods.<method>] table"),
    ("name = 'x'\nbase = 'nope'\n[methods.finetune]\n", "base 'nope' is not a registered preset"),
    ("name = 'x'\n[methods.finetune]\nrecipe = { epochs = 0 }\n", "epochs = 0 is not a positive integer"),
    ("name = 'x'\n[methods.finetune]\nrecipe = { lr = -1.0 }\n", "lr = -1.0 is not a non-negative number"),
    ("name = 'x'\n[methods.finetune]\nother = 1\n", "may hold only params and recipe"),
    ("name = \n", "is not TOML"),
])
def test_a_bad_preset_file_is_refused_with_its_name(tmp_path, text, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as raised:
        read_preset_file(path)
    assert fragment in raised.value.message and path in raised.value.message


def test_a_missing_or_huge_preset_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="cannot read preset file"):
        read_preset_file(str(tmp_path / "missing.toml"))
    path = _write(tmp_path, "# " + "x" * MAX_BYTES)
    with pytest.raises(InputError, match="is over 64 KiB"):
        read_preset_file(path)


def test_a_preset_file_without_the_method_lists_what_it_has(tmp_path):
    path = _write(tmp_path, "name = 'x'\n[methods.finetune]\n")
    with pytest.raises(InputError, match="has no settings for method 'scrub'"):
        preset_for(path, "scrub")
