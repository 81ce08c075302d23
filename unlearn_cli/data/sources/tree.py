"""A read-only view of a dataset source as a tree of named files.

Readers see a folder, a tar archive and a zip archive through one interface, so each
dataset's layout is parsed once whatever the container. Names are POSIX paths relative
to the source ("" is its top); `describe` turns a name into what an error should say.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from unlearn_cli.errors import DataError


def join(prefix: str, name: str) -> str:
    """Join tree names; an empty prefix is the top of the tree."""
    return f"{prefix.rstrip('/')}/{name}" if prefix else name


class SourceTree(ABC):
    """Files of one source. Use as a context manager so archives get closed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @abstractmethod
    def is_file(self, name: str) -> bool:
        """Whether `name` is a regular file."""

    @abstractmethod
    def is_dir(self, name: str) -> bool:
        """Whether `name` is a folder ("" always is)."""

    @abstractmethod
    def list_files(self, folder: str) -> list[str]:
        """Sorted names of the regular files directly inside `folder` (empty if none)."""

    @abstractmethod
    def read(self, name: str) -> bytes:
        """The whole content of file `name`; a DataError if it is missing or unreadable."""

    @abstractmethod
    def describe(self, name: str) -> str:
        """How to name file `name` to a user (a path, or a member of an archive)."""

    @abstractmethod
    def source_files(self) -> list[Path]:
        """The files on disk that were read (the archive itself, or the folder's files)."""

    def open(self, name: str) -> BinaryIO:
        """A binary file object for `name` (in memory unless the tree is a folder)."""
        return io.BytesIO(self.read(name))

    def missing(self, name: str, hint: str) -> DataError:
        """The error for an expected file that is not there."""
        return DataError(f"expected {self.describe(name)}, but it is missing", hint=hint)

    def close(self) -> None:  # noqa: B027 - a no-op default; only zip trees hold a file
        """Release what the tree holds open."""

    def __enter__(self) -> SourceTree:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FolderTree(SourceTree):
    """A folder on disk. No size limits: local files are not decompressed, so they can
    hold no more than the disk already does."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._read: dict[Path, None] = {}  # insertion-ordered set of files read

    def _path(self, name: str) -> Path:
        return self.path / name if name else self.path

    def is_file(self, name: str) -> bool:
        return self._path(name).is_file()

    def is_dir(self, name: str) -> bool:
        return self._path(name).is_dir()

    def list_files(self, folder: str) -> list[str]:
        base = self._path(folder)
        if not base.is_dir():
            return []
        return sorted(join(folder, p.name) for p in base.iterdir() if p.is_file())

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()

    def open(self, name: str) -> BinaryIO:
        path = self._path(name)
        try:
            f = open(path, "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise self.missing(name, hint="the folder does not have the expected layout") from None
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror or exc}",
                            hint="check the file's permissions") from None
        self._read[path] = None
        return f

    def describe(self, name: str) -> str:
        return str(self._path(name))

    def source_files(self) -> list[Path]:
        return list(self._read)
