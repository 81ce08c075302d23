"""Read tar(.gz/.bz2/.xz) and zip archives in memory, refusing anything unsafe.

Nothing is ever extracted to disk, yet names are checked as if it were: a member with
an absolute path or a `..` component, a link or a device, or sizes that look like a
decompression bomb make the whole archive a DataError. A downloaded archive is
untrusted input, and a dataset archive has no reason to contain any of these.

Decompression is bounded while it streams, not after: a tar stream is inflated by our own
reader, which counts every byte it hands to `tarfile` (headers, long names and skipped
data included) and stops at the first byte past the limits, so a refused bomb costs no
more memory than the limits allow. Each reader passes the limits its dataset can need.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import stat
import tarfile
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from unlearn_cli.data.sources.tree import SourceTree
from unlearn_cli.errors import DataError

_GiB = 1 << 30
_MiB = 1 << 20

_CORRUPT_HINT = "the archive is truncated or corrupt; download it again"
_UNSAFE_HINT = ("dataset archives never contain such entries; this archive is not an "
                "official one and may be malicious")
_BOMB_HINT = "this is not a dataset archive (possibly a decompression bomb)"


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what reading one archive may cost, against decompression bombs.

    A tar archive is read whole into memory, so `max_total_bytes` bounds the memory it can
    take; readers pass the size their dataset can need (with room to spare)."""

    max_total_bytes: int = 4 * _GiB  # inflated size of the whole archive (declared and actual)
    max_member_bytes: int = 2 * _GiB  # what is ever read of one member
    max_ratio: float = 20.0  # inflated / compressed size of one zip member or a tar stream ...
    ratio_min_bytes: int = 8 * _MiB  # ... checked only above this size (tiny files compress well)
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
                hint=_BOMB_HINT,
            )
        self._total += size
        if self._total > self.limits.max_total_bytes:
            raise DataError(
                f"{self.path}: members declare more than {self.limits.max_total_bytes} "
                "bytes in total",
                hint=_BOMB_HINT,
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


# Magic numbers of the compressions a tar archive may come in.
_GZIP, _BZIP2, _XZ = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"
_BLOCK = 512  # tar's block: headers, and the two zero blocks that end an archive
# How tarfile words a stream that ends inside a member or a header.
_TARFILE_TRUNCATED = ("unexpected end of data", "truncated header")
_TAIL = 1 << 16  # inflated bytes kept to look back at the block where tarfile stopped


class _InflatingReader:
    """The inflated bytes of a tar file, compressed or not, counted and bounded as they are
    read. Only `read` is offered: tarfile's stream mode needs nothing else."""

    def __init__(self, raw: BinaryIO, path: Path, limits: ArchiveLimits) -> None:
        self._raw = raw
        self._path = path
        self._limits = limits
        head = raw.read(6)
        raw.seek(0)
        self.compressed = True
        self._inner: BinaryIO
        if head.startswith(_GZIP):
            self._inner = gzip.GzipFile(fileobj=raw, mode="rb")
        elif head.startswith(_BZIP2):
            self._inner = bz2.BZ2File(raw)
        elif head.startswith(_XZ):
            self._inner = lzma.LZMAFile(raw)
        else:
            self._inner, self.compressed = raw, False
        self.produced = 0
        self._tail = bytearray()  # the last inflated bytes, ending at `produced`

    def read(self, size: int = -1) -> bytes:
        # Never more than one bounded chunk per call, whatever the caller asks for.
        want = _MiB if size is None or size < 0 else min(size, _MiB)
        data = self._inner.read(want)
        self._count(data)
        return data

    def _count(self, data: bytes) -> None:
        self.produced += len(data)
        limits = self._limits
        if self.produced > limits.max_total_bytes:
            raise DataError(f"{self._path}: inflates to more than {limits.max_total_bytes} bytes, "
                            "more than this dataset can need", hint=_BOMB_HINT)
        consumed = max(self._raw.tell(), 1)
        if (self.compressed and self.produced > limits.ratio_min_bytes
                and self.produced > limits.max_ratio * consumed):
            raise DataError(f"{self._path}: {consumed} compressed bytes inflate to more than "
                            f"{self.produced} (ratio above {limits.max_ratio:g})", hint=_BOMB_HINT)
        self._tail += data
        if len(self._tail) > 2 * _TAIL:
            del self._tail[:-_TAIL]

    def block_at(self, offset: int) -> bytes:
        """The inflated bytes [offset, offset + 512) as far as they were read (shorter
        at the end of the stream); offset lies within the last bytes read."""
        start = self.produced - len(self._tail)
        assert offset >= start, (offset, start)
        return bytes(self._tail[offset - start:offset - start + _BLOCK])

    def drain(self) -> None:
        """Read to the end, so a truncated or corrupt compressed stream is noticed (its
        end marker and checksum come after the tar data)."""
        while self.read(_MiB):
            pass


class TarTree(_ArchiveTree):
    """A tar archive, compressed or not, read in one forward pass into memory.

    Gzip cannot seek backwards cheaply, so every regular member is read during the one
    pass; the limits bound what that can cost. The archive must end with tar's end
    marker (a zero block): without it the file was cut short, even at a member boundary.
    """

    def __init__(self, path: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
        super().__init__(path, limits)
        self._data: dict[str, bytes] = {}
        self._last = ""  # the last member read, to say where a truncated archive ends
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror or exc}",
                            hint="check the path and its permissions") from None
        with f:
            try:
                self._read_all(_InflatingReader(f, path, limits))
            except DataError:
                raise
            except EOFError:
                raise self._truncated("its compressed stream ends early") from None
            except tarfile.ReadError as exc:
                if str(exc) in _TARFILE_TRUNCATED:
                    raise self._truncated(str(exc)) from None
                raise self._unreadable(exc) from None
            except (tarfile.TarError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
                raise self._unreadable(exc) from None
        if not self._names:
            raise DataError(f"{path}: the archive contains no files", hint=_CORRUPT_HINT)

    def _unreadable(self, exc: Exception) -> DataError:
        return DataError(
            f"{self.path}: cannot read the archive ({type(exc).__name__}: {exc})",
            hint=f"{_CORRUPT_HINT}; the source must be a tar(.gz) or zip archive or a folder",
        )

    def _read_all(self, stream: _InflatingReader) -> None:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            while (member := tar.next()) is not None:
                self._take(tar, member)
                tar.members.clear()  # stream mode would keep every header otherwise
            end = tar.offset  # where tarfile stopped: the end marker, if there is one
        block = stream.block_at(end)
        if len(block) < _BLOCK:
            raise self._truncated("it has no end-of-archive marker")
        if block.count(0) != _BLOCK:
            where = f" after member '{self._last}'" if self._last else ""
            raise DataError(f"{self.path}: unreadable tar header at byte {end}{where}",
                            hint=_CORRUPT_HINT)
        stream.drain()

    def _truncated(self, how: str) -> DataError:
        where = f", after member '{self._last}'" if self._last else ""
        return DataError(f"{self.path}: the archive is truncated ({how}{where})", hint=_CORRUPT_HINT)

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
        # In chunks: one read(size) would allocate the declared size before reading. A
        # BytesIO grows in place and hands its buffer over without a copy.
        buffer, left = io.BytesIO(), member.size
        while left and (chunk := stream.read(min(left, _MiB))):
            buffer.write(chunk)
            left -= len(chunk)
        data = buffer.getvalue()
        if len(data) != member.size:
            raise self._truncated(f"member '{name}' is cut short")
        self._data[name] = data
        self._last = name

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
                hint=_BOMB_HINT,
            )
        self._add_file(info.filename, name, info.file_size)
        self._infos[name] = info

    def read(self, name: str) -> bytes:
        info = self._infos.get(name)
        if info is None:
            raise self.missing(name, hint="the archive does not have the expected layout")
        # The declared size passed the limits when the archive was opened; read at most
        # one byte past it, since it may lie.
        cap = min(info.file_size, self.limits.max_member_bytes)
        try:
            with self._zip.open(info) as stream:
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
