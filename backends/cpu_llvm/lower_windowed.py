"""conv_general_dilated and reduce_window_{sum,max,min} as direct loop nests (float convolutions of up to three
spatial dimensions go to the implicit GEMM, ``conv_gemm``) over output positions and
window offsets. A window position maps back to the undilated, unpadded operand (``p = j*stride +
o*window_dilation - pad_lo``, valid when ``0 <= p < dilated size`` and ``p`` is a multiple of the base
dilation); invalid positions contribute the padding value (0 / the reduction's identity). Sums accumulate in
float64 / int64, as the reference backend does."""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from portax.core.ir import ShapedArray
from portax.core.primitives import convolution as cv, windowed as wd

from . import conv_gemm, lltypes as T
from .irutil import affine, entry_alloca, i64, loop_nest, row_major_strides
from .lower_elementwise import convert, minmax
from .program import Lowering, opaque


def _accumulator(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64 if dtype.kind == "f" else np.int64)


def _position(b: ir.IRBuilder, j: ir.Value, o: ir.Value, stride: int, wdil: int, lo: int, n: int, base_dil: int):
    """(valid, operand index) of window offset ``o`` of output position ``j`` along one axis."""
    p = b.sub(b.add(b.mul(j, i64(stride)), b.mul(o, i64(wdil))), i64(lo))
    dilated = cv.dilate_dim(n, base_dil)
    valid = b.and_(b.icmp_signed(">=", p, i64(0)), b.icmp_signed("<", p, i64(dilated)))
    safe = b.select(valid, p, i64(0))
    if base_dil == 1:
        return valid, safe
    valid = b.and_(valid, b.icmp_signed("==", b.srem(safe, i64(base_dil)), i64(0)))
    return valid, b.sdiv(safe, i64(base_dil))


_RW = {wd.reduce_window_sum_p: "sum", wd.reduce_window_max_p: "max", wd.reduce_window_min_p: "min"}


@opaque(*_RW)
def _reduce_window(lw: Lowering, eqn, ins, outs):
    x, out = ins[0], outs[0]
    p = eqn.params
    name = _RW[eqn.primitive]
    if out.aval.size == 0:
        return
    dt = x.dtype
    acc_dt = _accumulator(dt) if name == "sum" else dt
    ident = T.const(acc_dt, wd.identity(name, dt))
    k = lw.mb.kernel("opaque", f"opaque[{','.join(map(str, out.shape))}]({eqn.primitive.name})", 2)
    b = k.b
    xp, op = k.ptrs
    xs, os_ = row_major_strides(x.shape), row_major_strides(out.shape)
    acc = entry_alloca(b, T.compute_type(acc_dt))
    ranges = [(0, n) for n in out.shape]
    ranges[0] = (k.start, k.end)
    nd = len(x.shape)

    def out_body(jidx):
        b.store(ident, acc)

        def win_body(oidx):
            valid = ir.Constant(T.I1, 1)
            idx = []
            for d in range(nd):
                (lo, _), stride = p["padding"][d], p["window_strides"][d]
                v, i = _position(b, jidx[d], oidx[d], stride, p["window_dilation"][d], lo, x.shape[d],
                                 p["base_dilation"][d])
                valid = b.and_(valid, v)
                idx.append(i)
            val = convert(b, T.load(b, xp, dt, affine(b, 0, idx, xs)), dt, acc_dt)
            val = b.select(valid, val, ident)
            cur = b.load(acc)
            if name == "sum":
                new = b.fadd(cur, val) if acc_dt.kind == "f" else b.add(cur, val)
            else:
                new = minmax(b, acc_dt, cur, val, name == "max")
            b.store(new, acc)

        loop_nest(b, [(0, w) for w in p["window_dimensions"]], win_body, name="w")
        T.store(b, convert(b, b.load(acc), acc_dt, dt), op, dt, affine(b, 0, jidx, os_))

    loop_nest(b, ranges, out_body, name="o")
    k.finish()
    window = int(np.prod(p["window_dimensions"], dtype=np.int64))
    lw.mb.call(lw.b, k, out.shape[0], [x.ptr, out.ptr],
               work_per_item=2.0 * window * int(np.prod(out.shape[1:], dtype=np.int64)))


