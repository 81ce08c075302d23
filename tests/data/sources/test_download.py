"""Downloads: all or nothing, never touching the network in tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from unlearn_cli.data.sources import DATASETS, download_source
from unlearn_cli.data.sources import download as download_module
from unlearn_cli.data.sources.checksum import file_md5
from unlearn_cli.errors import DataError, InputError, UnknownNameError

DOWNLOADABLE = [name for name, spec in DATASETS.items() if spec.download is not None]


class _Recorder:
    def __init__(self, content: bytes | None = None, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, Path, str, str]] = []
        self.content, self.fail = content, fail

    def __call__(self, url: str, root: Path, filename: str, md5: str) -> None:
        self.calls.append((url, root, filename, md5))
        (root / filename).write_bytes(b"partial")  # a download that got some way
        if self.fail is not None:
            raise self.fail
        (root / filename).write_bytes(self.content or b"")


@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_failure_is_a_data_error_and_leaves_nothing(tmp_path: Path, name: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Recorder(fail=OSError("Temporary failure in name resolution"))
    monkeypatch.setattr(download_module, "fetch_url", fake)
    dest = tmp_path / "downloads"
    with pytest.raises(DataError) as info:
        download_source(name, dest)
    spec = DATASETS.get(name).download
    assert spec is not None
    assert info.value.message.startswith(f"could not download {spec.url}: ")
    assert "name resolution" in info.value.message
    assert info.value.hint == "no network? download it elsewhere and pass --source PATH"
    assert fake.calls and fake.calls[0][0] == spec.url and fake.calls[0][3] == spec.md5
    assert not dest.exists()  # created for the download, removed again: nothing left


def test_failure_keeps_an_existing_folder_and_its_files(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download_module, "fetch_url", _Recorder(fail=RuntimeError("boom")))
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"an older, different copy")
    with pytest.raises(DataError, match="boom"):
        download_source("cifar10", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["cifar-10-python.tar.gz"]
    assert (tmp_path / "cifar-10-python.tar.gz").read_bytes() == b"an older, different copy"


def test_success_moves_the_file_into_place(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Recorder(content=b"the archive")
    monkeypatch.setattr(download_module, "fetch_url", fake)
    path = download_source("tinyimagenet", tmp_path)
    assert path == tmp_path / "tiny-imagenet-200.zip"
    assert path.read_bytes() == b"the archive"
    assert [p.name for p in tmp_path.iterdir()] == ["tiny-imagenet-200.zip"]  # no staging left
    assert fake.calls[0][2] == "tiny-imagenet-200.zip"


def test_an_archive_with_the_official_md5_is_reused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Recorder(content=b"x")
    monkeypatch.setattr(download_module, "fetch_url", fake)
    existing = tmp_path / "cifar-10-python.tar.gz"
    existing.write_bytes(b"pretend official")
    download = DATASETS.get("cifar10").download
    assert download is not None
    official = download.md5
    # The real archive is 160 MB; pretend this small file hashes to the official md5.
    monkeypatch.setattr(download_module, "file_md5",
                        lambda p: official if p == existing else file_md5(p))
    assert download_source("cifar10", tmp_path) == existing
    assert fake.calls == []
    assert existing.read_bytes() == b"pretend official"


def test_embedded_dataset_has_nothing_to_download(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'digits' is embedded"):
        download_source("digits", tmp_path)


def test_unknown_dataset(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError) as info:
        download_source("mnist", tmp_path)
    assert "mnist" in info.value.message and "cifar10" in (info.value.hint or "")
