"""Arrow arrays built from numpy buffers, without ``pyarrow.array``.

``pyarrow.array`` asks its pandas shim whether an argument is a pandas object,
and that imports pandas (about 0.2 s) the first time. The run path of a suite
builds its tables with these instead, so that ``optbench run`` imports no pandas
before its first result is written: numbers and booleans are wrapped from their
numpy buffers (NaN stays a value, as ``pyarrow.array`` keeps it), text is UTF-8
with 32-bit offsets (``string``), and ``valid`` marks the non-null rows.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["numbers", "texts"]

_TYPES = {"f8": pa.float64(), "f4": pa.float32(), "i8": pa.int64(), "i4": pa.int32(), "i2": pa.int16(),
          "i1": pa.int8(), "u8": pa.uint64(), "u4": pa.uint32(), "u2": pa.uint16(), "u1": pa.uint8()}


def _validity(valid: np.ndarray | None) -> tuple[pa.Buffer | None, int]:
    if valid is None:
        return None, 0
    valid = np.asarray(valid, dtype=bool)
    return pa.py_buffer(np.packbits(valid, bitorder="little")), int(valid.size - np.count_nonzero(valid))


def numbers(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A numeric or boolean numpy array (1-D, native byte order) as an Arrow array; other dtypes go to pyarrow."""
    values = np.ascontiguousarray(values)
    bitmap, nulls = _validity(valid)
    if values.dtype == np.bool_:
        data, kind = pa.py_buffer(np.packbits(values, bitorder="little")), pa.bool_()
    else:
        kind = _TYPES.get(values.dtype.str[1:]) if values.dtype.isnative else None
        if kind is None:  # objects, dates, ...: pyarrow's own conversion
            return pa.array(values, mask=None if valid is None else ~np.asarray(valid, dtype=bool))
        data = pa.py_buffer(values)
    return pa.Array.from_buffers(kind, len(values), [bitmap, data], null_count=nulls)


def texts(values: Sequence[str]) -> pa.Array:
    """Strings as an Arrow ``string`` array (``large_string`` past 2 GiB of text)."""
    encoded = [str(value).encode("utf-8") for value in values]
    lengths = np.fromiter((len(item) for item in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    large = offsets[-1] >= 2**31
    kind = pa.large_string() if large else pa.string()
    offsets = offsets if large else offsets.astype(np.int32)
    return pa.Array.from_buffers(kind, len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])
