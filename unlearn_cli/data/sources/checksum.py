"""md5 of a file, read in chunks: the official dataset archives publish md5 sums."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_md5(path: Path) -> str:
    """Hex md5 of the file at `path`, streamed so a large archive never sits in memory."""
    # usedforsecurity=False: md5 is only an integrity check here, and FIPS builds of
    # OpenSSL refuse md5 unless told so.
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
