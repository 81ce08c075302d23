"""The stat-keyed checksum cache of verifying reads: an unchanged file is hashed once (in this
process and, through the workspace, in the next), a changed one always fails, and a damaged
cache is ignored."""

import hashlib
import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from unlearn_cli.artifacts import Manifest, Workspace, atomic_write_bytes, cached_sha256, files, hashcache
from unlearn_cli.errors import ArtifactError

SETTLE_S = 0.05


@pytest.fixture
def hashes(monkeypatch):
    """Count the files hashed; a cache starting empty; small files kept in the workspace too;
    a settle time tests can wait out."""
    counted = []
    real = files.sha256_stream

    def counting(handle):
        counted.append(handle.name)
        return real(handle)

    monkeypatch.setattr(files, "sha256_stream", counting)
    monkeypatch.setattr(hashcache, "_memory", {})
    monkeypatch.setattr(hashcache, "_SETTLE_NS", int(SETTLE_S / 2 * 1e9))
    monkeypatch.setattr(hashcache, "_PERSIST_MIN_BYTES", 1)
    return counted


def settle():
    time.sleep(SETTLE_S)


def new_process():
    """What a new process knows: nothing in memory, only the workspace's cache."""
    hashcache._memory.clear()


def make(ws: Workspace, payload: bytes = b"w" * 4096) -> Manifest:
    """A model (one weights file) and an unlearned run made from it (a parent to verify)."""
    weights = ws.ckpt_path("m")
    atomic_write_bytes(weights, payload)
    model = Manifest(kind="model", name="m", files={"weights": ws.file_ref(weights)})
    ws.write(model)
    run = ws.ckpt_path("u", kind="unlearned")
    atomic_write_bytes(run, payload[::-1])
    ws.write(Manifest(kind="unlearned", name="u", parents={"model": ws.parent_ref(model)},
                      files={"weights": ws.file_ref(run)}))
    settle()
    return model


def rewrite_in_place(path, data: bytes) -> None:
    """Same size, same inode, mtime put back: only ctime tells."""
    before = os.stat(path)
    with open(path, "r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert after.st_ctime_ns != before.st_ctime_ns


def entry_file(ws: Workspace, path) -> os.PathLike:
    name = hashcache._entry_name(path.relative_to(ws.root).as_posix())
    return hashcache.cache_folder(ws.root) / name[:2] / name[2:]


def test_unchanged_files_are_hashed_once_per_process(ws, hashes):
    make(ws)
    hashes.clear()
    ws.read("unlearned", "u")
    assert len(hashes) == 2  # its weights and its parent manifest
    ws.read("unlearned", "u")
    ws.read("model", "m")  # the parent, now as an artifact of its own: its weights are new here
    assert len(hashes) == 3


def test_a_new_process_uses_the_workspace_cache(ws, hashes):
    make(ws)
    ws.read("unlearned", "u")
    hashes.clear()
    new_process()
    Workspace(ws.root).read("unlearned", "u")
    assert hashes == []
    assert os.path.isfile(entry_file(ws, ws.ckpt_path("u", kind="unlearned")))


def test_writes_hash_the_bytes_not_the_cache(ws, hashes):
    make(ws)
    ws.read("model", "m")
    hashes.clear()
    ws.file_ref(ws.ckpt_path("m"))
    assert len(hashes) == 1


def test_a_file_changed_moments_ago_is_not_remembered(ws, hashes, monkeypatch):
    # A write in the same timestamp tick would leave its key as it was.
    make(ws)
    monkeypatch.setattr(hashcache, "_SETTLE_NS", 3600 * 10**9)
    hashes.clear()
    ws.read("model", "m")
    ws.read("model", "m")
    assert len(hashes) == 2
    assert not hashcache.cache_folder(ws.root).exists()


@pytest.mark.parametrize("fresh_process", [False, True], ids=["memory", "workspace"])
def test_a_file_rewritten_in_place_with_its_mtime_restored_fails(ws, hashes, fresh_process):
    make(ws)
    ws.read("model", "m")
    weights = ws.ckpt_path("m")
    rewrite_in_place(weights, b"x" * 16)
    if fresh_process:
        new_process()
    with pytest.raises(ArtifactError, match="fails its checksum"):
        ws.read("model", "m")


@pytest.mark.parametrize("fresh_process", [False, True], ids=["memory", "workspace"])
def test_a_parent_replaced_by_a_rename_fails(ws, hashes, fresh_process):
    make(ws)
    ws.read("unlearned", "u")
    parent = ws.manifest_path("model", "m")
    before = os.stat(parent)
    text = parent.read_text()
    replacement = parent.with_name("elsewhere")
    replacement.write_text(text.replace('"m"', '"M"'))
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, parent)
    if fresh_process:
        new_process()
    with pytest.raises(ArtifactError, match="parent model .* changed since it was made"):
        ws.read("unlearned", "u")


def _entry(ws, file, **fields) -> bytes:
    st = os.stat(file)
    data = {"path": file.relative_to(ws.root).as_posix(),
            "key": [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns],
            "sha256": "0" * 64}
    data.update(fields)
    return json.dumps(data).encode()


