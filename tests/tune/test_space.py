"""Search spaces: every registered method's space is valid data, and `--space` reports every bad
key and range at once."""

from __future__ import annotations

import pytest

from unlearn_cli.errors import InputError
from unlearn_cli.methods import METHODS
from unlearn_cli.space import Range, choice, describe_space, integers, log_uniform, parse_space, setting_types, uniform


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_declares_a_valid_space_of_its_own_settings(name):
    spec = METHODS.get(name)
    types = setting_types(spec.params)
    if name == "retrain":
        assert spec.space == {}  # the yardstick: nothing to tune
        return
    assert spec.space, f"{name} declares no search space"
    for key, r in spec.space.items():
        assert key in types
        if r.choices is None:
            assert r.low < r.high
    if spec.trains:
        assert {"lr", "epochs"} <= set(spec.space)
        assert spec.space["lr"].log  # learning rates span decades
    else:
        assert not {"lr", "epochs"} & set(spec.space)


@pytest.mark.parametrize("name", [n for n in METHODS.names() if n != "retrain"])
def test_a_space_reads_back_from_its_own_description(name):
    spec = METHODS.get(name)
    items = [f"{key}={r.describe()}" for key, r in spec.space.items()]
    assert parse_space(items, setting_types(spec.params), name) == spec.space


def test_parse_space_syntax():
    types = setting_types(METHODS.get("scrub").params)
    space = parse_space(["lr=1e-4:1e-1:log", "epochs=2:6", "alpha=0.25:0.75", "form=epochs,steps", "msteps=3"],
                        types, "scrub")
    assert space["lr"] == log_uniform(1e-4, 1e-1)
    assert space["epochs"] == integers(2, 6)
    assert space["alpha"] == uniform(0.25, 0.75)
    assert space["form"] == choice("epochs", "steps")
    assert space["msteps"] == choice(3)  # one value pins it
    assert describe_space(space) == "lr=0.0001:0.1:log epochs=2:6 alpha=0.25:0.75 form=epochs,steps msteps=3"


def test_every_bad_key_and_range_is_reported_at_once():
    types = setting_types(METHODS.get("neggrad_plus").params)
    with pytest.raises(InputError) as raised:
        parse_space(["lr=1:0.1", "foo=1:2", "alpha=-1:1:log", "epochs=a,b", "epochs=1:2", "lr", "alpha=1:2:cube"],
                    types, "method 'neggrad_plus'")
    message = raised.value.message
    for fragment in ("lr=1:0.1: lo 1 is not below hi 0.1", "foo is not a setting of method 'neggrad_plus'",
                     "a log range needs positive bounds, not -1", "'a' is not of type int", "'lr' is not key=",
                     "write lo:hi or lo:hi:log"):
        assert fragment in message, message
    assert "alpha (float)" in raised.value.hint


def test_a_range_on_a_setting_that_is_not_a_number_asks_for_values():
    types = setting_types(METHODS.get("scrub").params)
    with pytest.raises(InputError, match="form is 'epochs' | 'steps': list its values"):
        parse_space(["form=1:2"], types, "scrub")


def test_integer_bounds_for_an_integer_setting():
    types = setting_types(METHODS.get("scrub").params)
    with pytest.raises(InputError, match="the bounds must be ints"):
        parse_space(["epochs=1.5:3"], types, "scrub")


def test_a_bad_declared_range_is_a_bug_not_a_user_error():
    with pytest.raises(ValueError):
        Range(1.0, 0.5)
    with pytest.raises(ValueError):
        log_uniform(0.0, 1.0)
    with pytest.raises(ValueError):
        choice()


def test_a_registration_may_not_draw_a_setting_the_method_lacks():
    from dataclasses import dataclass

    from unlearn_cli.methods.base import register_method

    @dataclass(frozen=True)
    class P:
        alpha: float = 1.0

    with pytest.raises(TypeError, match="not one of its settings"):
        register_method("bad-space", description="", params=P, recipe=None, space={"beta": uniform(0, 1)})
    with pytest.raises(TypeError, match="does not train"):
        register_method("bad-space", description="", params=P, recipe=None, trains=False,
                        space={"lr": log_uniform(1e-3, 1e-1)})
    assert "bad-space" not in METHODS


def test_ls_methods_describes_each_space():
    from unlearn_cli.catalog import catalog

    rows = dict(catalog("methods"))  # the table `unlearn ls methods` prints on a terminal
    assert "Tune space: lr=0.0001:0.1:log epochs=1:10." in rows["finetune"]
    assert "Tune space: alpha=1:100:log lam=0.1:10:log." in rows["ssd"]
    assert "Tune space: nothing to tune." in rows["retrain"]
