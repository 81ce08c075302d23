"""Open a source path as a tree (folder, zip or tar) and find where a layout starts in it.

Users point `--source` at an archive, at the dataset's own folder, or at the folder that
contains it; `find_root` tries the candidate prefixes so every reader accepts all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from unlearn_cli.data.sources.archive import DEFAULT_LIMITS, ArchiveLimits, TarTree, ZipTree
from unlearn_cli.data.sources.tree import FolderTree, SourceTree, join
from unlearn_cli.errors import DataError
from unlearn_cli.paths import user_path

# Local file header, or the end record of an empty zip.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def open_source(path: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> SourceTree:
    """Open `path` as a folder, or as a zip or tar archive recognised by its content."""
    path = user_path(path)
    if not path.exists():
        raise DataError(f"source {path} does not exist",
                        hint="check the path, or use --download to fetch the official archive")
    if path.is_dir():
        return FolderTree(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}",
                        hint="check the file's permissions") from None
    if not head:
        raise DataError(f"{path} is empty", hint="the download was interrupted; fetch it again")
    # Decided by content, not by the file name: a truncated zip still starts with its
    # magic, while tarfile detects gzip, bzip2, xz and plain tar by itself.
    if head in _ZIP_MAGIC:
        return ZipTree(path, limits)
    return TarTree(path, limits)


def find_root(tree: SourceTree, prefixes: Sequence[str], marker: str) -> str | None:
    """The first prefix under which `marker` is a file, or None if there is none."""
    for prefix in prefixes:
        if tree.is_file(join(prefix, marker)):
            return prefix
    return None
