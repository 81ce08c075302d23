"""A write that fails (full disk, file-size limit) is one error naming the file; nothing is
left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from unlearn_cli.artifacts import atomic_path
from unlearn_cli.errors import ArtifactError


class RustLikeError(Exception):
    """What safetensors raises: the OS error only in its text."""


@pytest.mark.parametrize(("error", "words"), [
    (OSError(28, "No space left on device"), "the disk is full"),
    (OSError(122, "Disk quota exceeded"), "the disk is full"),
    (OSError(27, "File too large"), "larger than this system allows"),
    (RustLikeError("Error while serializing: I/O error: File too large (os error 27)"), "larger than this system allows"),
    (OSError(5, "Input/output error"), "Input/output error"),
])
def test_write_failures_name_the_file_and_leave_nothing(tmp_path: Path, error: Exception, words: str) -> None:
    final = tmp_path / "ckpt" / "m.safetensors"
    with pytest.raises(ArtifactError) as info:
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"partial")
            raise error
    assert info.value.message.startswith(f"cannot write {final}: ")
    assert words in info.value.message
    assert info.value.hint
    assert list(final.parent.iterdir()) == []


def test_other_errors_travel_unchanged(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        with atomic_path(tmp_path / "x") as tmp:
            tmp.write_bytes(b"partial")
            raise KeyError("a bug")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_real_file_size_limit_during_a_safetensors_write(tmp_path: Path) -> None:
    """RLIMIT_FSIZE in a child (SIGXFSZ ignored, as Python does at start-up): the write
    gets EFBIG, which the Rust writer reports only in its message."""
    code = ("import resource, signal, sys, torch\n"
            "from pathlib import Path\n"
            "from unlearn_cli.artifacts import save_tensors\n"
            "from unlearn_cli.errors import ArtifactError\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))\n"
            "try:\n"
            "    save_tensors(Path(sys.argv[1]), {'w': torch.zeros(100_000)})\n"
            "except ArtifactError as e:\n"
            "    print(e.message)\n")
    final = tmp_path / "big.safetensors"
    done = subprocess.run([sys.executable, "-c", code, str(final)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"cannot write {final}: the file is larger than this system allows (File too large)"
    assert list(tmp_path.iterdir()) == []
