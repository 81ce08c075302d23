"""A restricted unpickler for the official CIFAR pickles.

Unpickling can run any callable a pickle names, so a doctored "CIFAR archive" could run
code on load. The official files need nothing but numpy's array reconstruction and the
builtin containers; every other global is refused before it is ever looked up.
"""

from __future__ import annotations

import builtins
import io
import pickle

import numpy as np

from unlearn_cli.errors import DataError

# The function numpy's arrays pickle with. Taken from an array rather than imported by
# name: numpy 2 moved it to `numpy._core`, and importing the old `numpy.core` name
# raises a deprecation warning.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1, dtype=np.uint8))[0]

_BUILTINS = {name: getattr(builtins, name)
             for name in ("list", "dict", "tuple", "set", "frozenset", "bytearray")}

_ALLOWED: dict[tuple[str, str], object] = {
    # Python-2 era files (the official ones) name numpy.core; numpy >= 2 pickles name
    # numpy._core. Both resolve to this numpy's function without importing either name.
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 2 spells the module __builtin__; our override of find_class bypasses
    # pickle's own py2 name mapping, so both spellings are listed.
    **{(module, name): obj for module in ("builtins", "__builtin__")
       for name, obj in _BUILTINS.items()},
}

_HINT = "the file is corrupt or was not produced by the official dataset; re-download it"


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, where: str) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self._where = where

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self._where}: refused to load a pickle that calls {module}.{name}",
                hint="only numpy arrays and plain containers are allowed in dataset "
                "pickles; this file is not an official one and may be malicious",
            ) from None


def safe_load(data: bytes, where: str) -> object:
    """Unpickle `data` allowing only numpy arrays and builtin containers.

    `where` names the file in error messages. Loads with encoding="bytes" so the
    Python-2 strings of the official files (keys, label names) come back as bytes.
    """
    try:
        return _RestrictedUnpickler(data, where).load()
    except DataError:
        raise
    except Exception as exc:
        # A corrupt pickle can fail in many ways (UnpicklingError, EOFError, ValueError,
        # TypeError from a mangled reduce, ...); all of them mean "unreadable file".
        raise DataError(
            f"{where}: not a readable pickle ({type(exc).__name__}: {exc})", hint=_HINT
        ) from None
