"""User-typed paths and how error lines quote user text."""

from __future__ import annotations

from pathlib import Path

from unlearn_cli.errors import shown
from unlearn_cli.paths import user_path


def test_user_path_expands_a_known_home_and_keeps_an_unknown_one(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_path("~/a.tar.gz") == tmp_path / "a.tar.gz"
    assert user_path("~nobody-here-at-all/a") == Path("~nobody-here-at-all/a")
    assert user_path("rel/a") == Path("rel/a")


def test_shown_escapes_control_characters_and_cuts_long_text():
    assert shown("plain name") == "plain name"
    assert shown("a\x00b\x1b[31m\n") == "a\\x00b\\x1b[31m\\n"
    assert shown("x" * 200) == "x" * 200
    assert shown("x" * 201) == "x" * 200 + "…"
