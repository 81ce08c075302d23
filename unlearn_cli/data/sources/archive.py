"""Read tar(.gz/.bz2/.xz) and zip archives in memory, refusing anything unsafe.

Nothing is ever extracted to disk, yet names are checked as if it were: a member with
an absolute path or a `..` component, a link or a device, or sizes that look like a
decompression bomb make the whole archive a DataError. A downloaded archive is
untrusted input, and a dataset archive has no reason to contain any of these.
"""

from __future__ import annotations

import lzma
import re
import stat
import tarfile
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from unlearn_cli.data.sources.tree import SourceTree
from unlearn_cli.errors import DataError

_GiB = 1 << 30
_MiB = 1 << 20

_CORRUPT_HINT = "the archive is truncated or corrupt; download it again"
_UNSAFE_HINT = ("dataset archives never contain such entries; this archive is not an "
                "official one and may be malicious")


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what reading one archive may cost, against decompression bombs."""

    max_total_bytes: int = 4 * _GiB  # declared uncompressed size of all members together
    max_member_bytes: int = 2 * _GiB  # what is ever read of one member
    max_ratio: float = 200.0  # uncompressed / compressed size of one member ...
    ratio_min_bytes: int = _MiB  # ... checked only above this size (tiny files compress well)
    max_members: int = 2_000_000  # Tiny-ImageNet's zip holds ~120 000 entries


DEFAULT_LIMITS = ArchiveLimits()

_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_member_name(raw: str, archive: Path) -> str:
    """Normalise a member name to a relative POSIX path, refusing absolute paths and `..`.

    Backslashes count as separators: an archive made on Windows may use them, and an
    extractor there would treat them so.
    """
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise DataError(f"{archive}: member '{raw}' has an absolute path", hint=_UNSAFE_HINT)
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise DataError(f"{archive}: member '{raw}' points outside the archive ('..')",
                        hint=_UNSAFE_HINT)
    return "/".join(parts)


class _ArchiveTree(SourceTree):
    """Index shared by tar and zip: the member names and each folder's files."""

    def __init__(self, path: Path, limits: ArchiveLimits) -> None:
        super().__init__(path)
        self.limits = limits
        self._children: dict[str, list[str]] = defaultdict(list)
        self._dirs: set[str] = {""}
        self._names: set[str] = set()
        self._count = 0
        self._total = 0

    def _add_dir(self, name: str) -> None:
        parts = name.split("/") if name else []
        for i in range(len(parts) + 1):
            self._dirs.add("/".join(parts[:i]))

    def _add_file(self, raw: str, name: str, size: int) -> None:
        """Index one regular file after checking its name and the running size totals."""
        if not name:
            raise DataError(f"{self.path}: member '{raw}' has an empty name", hint=_UNSAFE_HINT)
        if name in self._names:
            raise DataError(f"{self.path}: member '{name}' appears twice", hint=_UNSAFE_HINT)
        if size > self.limits.max_member_bytes:
            raise DataError(
                f"{self.path}: member '{name}' declares {size} bytes, more than the "
                f"{self.limits.max_member_bytes} allowed for one file",
                hint="this is not a dataset archive (possibly a decompression bomb)",
            )
        self._total += size
        if self._total > self.limits.max_total_bytes:
            raise DataError(
                f"{self.path}: members declare more than {self.limits.max_total_bytes} "
                "bytes in total",
                hint="this is not a dataset archive (possibly a decompression bomb)",
            )
        self._names.add(name)
        parent, _, _ = name.rpartition("/")
        self._add_dir(parent)
        self._children[parent].append(name)

    def _count_member(self) -> None:
        self._count += 1
        if self._count > self.limits.max_members:
            raise DataError(f"{self.path}: more than {self.limits.max_members} members",
                            hint="this is not a dataset archive")

    def is_file(self, name: str) -> bool:
        return name in self._names

    def is_dir(self, name: str) -> bool:
        return name.strip("/") in self._dirs

    def list_files(self, folder: str) -> list[str]:
        return sorted(self._children.get(folder.strip("/"), []))

    def describe(self, name: str) -> str:
        return f"{name} in {self.path}"

    def source_files(self) -> list[Path]:
        return [self.path]


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "a symbolic link"
    if member.islnk():
        return "a hard link"
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a FIFO"
    return f"of unsupported type {member.type!r}"


