"""A restricted unpickler for the official CIFAR pickles.

Unpickling runs whatever callables a pickle names, with whatever arguments it gives. Even
numpy's own array reconstruction is unsafe with hostile arguments: a dtype whose pickled
state claims "holds objects" turns raw file bytes into pointers (a crash, or worse), and a
declared shape or a `bytearray(n)` call allocates memory the file never paid for.

So nothing a pickle names is ever called as it is. The official files (protocol 2, written
by Python 2) contain dicts, lists, byte strings, ints and numpy arrays; an array pickles as
`_reconstruct(ndarray, (0,), b"b")` followed by a state `(1, shape, dtype, fortran, raw)`,
and its dtype as `dtype("u1", False, True)` followed by a state
`(3, endian, None, None, None, -1, -1, 0)`. The three globals these name resolve to
stand-ins that accept exactly those forms: a numeric dtype with no flags, and an array
whose `raw` bytes (read from the file) are exactly `shape x itemsize` long. The stand-ins
become real arrays only after loading, when the whole object is checked to be plain data.

The pure-Python unpickler is used, not the C one: the C unpickler allocates the size an
opcode declares before reading it, the Python one only what the file holds.
"""

from __future__ import annotations

import io
import math
import pickle
from typing import Any

import numpy as np

from unlearn_cli.errors import DataError

_HINT = "the file is corrupt or was not produced by the official dataset; re-download it"
_UNSAFE_HINT = ("only numeric numpy arrays and plain containers are allowed in dataset pickles; "
                "this file is not an official one and may be malicious")

# The dtype kinds a dataset array may have: booleans, integers, unsigned integers, floats.
_NUMERIC_KINDS = frozenset("biuf")
_ENDIANS = {"<": "<", ">": ">", "|": "|", "=": "="}
_MAX_DEPTH = 16  # nesting of containers; the official files have 2


class _Refused(Exception):
    """A pickle that asks for something the official files never do."""


def _text(value: object) -> str | None:
    """Python 2 strings load as bytes (encoding="bytes"); accept both spellings."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


class _Callable:
    """Base of the stand-ins a pickle may call: no instance dict and no settable
    attributes, so BUILD cannot plant anything on them."""

    __slots__ = ()


class _NdarrayToken(_Callable):
    """What `numpy.ndarray` resolves to: only an argument of `_reconstruct`, never called."""

    __slots__ = ()

    def __call__(self, *args: object) -> object:
        raise _Refused("a direct call of numpy.ndarray")


_NDARRAY = _NdarrayToken()


class _PendingDtype:
    """A dtype as the pickle describes it; checked when its state arrives."""

    __slots__ = ("dtype",)

    def __init__(self, spec: str) -> None:
        try:
            dtype = np.dtype(spec)
        except TypeError as exc:
            raise _Refused(f"an unknown dtype {spec!r}") from exc
        if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None:
            raise _Refused(f"an array of dtype {dtype} (not a numeric dtype)")
        self.dtype = dtype

    def __setstate__(self, state: object) -> None:
        # (version, endian, subarray, names, fields, elsize, alignment, flags): a numeric
        # dtype has none of the structure fields and no flags (flags are what would mark
        # the bytes as object pointers).
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] in (3, 4)):
            raise _Refused("a malformed dtype state")
        endian = _ENDIANS.get(_text(state[1]) or "")
        if endian is None or state[2:5] != (None, None, None) or state[5:] != (-1, -1, 0):
            raise _Refused(f"a dtype state other than a plain number's: {state!r}")
        if endian in "<>":
            self.dtype = self.dtype.newbyteorder(endian)


class _DtypeStandIn(_Callable):
    """What `numpy.dtype` resolves to: `dtype(spec, align, copy)` of a numeric spec."""

    __slots__ = ()

    def __call__(self, spec: object, align: object = False, copy: object = True) -> _PendingDtype:
        text = _text(spec)
        if text is None or align not in (0, False) or copy not in (1, True):
            raise _Refused(f"dtype{(spec, align, copy)!r}")
        return _PendingDtype(text)


class _PendingArray:
    """An array as `_reconstruct` starts it; it gets its shape, dtype and bytes from BUILD."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: object) -> None:
        if self.array is not None:
            raise _Refused("an array given its state twice")
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise _Refused("a malformed array state")
        _, shape, dtype, fortran, raw = state
        if not (isinstance(shape, tuple)
                and all(type(n) is int and n >= 0 for n in shape) and len(shape) <= 32):
            raise _Refused(f"an array of shape {shape!r}")
        if not isinstance(dtype, _PendingDtype):
            raise _Refused("an array whose dtype is not a plain numeric dtype")
        if fortran not in (0, 1) or not isinstance(raw, bytes):
            raise _Refused("an array whose data is not a byte string")
        # Python ints: no overflow, however large the declared shape.
        declared = math.prod(shape) * dtype.dtype.itemsize
        if declared != len(raw):
            raise _Refused(f"an array of shape {shape} and dtype {dtype.dtype} ({declared} bytes) "
                           f"whose data holds {len(raw)} bytes")
        flat = np.frombuffer(raw, dtype=dtype.dtype)
        self.array = flat.reshape(shape, order="F" if fortran else "C")


