"""Reading and writing lists of train-row indices (`--indices FILE`, README.md "Forget sets").

Published forget sets come in many shapes, so several formats are read:
  .npy      a 1-D integer array (an (n, 1) or (1, n) array is flattened)
  .txt      integers separated by whitespace and/or commas; `#` starts a comment
  .csv      a column named `index`, or a single column (with or without a header)
  .json     a list, or an object with the key "indices" or "index"
  .parquet  the column `index`, or a single column; a forget table (columns `index` and
            `forget`) gives its forget rows, so an earlier run's forget set can be reused
Every value must be an integer (3.0 counts, 3.5 does not); the list must be non-empty,
without negatives, duplicates or rows past the end of the train split.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from unlearn_cli.data.sources.npy import read_npy
from unlearn_cli.errors import InputError

SUFFIXES = (".npy", ".txt", ".csv", ".json", ".parquet")
_SHOW = 5  # how many offending values a message names

_HINT_FORMATS = f"supported formats: {', '.join(SUFFIXES)}"


def load_indices(path: Path | str, n_rows: int) -> np.ndarray:
    """Read an index file and check it against a train split of `n_rows` rows.

    Returns sorted unique int64 indices; any problem raises InputError naming the file and
    the first offending values.
    """
    path = Path(path)
    values = read_index_file(path)
    if values.size == 0:
        raise InputError(f"index file {path} lists no rows", hint="give at least one train-row index")
    negative = values[values < 0]
    if negative.size:
        raise InputError(
            f"index file {path} has negative rows: {_first(negative)}",
            hint=f"train rows are numbered 0..{n_rows - 1}",
        )
    too_big = values[values >= n_rows]
    if too_big.size:
        raise InputError(
            f"index file {path} has rows out of range: {_first(too_big)} (the train split has {n_rows} rows)",
            hint=f"train rows are numbered 0..{n_rows - 1}; was the list made for another dataset?",
        )
    unique, counts = np.unique(values, return_counts=True)
    duplicates = unique[counts > 1]
    if duplicates.size:
        raise InputError(
            f"index file {path} lists rows more than once: {_first(duplicates)}",
            hint="remove the duplicate rows",
        )
    return unique.astype(np.int64)


def read_index_file(path: Path | str) -> np.ndarray:
    """Read the raw integer values of an index file (unchecked against any split)."""
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"index file {path} has an unknown format '{path.suffix}'", hint=_HINT_FORMATS)
    if not path.exists():
        raise InputError(f"index file {path} does not exist", hint="check the path")
    if not path.is_file():
        raise InputError(f"index file {path} is not a file", hint="give the path of a file")
    try:
        return reader(path)
    except InputError:
        raise
    except (OSError, EOFError, ValueError, UnicodeDecodeError, pa.ArrowException, csv.Error) as exc:
        raise InputError(
            f"index file {path} could not be read as {path.suffix.lower()[1:]}: {exc}", hint=_HINT_FORMATS
        ) from None


def write_index_file(path: Path | str, indices: Sequence[int] | np.ndarray) -> None:
    """Write indices in the format named by the suffix, readable by `read_index_file`."""
    path = Path(path)
    values = np.asarray(indices, dtype=np.int64).reshape(-1)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        # Through a file handle: np.save would otherwise append its own suffix.
        with path.open("wb") as handle:
            np.save(handle, values, allow_pickle=False)
    elif suffix == ".txt":
        path.write_text("".join(f"{v}\n" for v in values.tolist()))
    elif suffix == ".csv":
        path.write_text("index\n" + "".join(f"{v}\n" for v in values.tolist()))
    elif suffix == ".json":
        path.write_text(json.dumps({"indices": values.tolist()}))
    elif suffix == ".parquet":
        pq.write_table(pa.table({"index": pa.array(values, pa.int64())}), path)
    else:
        raise InputError(f"cannot write index file {path}: unknown format '{path.suffix}'", hint=_HINT_FORMATS)


# ------------------------------------------------------------------------------ readers


def _read_npy(path: Path) -> np.ndarray:
    # Not np.load: it would allocate whatever shape the header declares (and unpickle
    # object arrays); read_npy checks the header against the file's size first.
    with path.open("rb") as handle:
        array = read_npy(handle)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise InputError(f"index file {path} holds an array of shape {array.shape}", hint="save a 1-D array of rows")
    if array.dtype == np.bool_:
        raise InputError(
            f"index file {path} holds a boolean mask, not a list of rows",
            hint="save np.flatnonzero(mask) instead",
        )
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.floating):
        return _integers(path, array.tolist())
    raise InputError(f"index file {path} holds {array.dtype} values, not integers", hint="save an integer array")


def _read_txt(path: Path) -> np.ndarray:
    tokens: list[str] = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0]
        tokens.extend(t for t in line.replace(",", " ").split() if t)
    return _integers(path, tokens)


def _read_csv(path: Path) -> np.ndarray:
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if not rows:
        return np.empty(0, dtype=np.int64)
    header = [cell.strip().lower() for cell in rows[0]]
    if "index" in header:
        column = header.index("index")
        short = [i + 2 for i, row in enumerate(rows[1:]) if len(row) <= column]
        if short:
            raise InputError(f"index file {path} has no `index` value on line(s) {short[:_SHOW]}")
        return _integers(path, [row[column] for row in rows[1:]])
    widths = {len(row) for row in rows}
    if widths != {1}:
        raise InputError(
            f"index file {path} has several columns ({', '.join(rows[0])}) and none is named `index`",
            hint="name the column of rows `index`, or keep one column",
        )
    cells = [row[0] for row in rows]
    if _parse_int(cells[0]) is None:  # a header such as "idx" above a single column
        cells = cells[1:]
    return _integers(path, cells)


def _read_json(path: Path) -> np.ndarray:
    try:
        data = json.loads(path.read_text())
    except RecursionError:
        # json's decoder recurses once per nesting level; a list of rows needs one or two.
        raise InputError(f"index file {path} nests its JSON too deeply to be a list of rows",
                         hint='write a flat list, or {"indices": [...]}') from None
    if isinstance(data, dict):
        key = next((k for k in ("indices", "index") if k in data), None)
        if key is None:
            raise InputError(
                f"index file {path} is a JSON object without an \"indices\" or \"index\" key",
                hint='write a list, or {"indices": [...]}',
            )
        data = data[key]
    if not isinstance(data, list):
        raise InputError(
            f"index file {path} does not hold a JSON list of rows", hint='write a list, or {"indices": [...]}'
        )
    return _integers(path, data)


def _read_parquet(path: Path) -> np.ndarray:
    table = pq.read_table(path)
    names = table.column_names
    if "index" in names and "forget" in names:
        forget = table.column("forget")
        if not pa.types.is_boolean(forget.type) or forget.null_count:
            raise InputError(f"index file {path} has a `forget` column that is not a boolean column without nulls")
        table = table.filter(forget)
        names = ["index"]
    if "index" in names:
        column = table.column("index")
    elif len(names) == 1:
        column = table.column(names[0])
    else:
        raise InputError(
            f"index file {path} has columns {', '.join(names)} and none is named `index`",
            hint="name the column of rows `index`",
        )
    if column.null_count:
        raise InputError(f"index file {path} has {column.null_count} empty (null) rows", hint="remove the empty rows")
    if pa.types.is_integer(column.type):
        return column.to_numpy().astype(np.int64)
    return _integers(path, column.to_pylist())


_READERS: dict[str, Callable[[Path], np.ndarray]] = {
    ".npy": _read_npy,
    ".txt": _read_txt,
    ".csv": _read_csv,
    ".json": _read_json,
    ".parquet": _read_parquet,
}


# ------------------------------------------------------------------------------ helpers


def _parse_int(value: Any) -> int | None:
    """The integer a value stands for, or None: ints, integral floats, and their text."""
    if isinstance(value, bool) or value is None:
        return None  # JSON true/false are not rows
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return _parse_int(float(text))
        except ValueError:
            return None
    return None


def _integers(path: Path, values: Sequence[Any]) -> np.ndarray:
    parsed = [_parse_int(v) for v in values]
    bad = [v for v, p in zip(values, parsed) if p is None]
    if bad:
        raise InputError(
            f"index file {path} has values that are not integer rows: {_first(bad)}",
            hint="list whole numbers only",
        )
    # Python ints are unbounded; no train split has 2**63 rows, so such values are simply
    # out of range, and must not overflow the conversion below.
    huge = [p for p in parsed if p is not None and abs(p) >= 2**63]
    if huge:
        raise InputError(f"index file {path} has rows out of range: {_first(huge)}", hint="list train-row numbers")
    return np.asarray(parsed, dtype=np.int64)


def _first(values: Sequence[Any] | np.ndarray) -> str:
    items = list(values[:_SHOW]) if not isinstance(values, np.ndarray) else values[:_SHOW].tolist()
    more = len(values) - len(items)
    text = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in items)
    return text + (f" (and {more} more)" if more > 0 else "")
