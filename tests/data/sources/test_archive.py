"""Archives are read in memory; unsafe names, links, devices and bombs are refused."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import stat
import struct
import tarfile
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.formats import write_tar, write_zip
from unlearn_cli.data.sources.archive import ArchiveLimits, TarTree, ZipTree
from unlearn_cli.data.sources.locate import open_source
from unlearn_cli.data.sources.tree import FolderTree
from unlearn_cli.errors import DataError

_BLOCK = 512
MEMBERS = {"top/a.bin": b"alpha", "top/sub/b.bin": b"beta", "top/sub/c.bin": b"gamma"}


def _tar_with(path: Path, make: Callable[[tarfile.TarFile], None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        make(tar)
    return path


def _add_file(name: str) -> Callable[[tarfile.TarFile], None]:
    def make(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    return make


def _add_special(kind: bytes, name: str, target: str = "") -> Callable[[tarfile.TarFile], None]:
    def make(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        tar.addfile(info)
    return make


@pytest.mark.parametrize("suffix", ["tar.gz", "tar", "zip"])
def test_reads_members_of_every_archive_kind(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a.{suffix}"
    (write_zip if suffix == "zip" else write_tar)(path, MEMBERS, ["top", "top/sub"])
    with open_source(path) as tree:
        assert isinstance(tree, ZipTree if suffix == "zip" else TarTree)
        assert tree.is_file("top/a.bin") and not tree.is_file("top/sub")
        assert tree.is_dir("top/sub") and tree.is_dir("") and not tree.is_dir("top/a.bin")
        assert tree.list_files("top/sub") == ["top/sub/b.bin", "top/sub/c.bin"]
        assert tree.list_files("nowhere") == []
        assert tree.read("top/sub/c.bin") == b"gamma"
        assert tree.open("top/a.bin").read() == b"alpha"
        assert tree.source_files() == [path]
        with pytest.raises(DataError, match=re.escape("top/missing.bin")):
            tree.read("top/missing.bin")


def test_dot_slash_member_names_are_normalised(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "a.tar.gz", {"./top/./a.bin": b"x"})
    with open_source(path) as tree:
        assert tree.list_files("top") == ["top/a.bin"]


def test_folder_tree_lists_sorted_files_and_records_what_was_read(tmp_path: Path) -> None:
    for name, data in MEMBERS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    with open_source(tmp_path) as tree:
        assert isinstance(tree, FolderTree)
        assert tree.list_files("top/sub") == ["top/sub/b.bin", "top/sub/c.bin"]
        assert tree.read("top/sub/b.bin") == b"beta"
        assert tree.source_files() == [tmp_path / "top/sub/b.bin"]
        with pytest.raises(DataError, match=re.escape("missing.bin")):
            tree.read("top/missing.bin")


@pytest.mark.parametrize(("make", "words"), [
    (_add_file("../evil.txt"), ["../evil.txt", "outside"]),
    (_add_file("data/../../evil.txt"), ["data/../../evil.txt", "outside"]),
    (_add_file("/etc/evil.txt"), ["/etc/evil.txt", "absolute"]),
    (_add_special(tarfile.SYMTYPE, "link", "/etc/passwd"), ["link", "symbolic link"]),
    (_add_special(tarfile.LNKTYPE, "hard", "ok.txt"), ["hard", "hard link"]),
    (_add_special(tarfile.CHRTYPE, "dev"), ["dev", "device"]),
    (_add_special(tarfile.FIFOTYPE, "fifo"), ["fifo", "FIFO"]),
], ids=["dotdot", "inner-dotdot", "absolute", "symlink", "hardlink", "device", "fifo"])
def test_unsafe_tar_members_are_refused(tmp_path: Path, make: Callable, words: list[str]) -> None:
    path = _tar_with(tmp_path / "evil.tar.gz", make)
    with pytest.raises(DataError) as info:
        open_source(path)
    for word in [str(path), *words]:
        assert word in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(("name", "word"), [
    ("../evil.txt", "outside"),
    ("a\\..\\..\\evil.txt", "outside"),
    ("/etc/evil.txt", "absolute"),
    ("C:/evil.txt", "absolute"),
])
def test_unsafe_zip_names_are_refused(tmp_path: Path, name: str, word: str) -> None:
    path = write_zip(tmp_path / "evil.zip", {"ok.txt": b"ok", name: b"evil"})
    with pytest.raises(DataError) as info:
        open_source(path)
    assert name in info.value.message and word in info.value.message
    assert str(path) in info.value.message


def test_zip_symlink_entry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="'link' is a symbolic link"):
        open_source(path)


def test_zip_member_with_huge_compression_ratio_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(16 << 20)})  # 16 MiB of zeros
    with pytest.raises(DataError) as info:
        open_source(path)
    assert "zeros.bin" in info.value.message and "ratio" in info.value.message
    assert "bomb" in (info.value.hint or "")


def _patch_declared_sizes(path: Path, size: int) -> None:
    """Overwrite the uncompressed size of every central-directory entry (offset 24)."""
    data = bytearray(path.read_bytes())
    start = 0
    while (at := data.find(b"PK\x01\x02", start)) >= 0:
        data[at + 24:at + 28] = struct.pack("<I", size)
        start = at + 4
    path.write_bytes(bytes(data))


def test_zip_declaring_a_huge_total_size_is_refused(tmp_path: Path) -> None:
    members = {f"m{i}.bin": bytes(range(256)) * 4 for i in range(3)}
    path = write_zip(tmp_path / "liar.zip", members)
    _patch_declared_sizes(path, 0xF0000000)  # 3 x 3.75 GiB declared
    with pytest.raises(DataError, match=re.escape("liar.zip")):
        open_source(path)


@pytest.mark.parametrize("suffix", ["tar.gz", "zip"])
def test_limits_on_total_and_member_size(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a.{suffix}"
    (write_zip if suffix == "zip" else write_tar)(path, {"a": b"x" * 60, "b": b"y" * 60})
    # A tar stream is stopped by its inflated bytes (headers included) before the
    # declared sizes add up; a zip by the sizes its directory declares.
    with pytest.raises(DataError, match="in total|inflates to more than 100 bytes"):
        open_source(path, ArchiveLimits(max_total_bytes=100))
    with pytest.raises(DataError, match="allowed for one file"):
        open_source(path, ArchiveLimits(max_member_bytes=50))
    with pytest.raises(DataError, match="more than 1 members"):
        open_source(path, ArchiveLimits(max_members=1))


@pytest.mark.parametrize("suffix", ["tar.gz", "zip"])
def test_truncated_archive_is_a_data_error(tmp_path: Path, suffix: str) -> None:
    members = {"a.bin": bytes(range(256)) * 200}
    path = tmp_path / f"a.{suffix}"
    (write_zip if suffix == "zip" else write_tar)(path, members)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError) as info:
        open_source(path)
    assert str(path) in info.value.message
    assert "truncated" in info.value.message + (info.value.hint or "")


def test_corrupt_zip_member_is_a_data_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.bin", b"A" * 100)
    data = path.read_bytes().replace(b"A" * 100, b"A" * 50 + b"B" * 50)  # CRC now wrong
    path.write_bytes(data)
    with open_source(path) as tree, pytest.raises(DataError, match=re.escape("a.bin")):
        tree.read("a.bin")


def test_duplicate_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.tar"
    with tarfile.open(path, "w") as tar:
        for payload in (b"one", b"two"):
            info = tarfile.TarInfo("same.bin")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(DataError, match=re.escape("same.bin' appears twice")):
        open_source(path)


@pytest.mark.parametrize(("content", "words"), [
    (b"", "empty"),
    (b"this is not an archive at all" * 20, "cannot read the archive"),
])
def test_not_an_archive(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "thing.tar.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=words) as info:
        open_source(path)
    assert str(path) in info.value.message


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as info:
        open_source(tmp_path / "nope.zip")
    assert "nope.zip" in info.value.message


# ------------------------------------------- bombs and truncation (refused before they cost anything)


def _gzip_of_zeros(size: int, header: bytes = b"", trailer: bytes = b"") -> bytes:
    """`header`, `size` zero bytes and `trailer`, gzip-compressed chunk by chunk."""
    gz = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    parts = [gz.compress(header)]
    chunk = bytes(1 << 20)
    for _ in range(size >> 20):
        parts.append(gz.compress(chunk))
    parts += [gz.compress(trailer), gz.flush()]
    return b"".join(parts)


def _tar_header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.GNU_FORMAT)


def test_tar_gz_bomb_is_stopped_while_it_inflates(tmp_path: Path) -> None:
    """64 MiB of zeros in a 64 KiB gzip: refused once the ratio passes the limit, long
    before the member's declared size is read."""
    size = 64 << 20
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(_gzip_of_zeros(size, _tar_header("zeros.bin", size), bytes(1024)))
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            open_source(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "ratio above 20" in info.value.message and str(path) in info.value.message
    assert "bomb" in (info.value.hint or "")
    assert peak < 16 << 20, peak  # the 8 MiB before the ratio is checked, plus buffers


def test_a_huge_long_name_header_is_bounded_too(tmp_path: Path) -> None:
    """GNU long names are read by tarfile itself, before any member reaches us."""
    size = 64 << 20
    path = tmp_path / "longname.tar.gz"
    path.write_bytes(_gzip_of_zeros(size, _tar_header("././@LongLink", size, tarfile.GNUTYPE_LONGNAME)))
    with pytest.raises(DataError, match="ratio above"):
        open_source(path)


def test_inflated_total_is_bounded_without_compression_too(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "a.tar", {"a": bytes(range(256)) * 64})
    with pytest.raises(DataError, match="inflates to more than 4096 bytes"):
        open_source(path, ArchiveLimits(max_total_bytes=4096))


def _raw_tar(members: dict[str, bytes]) -> tuple[bytes, list[int]]:
    """An uncompressed tar and the offset of each member's header."""
    path_bytes = io.BytesIO()
    with tarfile.open(fileobj=path_bytes, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = path_bytes.getvalue()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        offsets = [member.offset for member in tar.getmembers()]
    return raw, offsets


TRIO = {"a.bin": b"a" * 700, "b.bin": b"b" * 600, "c.bin": b"c" * 10}


@pytest.mark.parametrize("at", [1, 2, 3], ids=["before-b", "before-c", "after-c"])
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_tar_cut_exactly_at_a_member_boundary_is_truncated(tmp_path: Path, at: int, compress: bool) -> None:
    """Cut where a header would start (re-compressed, so the gzip itself is whole): the
    archive lacks tar's end marker, which says it was cut short."""
    raw, offsets = _raw_tar(TRIO)
    cut = offsets[at] if at < len(offsets) else offsets[-1] + _BLOCK + _BLOCK  # c's data fits one block
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(gzip.compress(raw[:cut]) if compress else raw[:cut])
    with pytest.raises(DataError) as info:
        open_source(path)
    message = info.value.message
    assert "the archive is truncated" in message and "end-of-archive marker" in message
    assert f"after member '{list(TRIO)[at - 1]}'" in message
    assert "download" in (info.value.hint or "")


def test_gzip_cut_inside_its_trailer_is_truncated(tmp_path: Path) -> None:
    raw, _ = _raw_tar(TRIO)
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(gzip.compress(raw)[:-4])  # the tar is whole; the gzip size field is not
    with pytest.raises(DataError, match="the archive is truncated"):
        open_source(path)


def test_garbage_where_a_header_should_be_is_reported(tmp_path: Path) -> None:
    raw, offsets = _raw_tar(TRIO)
    path = tmp_path / "bad.tar"
    path.write_bytes(raw[:offsets[1]] + b"\x07" * _BLOCK + raw[offsets[1] + _BLOCK:])
    with pytest.raises(DataError, match=f"unreadable tar header at byte {offsets[1]} after member 'a.bin'"):
        open_source(path)


@pytest.mark.parametrize("compress", [bz2.compress, lzma.compress], ids=["bz2", "xz"])
def test_bz2_and_xz_tars_are_read(tmp_path: Path, compress: Callable[[bytes], bytes]) -> None:
    raw, _ = _raw_tar(TRIO)
    path = tmp_path / "a.tar.x"
    path.write_bytes(compress(raw))
    with open_source(path) as tree:
        assert tree.read("b.bin") == TRIO["b.bin"]
