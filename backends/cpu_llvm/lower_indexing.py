"""gather and scatter with XLA's dimension numbers (batching dimensions included), as loops over the index
batch and the window: per batch position the window start is read from ``indices``, clamped ("clip") or
checked ("fill": the whole window reads the fill value / is dropped), then the window is copied or
combined element by element. Scatters run in index order on one thread, as the reference does (later
updates win for scatter, combinations accumulate in order)."""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from portax.core.primitives import indexing as ix

from . import lltypes as T
from .irutil import affine, clamp_index, i64, loop_nest, row_major_strides, to_i64
from .lower_elementwise import minmax
from .program import Lowering, opaque


def _fill(dtype: np.dtype, fill_value) -> ir.Constant:
    if fill_value is None:
        if dtype.kind == "f":
            fill_value = np.nan
        elif dtype.kind == "b":
            fill_value = True
        else:
            info = np.iinfo(dtype)
            fill_value = info.min if dtype.kind == "i" else info.max
    return T.const(dtype, fill_value)


def _starts(b, idx_ptr, idx_dtype, n_index: int, bidx: list, batch_shape: tuple, operand_shape: tuple, window: list,
            index_map, op_batch_dims, idx_batch_dims, clip: bool):
    """(clamped start per operand dim, validity of the unclamped window) for batch position ``bidx``."""
    starts = [i64(0)] * len(operand_shape)
    row = affine(b, 0, bidx, [s * n_index for s in row_major_strides(batch_shape)])
    for k, d in enumerate(index_map):
        v = T.load(b, idx_ptr, idx_dtype, b.add(row, i64(k)))
        starts[d] = to_i64(b, v, idx_dtype.kind == "i")
    for od, bd in zip(op_batch_dims, idx_batch_dims):
        starts[od] = bidx[bd]
    valid = ir.Constant(T.I1, 1)
    out = []
    for d, (s, n, w) in enumerate(zip(starts, operand_shape, window)):
        hi = max(n - w, 0)
        if not clip:
            ok = b.and_(b.icmp_signed(">=", s, i64(0)), b.icmp_signed("<=", s, i64(n - w)))
            valid = b.and_(valid, ok)
        out.append(clamp_index(b, s, 0, hi))
    return out, valid


@opaque(ix.gather_p)
def _gather(lw: Lowering, eqn, ins, outs):
    operand, indices = ins
    out = outs[0]
    dn = eqn.params["dimension_numbers"]
    sizes = eqn.params["slice_sizes"]
    clip = eqn.params["mode"] == "clip"
    batch_shape = indices.shape[:-1]
    n_index = indices.shape[-1]
    kept = [d for d in range(len(operand.shape)) if d not in dn.collapsed_slice_dims and
            d not in dn.operand_batching_dims]
    os_ = row_major_strides(out.shape)
    batch_pos = [p for p in range(len(out.shape)) if p not in dn.offset_dims]
    if out.aval.size == 0:
        return
    k = lw.mb.kernel("opaque", f"opaque[{','.join(map(str, out.shape))}](gather)", 3)
    b = k.b
    op_ptr, idx_ptr, out_ptr = k.ptrs
    rs = row_major_strides(operand.shape)
    fill = _fill(operand.dtype, eqn.params["fill_value"])
    ranges = [(0, n) for n in batch_shape]
    parallel = bool(batch_shape)
    if parallel:
        ranges[0] = (k.start, k.end)

    def batch_body(bidx):
        starts, valid = _starts(b, idx_ptr, indices.dtype, n_index, bidx, batch_shape, operand.shape, list(sizes),
                                dn.start_index_map, dn.operand_batching_dims, dn.start_indices_batching_dims, clip)
        base = affine(b, 0, starts, rs)
        out_base = affine(b, 0, bidx, [os_[p] for p in batch_pos])

        def window_body(widx):
            v = T.load(b, op_ptr, operand.dtype, affine(b, base, widx, [rs[d] for d in kept]))
            if not clip:
                v = b.select(valid, v, fill)
            T.store(b, v, out_ptr, out.dtype, affine(b, out_base, widx, [os_[p] for p in dn.offset_dims]))
        loop_nest(b, [(0, sizes[d]) for d in kept], window_body, name="w")

    loop_nest(b, ranges, batch_body, name="b")
    k.finish()
    window = int(np.prod([sizes[d] for d in kept], dtype=np.int64))
    lw.mb.call(lw.b, k, batch_shape[0] if parallel else 1, [operand.ptr, indices.ptr, out.ptr],
               work_per_item=window * int(np.prod(batch_shape[1:], dtype=np.int64)), parallel=parallel)


