"""Archives are read in memory; unsafe names, links, devices and bombs are refused."""

from __future__ import annotations

import io
import re
import stat
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.formats import write_tar, write_zip
from unlearn_cli.data.sources.archive import ArchiveLimits, TarTree, ZipTree
from unlearn_cli.data.sources.locate import open_source
from unlearn_cli.data.sources.tree import FolderTree
from unlearn_cli.errors import DataError

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
    path = write_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(2 << 20)})  # 2 MiB of zeros
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
    with pytest.raises(DataError, match="in total"):
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
    assert "truncated" in (info.value.hint or "")


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
