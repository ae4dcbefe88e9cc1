"""dot_general for any dimension numbers as a loop nest over (batch, lhs free, contracting, rhs free).

With rhs free dimensions the accumulator is the output row (innermost loop over the rhs free dimension,
vectorised, ``out[m, :] += lhs[m, k] * rhs[k, :]``); without, a register dot product per output element.
Float32/float64 products big enough, whose free and contracting groups are each one strided dimension, call
the packed GEMM (``gemm``). Accumulation follows the reference backend: float32 for float16/float32,
float64 for float64, the operand dtype for integers, int64 for bool.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from llvmlite import ir

from portax.core.ir import ShapedArray
from portax.core.primitives import contractions as ct

from . import gemm, lltypes as T
from .codegen import Buf
from .irutil import affine, entry_alloca, for_range, gep, i64, loop_nest, row_major_strides
from .lower_elementwise import convert
from .lower_fused import collapse
from .program import TRANSPOSED, Lowering, opaque

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
    emit_dot(lw, eqn, ins[0], ins[1], outs[0])


def _dot_general_transposed(lw: Lowering, eqn, ins, out, perm):
    emit_dot(lw, eqn, ins[0], ins[1], out, tuple(perm))


TRANSPOSED[ct.dot_general_p] = _dot_general_transposed


def emit_dot(lw: Lowering, eqn, lhs: Buf, rhs: Buf, out: Buf, out_perm: tuple | None = None,
             epilogue: Callable[[], tuple] | None = None) -> bool:
    """``out = dot_general(lhs, rhs)``, or with ``out_perm`` ``out = transpose(dot_general(lhs, rhs), out_perm)``
    written directly (a transposed result costs no extra pass). ``epilogue()`` makes a GEMM epilogue (see
    ``gemm.emit``), used where the packed GEMM writes ``out`` row-major; returns whether it was."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lf, rf = free_dims(len(lhs.shape), lc, lb), free_dims(len(rhs.shape), rc, rb)
    cdt = compute_dtype(lhs.dtype)
    acc, off = out, None
    if out.dtype != cdt:
        acc, off = lw.scratch(ShapedArray(out.shape, cdt))
    final = row_major_strides(out.shape)
    os_ = [final[out_perm.index(d)] for d in range(len(out.shape))] if out_perm else final
    ls, rs = row_major_strides(lhs.shape), row_major_strides(rhs.shape)
    nb, nf = len(lb), len(lf)
    groups = [("outer", [(lhs.shape[a], ls[a], rs[b], os_[i]) for i, (a, b) in enumerate(zip(lb, rb))] +
               [(lhs.shape[a], ls[a], 0, os_[nb + i]) for i, a in enumerate(lf)]),
              ("k", [(lhs.shape[a], ls[a], rs[b], 0) for a, b in zip(lc, rc)]),
              ("n", [(rhs.shape[b], 0, rs[b], os_[nb + nf + i]) for i, b in enumerate(rf)])]
    ran = _try_gemm(lw, lhs, rhs, acc, groups, epilogue if off is None else None)
    if not ran:
        _loops(lw, lhs, rhs, acc, groups, cdt)
    if off is not None:
        lw.convert(out, acc)
        lw.release(off, acc.aval)
    return ran == "with epilogue"


def _single(dims: list, which: list[int]) -> tuple | None:
    """A group of (size, lhs stride, rhs stride, out stride) dimensions as one (size, strides...) if it
    collapses (``which`` picks the strides)."""
    if not dims:
        return (1,) + (0,) * len(which)
    coefs = [[d[1 + w] for d in dims] for w in which]
    out = collapse(tuple(d[0] for d in dims), coefs)
    if len(out) > 1:
        return None
    return (out[0].size if out else 1,) + tuple(c[0] if c else 0 for c in coefs)


