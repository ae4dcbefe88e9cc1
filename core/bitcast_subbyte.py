"""``lax.bitcast_convert_type`` between a sub-byte integer (int2/uint2/int4/uint4) and a type of another width: the
sub-byte values are packed into (or unpacked from) bytes, the first element in the lowest bits (as XLA and
``lax_reference`` do), and the bytes bitcast as usual."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .primitives import elementwise as ew, structural as st
from .trace import get_aval

_UNSIGNED = {2: dtypes.uint2, 4: dtypes.uint4}


def bits(dtype: np.dtype) -> int:
    """Bits per element of ``dtype`` (2 or 4 for the sub-byte integers)."""
    return dtypes.iinfo(dtype).bits if dtype in dtypes.INTN else 8 * dtype.itemsize


def bitcast_subbyte(x: Any, new_dtype: np.dtype) -> Any:
    """``x`` (one of the two dtypes sub-byte, of different widths) reinterpreted as ``new_dtype``: ``x`` narrower
    needs a trailing axis of ``bits(new) // bits(old)`` elements (removed); ``x`` wider gets one."""
    aval = get_aval(x)
    old, new = aval.dtype, new_dtype
    b_old, b_new = bits(old), bits(new)
    if b_old < 8 and b_new < 8:
        raise NotImplementedError(f"bitcast_convert_type between {old.name} and {new.name} is not implemented")
    if b_old < b_new:
        n = b_new // b_old
        if not aval.shape or aval.shape[-1] != n:
            raise TypeError(f"bitcast_convert_type: converting {aval.str_short()} to the wider {new.name} needs a "
                            f"trailing axis of size {n}")
        per = 8 // b_old  # elements per byte
        lead = aval.shape[:-1]
        u = ew.convert_element_type(ew.bitcast_convert_type(x, _UNSIGNED[b_old]), dtypes.uint8)
        u = st.reshape(u, (*lead, n // per, per))
        byte = None
        for j in range(per):
            part = st.squeeze(st.slice_in_dim(u, j, j + 1, axis=len(lead) + 1), (len(lead) + 1,))
            part = ew.shift_left(part, np.uint8(b_old * j))
            byte = part if byte is None else ew.bitwise_or(byte, part)
        if b_new == 8:
            byte = st.reshape(byte, lead)
        return ew.bitcast_convert_type(byte, new)
    per = 8 // b_new
    byte = ew.bitcast_convert_type(x, dtypes.uint8)
    if b_old == 8:
        byte = st.reshape(byte, (*aval.shape, 1))
    mask = np.uint8((1 << b_new) - 1)
    parts = [ew.bitwise_and(ew.shift_right_logical(byte, np.uint8(b_new * j)), mask) for j in range(per)]
    shape = get_aval(byte).shape
    u = st.concatenate([st.reshape(p, (*shape, 1)) for p in parts], len(shape))
    u = st.reshape(u, (*aval.shape, b_old // b_new))
    return ew.bitcast_convert_type(ew.convert_element_type(u, _UNSIGNED[b_new]), new)