class TarTree(_ArchiveTree):
    """A tar archive, compressed or not, read in one forward pass into memory.

    Gzip cannot seek backwards cheaply, so every regular member is read during the one
    pass; the size limits bound what that can cost.
    """

    def __init__(self, path: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
        super().__init__(path, limits)
        self._data: dict[str, bytes] = {}
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror or exc}",
                            hint="check the path and its permissions") from None
        with f:
            try:
                # "r|*": stream mode, any compression; it refuses to seek backwards.
                with tarfile.open(fileobj=f, mode="r|*") as tar:
                    for member in tar:
                        self._take(tar, member)
            except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
                raise DataError(
                    f"{path}: cannot read the archive ({type(exc).__name__}: {exc})",
                    hint=f"{_CORRUPT_HINT}; the source must be a tar(.gz) or zip archive "
                    "or a folder",
                ) from None
        if not self._names:
            raise DataError(f"{path}: the archive contains no files", hint=_CORRUPT_HINT)

    def _take(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self._count_member()
        name = safe_member_name(member.name, self.path)
        if member.isdir():
            self._add_dir(name)
            return
        if not member.isfile():
            raise DataError(f"{self.path}: member '{member.name}' is {_kind(member)}",
                            hint=_UNSAFE_HINT)
        self._add_file(member.name, name, member.size)
        stream = tar.extractfile(member)
        assert stream is not None  # extractfile returns None only for non-regular members
        data = stream.read(member.size)
        if len(data) != member.size:
            raise DataError(f"{self.path}: member '{name}' is truncated", hint=_CORRUPT_HINT)
        self._data[name] = data

    def read(self, name: str) -> bytes:
        try:
            return self._data[name]
        except KeyError:
            raise self.missing(name, hint="the archive does not have the expected layout") from None


class ZipTree(_ArchiveTree):
    """A zip archive; members are read on demand, each checked and capped."""

    def __init__(self, path: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
        super().__init__(path, limits)
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise DataError(f"source {path} does not exist", hint="check the path") from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read the zip archive ({exc})",
                            hint=_CORRUPT_HINT) from None
        self._infos: dict[str, zipfile.ZipInfo] = {}
        try:
            for info in self._zip.infolist():
                self._take(info)
        except BaseException:
            self._zip.close()
            raise
        if not self._names:
            self._zip.close()
            raise DataError(f"{path}: the archive contains no files", hint=_CORRUPT_HINT)

    def _take(self, info: zipfile.ZipInfo) -> None:
        self._count_member()
        name = safe_member_name(info.filename, self.path)
        # Unix zip tools keep the file mode in the high 16 bits; a symlink is stored as
        # a member whose content is the link target.
        kind = stat.S_IFMT(info.external_attr >> 16)
        if info.is_dir() or kind == stat.S_IFDIR:
            self._add_dir(name)
            return
        if kind not in (0, stat.S_IFREG):
            what = "a symbolic link" if kind == stat.S_IFLNK else "not a regular file"
            raise DataError(f"{self.path}: member '{info.filename}' is {what}",
                            hint=_UNSAFE_HINT)
        if (info.file_size > self.limits.ratio_min_bytes
                and info.file_size > self.limits.max_ratio * max(info.compress_size, 1)):
            raise DataError(
                f"{self.path}: member '{info.filename}' expands {info.compress_size} bytes "
                f"to {info.file_size} (ratio above {self.limits.max_ratio:g})",
                hint="this looks like a decompression bomb, not a dataset archive",
            )
        self._add_file(info.filename, name, info.file_size)
        self._infos[name] = info

    def read(self, name: str) -> bytes:
        info = self._infos.get(name)
        if info is None:
            raise self.missing(name, hint="the archive does not have the expected layout")
        cap = self.limits.max_member_bytes
        try:
            with self._zip.open(info) as stream:
                # Read at most one byte past the cap: the declared size may lie.
                data = stream.read(cap + 1)
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, lzma.LZMAError,
                NotImplementedError, RuntimeError, ValueError) as exc:
            # RuntimeError: encrypted member; NotImplementedError: unknown compression.
            raise DataError(f"{self.describe(name)}: cannot read it ({exc})",
                            hint=_CORRUPT_HINT) from None
        if len(data) > cap or len(data) != info.file_size:
            raise DataError(
                f"{self.describe(name)}: holds {len(data)} bytes, declared {info.file_size}",
                hint=_CORRUPT_HINT,
            )
        return data

    def close(self) -> None:
        self._zip.close()