def _try_gemm(lw: Lowering, lhs: Buf, rhs: Buf, acc: Buf, groups, epilogue: Callable[[], tuple] | None):
    """The packed GEMM for float32/float64 products big enough, whose free and contracting groups are each
    one strided dimension and whose result is row-major (or its transpose: then C^T = B^T A^T; a row-major
    result with few columns too, through scratch: ``_narrow_gemm``): False if it does not apply, else True, or
    "with epilogue" where ``epilogue`` ran in it (a row-major result)."""
    if lhs.dtype != acc.dtype or lhs.dtype not in (np.float32, np.float64):
        return False
    outer, kdims, ndims = (g[1] for g in groups)
    batch = [d for d in outer if d[2] != 0]
    m, k, n = _single([d for d in outer if d[2] == 0], [0, 2]), _single(kdims, [0, 1]), _single(ndims, [1, 2])
    if m is None or k is None or n is None or 2 * m[0] * n[0] * k[0] < gemm.MIN_FLOPS:
        return False
    (size_m, sm, cm), (size_k, lk, rk), (size_n, rn, cn) = m, k, n
    label = f"opaque[{','.join(map(str, acc.shape))}](dot_general: packed gemm)"
    if (cn == 1 or size_n == 1) and (cm == size_n or size_m == 1):
        if not batch and _narrow(lhs.dtype, size_m, size_n):
            return _narrow_gemm(lw, lhs, rhs, acc, m, k, n, label, epilogue)
        pr = gemm.Problem(size_m, size_n, size_k, sm, lk, rk, rn, tuple((d[0], d[1], d[2], d[3]) for d in batch))
        fused = epilogue is not None
        gemm.emit(lw.mb, lw, lhs.ptr, rhs.ptr, acc.ptr, lhs.dtype, pr, label, epilogue() if fused else None)
        return "with epilogue" if fused else True
    if (cm == 1 or size_m == 1) and (cn == size_m or size_n == 1):
        pr = gemm.Problem(size_n, size_m, size_k, rn, rk, lk, sm, tuple((d[0], d[2], d[1], d[3]) for d in batch))
        gemm.emit(lw.mb, lw, rhs.ptr, lhs.ptr, acc.ptr, lhs.dtype, pr, label + " transposed")
        return True
    return False


def _narrow(dtype: np.dtype, m: int, n: int) -> bool:
    """Whether a row-major ``m`` x ``n`` product has so few columns that ``C^T = B^T A^T`` fills the
    micro-kernel's tiles much better (the logits of a dense layer, its weight gradient)."""
    bk = gemm.blocking(dtype)
    return n < bk.nr and gemm.padded(bk, n, m) <= 0.75 * gemm.padded(bk, m, n)


def _narrow_gemm(lw: Lowering, lhs: Buf, rhs: Buf, acc: Buf, m: tuple, k: tuple, n: tuple, label: str,
                 epilogue: Callable[[], tuple] | None):
    """A row-major product with few columns as ``C^T = B^T A^T`` into scratch, transposed into ``acc``, then
    ``epilogue`` on all of it."""
    (size_m, sm, _), (size_k, lk, rk), (size_n, rn, _) = m, k, n
    aval = ShapedArray((size_n, size_m), acc.dtype)
    c_t, off = lw.scratch(aval)
    fused = epilogue() if epilogue is not None else None  # named after the GEMM's kernel, made before it
    pr = gemm.Problem(size_n, size_m, size_k, rn, rk, lk, sm, ())
    gemm.emit(lw.mb, lw, rhs.ptr, lhs.ptr, c_t.ptr, lhs.dtype, pr, label + " transposed, narrow")
    b, ety = lw.b, T.memory_type(acc.dtype)
    with for_range(b, 0, size_n, "col") as j:
        with for_range(b, 0, size_m, "row") as i:
            v = b.load(gep(b, c_t.ptr, b.add(b.mul(j, i64(size_m)), i), ety), typ=ety)
            b.store(v, gep(b, acc.ptr, b.add(b.mul(i, i64(size_n)), j), ety))
    lw.release(off, aval)
    if fused is None:
        return True
    b.call(fused[0], [i64(0), i64(0), i64(size_m), i64(0), i64(size_n), fused[1]])
    return "with epilogue"


def _loops(lw: Lowering, lhs: Buf, rhs: Buf, acc: Buf, groups, cdt: np.dtype) -> None:
    sizes, lco, rco, oco, kinds = [], [], [], [], []
    for kind, dims in groups:
        for n, a, b, o in dims:
            sizes.append(n)
            lco.append(a)
            rco.append(b)
            oco.append(o)
            kinds.append(kind)
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
