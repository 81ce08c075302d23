"""`unlearn prepare-data` end to end: every dataset from every accepted layout, and every way
a user can get it wrong (one error line, nothing left behind)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.conftest import assert_one_line_error
from tests.fixtures.formats import (
    CIFAR10_LABEL_NAMES,
    CIFAR100_COARSE_NAMES,
    CIFAR100_FINE_NAMES,
    cifar100_coarse_label,
    cifar100_fine_label,
    cifar_pickle,
    cifar_rows,
    write_cifar10,
    write_cifar100,
    write_natmu_tiny_npy,
    write_tar,
    write_tinyimagenet,
)
from unlearn_cli.artifacts import Workspace
from unlearn_cli.data.sources import DATASETS, read_dataset
from unlearn_cli.data.sources import download as download_module
from unlearn_cli.steps import prepare_data as prepare_step


@dataclass(frozen=True)
class Case:
    """One dataset read from one layout, with the sizes its fixture was written with."""

    dataset: str
    make: Callable[[Path], Path | None]  # writes the fixture under tmp_path; None = embedded
    train_size: int
    test_size: int
    num_classes: int
    image_shape: tuple[int, int, int]
    extra: str | None = None  # the extra label column the dataset keeps


CASES = {
    "cifar10-folder": Case("cifar10", lambda p: write_cifar10(p), 20, 6, 10, (32, 32, 3)),
    "cifar10-targz": Case("cifar10", lambda p: write_cifar10(p, archive=True), 20, 6, 10, (32, 32, 3)),
    "cifar100-folder": Case("cifar100", lambda p: write_cifar100(p), 12, 6, 100, (32, 32, 3),
                            "coarse_labels"),
    "cifar100-targz": Case("cifar100", lambda p: write_cifar100(p, archive=True), 12, 6, 100,
                           (32, 32, 3), "coarse_labels"),
    "cifar20-folder": Case("cifar20", lambda p: write_cifar100(p), 12, 6, 20, (32, 32, 3),
                           "fine_labels"),
    "cifar20-targz": Case("cifar20", lambda p: write_cifar100(p, archive=True), 12, 6, 20,
                          (32, 32, 3), "fine_labels"),
    "tinyimagenet-folder": Case("tinyimagenet", lambda p: write_tinyimagenet(p), 6, 4, 3,
                                (64, 64, 3)),
    "tinyimagenet-zip": Case("tinyimagenet", lambda p: write_tinyimagenet(p, zip=True), 6, 4, 3,
                             (64, 64, 3)),
    # Without wnids.txt the NatMU files carry no names: the 200 official class indices are used.
    "tinyimagenet-natmu-npy": Case("tinyimagenet", lambda p: write_natmu_tiny_npy(p), 6, 4, 200,
                                   (64, 64, 3)),
    "digits-embedded": Case("digits", lambda p: None, 1437, 360, 10, (8, 8, 1)),
}


def _prepare(cli, dataset: str, source: Path | None, *extra: str):
    args = ["prepare-data", "--dataset", dataset]
    if source is not None:
        args += ["--source", str(source)]
    return cli(*args, *extra)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_nothing_left(ws: Workspace, dataset: str) -> None:
    """No split file, no manifest, no temporary file: a failed step leaves no trace."""
    assert _files_under(ws.root / "data" / dataset) == []
    assert not ws.manifest_path("dataset", dataset).exists()
    assert _files_under(ws.root) == [], _files_under(ws.root)


# ------------------------------------------------------------------ every dataset, every layout


@pytest.mark.parametrize("case_id", list(CASES))
def test_prepares_every_dataset_from_every_layout(cli, ws, tmp_path, case_id):
    case = CASES[case_id]
    source = case.make(tmp_path / "src")
    result = _prepare(cli, case.dataset, source)
    assert result.exit_code == 0, result.stderr

    manifest_path = ws.manifest_path("dataset", case.dataset)
    assert result.stdout == f"{manifest_path}\n"  # the pipe contract: the path, nothing else
    assert manifest_path.is_file()

    manifest = json.loads(manifest_path.read_text())
    assert manifest["kind"] == "dataset" and manifest["name"] == case.dataset
    assert manifest["config"]["dataset"] == case.dataset
    assert manifest["config"]["source"] == (str(source.resolve()) if source else "embedded")
    assert set(manifest["files"]) == {"train", "test"}
    for split in ("train", "test"):
        ref = manifest["files"][split]
        assert ref["path"] == f"data/{case.dataset}/{split}.safetensors"
        assert ref["sha256"] == _sha256(ws.root / ref["path"])

    # What the reader returns is what was written, byte for byte.
    raw = read_dataset(case.dataset, source)
    summary = manifest["summary"]
    assert summary["train_size"] == case.train_size == len(raw.train)
    assert summary["test_size"] == case.test_size == len(raw.test)
    assert summary["num_classes"] == case.num_classes == len(raw.class_names)
    assert summary["class_names"] == raw.class_names
    assert summary["image_shape"] == list(case.image_shape)

    # mean/std computed here independently: per channel over all train pixels, in 0..1 units.
    pixels = raw.train.images.reshape(-1, case.image_shape[2]).astype(np.float64) / 255.0
    np.testing.assert_allclose(summary["mean"], pixels.mean(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(summary["std"], pixels.std(axis=0), rtol=1e-7, atol=1e-9)
    assert len(summary["mean"]) == len(summary["std"]) == case.image_shape[2]

    for split_name, split in (("train", raw.train), ("test", raw.test)):
        tensors = load_file(ws.root / f"data/{case.dataset}/{split_name}.safetensors")
        expected_keys = {"images", "labels"} | ({case.extra} if case.extra else set())
        assert set(tensors) == expected_keys
        images, labels = tensors["images"], tensors["labels"]
        assert images.dtype == np.uint8 and images.shape == (len(split), *case.image_shape)
        assert labels.dtype == np.int64 and labels.shape == (len(split),)
        np.testing.assert_array_equal(images, split.images)
        np.testing.assert_array_equal(labels, split.labels)
        if case.extra:
            assert tensors[case.extra].dtype == np.int64
            np.testing.assert_array_equal(tensors[case.extra], split.extra[case.extra])
    assert summary["extra_names"] == ({case.extra: raw.extra_names[case.extra]} if case.extra else {})
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("dataset", ["cifar100", "cifar20"])
def test_cifar100_source_labels_by_fine_or_coarse_class(cli, ws, tmp_path, dataset):
    """Checked against the fixture's own formulas, not the reader: cifar20 is labelled by
    the coarse superclass and keeps the fine label as `fine_labels`."""
    assert _prepare(cli, dataset, write_cifar100(tmp_path, archive=True)).exit_code == 0
    summary = json.loads(ws.manifest_path("dataset", dataset).read_text())["summary"]
    for split, n in (("train", 12), ("test", 6)):
        fine = np.array([cifar100_fine_label(split, i) for i in range(n)])
        coarse = np.array([cifar100_coarse_label(f) for f in fine])
        tensors = load_file(ws.root / f"data/{dataset}/{split}.safetensors")
        if dataset == "cifar20":
            np.testing.assert_array_equal(tensors["labels"], coarse)
            np.testing.assert_array_equal(tensors["fine_labels"], fine)
        else:
            np.testing.assert_array_equal(tensors["labels"], fine)
            np.testing.assert_array_equal(tensors["coarse_labels"], coarse)
        np.testing.assert_array_equal(tensors["images"][:, 0, 0, 0], np.arange(n))  # the markers
    if dataset == "cifar20":
        assert summary["class_names"] == CIFAR100_COARSE_NAMES
        assert summary["extra_names"] == {"fine_labels": CIFAR100_FINE_NAMES}
    else:
        assert summary["class_names"] == CIFAR100_FINE_NAMES
        assert summary["extra_names"] == {"coarse_labels": CIFAR100_COARSE_NAMES}


def test_cifar10_labels_and_names_match_the_fixture(cli, ws, tmp_path):
    assert _prepare(cli, "cifar10", write_cifar10(tmp_path)).exit_code == 0
    summary = json.loads(ws.manifest_path("dataset", "cifar10").read_text())["summary"]
    assert summary["class_names"] == CIFAR10_LABEL_NAMES
    train = load_file(ws.root / "data/cifar10/train.safetensors")
    np.testing.assert_array_equal(train["labels"], np.arange(20) % 10)
    np.testing.assert_array_equal(train["images"][:, 0, 0, 0], np.arange(20))


def test_workspace_option_overrides_the_environment(cli, tmp_path):
    other = tmp_path / "other-ws"
    result = cli("prepare-data", "--workspace", str(other))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{other.resolve()}/manifests/dataset/digits.json\n"
    assert not cli.workspace.manifest_path("dataset", "digits").exists()


# ------------------------------------------------------------------ bad input


def test_missing_source_path(cli, ws, tmp_path):
    missing = tmp_path / "nowhere" / "cifar-10-python.tar.gz"
    result = _prepare(cli, "cifar10", missing)
    assert_one_line_error(result, str(missing), "does not exist")
    assert_nothing_left(ws, "cifar10")


def test_cifar10_without_source(cli, ws):
    result = _prepare(cli, "cifar10", None)
    assert_one_line_error(result, "cifar10", "--source")
    assert_nothing_left(ws, "cifar10")


def test_source_and_download_together(cli, ws, tmp_path):
    result = _prepare(cli, "cifar10", write_cifar10(tmp_path), "--download")
    assert_one_line_error(result, "--source", "--download")
    assert_nothing_left(ws, "cifar10")


def test_truncated_targz(cli, ws, tmp_path):
    archive = write_cifar10(tmp_path, archive=True)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    result = _prepare(cli, "cifar10", archive)
    assert_one_line_error(result, str(archive), "truncated or corrupt")
    assert_nothing_left(ws, "cifar10")


def _folder_with_a_stray_file(root: Path) -> Path:
    folder = root / "not-cifar"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("these are not the batches you are looking for\n")
    return folder


def _cifar10_missing_one_batch(root: Path) -> Path:
    folder = write_cifar10(root)
    (folder / "data_batch_3").unlink()
    return folder


@pytest.mark.parametrize("dataset,make,fragment", [
    ("cifar10", _folder_with_a_stray_file, "no cifar-10-batches-py/ files found"),
    ("cifar10", _cifar10_missing_one_batch, "data_batch_3"),
    ("cifar100", lambda root: write_cifar10(root), "no cifar-100-python/ files found"),
    ("tinyimagenet", lambda root: write_cifar10(root), "not a Tiny-ImageNet source"),
], ids=["stray-file", "missing-batch", "cifar10-as-cifar100", "cifar10-as-tinyimagenet"])
def test_folder_of_the_wrong_layout(cli, ws, tmp_path, dataset, make, fragment):
    folder = make(tmp_path / "src")
    result = _prepare(cli, dataset, folder)
    assert_one_line_error(result, fragment, str(folder))
    assert_nothing_left(ws, dataset)


def _cifar10_members(root: Path) -> dict[str, bytes]:
    folder = write_cifar10(root)
    return {f"cifar-10-batches-py/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("evil,fragment", [
    ("cifar-10-batches-py/../../escaped.txt", "points outside the archive"),
    ("/tmp/unlearn-absolute-member.txt", "absolute path"),
], ids=["dotdot", "absolute"])
def test_unsafe_archive_member(cli, ws, tmp_path, evil, fragment):
    members = _cifar10_members(tmp_path / "clean")
    members[evil] = b"should never be written anywhere\n"
    archive = write_tar(tmp_path / "src" / "deep" / "cifar-10-python.tar.gz", members)
    result = _prepare(cli, "cifar10", archive)
    assert_one_line_error(result, str(archive), evil, fragment)
    assert_nothing_left(ws, "cifar10")
    # Nothing extracted: neither where `..` points nor at the absolute path.
    assert not (tmp_path / "src" / "escaped.txt").exists()
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/unlearn-absolute-member.txt").exists()


def _os_system_pickle(command: str) -> bytes:
    """Protocol-0 pickle calling os.system(command) when loaded by a plain unpickler."""
    return b"cos\nsystem\n(S" + repr(command).encode() + b"\ntR."


def test_pickle_that_imports_os_system_never_runs(cli, ws, tmp_path):
    marker = tmp_path / "pwned"
    # The payload is live: a plain unpickler runs it (on a different marker).
    probe = tmp_path / "probe"
    pickle.loads(_os_system_pickle(f"touch {probe}"))  # noqa: S301 - proves the payload works
    assert probe.exists()

    folder = write_cifar10(tmp_path / "src")
    (folder / "data_batch_1").write_bytes(_os_system_pickle(f"touch {marker}"))
    result = _prepare(cli, "cifar10", folder)
    assert_one_line_error(result, str(folder / "data_batch_1"), "os.system")
    assert not marker.exists()
    assert_nothing_left(ws, "cifar10")


def test_labels_out_of_range(cli, ws, tmp_path):
    folder = write_cifar10(tmp_path / "src")
    labels = [0, 1, 2, 10]  # 10 is one past the last CIFAR-10 class
    (folder / "data_batch_2").write_bytes(cifar_pickle({
        b"batch_label": b"training batch 2 of 5",
        b"labels": labels,
        b"data": cifar_rows(4, seed=9),
        b"filenames": [f"x{i}.png".encode() for i in range(4)],
    }))
    result = _prepare(cli, "cifar10", folder)
    assert_one_line_error(result, str(folder / "data_batch_2"), "= 10", "out of range 0..9")
    assert_nothing_left(ws, "cifar10")


def test_unknown_dataset_lists_the_valid_ones(cli, ws):
    result = _prepare(cli, "cifar11", None)
    assert_one_line_error(result, "unknown dataset 'cifar11'", "Hint:", *DATASETS.names())
    assert_nothing_left(ws, "cifar11")


@pytest.mark.parametrize("extra", [["--source", "."], ["--download"]], ids=["source", "download"])
def test_digits_takes_no_source(cli, ws, extra):
    result = cli("prepare-data", "--dataset", "digits", *extra)
    assert_one_line_error(result, "digits is embedded")
    assert_nothing_left(ws, "digits")


def test_failed_download_is_clean(cli, ws, monkeypatch):
    calls = []

    def offline(url: str, root: Path, filename: str, md5: str) -> None:
        calls.append(url)
        (Path(root) / filename).write_bytes(b"half an archive")  # got some way, then failed
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(download_module, "fetch_url", offline)
    result = cli("prepare-data", "--dataset", "cifar10", "--download")
    url = DATASETS.get("cifar10").download.url
    assert calls == [url]
    assert_one_line_error(result, f"could not download {url}", "name resolution", "--source")
    assert _files_under(ws.root / "downloads") == []
    assert_nothing_left(ws, "cifar10")


def test_download_reads_the_fetched_archive(cli, ws, tmp_path, monkeypatch):
    archive = write_cifar10(tmp_path / "src", archive=True)

    def fetch(url: str, root: Path, filename: str, md5: str) -> None:
        (Path(root) / filename).write_bytes(archive.read_bytes())

    monkeypatch.setattr(download_module, "fetch_url", fetch)
    result = cli("prepare-data", "--dataset", "cifar10", "--download")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{ws.manifest_path('dataset', 'cifar10')}\n"
    kept = ws.root / "downloads" / "cifar-10-python.tar.gz"
    assert kept.read_bytes() == archive.read_bytes()
    manifest = json.loads(ws.manifest_path("dataset", "cifar10").read_text())
    assert manifest["config"]["source"] == str(kept)
    assert manifest["summary"]["train_size"] == 20
    # The fixture's md5 is not the official one: read anyway, with a warning on stderr.
    assert "differs from the official" in result.stderr


def test_existing_dataset_needs_force(cli, ws, tmp_path):
    first = write_cifar10(tmp_path / "a", seed=0)
    assert _prepare(cli, "cifar10", first).exit_code == 0
    manifest_path = ws.manifest_path("dataset", "cifar10")
    before = {p: p.read_bytes() for p in _files_under(ws.root)}

    second = write_cifar10(tmp_path / "b", seed=1, per_batch=2)
    result = _prepare(cli, "cifar10", second)
    assert_one_line_error(result, "dataset 'cifar10' exists already", str(manifest_path), "--force")
    assert {p: p.read_bytes() for p in _files_under(ws.root)} == before  # untouched

    result = _prepare(cli, "cifar10", second, "--force")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{manifest_path}\n"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["summary"]["train_size"] == 10
    assert manifest["config"]["source"] == str(second.resolve())
    train = load_file(ws.root / "data/cifar10/train.safetensors")
    np.testing.assert_array_equal(train["images"], read_dataset("cifar10", second).train.images)
    assert manifest["files"]["train"]["sha256"] == _sha256(ws.root / "data/cifar10/train.safetensors")
    assert _files_under(ws.root) == sorted(before)  # replaced in place, no leftovers


def test_force_with_a_bad_source_keeps_the_existing_dataset(cli, ws, tmp_path):
    """The source is read and validated before anything is replaced."""
    assert _prepare(cli, "cifar10", write_cifar10(tmp_path / "a")).exit_code == 0
    before = {p: p.read_bytes() for p in _files_under(ws.root)}
    result = _prepare(cli, "cifar10", tmp_path / "missing", "--force")
    assert_one_line_error(result, "does not exist")
    assert {p: p.read_bytes() for p in _files_under(ws.root)} == before


def test_workspace_under_a_regular_file(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    bad = blocker / "ws"
    result = cli("prepare-data", "--workspace", str(bad))
    assert_one_line_error(result, str(bad), "--workspace")
    assert blocker.read_text() == "not a folder\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_workspace_without_write_permission(cli, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = cli("prepare-data", "--workspace", str(locked))
        assert_one_line_error(result, str(locked), "not writable")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def _failing_on_split(split_to_fail: str):
    """A save_tensors that writes every split but `split_to_fail`, where the disk is full."""
    real = prepare_step.save_tensors

    def save(path: Path, tensors, metadata=None) -> None:
        if metadata and metadata.get("split") == split_to_fail:
            raise OSError(28, "No space left on device", str(path))
        real(path, tensors, metadata=metadata)

    return save


def test_write_failure_leaves_nothing(cli, ws, monkeypatch):
    monkeypatch.setattr(prepare_step, "save_tensors", _failing_on_split("test"))
    result = cli("prepare-data")
    assert_one_line_error(result, "No space left on device", "test.safetensors")
    assert_nothing_left(ws, "digits")


def test_write_failure_under_force_keeps_the_old_dataset(cli, ws, tmp_path, monkeypatch):
    """A forced replacement that fails while writing (the train split written, the disk
    full at the test split) leaves the old dataset whole and valid (docs/design.md: the old
    artifact stays valid until the new one is completely written), and no stray files."""
    assert _prepare(cli, "cifar10", write_cifar10(tmp_path / "a")).exit_code == 0
    before = {p: p.read_bytes() for p in _files_under(ws.root)}
    monkeypatch.setattr(prepare_step, "save_tensors", _failing_on_split("test"))
    result = _prepare(cli, "cifar10", write_cifar10(tmp_path / "b", seed=1), "--force")
    assert_one_line_error(result, "No space left on device")
    assert {p: p.read_bytes() for p in _files_under(ws.root)} == before
    ws.read("dataset", "cifar10")  # every checksum still matches
