"""Structural primitives that are not index-mapped loads: concatenate, pad, dynamic_slice,
dynamic_update_slice and size-changing bitcasts, as strided copies (runtime offsets are applied to the
pointers by the program before the copy kernel runs)."""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from portax.core.primitives import elementwise as ew, structural as st

from . import lltypes as T
from .codegen import Buf
from .irutil import clamp_index, gep, i64, row_major_strides, to_i64
from .lower_fused import strided_copy
from .program import Lowering, opaque


def load_index(lw: Lowering, buf: Buf) -> ir.Value:
    """A 0-d integer buffer's value as i64, read by the program."""
    v = T.load(lw.b, buf.ptr, buf.dtype)
    return to_i64(lw.b, v, buf.dtype.kind == "i") if buf.dtype.kind != "b" else lw.b.zext(v, T.I64)


def element_ptr(lw: Lowering, buf: Buf, offset) -> ir.Value:
    return gep(lw.b, buf.ptr, offset, T.memory_type(buf.dtype))


def clamped_offset(lw: Lowering, shape: tuple, sizes: tuple, idx: list[Buf]) -> ir.Value:
    """Element offset of the window start ``idx`` clamped so that a ``sizes`` window fits in ``shape``."""
    b = lw.b
    off = i64(0)
    for n, k, stride, ib in zip(shape, sizes, row_major_strides(shape), idx):
        start = clamp_index(b, load_index(lw, ib), 0, max(n - k, 0))
        off = b.add(off, b.mul(start, i64(stride)))
    return off


@opaque(ew.bitcast_convert_type_p)
def _bitcast(lw: Lowering, eqn, ins, outs):
    """Between sizes a bitcast keeps the bytes: a copy."""
    x, out = ins[0], outs[0]
    n = x.nbytes
    strided_copy(lw.mb, lw.b, np.dtype(np.uint8), (n,), x.ptr, [1], out.ptr, [1], "bitcast_convert_type")


@opaque(st.concatenate_p)
def _concatenate(lw: Lowering, eqn, ins, outs):
    out = outs[0]
    dim = eqn.params["dimension"]
    rs = row_major_strides(out.shape)
    at = 0
    for x in ins:
        strided_copy(lw.mb, lw.b, out.dtype, x.shape, x.ptr, row_major_strides(x.shape),
                     element_ptr(lw, out, at * rs[dim]), rs, "concatenate")
        at += x.shape[dim]


@opaque(st.pad_p)
def _pad(lw: Lowering, eqn, ins, outs):
    x, pv = ins
    out = outs[0]
    lw.copy_broadcast(out, pv)
    xs, ors = row_major_strides(x.shape), row_major_strides(out.shape)
    src_off, dst_off, sizes, dst_coefs = 0, 0, [], []
    for n, m, (lo, hi, interior), s_x, s_o in zip(x.shape, out.shape, eqn.params["padding_config"], xs, ors):
        step = interior + 1
        first = -(-(-lo) // step) if lo < 0 else 0  # first input index landing inside the output
        last = min(n, (m - 1 - lo) // step + 1) if m > 0 else 0
        count = max(last - first, 0)
        sizes.append(count)
        src_off += first * s_x
        dst_off += (lo + first * step) * s_o if count else 0
        dst_coefs.append(step * s_o)
    if all(sizes):
        strided_copy(lw.mb, lw.b, x.dtype, tuple(sizes), element_ptr(lw, x, src_off), xs,
                     element_ptr(lw, out, dst_off), dst_coefs, "pad")


@opaque(st.dynamic_slice_p)
def _dynamic_slice(lw: Lowering, eqn, ins, outs):
    x, *idx = ins
    out = outs[0]
    sizes = eqn.params["slice_sizes"]
    off = clamped_offset(lw, x.shape, sizes, idx)
    strided_copy(lw.mb, lw.b, x.dtype, sizes, element_ptr(lw, x, off), row_major_strides(x.shape), out.ptr,
                 row_major_strides(sizes), "dynamic_slice")


@opaque(st.dynamic_update_slice_p)
def _dynamic_update_slice(lw: Lowering, eqn, ins, outs):
    x, u, *idx = ins
    out = outs[0]
    lw.copy(out, x)
    off = clamped_offset(lw, x.shape, u.shape, idx)
    strided_copy(lw.mb, lw.b, x.dtype, u.shape, u.ptr, row_major_strides(u.shape), element_ptr(lw, out, off),
                 row_major_strides(x.shape), "dynamic_update_slice")