@opaque(cv.conv_general_dilated_p)
def _conv(lw: Lowering, eqn, ins, outs):
    lhs, rhs = ins
    out = outs[0]
    p = eqn.params
    if out.aval.size == 0:
        return
    if lhs.dtype.kind == "f" and len(lhs.shape) - 2 <= conv_gemm.SPATIAL:
        _conv_gemm(lw, p, lhs, rhs, out)
        return
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    g, bg = p["feature_group_count"], p["batch_group_count"]
    ls, rs, os_ = (row_major_strides(v.shape) for v in (lhs, rhs, out))
    n_batch = lhs.shape[lhs_spec[0]]
    n_out, n_in = rhs.shape[rhs_spec[0]], rhs.shape[rhs_spec[1]]
    lsp = [lhs.shape[d] for d in lhs_spec[2:]]
    ksp = [rhs.shape[d] for d in rhs_spec[2:]]
    osp = [out.shape[d] for d in out_spec[2:]]
    og = n_out // (bg * g)  # output features per (batch group, feature group)
    nb = n_batch // bg
    in_dt, out_dt = lhs.dtype, out.dtype
    acc_dt = _accumulator(in_dt)
    zero = T.const(acc_dt, 0)
    k = lw.mb.kernel("opaque", f"opaque[{','.join(map(str, out.shape))}](conv_general_dilated)", 3)
    b = k.b
    lp, rp, op = k.ptrs
    acc = entry_alloca(b, T.compute_type(acc_dt))
    fl = acc_dt.kind == "f"

    def out_body(idx):
        n, o, *js = idx
        gb = b.sdiv(o, i64(g * og))  # batch group
        gf = b.sdiv(b.srem(o, i64(g * og)), i64(og))  # feature group
        batch = b.add(b.mul(gb, i64(nb)), n)
        b.store(zero, acc)

        def red_body(ridx):
            c, *ks = ridx
            chan = b.add(b.mul(gf, i64(n_in)), c)
            valid = ir.Constant(T.I1, 1)
            pos = []
            for d, (j, kk) in enumerate(zip(js, ks)):
                v, i = _position(b, j, kk, p["window_strides"][d], p["rhs_dilation"][d], p["padding"][d][0], lsp[d],
                                 p["lhs_dilation"][d])
                valid = b.and_(valid, v)
                pos.append(i)
            l_at = affine(b, 0, [batch, chan] + pos, [ls[lhs_spec[0]], ls[lhs_spec[1]]] + [ls[d] for d in lhs_spec[2:]])
            r_at = affine(b, 0, [o, c] + ks, [rs[rhs_spec[0]], rs[rhs_spec[1]]] + [rs[d] for d in rhs_spec[2:]])
            x = convert(b, T.load(b, lp, in_dt, l_at), in_dt, acc_dt)
            w = convert(b, T.load(b, rp, in_dt, r_at), in_dt, acc_dt)
            prod = b.select(valid, b.fmul(x, w) if fl else b.mul(x, w), zero)
            cur = b.load(acc)
            b.store(b.fadd(cur, prod) if fl else b.add(cur, prod), acc)

        loop_nest(b, [(0, n_in)] + [(0, s) for s in ksp], red_body, name="r")
        o_at = affine(b, 0, [n, o] + js, [os_[out_spec[0]], os_[out_spec[1]]] + [os_[d] for d in out_spec[2:]])
        T.store(b, convert(b, b.load(acc), acc_dt, out_dt), op, out_dt, o_at)

    loop_nest(b, [(k.start, k.end), (0, n_out)] + [(0, s) for s in osp], out_body, name="o")
    k.finish()
    per_batch = n_out * int(np.prod(osp, dtype=np.int64)) * n_in * int(np.prod(ksp, dtype=np.int64))
    lw.mb.call(lw.b, k, nb, [lhs.ptr, rhs.ptr, out.ptr], work_per_item=2.0 * per_batch)


def _conv_gemm(lw: Lowering, p: dict, lhs, rhs, out) -> None:
    """Float convolutions: the implicit GEMM, into a compute-dtype scratch when the output dtype differs."""
    cdt = conv_gemm.compute_dtype(lhs.dtype, out.dtype)
    acc, off = out, None
    if out.dtype != cdt:
        acc, off = lw.scratch(ShapedArray(out.shape, cdt))
    conv_gemm.emit(lw.mb, lw, lhs, rhs, acc, p)
    if off is not None:
        lw.convert(out, acc)
        lw.release(off, acc.aval)
