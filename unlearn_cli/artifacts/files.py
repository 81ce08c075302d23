"""Atomic file writes, staged replacement, and checksums.

Every artifact file is written to a temporary name in its final folder, fsynced, and renamed,
so a killed step never leaves a half-written file under a final name. The temporary name is
`.<final name>.<random>.tmp`, and the writer holds an flock on it while it exists: a
temporary file nobody holds a lock on was left by a killed process, and the next write of
the same final file removes it.

Inside `staged(paths)` the renames of those paths are held back: each file stays complete
under its temporary name until `Stage.commit` renames them all into place at once, so an
artifact being replaced stays whole until the new one is completely written. The commit first
writes a journal (`.<manifest name>.commit`, the renames still to do) beside the manifest,
so a process killed among the renames leaves a commit that `finish_commit` completes, not an
artifact without a manifest.

Write failures become one `ArtifactError` naming the file: a full disk and a file-size
limit say so.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from unlearn_cli.errors import ArtifactError, UnlearnError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """A fresh hash of the bytes `path` holds now (what a write records). A read that only
    verifies uses `hashcache.cached_sha256`, which skips files unchanged since hashed."""
    try:
        with open(path, "rb") as handle:
            return sha256_stream(handle)
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}", hint="re-run the step that makes it") from None


def sha256_stream(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    # The rename is only durable once the directory entry is on disk too.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- write errors

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
NO_LOCK_ERRNOS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)  # file systems without flock
# Writers outside Python (safetensors' Rust code) report the OS error only in their text.
_OS_ERROR_IN_TEXT = re.compile(r"os error (\d+)|\[errno (\d+)\]", re.IGNORECASE)


def _errno_of(error: BaseException) -> int | None:
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno
    match = _OS_ERROR_IN_TEXT.search(str(error))
    return int(match.group(1) or match.group(2)) if match else None


def write_error(final: Path, error: BaseException) -> ArtifactError | None:
    """The user-facing error for a failed write of `final`, or None if `error` is no
    I/O failure (a bug, an interrupt) and should travel on as it is."""
    code = _errno_of(error)
    if code is None:
        return None
    if code in _DISK_FULL:
        return ArtifactError(f"cannot write {final}: the disk is full ({os.strerror(code)})",
                             hint="free some space on that disk, or choose another --workspace")
    if code == errno.EFBIG:
        return ArtifactError(f"cannot write {final}: the file is larger than this system allows "
                             f"({os.strerror(code)})",
                             hint="raise the file-size limit (ulimit -f), or choose another --workspace")
    return ArtifactError(f"cannot write {final}: {os.strerror(code)}",
                         hint="check the disk and the workspace's permissions")


# --------------------------------------------------------------------------- temporary files


def _temp_pattern(final: Path) -> re.Pattern[str]:
    # mkstemp's random part: 8 characters of [a-z0-9_].
    return re.compile(rf"^\.{re.escape(final.name)}\.[a-z0-9_]{{8}}\.tmp$")


def remove_stale_temps(final: Path) -> None:
    """Remove the temporary files of `final` that no live writer holds."""
    folder = final.parent
    if not folder.is_dir():
        return
    pattern = _temp_pattern(final)
    for candidate in folder.iterdir():
        if not pattern.match(candidate.name):
            continue
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # a live writer holds it
            continue
        try:
            candidate.unlink(missing_ok=True)
        finally:
            os.close(fd)


_FILE_MODE = 0o666  # what open() would give a new file, before the umask


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass
class _Temp:
    """A temporary file beside `final`, locked by us for as long as it exists."""

    final: Path
    path: Path
    fd: int

    @classmethod
    def create(cls, final: Path) -> _Temp:
        folder = final.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(final)
            while True:
                fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=folder)
                os.fchmod(fd, _FILE_MODE & ~_umask())  # mkstemp's 0600 would hide it from others
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    # Another process's cleaner may have taken it for stale between
                    # mkstemp and our lock, and removed it: then make another.
                    if os.stat(name).st_ino == os.fstat(fd).st_ino:
                        return cls(final, Path(name), fd)
                except (BlockingIOError, FileNotFoundError):
                    pass
                except OSError as error:
                    if error.errno not in NO_LOCK_ERRNOS:
                        raise
                    return cls(final, Path(name), fd)  # no locks here: never taken for stale
                os.close(fd)
        except OSError as error:
            raise ArtifactError(
                f"cannot write in {folder}: {error.strerror or error}",
                hint="choose a writable --workspace (or set UNLEARN_WORKSPACE)",
            ) from None

    def finish(self) -> None:
        """Make the written content durable (before any rename)."""
        with open(self.path, "rb+") as handle:
            os.fsync(handle.fileno())

    def move_into_place(self) -> None:
        os.replace(self.path, self.final)
        self.close()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# --------------------------------------------------------------------------- staging


def _key(path: Path | str) -> str:
    return os.path.abspath(path)


@dataclass
class Stage:
    """Final paths whose new content waits, complete, under temporary names."""

    finals: set[str]
    ready: dict[str, _Temp] = field(default_factory=dict)
    committing: bool = False
    committed: bool = False

    def covers(self, final: Path) -> bool:
        return _key(final) in self.finals

    def hold(self, temp: _Temp) -> None:
        previous = self.ready.pop(_key(temp.final), None)
        if previous is not None:
            previous.discard()
        self.ready[_key(temp.final)] = temp

    def content(self, final: Path) -> Path:
        """Where `final`'s new content is now (its temporary file once staged)."""
        temp = self.ready.get(_key(final))
        return temp.path if temp is not None else Path(final)

    def commit(self, manifest: Path) -> None:
        """Rename every staged file into place, `manifest` last, after removing the manifest
        being replaced (so no manifest ever lists a mix of old and new files).

        The renames are journaled first: from the moment the old manifest is gone until the
        last rename, the journal says how to finish, and `finish_commit` does it if this
        process dies in between. From here on the staged files belong to the journal, so
        a failure no longer discards them."""
        manifest = Path(manifest)
        order = sorted(self.ready, key=lambda key: key == _key(manifest))  # the manifest last
        temps = [self.ready[key] for key in order]
        journal = commit_journal(manifest)
        atomic_write_bytes(journal, json.dumps({
            "version": 1,
            "renames": [[temp.path.name, os.path.relpath(temp.final, journal.parent)] for temp in temps],
        }).encode())
        self.committing = True
        manifest.unlink(missing_ok=True)
        for temp in temps:
            temp.move_into_place()
            self.ready.pop(_key(temp.final))
        for folder in {Path(temp.final).parent for temp in temps} | {manifest.parent}:
            _fsync_dir(folder)
        journal.unlink()
        _fsync_dir(journal.parent)
        self.committed = True

    def discard(self) -> None:
        if self.committing:  # the journal owns what is left; finish_commit completes it
            for temp in self.ready.values():
                temp.close()
        else:
            for temp in self.ready.values():
                temp.discard()
        self.ready.clear()


