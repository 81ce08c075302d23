"""The one typed parser of `--param key=value` (methods and forget-set kinds)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from unlearn_cli.errors import InputError
from unlearn_cli.params import describe_fields, parse_assignments, resolve_params


@dataclass(frozen=True)
class Example:
    alpha: float = 0.5
    k: int | None = None
    flag: bool = False
    epochs: tuple[int, ...] = (3,)
    mode: Literal["a", "b"] = "a"
    path: Path = Path("x")
    name: str = "n"


def test_strings_are_coerced_to_the_field_types():
    p = resolve_params(Example, {"alpha": "1e-3", "k": "2", "flag": "yes", "epochs": "3,5,9", "mode": "b",
                                 "path": "p.npy", "name": "7"}, "method 'x'")
    assert p == Example(1e-3, 2, True, (3, 5, 9), "b", Path("p.npy"), "7")
    assert resolve_params(Example, {"k": "none", "alpha": "inf"}, "m").k is None
    assert math.isinf(resolve_params(Example, {"alpha": "inf"}, "m").alpha)
    assert resolve_params(Example, {"alpha": 2, "epochs": [1, 2]}, "m") == Example(alpha=2.0, epochs=(1, 2))
    assert resolve_params(Example, None, "m") == Example()


def test_every_problem_is_reported_at_once_with_the_valid_keys():
    with pytest.raises(InputError) as error:
        resolve_params(Example, {"alpah": "1", "k": "2.5", "flag": "maybe", "alpha": "nan", "mode": "c"}, "method 'x'")
    message = error.value.message
    assert message.startswith("method 'x': unknown parameter alpah")
    for fragment in ("k='2.5' is not a valid int | None", "flag='maybe' is not a valid bool",
                     "alpha='nan' is not a valid float (NaN)", "mode='c' is not a valid 'a' | 'b' (one of 'a', 'b')"):
        assert fragment in message
    assert error.value.hint.startswith("valid parameters: alpha (float), k (int | None), flag (bool)")


def test_parse_assignments():
    assert parse_assignments(["a=1", " b = x=y "]) == {"a": "1", "b": "x=y"}
    with pytest.raises(InputError, match="is not key=value"):
        parse_assignments(["a"])
    with pytest.raises(InputError, match="--param a is given twice"):
        parse_assignments(["a=1", "a=2"])


def test_describe_fields_lists_types_and_defaults():
    assert describe_fields(Example)[:3] == [("alpha", "float", 0.5), ("k", "int | None", None), ("flag", "bool", False)]
