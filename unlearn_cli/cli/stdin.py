"""Upstream artifacts from stdin: the other half of the shell-pipe contract.

Every step prints the path of the manifest it wrote on stdout; a step that takes upstream
artifacts reads such paths from stdin (one per line) when an option is `-`, or when its
required upstream options are omitted and stdin is not a terminal. The kind of each manifest
says which option it fills, so `make-forget-set … | unlearn unlearn --method scrub |
unlearn evaluate --json` needs no option names at all.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from unlearn_cli.artifacts.manifest import parse_manifest
from unlearn_cli.errors import ArtifactError, InputError
from unlearn_cli.paths import user_path

STDIN = "-"


def stdin_is_pipe(*, fifo_only: bool = False) -> bool:
    """Whether stdin can carry manifest paths: not a terminal. With `fifo_only`, only a real
    pipe counts (not a file redirect): for options that have a default, so that a command in a
    `while read …; done < file` loop never swallows the loop's input."""
    stream = sys.stdin
    if stream is None:
        return False
    try:
        fd = stream.fileno()
    except (io.UnsupportedOperation, AttributeError, ValueError):
        return not fifo_only  # an in-memory stream (a test runner's input)
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    if fifo_only:
        return stat.S_ISFIFO(mode)
    return not os.isatty(fd)


def _kind_of(path: Path) -> str:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ArtifactError(f"stdin names {path}, which does not exist",
                            hint="pipe the manifest paths an unlearn step printed") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ArtifactError(f"cannot read {path} from stdin: {error}",
                            hint="pipe the manifest paths an unlearn step printed") from None
    return parse_manifest(text, path).kind


def fill_from_stdin(options: Mapping[str, str | None], accepts: Mapping[str, tuple[str, ...]], *,
                    read: bool) -> dict[str, str | None]:
    """Options filled from the manifest paths on stdin.

    `options` maps option flags (e.g. "--forget") to their values (None: omitted, "-": read
    stdin); `accepts` maps each flag to the manifest kinds it takes. Stdin is read when any
    option is "-", or when `read` is true (the caller decided the omitted options should come
    from a pipe). Each path fills the omitted-or-"-" option that accepts its kind; two paths
    for one option, a path no option takes, or a "-" left unfilled is an InputError."""
    wanted = [flag for flag, value in options.items() if value is None or value == STDIN]
    explicit = [flag for flag, value in options.items() if value == STDIN]
    filled: dict[str, str | None] = dict(options)
    if not explicit and not read:
        return filled
    lines = [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
    for line in lines:
        path = user_path(line)
        kind = _kind_of(path)
        targets = [flag for flag in wanted if kind in accepts[flag]]
        if not targets:
            takes = ", ".join(f"{flag} ({' or '.join(accepts[flag])})" for flag in wanted) or "nothing"
            raise InputError(f"stdin gave a {kind} manifest ({path}), which no option here takes",
                             hint=f"stdin can fill {takes}")
        flag = targets[0]
        if filled[flag] not in (None, STDIN):
            raise InputError(f"stdin gave two manifests for {flag}: {filled[flag]} and {path}",
                             hint=f"pipe one {' or '.join(accepts[flag])} manifest, or pass {flag} explicitly")
        filled[flag] = str(path)
    for flag in explicit:
        if filled[flag] == STDIN:
            raise InputError(f"{flag} - found no {' or '.join(accepts[flag])} manifest on stdin",
                             hint="pipe the path a previous step printed, one per line")
    return filled
