"""Linear algebra: cholesky, triangular_solve and lu in generated code (unblocked algorithms, one matrix per
loop iteration, batches split across threads); qr, svd, eigh, eig and fft as documented runtime calls into
numpy.linalg / numpy.fft (LAPACK, pocketfft) with the reference backend's conventions.

Conventions: a Cholesky factor of a matrix that is not positive definite (a pivot that is not > 0) is all
NaN; only the lower triangle of the operand is read. lu pivots on the first largest magnitude (NaN counts as
largest) and keeps updating after a zero pivot, like getrf.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from portax.core.primitives import fft as ff, linalg as la

from . import lltypes as T
from .codegen import Buf
from .irutil import entry_alloca, for_range, i64
from .lower_elementwise import convert
from .program import Lowering, opaque


def _compute(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64 if dtype == np.float64 else np.float32)


class _Matrix:
    """Element access to matrix ``batch`` of a (..., rows, cols) buffer, in the compute dtype."""

    def __init__(self, b: ir.IRBuilder, ptr: ir.Value, dtype: np.dtype, rows: int, cols: int, batch: ir.Value):
        self.b, self.ptr, self.dtype, self.cols = b, ptr, np.dtype(dtype), cols
        self.cdt = _compute(dtype) if self.dtype.kind == "f" else self.dtype
        self.base = b.mul(batch, i64(rows * cols))

    def _at(self, i, j):
        b = self.b
        return b.add(self.base, b.add(b.mul(i64(i), i64(self.cols)), i64(j)))

    def get(self, i, j) -> ir.Value:
        return convert(self.b, T.load(self.b, self.ptr, self.dtype, self._at(i, j)), self.dtype, self.cdt)

    def set(self, i, j, v) -> None:
        T.store(self.b, convert(self.b, v, self.cdt, self.dtype), self.ptr, self.dtype, self._at(i, j))


def _batched_kernel(lw: Lowering, label: str, bufs: list[Buf], batch: int, work: float, body) -> None:
    """A kernel over ``batch`` matrices; ``body(b, ptrs, index)`` emits the work on one."""
    if batch == 0:
        return
    k = lw.mb.kernel("opaque", label, len(bufs))
    with for_range(k.b, k.start, k.end, "mat") as m:
        body(k.b, k.ptrs, m)
    k.finish()
    lw.mb.call(lw.b, k, batch, [x.ptr for x in bufs], work_per_item=work)


def _batch(shape: tuple) -> int:
    return int(np.prod(shape[:-2], dtype=np.int64))


def _dot_acc(b, cdt, start, n, term):
    """sum(term(k) for k in [start, n)) in the compute dtype, as a loop."""
    acc = entry_alloca(b, T.compute_type(cdt))
    b.store(T.const(cdt, 0), acc)
    with for_range(b, start, n, "k") as k:
        b.store(b.fadd(b.load(acc), term(k), flags=("contract",)), acc)
    return b.load(acc)


@opaque(la.cholesky_p)
def _cholesky(lw: Lowering, eqn, ins, outs):
    x, out = ins[0], outs[0]
    n = x.shape[-1]

    def body(b, ptrs, m):
        a, L = (_Matrix(b, p, x.dtype, n, n, m) for p in ptrs)
        cdt = L.cdt
        ok = entry_alloca(b, T.I1)
        b.store(ir.Constant(T.I1, 1), ok)
        with for_range(b, 0, n, "j") as j:
            s = b.fsub(a.get(j, j), _dot_acc(b, cdt, 0, j, lambda k: b.fmul(L.get(j, k), L.get(j, k))))
            b.store(b.and_(b.load(ok), b.fcmp_ordered(">", s, T.const(cdt, 0))), ok)
            d = T.call_intrinsic(b, "sqrt", s)
            L.set(j, j, d)
            with for_range(b, b.add(j, i64(1)), n, "i") as i:
                t = b.fsub(a.get(i, j), _dot_acc(b, cdt, 0, j, lambda k: b.fmul(L.get(i, k), L.get(j, k))))
                L.set(i, j, b.fdiv(t, d))
                L.set(j, i, T.const(cdt, 0))
        with b.if_then(b.xor(b.load(ok), ir.Constant(T.I1, 1))):
            with for_range(b, 0, n * n, "f") as f:
                L.set(i64(0), f, T.const(cdt, np.nan))

    _batched_kernel(lw, f"opaque[{','.join(map(str, x.shape))}](cholesky)", [x, out], _batch(x.shape), n ** 3 / 3,
                    body)


@opaque(la.triangular_solve_p)
def _triangular_solve(lw: Lowering, eqn, ins, outs):
    a, rhs = ins
    out = outs[0]
    p = eqn.params
    n = a.shape[-1]
    rows, cols = rhs.shape[-2:]
    left = p["left_side"]
    # op(T) as seen by the substitution: left solves op(T) x = b per column of b; right solves
    # op(T)^T x = b^T per row of b
    flip = p["transpose_a"] != (not left)
    lower = p["lower"] != flip
    n_vec, vec_stride, elem_stride = (cols, 1, cols) if left else (rows, cols, 1)

    def body(b, ptrs, mi):
        T_, B, X = (_Matrix(b, ptr, a.dtype, r, c, mi) for ptr, (r, c) in
                    zip(ptrs, ((n, n), (rows, cols), (rows, cols))))
        cdt = X.cdt

        def m_at(i, k):
            return T_.get(k, i) if flip else T_.get(i, k)

        def vec(M, v, i):
            at = b.add(b.mul(v, i64(vec_stride)), b.mul(i, i64(elem_stride)))
            return M.get(i64(0), at)

        def set_vec(v, i, val):
            X.set(i64(0), b.add(b.mul(v, i64(vec_stride)), b.mul(i, i64(elem_stride))), val)

        with for_range(b, 0, n_vec, "v") as v:
            with for_range(b, 0, n, "s") as s:
                i = s if lower else b.sub(i64(n - 1), s)
                lo, hi = (i64(0), i) if lower else (b.add(i, i64(1)), i64(n))
                acc = _dot_acc(b, cdt, lo, hi, lambda k: b.fmul(m_at(i, k), vec(X, v, k)))
                r = b.fsub(vec(B, v, i), acc)
                set_vec(v, i, r if p["unit_diagonal"] else b.fdiv(r, m_at(i, i)))

    _batched_kernel(lw, f"opaque[{','.join(map(str, rhs.shape))}](triangular_solve)", [a, rhs, out],
                    _batch(a.shape), float(n * n * n_vec), body)


@opaque(la.lu_p)
def _lu(lw: Lowering, eqn, ins, outs):
    x = ins[0]
    lu, pivots, perm = outs
    m, n = x.shape[-2:]
    kk = min(m, n)
    lw.copy(lu, x)

    def body(b, ptrs, mi):
        A = _Matrix(b, ptrs[0], x.dtype, m, n, mi)
        piv = b.mul(mi, i64(kk))
        prm = b.mul(mi, i64(m))
        cdt = A.cdt
        with for_range(b, 0, m, "p") as r:
            T.store(b, b.trunc(r, T.I32), ptrs[2], np.dtype(np.int32), b.add(prm, r))
        best_v, best_i = entry_alloca(b, T.compute_type(cdt)), entry_alloca(b, T.I64)
        with for_range(b, 0, kk, "j") as j:
            b.store(T.call_intrinsic(b, "fabs", A.get(j, j)), best_v)
            b.store(j, best_i)
            with for_range(b, b.add(j, i64(1)), m, "i") as i:
                v, cur = T.call_intrinsic(b, "fabs", A.get(i, j)), b.load(best_v)
                take = b.or_(b.fcmp_ordered(">", v, cur),
                             b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", cur, cur)))
                b.store(b.select(take, v, cur), best_v)
                b.store(b.select(take, i, b.load(best_i)), best_i)
            pv = b.load(best_i)
            T.store(b, b.trunc(pv, T.I32), ptrs[1], np.dtype(np.int32), b.add(piv, j))
            with b.if_then(b.icmp_signed("!=", pv, j)):
                with for_range(b, 0, n, "c") as c:
                    t = A.get(j, c)
                    A.set(j, c, A.get(pv, c))
                    A.set(pv, c, t)
                i32 = np.dtype(np.int32)
                pj, pp = b.add(prm, j), b.add(prm, pv)
                t = T.load(b, ptrs[2], i32, pj)
                T.store(b, T.load(b, ptrs[2], i32, pp), ptrs[2], i32, pj)
                T.store(b, t, ptrs[2], i32, pp)
            d = A.get(j, j)
            with b.if_then(b.fcmp_unordered("!=", d, T.const(cdt, 0))):
                with for_range(b, b.add(j, i64(1)), m, "i") as i:
                    A.set(i, j, b.fdiv(A.get(i, j), d))
            with for_range(b, b.add(j, i64(1)), m, "i") as i:
                f = A.get(i, j)
                with for_range(b, b.add(j, i64(1)), n, "c") as c:
                    A.set(i, c, b.fsub(A.get(i, c), b.fmul(f, A.get(j, c))))

    _batched_kernel(lw, f"opaque[{','.join(map(str, x.shape))}](lu)", [lu, pivots, perm], _batch(x.shape),
                    float(m * n * kk), body)


# --- runtime calls ---------------------------------------------------------------------------------------------
def _qr(ins, outs, full_matrices):
    x = ins[0].astype(_compute(ins[0].dtype))
    q, r = np.linalg.qr(x, mode="complete" if full_matrices else "reduced")
    np.copyto(outs[0], q, casting="unsafe")
    np.copyto(outs[1], r, casting="unsafe")


def _svd(ins, outs, full_matrices, compute_uv):
    x = ins[0].astype(_compute(ins[0].dtype))
    if not compute_uv:
        np.copyto(outs[0], np.linalg.svd(x, compute_uv=False), casting="unsafe")
        return
    u, s, vt = np.linalg.svd(x, full_matrices=full_matrices)
    for o, v in zip(outs, (s, u, vt)):
        np.copyto(o, v, casting="unsafe")


def _eigh(ins, outs, lower):
    w, v = np.linalg.eigh(ins[0].astype(_compute(ins[0].dtype)), UPLO="L" if lower else "U")
    np.copyto(outs[0], v, casting="unsafe")
    np.copyto(outs[1], w, casting="unsafe")


def _eig(ins, outs):
    w, v = np.linalg.eig(ins[0].astype(_compute(ins[0].dtype)))
    w, v = w.astype(np.complex128), v.astype(np.complex128)
    for o, part in zip(outs, (w.real, w.imag, v.real, v.imag)):
        np.copyto(o, part, casting="unsafe")


def _fft(ins, outs, fft_type, fft_lengths):
    axes = tuple(range(-len(fft_lengths), 0))
    if fft_type == ff.FftType.RFFT:
        c = np.fft.rfftn(ins[0], s=fft_lengths, axes=axes)
    elif fft_type == ff.FftType.IRFFT:
        np.copyto(outs[0], np.fft.irfftn(ins[0] + 1j * ins[1], s=fft_lengths, axes=axes), casting="unsafe")
        return
    elif fft_type == ff.FftType.FFT:
        c = np.fft.fftn(ins[0] + 1j * ins[1], s=fft_lengths, axes=axes)
    else:
        c = np.fft.ifftn(ins[0] + 1j * ins[1], s=fft_lengths, axes=axes)
    np.copyto(outs[0], c.real, casting="unsafe")
    np.copyto(outs[1], c.imag, casting="unsafe")


_RUNTIME = {la.qr_p: ("LAPACK geqrf/orgqr via numpy.linalg.qr", _qr),
            la.svd_p: ("LAPACK gesdd via numpy.linalg.svd", _svd),
            la.eigh_p: ("LAPACK syevd via numpy.linalg.eigh", _eigh),
            la.eig_p: ("LAPACK geev via numpy.linalg.eig", _eig),
            ff.fft_p: ("pocketfft via numpy.fft", _fft)}


@opaque(*_RUNTIME)
def _runtime(lw: Lowering, eqn, ins, outs):
    name, fn = _RUNTIME[eqn.primitive]
    params = dict(eqn.params)
    lw.runtime_call(name, eqn, lambda i, o: fn(i, o, **params), ins, outs)