_STAGE: ContextVar[Stage | None] = ContextVar("unlearn_stage", default=None)


def active_stage() -> Stage | None:
    return _STAGE.get()


@contextmanager
def staged(finals: Iterable[Path]) -> Iterator[Stage]:
    """Hold back the renames of `finals` until `Stage.commit`; if the block fails (or
    ends without committing), the staged files are removed and the old ones are
    untouched."""
    stage = Stage({_key(path) for path in finals})
    token = _STAGE.set(stage)
    try:
        yield stage
    finally:
        _STAGE.reset(token)
        stage.discard()  # nothing left when committed; otherwise an aborted replacement


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success fsync it and rename it to `final`
    (or, inside `staged`, keep it ready for the commit); on failure remove it. A failed
    write (full disk, file-size limit) becomes an ArtifactError naming `final`."""
    final = Path(final)
    temp = _Temp.create(final)
    try:
        yield temp.path
        temp.finish()
        stage = active_stage()
        if stage is not None and stage.covers(final):
            stage.hold(temp)
            return
        temp.move_into_place()
        _fsync_dir(final.parent)
    except BaseException as error:
        temp.discard()
        mapped = write_error(final, error) if not isinstance(error, UnlearnError) else None
        if mapped is not None:
            raise mapped from None
        raise


def atomic_write_bytes(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


# --------------------------------------------------------------------------- commit journal

_JOURNAL_MAX_BYTES = 64 * 1024  # a commit renames a handful of files


def commit_journal(manifest: Path) -> Path:
    """Where the commit of `manifest` keeps its journal while it renames."""
    return manifest.with_name(f".{manifest.name}.commit")


def finish_commit(manifest: Path, root: Path) -> bool:
    """Complete a commit of `manifest` whose process died among its renames: rename what is
    still staged into place (manifest last) and drop the journal. The caller holds the
    artifact's lock. A journal is input like any file in a workspace: every rename must
    name a temporary file of its final file, and every final file must lie inside `root`.
    Returns whether there was a journal."""
    journal = commit_journal(manifest)
    try:
        with open(journal, "rb") as handle:
            raw = handle.read(_JOURNAL_MAX_BYTES + 1)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise ArtifactError(f"cannot read {journal}: {error.strerror or error}", hint="check the file") from None
    renames = _parse_journal(raw, journal, Path(root).resolve())
    for temp, final in renames:
        if temp.exists():  # otherwise moved before the process died
            os.replace(temp, final)
    for folder in {final.parent for _, final in renames}:
        _fsync_dir(folder)
    journal.unlink(missing_ok=True)
    _fsync_dir(journal.parent)
    return True


def _parse_journal(raw: bytes, journal: Path, root: Path) -> list[tuple[Path, Path]]:
    hint = f"remove {journal} and re-run the step that writes this artifact"
    try:
        if len(raw) > _JOURNAL_MAX_BYTES:
            raise ValueError("too large")
        data = json.loads(raw.decode())
        pairs = data["renames"]
        if data.get("version") != 1 or not isinstance(pairs, list):
            raise ValueError("unknown layout")
        renames = []
        for pair in pairs:
            temp_name, final_rel = pair
            if not (isinstance(temp_name, str) and isinstance(final_rel, str)):
                raise ValueError("a rename is not two names")
            final = (journal.parent / final_rel).resolve()
            if not final.is_relative_to(root) or not _temp_pattern(final).match(temp_name):
                raise ValueError(f"rename {temp_name} -> {final_rel} is not one of this workspace's commits")
            renames.append((final.parent / temp_name, final))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as error:
        raise ArtifactError(f"{journal} is not a valid commit journal ({error})", hint=hint) from None
    return renames
