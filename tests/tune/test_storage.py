"""Study storage: passwords masked everywhere, unreachable servers as one quick error."""

from __future__ import annotations

import time

import pytest

from unlearn_cli.errors import InputError
from unlearn_cli.tune.storage import default_url, masked, open_storage


@pytest.mark.parametrize(("text", "expected"), [
    ("postgresql://tuner:pw@db:5432/optuna", "postgresql://tuner:***@db:5432/optuna"),
    ("mysql+pymysql://u:p%40ss@host/db", "mysql+pymysql://u:***@host/db"),
    ("postgresql://tuner@db/optuna", "postgresql://tuner@db/optuna"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ("error at postgresql://a:b@c/d and more", "error at postgresql://a:***@c/d and more"),
])
def test_masked_hides_the_password_of_every_url(text, expected):
    assert masked(text) == expected


def test_masked_hides_the_password_of_the_given_url_in_any_text():
    url = "postgresql://tuner:hunter2@db/optuna"
    assert masked('FATAL: password "hunter2" was refused', url) == 'FATAL: password "***" was refused'


def test_default_storage_is_a_sqlite_file_in_the_study_folder(tmp_path):
    url = default_url(tmp_path / "tune" / "s")
    assert url == f"sqlite:///{tmp_path / 'tune' / 's' / 'study.sqlite3'}"


def test_an_unreachable_server_is_one_input_error_within_seconds():
    started = time.monotonic()
    with pytest.raises(InputError) as raised:
        open_storage("postgresql://tuner:topsecret@127.0.0.1:9/optuna")
    assert "topsecret" not in raised.value.message + raised.value.hint
    assert "postgresql://tuner:***@127.0.0.1:9/optuna" in raised.value.message
    assert time.monotonic() - started < 15


def test_a_url_of_an_unknown_kind_is_refused():
    with pytest.raises(InputError, match="cannot open the study storage"):
        open_storage("nosuchdb://x:y@z/w")


def test_a_journal_file_storage(tmp_path):
    storage = open_storage(f"journal:{tmp_path / 'j' / 'study.journal'}")
    assert type(storage).__name__ == "JournalStorage"