class _ReconstructStandIn(_Callable):
    """What numpy's `_reconstruct` resolves to: only the empty start numpy always pickles."""

    __slots__ = ()

    def __call__(self, subtype: object, shape: object, typecode: object) -> _PendingArray:
        if subtype is not _NDARRAY or shape != (0,) or _text(typecode) != "b":
            raise _Refused(f"_reconstruct with arguments other than numpy's own ({shape!r})")
        return _PendingArray()


_RECONSTRUCT = _ReconstructStandIn()

_ALLOWED: dict[tuple[str, str], object] = {
    # Python-2 era files (the official ones) name numpy.core; numpy >= 2 pickles name
    # numpy._core.
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DtypeStandIn(),
}

# Opcodes of protocol 5 (out-of-band buffers): BYTEARRAY8 allocates the length it
# declares before reading, and no dataset pickle uses any of them.
_REFUSED_OPCODES = (pickle.BYTEARRAY8, pickle.NEXT_BUFFER, pickle.READONLY_BUFFER)


class _RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def _refuse_opcode(self) -> None:
        raise _Refused("protocol-5 buffers")

    for _opcode in _REFUSED_OPCODES:
        dispatch[_opcode[0]] = _refuse_opcode
    del _opcode

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"a call of {module}.{name}") from None

    def persistent_load(self, pid: object) -> object:
        raise _Refused("a persistent reference")


def _plain(obj: object, depth: int, done: dict[int, Any], open_: set[int]) -> Any:
    """`obj` with every pending array replaced by its array, after checking that it is
    made only of what a dataset pickle holds. Shared objects are converted once (`done`);
    a container that contains itself is refused (`open_`)."""
    if obj is None or isinstance(obj, (bool, int, float, bytes, str)):
        return obj
    key = id(obj)
    if key in done:
        return done[key]
    if isinstance(obj, _PendingArray):
        if obj.array is None:
            raise _Refused("an array that never received its data")
        done[key] = obj.array
        return obj.array
    if depth >= _MAX_DEPTH:
        raise _Refused(f"containers nested more than {_MAX_DEPTH} deep")
    if key in open_:
        raise _Refused("a container that contains itself")
    open_.add(key)
    result: Any
    if type(obj) is list:
        result = [_plain(item, depth + 1, done, open_) for item in obj]
    elif type(obj) is tuple:
        result = tuple(_plain(item, depth + 1, done, open_) for item in obj)
    elif type(obj) is dict:
        result = {}
        for k, v in obj.items():
            if not isinstance(k, (bytes, str, int)):
                raise _Refused(f"a dict key of type {type(k).__name__}")
            result[k] = _plain(v, depth + 1, done, open_)
    else:
        raise _Refused(f"an object of type {type(obj).__name__}")
    open_.discard(key)
    done[key] = result
    return result


def safe_load(data: bytes, where: str) -> object:
    """Unpickle `data`, allowing only numeric numpy arrays and builtin containers.

    `where` names the file in error messages. Loads with encoding="bytes" so the
    Python-2 strings of the official files (keys, label names) come back as bytes.
    Arrays are read-only views of the bytes the file holds.
    """
    try:
        loaded = _RestrictedUnpickler(data).load()
        return _plain(loaded, 0, {}, set())
    except _Refused as exc:
        raise DataError(f"{where}: refused to load a pickle that holds {exc}", hint=_UNSAFE_HINT) from None
    except Exception as exc:
        # A corrupt pickle can fail in many ways (UnpicklingError, EOFError, ValueError,
        # TypeError from a mangled reduce, ...); all of them mean "unreadable file".
        raise DataError(
            f"{where}: not a readable pickle ({type(exc).__name__}: {exc})", hint=_HINT
        ) from None
