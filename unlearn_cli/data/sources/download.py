"""Fetch a dataset's official archive with torchvision's downloader, all or nothing.

The download goes to a private temporary folder inside `dest_dir` and is moved into
place only once complete and checksum-verified, so an interrupted or failed download
never leaves a partial archive where a later run would pick it up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from unlearn_cli.data.sources.base import DATASETS
from unlearn_cli.data.sources.checksum import file_md5
from unlearn_cli.errors import DataError, InputError
from unlearn_cli.paths import user_path

_OFFLINE_HINT = "no network? download it elsewhere and pass --source PATH"


def fetch_url(url: str, root: Path, filename: str, md5: str) -> None:
    """Download `url` to `root/filename` and check its md5 (torchvision's helper)."""
    # Imported here: importing torchvision takes seconds, and only a download needs it.
    from torchvision.datasets.utils import download_url

    download_url(url, root=str(root), filename=filename, md5=md5)


def download_source(name: str, dest_dir: Path) -> Path:
    """Download dataset `name`'s official archive into `dest_dir`; return its path.

    An archive already there with the official md5 is reused without a download.
    """
    spec = DATASETS.get(name)
    if spec.embedded or spec.download is None:
        raise InputError(f"dataset '{name}' is embedded; there is nothing to download",
                         hint="leave out --download and --source for this dataset")
    download = spec.download
    dest_dir = user_path(dest_dir)
    target = dest_dir / download.filename
    if target.is_file() and file_md5(target) == download.md5:
        return target

    created_dir = not dest_dir.exists()
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{download.filename}.", dir=dest_dir))
    except OSError as exc:
        raise DataError(
            f"cannot create a download folder in {dest_dir}: {exc.strerror or exc}",
            hint="check the path and its permissions",
        ) from None
    ok = False
    try:
        try:
            # Looked up on the module at call time so tests can replace it.
            fetch_url(download.url, staging, download.filename, download.md5)
        except Exception as exc:
            # Whatever went wrong (no network, HTTP error, checksum mismatch, full disk),
            # the user's fix is the same: fetch the archive some other way.
            raise DataError(f"could not download {download.url}: {_reason(exc)}",
                            hint=_OFFLINE_HINT) from None
        fetched = staging / download.filename
        if not fetched.is_file():
            raise DataError(f"could not download {download.url}: no file was written",
                            hint=_OFFLINE_HINT)
        os.replace(fetched, target)
        ok = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not ok and created_dir:
            _remove_if_empty(dest_dir)
    return target


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _remove_if_empty(folder: Path) -> None:
    # Not empty, or already gone: either way nothing of ours is left in it.
    with contextlib.suppress(OSError):
        folder.rmdir()
