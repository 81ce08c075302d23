"""Heavy-file I/O: tensors in safetensors (never pickle), tables in Parquet.

torch and pyarrow are imported inside the functions: the CLI imports this package for the
workspace alone, and `unlearn --help` should not pay for importing torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unlearn_cli.artifacts.files import atomic_path
from unlearn_cli.errors import ArtifactError

if TYPE_CHECKING:
    import pyarrow as pa
    import torch


# safetensors keeps its metadata in a hash map whose order changes from process to process,
# so several keys would give the same weights different file bytes (and checksums). All our
# metadata therefore travels as one JSON string under one key.
_METADATA_KEY = "unlearn"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None) -> None:
    from safetensors.torch import save_file

    contiguous = {key: value.detach().contiguous().cpu() for key, value in tensors.items()}
    header = {_METADATA_KEY: json.dumps(metadata or {}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(contiguous, str(tmp), metadata=header)


def load_metadata(path: Path) -> dict[str, Any]:
    """The metadata `save_tensors` stored (without reading the tensors)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(_METADATA_KEY, "{}")
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}", hint="re-run the step that makes it") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise ArtifactError(f"{path} is not a readable safetensors file ({error})",
                            hint="re-run the step that made it with --force") from None
    return json.loads(raw)


def load_tensors(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=str(device))
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}", hint="re-run the step that makes it") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise ArtifactError(f"{path} is not a readable safetensors file ({error})",
                            hint="re-run the step that made it with --force") from None


def save_table(path: Path, table: pa.Table) -> None:
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def load_table(path: Path) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}", hint="re-run the step that makes it") from None
    except (pa.ArrowException, OSError) as error:
        raise ArtifactError(f"{path} is not a readable Parquet file ({error})",
                            hint="re-run the step that made it with --force") from None
