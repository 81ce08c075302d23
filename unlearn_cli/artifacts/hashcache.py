"""Checksums remembered by stat key, so that verifying an unchanged file costs a stat, not a hash.

Every validated read hashes each file its manifest lists and each parent manifest; a sweep's
plan reads hundreds of artifacts of tens of MB. A file whose (device, inode, size, mtime_ns,
ctime_ns) did not change since it was hashed still holds the same bytes, so its checksum is
remembered under that key: in this process (a dict), and, for files large enough to be worth
an entry file, in the workspace (`manifests/.hashcache/`), so that the next process (each
sweep worker, the next `sweep --plan`) skips the hash too.

Why the key catches a change: a file replaced by a rename is a new inode; a write in place
sets mtime and ctime to the current time; and ctime cannot be set by a user (restoring mtime
with `os.utime` sets ctime), so a rewrite whose size and mtime were restored is caught too.

The residual risk, accepted: a write within the same timestamp tick as the change we last saw
leaves mtime and ctime as they were. So a checksum is only remembered once the file's ctime
lies _SETTLE_NS in the past: any later change then gets a later ctime. That assumes the file
system stamps ctime from our clock at a finer grain than _SETTLE_NS; a network file system
whose server clock lags ours by more, a file system without a real ctime, a clock set back,
or writes to the raw device defeat it.

The entries in the workspace are as trusted as the manifests beside them (whoever can write
one can write the other); what they are checked against is damage. An entry is used only if
it is a small regular file holding this file's own path, its current stat key and a
well-formed checksum; anything else is ignored (the file is hashed), never an error. Writes
record a fresh hash of the bytes they wrote (`files.sha256_file`), never a remembered one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import time
from pathlib import Path
from typing import Any

from unlearn_cli.artifacts import files
from unlearn_cli.artifacts.manifest import path_problem
from unlearn_cli.errors import ArtifactError

log = logging.getLogger(__name__)

_SETTLE_NS = 2_000_000_000  # far above a timestamp tick (a jiffy, at most 10 ms, on local file systems)
_PERSIST_MIN_BYTES = 1 << 20  # below this, hashing costs less than writing (and fsyncing) an entry
_MEMORY_MAX = 1 << 16  # remembered keys per process; then start over
_ENTRY_MAX_BYTES = 4096  # an entry is a path, five numbers and a checksum
# Entries live in 256 shard folders by the first two hex digits of their name: at most
# 256 * 256 entry files. A full shard is pruned of entries whose file is gone before it grows.
_SHARD_MAX = 256
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ENTRY_TEMP = re.compile(r"\.([0-9a-f]{62})\.[a-z0-9_]{8}\.tmp")  # atomic_path's temporary name

_memory: dict[tuple[int, ...], str] = {}


def cache_folder(root: Path) -> Path:
    return root / "manifests" / ".hashcache"


def cached_sha256(path: Path, root: Path | None = None) -> str:
    """The sha256 of `path` for a read that verifies it: hashed once while its stat key stays
    the same. With `root` (the workspace holding `path`), also remembered in the workspace."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}", hint="re-run the step that makes it") from None
    with handle:
        # The key of the file we opened, whatever the path names by the time we are done.
        key = _key(os.fstat(handle.fileno()))
        if (digest := _memory.get(key)) is not None:
            return digest
        entry = _entry(path, root, key) if root is not None else None
        if entry is not None and (digest := _load(entry, key)) is not None:
            _remember(key, digest)
            return digest
        digest = files.sha256_stream(handle)
        unchanged_while_read = _key(os.fstat(handle.fileno())) == key
        if unchanged_while_read and time.time_ns() - key[4] > _SETTLE_NS:
            _remember(key, digest)
            if entry is not None:
                _store(entry, key, digest, root)
    return digest


def _key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _remember(key: tuple[int, ...], digest: str) -> None:
    if len(_memory) >= _MEMORY_MAX:
        _memory.clear()
    _memory[key] = digest


# --------------------------------------------------------------------------- entries in the workspace


class _Entry:
    """Where the remembered checksum of workspace file `rel` is kept."""

    def __init__(self, rel: str, file: Path) -> None:
        self.rel, self.file = rel, file


def _entry_name(rel: str) -> str:
    return hashlib.sha256(rel.encode("utf-8", "surrogatepass")).hexdigest()


def _entry(path: Path, root: Path, key: tuple[int, ...]) -> _Entry | None:
    """The entry of `path`, or None if it gets none: a small file, a path outside `root`, or
    a cache folder that leads out of the workspace (through a symbolic link)."""
    if key[2] < _PERSIST_MIN_BYTES:
        return None
    try:
        rel = Path(path).relative_to(root).as_posix()
    except ValueError:
        return None
    name = _entry_name(rel)
    folder = cache_folder(root) / name[:2]
    if not _resolves_inside(folder, root):
        return None
    return _Entry(rel, folder / name[2:])


def _resolves_inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symbolic link loop
        return False


def _read(file: Path) -> dict[str, Any] | None:
    """An entry file's JSON object, or None for anything else: not a regular file (never
    waiting on a FIFO), too large, not JSON, not an object."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        raw = os.read(fd, _ENTRY_MAX_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(raw) > _ENTRY_MAX_BYTES:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return data if isinstance(data, dict) else None


def _load(entry: _Entry, key: tuple[int, ...]) -> str | None:
    """The checksum `entry` holds, if it is about this very file as it is now."""
    data = _read(entry.file)
    if data is None:
        return None
    stored_key, digest = data.get("key"), data.get("sha256")
    if (data.get("path") == entry.rel
            and isinstance(stored_key, list) and all(type(n) is int for n in stored_key)
            and tuple(stored_key) == key
            and isinstance(digest, str) and _SHA256.fullmatch(digest)):
        return digest
    return None


def _store(entry: _Entry, key: tuple[int, ...], digest: str, root: Path) -> None:
    """Write `entry` atomically (concurrent writers each rename a complete file into place;
    the last one stays). A cache that cannot be written is no error: the next read hashes."""
    data = json.dumps({"path": entry.rel, "key": list(key), "sha256": digest}).encode()
    if len(data) > _ENTRY_MAX_BYTES:
        return
    folder = entry.file.parent
    try:
        if not entry.file.exists() and _count(folder) >= _SHARD_MAX:
            _prune(folder, root)
            if _count(folder) >= _SHARD_MAX:
                return
        files.atomic_write_bytes(entry.file, data)
    except (OSError, ArtifactError) as error:
        log.debug("hash cache entry %s not written: %s", entry.file, error)


def _count(folder: Path) -> int:
    try:
        return sum(not name.startswith(".") for name in os.listdir(folder))
    except FileNotFoundError:
        return 0


def _prune(folder: Path, root: Path) -> None:
    """Remove the entries of `folder` whose file is gone, the ones that are not entries of
    this cache, and temporary files their killed writers left."""
    for name in os.listdir(folder):
        if name.startswith("."):
            if temp := _ENTRY_TEMP.fullmatch(name):
                files.remove_stale_temps(folder / temp[1])  # unless a live writer holds it
            continue
        data = _read(folder / name)
        rel = data.get("path") if data is not None else None
        if not (isinstance(rel, str) and _entry_name(rel) == folder.name + name and _exists_inside(root, rel)):
            (folder / name).unlink(missing_ok=True)


def _exists_inside(root: Path, rel: str) -> bool:
    if path_problem(rel) is not None:
        return False
    target = root / rel
    return _resolves_inside(target, root) and os.path.lexists(target)
