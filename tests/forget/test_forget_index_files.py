"""Index files for `--indices FILE`: every format round-trips; bad files are named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from unlearn_cli.errors import InputError
from unlearn_cli.forget import INDEX_FILE_SUFFIXES, forget_table, load_indices, read_index_file, write_index_file

ROWS = [12, 0, 7, 3]


@pytest.mark.parametrize("suffix", INDEX_FILE_SUFFIXES)
def test_every_format_round_trips(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"rows{suffix}"
    write_index_file(path, ROWS)
    assert read_index_file(path).tolist() == ROWS  # order kept as written
    assert load_indices(path, 20).tolist() == sorted(ROWS)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.txt", "3, 1\n4\n\n# a comment\n15 9 # trailing\n", [3, 1, 4, 15, 9]),
        ("b.csv", "4\n2\n8\n", [4, 2, 8]),  # single column, no header
        ("c.csv", "idx\n4\n2\n", [4, 2]),  # single column with a header
        ("d.csv", "label,index\n7,5\n1,6\n", [5, 6]),  # the column named index
        ("e.json", "[5, 1, 2.0]", [5, 1, 2]),  # an integral float counts
        ("f.json", '{"index": [8]}', [8]),
    ],
)
def test_text_formats_accept_their_variants(tmp_path: Path, name: str, content: str, expected: list[int]) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert read_index_file(path).tolist() == expected


def test_npy_column_vector_is_flattened(tmp_path: Path) -> None:
    path = tmp_path / "col.npy"
    np.save(path, np.array([[4], [2]], dtype=np.int32))
    assert read_index_file(path).tolist() == [4, 2]


def test_parquet_single_unnamed_column_and_forget_table(tmp_path: Path) -> None:
    single = tmp_path / "single.parquet"
    pq.write_table(pa.table({"row": [3, 1]}), single)
    assert read_index_file(single).tolist() == [3, 1]
    # An earlier run's forget table gives its forget rows, not every train row.
    table_path = tmp_path / "forget.parquet"
    mask = np.zeros(6, dtype=bool)
    mask[[1, 4]] = True
    pq.write_table(forget_table(np.arange(6) % 2, mask), table_path)
    assert read_index_file(table_path).tolist() == [1, 4]


def _write(path: Path, content: object) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif path.suffix == ".npy":
        np.save(path, content, allow_pickle=True)  # object arrays must still be refused
    elif isinstance(content, pa.Table):
        pq.write_table(content, path)
    else:
        path.write_text(str(content))
    return path


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        # non-integer rows, named
        ("a.txt", "1\n2.5\nabc\n", "'2.5', 'abc'"),
        ("b.json", "[1, true, 3]", "True"),
        ("c.json", '[1, "x"]', "'x'"),
        ("d.csv", "index\n1\nfoo\n", "'foo'"),
        ("e.npy", np.array([1.0, 2.5]), "2.5"),
        ("f.parquet", pa.table({"index": [1.0, 1.5]}), "1.5"),
        ("g.txt", "1e30\n", "1000000000000000019884624838656"),
        # wrong shapes and layouts
        ("h.npy", np.zeros((2, 3), dtype=np.int64), "(2, 3)"),
        ("i.npy", np.array([True, False]), "boolean mask"),
        ("j.npy", np.array(["a"], dtype=object), "could not be read"),
        ("k.csv", "a,b\n1,2\n", "none is named `index`"),
        ("l.json", '{"rows": [1]}', '"indices"'),
        ("m.json", '"12"', "JSON list"),
        ("n.parquet", pa.table({"a": [1], "b": [2]}), "none is named `index`"),
        ("o.parquet", pa.table({"index": pa.array([1, None], pa.int64())}), "null"),
        # unreadable files
        ("p.json", "[1, 2", "could not be read as json"),
        ("q.parquet", b"not parquet", "could not be read as parquet"),
        ("r.txt", b"\xff\xfe\x00bad", "could not be read as txt"),
    ],
)
def test_bad_files_are_named_with_the_offending_values(tmp_path: Path, name: str, content: object, needle: str) -> None:
    path = _write(tmp_path / name, content)
    with pytest.raises(InputError) as info:
        load_indices(path, 100)
    assert str(path) in info.value.message
    assert needle in info.value.message


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([], "lists no rows"),
        ([3, -1, -7], "negative rows: -1, -7"),
        ([1, 10, 11, 99], "out of range: 10, 11, 99 (the train split has 10 rows)"),
        ([1, 2, 2, 5, 5], "more than once: 2, 5"),
    ],
)
def test_rows_are_checked_against_the_split(tmp_path: Path, rows: list[int], needle: str) -> None:
    path = tmp_path / "rows.txt"
    path.write_text("\n".join(map(str, rows)))
    with pytest.raises(InputError) as info:
        load_indices(path, 10)
    assert str(path) in info.value.message and needle in info.value.message


def test_long_lists_of_offenders_are_shortened(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(list(range(10, 30))))
    with pytest.raises(InputError, match=r"10, 11, 12, 13, 14 \(and 15 more\)"):
        load_indices(path, 10)


def test_missing_unknown_and_folder_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_indices(tmp_path / "nope.txt", 10)
    with pytest.raises(InputError, match=r"unknown format '\.xlsx'") as info:
        load_indices(tmp_path / "rows.xlsx", 10)
    assert ".parquet" in (info.value.hint or "")
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    with pytest.raises(InputError, match="not a file"):
        load_indices(folder, 10)
    with pytest.raises(InputError, match=r"\.xlsx"):
        write_index_file(tmp_path / "rows.xlsx", [1])


def test_npy_header_declaring_more_than_the_file_holds(tmp_path: Path) -> None:
    """np.load would allocate the declared 8 TB before reading: an --indices file is untrusted input."""
    path = tmp_path / "rows.npy"
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<i8", "fortran_order": False, "shape": (10**12,)})
        handle.write(np.arange(3, dtype="<i8").tobytes())
    with pytest.raises(InputError, match=r"declares shape \(1000000000000,\).*holds 24 bytes"):
        load_indices(path, 100)


def test_json_nested_too_deeply(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="too deeply"):
        load_indices(path, 100)


def test_natmus_committed_index_files_import_exactly(tmp_path: Path) -> None:
    # NatMU commits its forget sets as sample-wise/idx/<dataset>_idx_<per>%.npy, written by
    # np.save(f"idx/...", forget_idx) (utils/data.py:175): format 1.0, '<i8', one dimension,
    # rows grouped by class and unsorted. The fixture is that exact layout, header included.
    rows = np.array([44662, 49340, 31144, 12083, 25970, 55, 49680, 9], dtype="<i8")
    path = tmp_path / "cifar10_idx_1%.npy"
    np.save(path, rows)
    assert path.read_bytes()[:80] == (b"\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, "
                                      b"'shape': (8,), }" + b" " * 22)[:80]
    assert load_indices(path, 50000).tolist() == sorted(rows.tolist())
