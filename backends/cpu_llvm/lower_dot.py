"""dot_general for any dimension numbers as a loop nest over (batch, lhs free, contracting, rhs free).

With rhs free dimensions the accumulator is the output row (innermost loop over the rhs free dimension,
vectorised, ``out[m, :] += lhs[m, k] * rhs[k, :]``); without, a register dot product per output element.
Float32/float64 products big enough, whose free and contracting groups are each one strided dimension, call
the packed GEMM (``gemm``). Accumulation follows the reference backend: float32 for float16/float32,
float64 for float64, the operand dtype for integers, int64 for bool.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from portax.core.ir import ShapedArray
from portax.core.primitives import contractions as ct

from . import gemm, lltypes as T
from .codegen import Buf
from .irutil import affine, entry_alloca, loop_nest, row_major_strides
from .lower_elementwise import convert
from .lower_fused import collapse
from .program import Lowering, opaque

_FLAGS = ("contract",)


def compute_dtype(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.dtype(np.int64)
    if dtype.kind == "f":
        return np.dtype(np.float64 if dtype == np.float64 else np.float32)
    return dtype


def free_dims(ndim: int, *used) -> list[int]:
    taken = {d for u in used for d in u}
    return [d for d in range(ndim) if d not in taken]


@opaque(ct.dot_general_p)
def _dot_general(lw: Lowering, eqn, ins, outs):
    lhs, rhs = ins
    out = outs[0]
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lf, rf = free_dims(len(lhs.shape), lc, lb), free_dims(len(rhs.shape), rc, rb)
    cdt = compute_dtype(lhs.dtype)
    acc = out if out.dtype == cdt else None
    off = None
    if acc is None:
        acc, off = lw.scratch(ShapedArray(out.shape, cdt))
    ls, rs = row_major_strides(lhs.shape), row_major_strides(rhs.shape)
    groups = [("outer", [(lhs.shape[a], ls[a], rs[b]) for a, b in zip(lb, rb)] +
               [(lhs.shape[a], ls[a], 0) for a in lf]),
              ("k", [(lhs.shape[a], ls[a], rs[b]) for a, b in zip(lc, rc)]),
              ("n", [(rhs.shape[b], 0, rs[b]) for b in rf])]
    if not _try_gemm(lw, lhs, rhs, acc, groups):
        _loops(lw, lhs, rhs, acc, groups, cdt)
    if off is not None:
        lw.convert(out, acc)
        lw.release(off, acc.aval)


def _single(dims: list, which: list[int]) -> tuple | None:
    """A group of (size, lhs stride, rhs stride) dimensions as one (size, strides...) if it collapses."""
    if not dims:
        return (1,) + (0,) * len(which)
    coefs = [[d[1 + w] for d in dims] for w in which]
    out = collapse(tuple(d[0] for d in dims), coefs)
    if len(out) > 1:
        return None
    return (out[0].size if out else 1,) + tuple(c[0] if c else 0 for c in coefs)


def _try_gemm(lw: Lowering, lhs: Buf, rhs: Buf, acc: Buf, groups) -> bool:
    """The packed GEMM for float32/float64 products big enough, whose free and contracting groups are each
    one strided dimension."""
    if lhs.dtype != acc.dtype or lhs.dtype not in (np.float32, np.float64):
        return False
    outer, kdims, ndims = (g[1] for g in groups)
    batch = [d for d in outer if d[2] != 0]
    m, k, n = _single([d for d in outer if d[2] == 0], [0]), _single(kdims, [0, 1]), _single(ndims, [1])
    if m is None or k is None or n is None or 2 * m[0] * n[0] * k[0] < gemm.MIN_FLOPS:
        return False
    c_strides = row_major_strides([d[0] for d in batch] + [m[0], n[0]])
    pr = gemm.Problem(m[0], n[0], k[0], m[1], k[1], k[2], n[1],
                      tuple((d[0], d[1], d[2], s) for d, s in zip(batch, c_strides)))
    gemm.emit(lw.mb, lw, lhs.ptr, rhs.ptr, acc.ptr, lhs.dtype, pr,
              f"opaque[{','.join(map(str, acc.shape))}](dot_general: packed gemm)")
    return True


def _loops(lw: Lowering, lhs: Buf, rhs: Buf, acc: Buf, groups, cdt: np.dtype) -> None:
    sizes, lco, rco, kinds = [], [], [], []
    for kind, dims in groups:
        for n, a, b in dims:
            sizes.append(n)
            lco.append(a)
            rco.append(b)
            kinds.append(kind)
    out_dims = [j for j, k in enumerate(kinds) if k != "k"]
    oco = [0] * len(sizes)
    for j, s in zip(out_dims, row_major_strides([sizes[j] for j in out_dims])):
        oco[j] = s
    k_dims = frozenset(j for j, k in enumerate(kinds) if k == "k")
    dims = collapse(tuple(sizes), [lco, rco, oco], reduced=k_dims)
    n_pos = {j for j, k in enumerate(kinds) if k == "n"}
    kind_of = ["k" if d.reduced else "n" if d.origin in n_pos else "outer" for d in dims]
    outer = [j for j, k in enumerate(kind_of) if k == "outer"]
    red = [j for j, k in enumerate(kind_of) if k == "k"]
    inner = [j for j, k in enumerate(kind_of) if k == "n"]
    mk = lw.mb.kernel("opaque", f"opaque[{','.join(map(str, acc.shape))}](dot_general)", 3)
    b = mk.b
    lp, rp, op = mk.ptrs
    ldt, odt = lhs.dtype, acc.dtype
    fl = cdt.kind == "f"
    parallel = bool(outer)
    ranges = [(mk.start, mk.end) if parallel and j == outer[0] else (0, dims[j].size) for j in range(len(dims))]
    zero = T.const(cdt, 0)

    def madd(acc_v, x, y):
        if fl:
            return b.fadd(acc_v, b.fmul(x, y, flags=_FLAGS), flags=_FLAGS)
        return b.add(acc_v, b.mul(x, y))

    def pick(idx_by_dim: dict, coefs: list) -> ir.Value:
        return affine(b, 0, [idx_by_dim[j] for j in sorted(idx_by_dim)], [coefs[j] for j in sorted(idx_by_dim)])

    def outer_body(oidx):
        at = dict(zip(outer, oidx))
        if inner:
            def init(nidx):
                T.store(b, zero, op, odt, pick({**at, **dict(zip(inner, nidx))}, oco))
            loop_nest(b, [ranges[j] for j in inner], init, name="z")

            def k_body(kidx):
                atk = {**at, **dict(zip(red, kidx))}
                x = convert(b, T.load(b, lp, ldt, pick(atk, lco)), ldt, cdt)

                def n_body(nidx):
                    full = {**atk, **dict(zip(inner, nidx))}
                    y = convert(b, T.load(b, rp, ldt, pick(full, rco)), ldt, cdt)
                    o = pick(full, oco)
                    T.store(b, madd(T.load(b, op, odt, o), x, y), op, odt, o)
                loop_nest(b, [ranges[j] for j in inner], n_body, name="n")
            loop_nest(b, [ranges[j] for j in red], k_body, name="k")
            return
        slot = entry_alloca(b, T.compute_type(cdt))
        b.store(zero, slot)

        def k_body(kidx):
            full = {**at, **dict(zip(red, kidx))}
            x = convert(b, T.load(b, lp, ldt, pick(full, lco)), ldt, cdt)
            y = convert(b, T.load(b, rp, ldt, pick(full, rco)), ldt, cdt)
            s = b.load(slot)
            b.store(b.fadd(s, b.fmul(x, y, flags=_FLAGS), flags=("reassoc", "contract")) if fl else
                    b.add(s, b.mul(x, y)), slot)
        loop_nest(b, [ranges[j] for j in red], k_body, name="k")
        T.store(b, b.load(slot), op, odt, pick(at, oco))

    loop_nest(b, [ranges[j] for j in outer], outer_body, name="m")
    mk.finish()
    work = int(np.prod([d.size for j, d in enumerate(dims) if not (parallel and j == outer[0])], dtype=np.int64))
    lw.mb.call(lw.b, mk, dims[outer[0]].size if parallel else 1, [lhs.ptr, rhs.ptr, acc.ptr],
               work_per_item=2.0 * work, parallel=parallel)
