"""Hand-assembled hostile pickles, opcode by opcode, for the restricted unpickler's tests.

Each one uses only the globals an official CIFAR pickle names (numpy's `_reconstruct`,
`ndarray`, `dtype`) or asks for a little more, the way an attacker would: an array whose
dtype state marks its bytes as object pointers (a crash when numpy reads them), or a tiny
file that declares a huge allocation.
"""

from __future__ import annotations

import pickle
import struct


def _string(data: bytes) -> bytes:
    """A Python-2 byte string (SHORT_BINSTRING / BINSTRING), as in the official files."""
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    return b"T" + struct.pack("<i", len(data)) + data


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def dtype_pickle(spec: bytes, flags: int = 0, elsize: int = -1, endian: bytes = b"|") -> bytes:
    """`dtype(spec, 0, 1)` with its BUILD state, as numpy writes it (without framing)."""
    state = _tuple([_int(3), _string(endian), b"NNN", _int(elsize), _int(-1), _int(flags)])
    return b"cnumpy\ndtype\n" + _string(spec) + b"K\x00K\x01\x87R" + state + b"b"


def array_body(shape: tuple[int, ...], dtype: bytes, raw: bytes, *, reconstruct_shape: int = 0) -> bytes:
    """The opcodes of one ndarray: `_reconstruct(ndarray, (n,), 'b')` then BUILD with
    `(1, shape, dtype, False, raw)`."""
    start = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
             + _int(reconstruct_shape) + b"\x85" + _string(b"b") + b"\x87R")
    state = _tuple([_int(1), _tuple([_int(n) for n in shape]), dtype, b"\x89", _string(raw)])
    return start + state + b"b"


def wrap(body: bytes) -> bytes:
    """A protocol-2 pickle of `body`'s object."""
    return b"\x80\x02" + body + b"."


def object_pointer_array() -> bytes:
    """An 'O8' array without the list-pickle flag: numpy would take the 16 bytes 'AAAA...'
    for two object pointers and crash (segfault) when it touches them."""
    return wrap(array_body((2,), dtype_pickle(b"O8", flags=1), b"A" * 16))


def flagged_number_array() -> bytes:
    """A 'u8' dtype whose state sets the has-object flag: also read as pointers."""
    return wrap(array_body((2,), dtype_pickle(b"u8", flags=1), b"A" * 16))


def bytearray_bomb(size: int) -> bytes:
    """`bytearray(size)`: a few bytes of pickle that ask for `size` zero bytes."""
    return wrap(b"c__builtin__\nbytearray\n" + _int(size) + b"\x85R")


def ndarray_over_bytearray(rows: int) -> bytes:
    """`ndarray((rows, 3072), dtype('u1'), bytearray(rows * 3072))`: a CIFAR 'data' array of
    zeros that the file never held (a few hundred bytes, accepted as a dataset by an
    unpickler that lets the allowed names be called freely)."""
    size = rows * 3072
    call = (b"cnumpy\nndarray\n(" + _tuple([_int(rows), _int(3072)]) + dtype_pickle(b"u1")
            + b"c__builtin__\nbytearray\n" + _int(size) + b"\x85R" + b"tR")
    labels = b"](" + b"K\x00" + b"2" * (rows - 1) + b"e"  # DUP: one byte per label
    return wrap(b"}(" + _string(b"data") + call + _string(b"labels") + labels + b"u")


def bytearray_backed_array(rows: int) -> bytes:
    """A uint8 (rows, 3072) CIFAR 'data' array whose state's bytes come from `bytearray(n)`."""
    size = rows * 3072
    start = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
             + _int(0) + b"\x85" + _string(b"b") + b"\x87R")
    raw = b"c__builtin__\nbytearray\n" + _int(size) + b"\x85R"
    state = _tuple([_int(1), _tuple([_int(rows), _int(3072)]), dtype_pickle(b"u1"), b"\x89", raw])
    labels = b"]" + b"(" + b"K\x00" * rows + b"e"
    return wrap(b"}(" + _string(b"data") + start + state + b"b" + _string(b"labels") + labels + b"u")


def reconstruct_bomb(size: int) -> bytes:
    """`_reconstruct(ndarray, (size,), 'b')`: numpy would allocate `size` bytes at once."""
    return wrap(array_body((0,), dtype_pickle(b"u1"), b"", reconstruct_shape=size))


def shape_beyond_data(n: int) -> bytes:
    """A uint8 array that declares `n` elements but carries 16 bytes."""
    return wrap(array_body((n,), dtype_pickle(b"u1"), b"A" * 16))


def direct_ndarray_call(size: int) -> bytes:
    """`ndarray((size,))`: the constructor called directly allocates `size` elements."""
    return wrap(b"cnumpy\nndarray\n" + _int(size) + b"\x85\x85R")


def declared_bytes8(size: int) -> bytes:
    """BINBYTES8 declaring `size` bytes followed by three (the C unpickler allocates
    `size` before it notices)."""
    return b"\x80\x04" + pickle.BINBYTES8 + struct.pack("<Q", size) + b"abc."


def bytearray8(size: int) -> bytes:
    """Protocol 5's BYTEARRAY8: allocates the declared length before reading."""
    return b"\x80\x05" + pickle.BYTEARRAY8 + struct.pack("<Q", size) + b"abc."


def deeply_nested(depth: int) -> bytes:
    return wrap(b"]" * depth + b"a" * (depth - 1))


def self_containing_list() -> bytes:
    """A list that contains itself (memo put, get, append)."""
    return wrap(b"]q\x00h\x00a")


def cifar_batch(data_body: bytes, n_labels: int) -> bytes:
    """A CIFAR batch dict whose `data` entry is the object `data_body` builds, with
    `n_labels` zero labels."""
    labels = b"](" + b"K\x00" * n_labels + b"e"
    return wrap(b"}(" + _string(b"data") + data_body + _string(b"labels") + labels + b"u")


def object_pointer_body(n: int = 2) -> bytes:
    return array_body((n,), dtype_pickle(b"O8", flags=1), b"A" * 8 * n)
