"""One writer per artifact: an advisory lock on its name, held from the step's first check
until the artifact is written or the command ends.

The lock is `flock` on a small file beside the manifest (`manifests/<kind>/.<name>.lock`).
flock locks belong to an open file, and the kernel drops them when the process dies,
however it dies: a killed run leaves at most an unlocked file behind, which the next run
simply locks again. There is no stale lock to detect by age or process id.

A process takes each lock once (taking it again is a no-op), so several steps run in one
process (tests, a future `demo`) never block themselves. `release_all` gives back what a
command still holds when it ends (the CLI calls it, and so does the interpreter's exit).
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
from pathlib import Path

from unlearn_cli.artifacts.files import NO_LOCK_ERRNOS
from unlearn_cli.errors import ArtifactBusyError, ArtifactError

log = logging.getLogger(__name__)

_HELD: dict[Path, int] = {}  # lock file -> the descriptor holding its lock, in this process


def acquire(path: Path, what: str) -> None:
    """Lock `path` for this process, or fail at once if another process holds it.

    `what` names the artifact in the error (e.g. "model 'cifar10-resnet18-s0'")."""
    path = Path(path)
    if path in _HELD:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ArtifactError(f"cannot create {path.parent}: {error.strerror or error}",
                            hint="choose a writable --workspace") from None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise ArtifactError(f"cannot create the lock file {path}: {error.strerror or error}",
                                hint="choose a writable --workspace") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ArtifactBusyError(
                f"{what} is being written by another run right now (it holds {path})",
                hint="wait for that run to finish (then pass --force to replace its result), "
                "or choose another --name",
            ) from None
        except OSError as error:
            os.close(fd)
            if error.errno not in NO_LOCK_ERRNOS:
                raise
            # A file system without locks (some network mounts): go on unprotected
            # rather than refuse to work at all.
            log.warning("cannot lock %s (%s); concurrent runs of %s are not detected here",
                        path, error.strerror, what)
            return
        # The previous holder removes the file when it is done; if it did so between our
        # open and our lock, we hold a lock on a file nobody else can see: start again.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            _HELD[path] = fd
            return
        os.close(fd)


def release(path: Path) -> None:
    """Give the lock back and remove its file (removed while still locked, so nobody can
    take a lock on it that others would not see)."""
    fd = _HELD.pop(Path(path), None)
    if fd is None:
        return
    try:
        Path(path).unlink(missing_ok=True)
    finally:
        os.close(fd)


def holds(path: Path) -> bool:
    return Path(path) in _HELD


@atexit.register
def release_all() -> None:
    for path in list(_HELD):
        try:
            release(path)
        except OSError:
            pass
