"""The unlearning methods (docs/methods.md): a registry of small modules over the one training loop.

Importing this package registers every method, in the order `unlearn ls methods` lists them.
"""

# ruff: noqa: I001 -- the import order is the registry order: retrain (the reference) first.
from __future__ import annotations

# Imported for their registrations; the order fixes the listing order.
from unlearn_cli.methods import retrain  # noqa: F401
from unlearn_cli.methods import finetune, neggrad, random_label, l1_sparse  # noqa: F401
from unlearn_cli.methods import badteacher, scrub  # noqa: F401
from unlearn_cli.methods import ssd, salun, boundary  # noqa: F401
from unlearn_cli.methods import natmu  # noqa: F401
from unlearn_cli.methods.base import METHODS, MethodSpec, Unlearned, register_method
from unlearn_cli.methods.context import UnlearnContext

__all__ = ["METHODS", "MethodSpec", "UnlearnContext", "Unlearned", "register_method"]