DAMAGED = {
    "garbage": lambda ws, path: os.urandom(300),
    "truncated": lambda ws, path: _entry(ws, path)[:40],
    "empty": lambda ws, path: b"",
    "huge": lambda ws, path: _entry(ws, path)[:-1] + b" " * 5_000_000 + b"}",
    "not an object": lambda ws, path: b"[1, 2, 3]",
    "deep": lambda ws, path: b"[" * 3000,
    "key of strings": lambda ws, path: _entry(ws, path, key=[str(n) for n in json.loads(_entry(ws, path))["key"]]),
    "key of floats": lambda ws, path: _entry(ws, path, key=[float(n) for n in json.loads(_entry(ws, path))["key"]]),
    "checksum not hex": lambda ws, path: _entry(ws, path, sha256="z" * 64),
    "checksum a number": lambda ws, path: _entry(ws, path, sha256=0),
    "another file's path": lambda ws, path: _entry(ws, path, path="ckpt/other.safetensors"),
    "an older key": lambda ws, path: _entry(ws, path, key=[0, 0, 0, 0, 0]),
}


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_damaged_entry_is_ignored(ws, hashes, damage):
    make(ws)
    weights = ws.ckpt_path("m")
    entry = entry_file(ws, weights)
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_bytes(DAMAGED[damage](ws, weights))
    hashes.clear()
    ws.read("model", "m")  # verifies: the entry's all-zero checksum was not believed
    assert hashes == [str(weights)]
    new_process()
    ws.read("model", "m")  # and was replaced by a good one
    assert len(hashes) == 1


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink to /dev/zero"])
def test_an_entry_that_is_no_file_is_ignored(ws, hashes, kind):
    make(ws)
    weights = ws.ckpt_path("m")
    entry = entry_file(ws, weights)
    entry.parent.mkdir(parents=True, exist_ok=True)
    {"directory": entry.mkdir, "fifo": lambda: os.mkfifo(entry),
     "symlink to /dev/zero": lambda: entry.symlink_to("/dev/zero")}[kind]()
    ws.read("model", "m")  # neither blocks on the FIFO nor reads /dev/zero
    new_process()
    ws.read("model", "m")


def test_a_cache_folder_leading_out_of_the_workspace_is_not_used(ws, hashes, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    make(ws)
    hashcache.cache_folder(ws.root).symlink_to(outside)
    ws.read("unlearned", "u")
    assert list(outside.iterdir()) == []


def test_a_full_shard_drops_entries_of_gone_files_first(ws, hashes, monkeypatch):
    make(ws)
    weights = ws.ckpt_path("m")
    shard = entry_file(ws, weights).parent
    # A file whose entry falls into the same shard, remembered and then deleted.
    candidates = (ws.ckpt_path(f"gone{i}") for i in range(100_000))
    gone = next(path for path in candidates if entry_file(ws, path).parent == shard)
    gone.write_bytes(b"g")
    settle()
    cached_sha256(gone, ws.root)
    gone.unlink()
    (shard / "not-an-entry").write_bytes(b"junk")
    monkeypatch.setattr(hashcache, "_SHARD_MAX", 2)
    cached_sha256(weights, ws.root)
    assert sorted(shard.iterdir()) == [entry_file(ws, weights)]


def test_a_shard_full_of_live_entries_takes_no_more(ws, hashes, monkeypatch):
    make(ws)
    weights = ws.ckpt_path("m")
    monkeypatch.setattr(hashcache, "_SHARD_MAX", 0)
    ws.read("model", "m")
    assert not entry_file(ws, weights).exists()
    new_process()
    hashes.clear()
    ws.read("model", "m")
    assert len(hashes) == 1


def _hammer(root: str, paths: list[str], expected: dict[str, str], seconds: float, writer: bool) -> None:
    """A writer drops and re-makes the entries of `paths` over and over; a reader checks that
    every entry it finds is whole and right. Exits with the number of bad results."""
    ws = Workspace(Path(root))
    bad = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in map(Path, paths):
            entry = entry_file(ws, path)
            if writer:
                hashcache._memory.clear()
                entry.unlink(missing_ok=True)
                bad += cached_sha256(path, ws.root) != expected[str(path)]
                continue
            try:
                raw = entry.read_bytes()
            except FileNotFoundError:
                continue
            try:
                bad += json.loads(raw)["sha256"] != expected[str(path)]
            except (ValueError, KeyError, TypeError):
                bad += 1
    os._exit(min(bad, 100))


def test_concurrent_writers_never_leave_a_damaged_entry(ws, hashes):
    paths = []
    for i in range(3):
        path = ws.ckpt_path(f"f{i}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(20_000))
        paths.append(path)
    settle()
    expected = {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=_hammer, args=(str(ws.root), [str(p) for p in paths], expected, 0.7, writer))
               for writer in (True, True, False)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    for path in paths:
        new_process()
        hashes.clear()
        assert cached_sha256(path, ws.root) == expected[str(path)]
        assert hashes == []  # the entry a writer left last is whole
    leftovers = [p for p in hashcache.cache_folder(ws.root).rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