_SCATTERS = {ix.scatter_p: "set", ix.scatter_add_p: "add", ix.scatter_mul_p: "mul", ix.scatter_min_p: "min",
             ix.scatter_max_p: "max"}


def _combine(b, op: str, dtype: np.dtype, old, new):
    if op == "set":
        return new
    if op in ("min", "max"):
        return minmax(b, dtype, old, new, op == "max")
    fl, boolean = dtype.kind == "f", dtype.kind == "b"
    if op == "add":
        return b.or_(old, new) if boolean else b.fadd(old, new) if fl else b.add(old, new)
    return b.and_(old, new) if boolean else b.fmul(old, new) if fl else b.mul(old, new)


@opaque(*_SCATTERS)
def _scatter(lw: Lowering, eqn, ins, outs):
    operand, indices, updates = ins
    out = outs[0]
    lw.copy(out, operand)
    dn = eqn.params["dimension_numbers"]
    clip = eqn.params["mode"] == "clip"
    batch_shape = indices.shape[:-1]
    n_index = indices.shape[-1]
    if updates.aval.size == 0:
        return
    us = row_major_strides(updates.shape)
    scatter_dims = [d for d in range(len(updates.shape)) if d not in dn.update_window_dims]
    win_sizes = iter(updates.shape[d] for d in dn.update_window_dims)
    window = [1 if d in dn.inserted_window_dims or d in dn.operand_batching_dims else next(win_sizes)
              for d in range(len(operand.shape))]
    kept = [d for d in range(len(operand.shape)) if d not in dn.inserted_window_dims and
            d not in dn.operand_batching_dims]
    op = _SCATTERS[eqn.primitive]
    k = lw.mb.kernel("opaque", f"opaque[{','.join(map(str, updates.shape))}]({eqn.primitive.name})", 3)
    b = k.b
    idx_ptr, upd_ptr, out_ptr = k.ptrs
    rs = row_major_strides(operand.shape)
    dt = operand.dtype

    def batch_body(bidx):
        starts, valid = _starts(b, idx_ptr, indices.dtype, n_index, bidx, batch_shape, operand.shape, window,
                                dn.scatter_dims_to_operand_dims, dn.operand_batching_dims,
                                dn.scatter_indices_batching_dims, clip)
        base = affine(b, 0, starts, rs)
        ubase = affine(b, 0, bidx, [us[d] for d in scatter_dims])

        def window_body(widx):
            u = T.load(b, upd_ptr, dt, affine(b, ubase, widx, [us[d] for d in dn.update_window_dims]))
            at = affine(b, base, widx, [rs[d] for d in kept])
            T.store(b, T.round_f16(b, _combine(b, op, dt, T.load(b, out_ptr, dt, at), u), dt), out_ptr, dt, at)

        if clip:
            loop_nest(b, [(0, window[d]) for d in kept], window_body, name="w")
        else:
            with b.if_then(valid):
                loop_nest(b, [(0, window[d]) for d in kept], window_body, name="w")

    loop_nest(b, [(0, n) for n in batch_shape], batch_body, name="b")
    k.finish()
    lw.mb.call(lw.b, k, 1, [indices.ptr, updates.ptr, out.ptr], parallel=False)
