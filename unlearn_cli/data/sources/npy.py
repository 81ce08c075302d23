"""Read an .npy array only after checking what its header declares against the file.

`np.load` allocates the shape the header declares before reading a byte of data, so a
100-byte file declaring a terabyte-sized shape ends in a MemoryError (or worse, succeeds
on an overcommitting system and fills a zero array). Here the header is parsed first, the
dtype must be a plain number, and the declared bytes must be exactly the bytes the file
holds after its header; only then is the array allocated and filled.
"""

from __future__ import annotations

import io
import math
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

# Booleans, signed and unsigned integers, floats: what an image, label or index file holds.
_NUMERIC_KINDS = frozenset("biuf")
_HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
_CHUNK = 1 << 24


def read_npy(handle: BinaryIO) -> np.ndarray:
    """The array stored in the seekable .npy stream `handle` (positioned at its start).

    Raises ValueError, worded for a user, when the file is not a plain numeric .npy
    array or its header declares more (or fewer) bytes than the file holds.
    """
    start = handle.tell()
    total = handle.seek(0, io.SEEK_END) - start
    handle.seek(start)
    version = npy_format.read_magic(handle)  # ValueError when not an .npy file
    reader = _HEADER_READERS.get(version)
    if reader is None:
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    shape, fortran_order, dtype = reader(handle)
    if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise ValueError(f"it holds {dtype} values, not plain numbers")
    declared = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    held = total - (handle.tell() - start)
    if declared != held:
        raise ValueError(f"its header declares shape {shape} of {dtype} ({declared} bytes), "
                         f"but the file holds {held} bytes of data (truncated or forged)")
    data = np.empty(declared, dtype=np.uint8)
    view = memoryview(data)
    filled = 0
    while filled < declared:
        got = handle.readinto(view[filled:filled + _CHUNK])
        if not got:
            raise ValueError(f"the file ends after {filled} of its {declared} data bytes")
        filled += got
    return data.view(dtype).reshape(shape, order="F" if fortran_order else "C")
