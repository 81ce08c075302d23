"""Is the workspace on storage the cluster's workers share? Checked before any work.

The sweep writes a marker with a random token into the workspace; the first task on the
cluster reads it back from the same path. A worker that cannot see it (a path that exists only
on this machine, a different mount) fails the check, and the sweep stops with an error
instead of training models into a folder nobody will read.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

from unlearn_cli.artifacts import atomic_write_bytes
from unlearn_cli.errors import InputError


def write_marker(root: Path, sweep: str) -> tuple[Path, str]:
    token = secrets.token_hex(16)
    path = Path(root) / "sweeps" / sweep / f".shared-{token}"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, token.encode())
    return path, token


def read_marker(path: str, token: str) -> tuple[bool, str, str]:
    """Runs on a worker: (whether it read the token, its host name, what it found)."""
    host = socket.gethostname()
    try:
        found = Path(path).read_text()
    except OSError as error:
        return False, host, f"cannot read it ({error.strerror or error})"
    return found == token, host, "it holds another token" if found != token else "ok"


def check_result(root: Path, engine: str, marker: Path, result: tuple[bool, str, str]) -> None:
    ok, host, detail = result
    marker.unlink(missing_ok=True)
    if not ok:
        raise InputError(
            f"workspace {root} is not visible from the {engine} workers: {host} looked for {marker} and {detail}",
            hint="put the workspace on storage every node mounts at the same path (NFS, Lustre, a shared home) "
            "and point --workspace (or UNLEARN_WORKSPACE) at it")
