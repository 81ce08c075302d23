"""Where a study lives: Optuna storage from a URL, with its password never shown.

- default: a SQLite file in the study's folder (`tune/<study>/study.sqlite3`): embedded, nothing
  to start;
- `--storage URL`: any SQLAlchemy URL Optuna's RDB storage takes (`postgresql://user:pw@host/db`,
  `mysql+pymysql://…`, `sqlite:///path`), so `unlearn tune --study NAME` on several machines
  shares one study;
- `--storage journal:PATH`: Optuna's journal file (a shared file system without a database).

An unreachable server is one error line within seconds (connect timeouts), and every text that
may reach a user (errors, manifests, logs, tables) goes through `masked`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from unlearn_cli.errors import InputError
from unlearn_cli.paths import user_path

JOURNAL_PREFIX = "journal:"
DEFAULT_FILE = "study.sqlite3"
CONNECT_TIMEOUT_S = 5
SQLITE_BUSY_TIMEOUT_S = 60  # several local workers write one SQLite file
# A RUNNING trial whose process stopped beating for GRACE_S is failed by the next trial
# started anywhere (a killed machine's trials do not block the study's count).
HEARTBEAT_S = 10
GRACE_S = 30
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@]*):(?P<password>[^@]*)@")


def masked(text: str, url: str | None = None) -> str:
    """`text` with the password of `url` (and of any URL inside `text`) replaced by ***."""
    if url:
        password = _password(url)
        if password:
            text = text.replace(password, "***")
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def _password(url: str) -> str | None:
    match = _USERINFO.search(url)
    return match["password"] if match and match["password"] else None


def default_url(folder: Path) -> str:
    return f"sqlite:///{folder / DEFAULT_FILE}"


def open_storage(url: str, *, heartbeat: bool = True) -> Any:
    """Optuna storage for `url`; any failure to reach it is an InputError without the password."""
    import optuna

    hint = ("check the URL, that the server runs and accepts this user, and that its driver is installed "
            "(psycopg for postgresql://: pip install 'unlearn-cli[postgres]')")
    try:
        if url.startswith(JOURNAL_PREFIX):
            from optuna.storages.journal import JournalFileBackend

            path = user_path(url[len(JOURNAL_PREFIX):])
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        beat = {"heartbeat_interval": HEARTBEAT_S, "grace_period": GRACE_S} if heartbeat else {}
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": _connect_args(url)}, **beat)
    except Exception as error:  # noqa: BLE001 - SQLAlchemy, drivers and Optuna raise many kinds
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"cannot open the study storage {masked(url, url)}: {masked(first, url)}",
                         hint=hint) from None


def _connect_args(url: str) -> dict[str, Any]:
    scheme = url.split(":", 1)[0].lower()
    if scheme.startswith("sqlite"):
        return {"timeout": SQLITE_BUSY_TIMEOUT_S}
    if scheme.startswith("postgres"):
        return {"connect_timeout": CONNECT_TIMEOUT_S}
    if scheme.startswith("mysql"):
        return {"connect_timeout": CONNECT_TIMEOUT_S}
    return {}
