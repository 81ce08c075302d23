"""Forget sets and corrective manipulations (README.md "Forget sets") as pure computations over
arrays.

Importing this package registers every forget-set kind and manipulation.
"""

from __future__ import annotations

from unlearn_cli.forget import kinds as _kinds  # noqa: F401  (fills FORGET_KINDS)
from unlearn_cli.forget.base import (
    FORGET_KINDS,
    DifficultyRecord,
    ForgetKind,
    TrainView,
    make_forget_indices,
    resolve_class,
    resolve_params,
    round_half_up,
)
from unlearn_cli.forget.index_files import SUFFIXES as INDEX_FILE_SUFFIXES
from unlearn_cli.forget.index_files import load_indices, read_index_file, write_index_file
from unlearn_cli.forget.kinds import (
    ClassParams,
    FractionParams,
    IndicesParams,
    PerParams,
    SubclassParams,
    hardness_ranking,
)
from unlearn_cli.forget.manipulations import (
    MANIPULATIONS,
    ManipulatedView,
    Manipulation,
    ManipulationKind,
    known_subset,
    manipulate,
)
from unlearn_cli.forget.table import (
    SCHEMA as FORGET_TABLE_SCHEMA,
)
from unlearn_cli.forget.table import (
    ForgetTableView,
    class_counts,
    forget_summary,
    forget_table,
    indices_to_mask,
    read_forget_table,
)

__all__ = [
    "FORGET_KINDS",
    "FORGET_TABLE_SCHEMA",
    "INDEX_FILE_SUFFIXES",
    "MANIPULATIONS",
    "ClassParams",
    "DifficultyRecord",
    "ForgetKind",
    "ForgetTableView",
    "FractionParams",
    "IndicesParams",
    "ManipulatedView",
    "Manipulation",
    "ManipulationKind",
    "PerParams",
    "SubclassParams",
    "TrainView",
    "class_counts",
    "forget_summary",
    "forget_table",
    "hardness_ranking",
    "indices_to_mask",
    "known_subset",
    "load_indices",
    "make_forget_indices",
    "manipulate",
    "read_forget_table",
    "read_index_file",
    "resolve_class",
    "resolve_params",
    "round_half_up",
    "write_index_file",
]
