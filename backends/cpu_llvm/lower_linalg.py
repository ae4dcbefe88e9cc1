"""Linear algebra: cholesky, triangular_solve and lu in generated code (unblocked algorithms, one matrix per
loop iteration, batches split across threads), for real matrices and for complex ones (``complex_linalg``,
part buffers, complex arithmetic in the kernel); qr, svd, eigh, eig and fft as documented runtime calls into
numpy.linalg / numpy.fft (LAPACK's real and complex routines, pocketfft) with the reference backend's conventions.

Conventions: a Cholesky factor of a matrix that is not positive definite (a pivot that is not > 0) is all
NaN; only the lower triangle of the operand (the real part of its diagonal) is read. lu pivots on the first
largest magnitude (|re| + |im| for complex values, as LAPACK's izamax; NaN counts as largest) and keeps updating
after a zero pivot, like getrf.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from portax.core import dtypes
from portax.core.ir import ShapedArray
from portax.core.primitives import fft as ff, linalg as la
from portax.core.trace import abstract_eval_rules

from . import lltypes as T
from .codegen import Buf
from .irutil import entry_alloca, for_range, i64
from .lower_elementwise import convert
from .program import Lowering, opaque


def _compute(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return dtype
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


class _ComplexMatrix:
    """Element access to a complex matrix held as (real, imaginary) part buffers; elements are (re, im) pairs."""

    def __init__(self, b: ir.IRBuilder, re: ir.Value, im: ir.Value, dtype: np.dtype, rows: int, cols: int,
                 batch: ir.Value):
        self.parts = (_Matrix(b, re, dtype, rows, cols, batch), _Matrix(b, im, dtype, rows, cols, batch))

    def get(self, i, j) -> tuple:
        return tuple(p.get(i, j) for p in self.parts)

    def set(self, i, j, v) -> None:
        for p, x in zip(self.parts, v):
            p.set(i, j, x)


class _Real:
    """Scalar arithmetic of the kernels on real elements (values of the compute dtype)."""

    def __init__(self, b: ir.IRBuilder, cdt: np.dtype):
        self.b, self.cdt = b, cdt

    def const(self, v):
        return T.const(self.cdt, v)

    def sub(self, x, y):
        return self.b.fsub(x, y)

    def mul(self, x, y):
        return self.b.fmul(x, y)

    def div(self, x, y):
        return self.b.fdiv(x, y)

    def accumulate(self, acc, x):
        return self.b.fadd(acc, x, flags=("contract",))

    def conj(self, x):
        return x

    def real(self, x):
        """The real part (a real value)."""
        return x

    def from_real(self, r):
        return r

    def abs2(self, x):
        return self.b.fmul(x, x)

    def magnitude(self, x):
        """The pivoting magnitude (LAPACK's i?amax): |x|."""
        return T.call_intrinsic(self.b, "fabs", x)

    def nonzero(self, x):
        """x != 0, true for NaN."""
        return self.b.fcmp_unordered("!=", x, self.const(0))

    def alloca(self):
        return entry_alloca(self.b, T.compute_type(self.cdt))

    def load(self, slot):
        return self.b.load(slot)

    def store(self, x, slot) -> None:
        self.b.store(x, slot)


class _Complex(_Real):
    """Scalar arithmetic on complex elements, (re, im) pairs of values of the part compute dtype."""

    def const(self, v):
        return T.const(self.cdt, complex(v).real), T.const(self.cdt, complex(v).imag)

    def sub(self, x, y):
        return self.b.fsub(x[0], y[0]), self.b.fsub(x[1], y[1])

    def mul(self, x, y):
        b = self.b
        return (b.fsub(b.fmul(x[0], y[0]), b.fmul(x[1], y[1])), b.fadd(b.fmul(x[0], y[1]), b.fmul(x[1], y[0])))

    def div(self, x, y):
        """Smith's algorithm: scaled by the larger part of ``y`` (no overflow in squares)."""
        b = self.b
        fabs = lambda v: T.call_intrinsic(b, "fabs", v)
        real_big = b.fcmp_ordered(">=", fabs(y[0]), fabs(y[1]))
        big, small = b.select(real_big, y[0], y[1]), b.select(real_big, y[1], y[0])
        p, q = b.select(real_big, x[0], x[1]), b.select(real_big, x[1], x[0])
        rat = b.fdiv(small, big)
        den = b.fadd(big, b.fmul(small, rat))
        re = b.fdiv(b.fadd(p, b.fmul(q, rat)), den)
        pr = b.fmul(p, rat)
        im = b.fdiv(b.select(real_big, b.fsub(q, pr), b.fsub(pr, q)), den)
        return re, im

    def accumulate(self, acc, x):
        return tuple(self.b.fadd(a, v, flags=("contract",)) for a, v in zip(acc, x))

    def conj(self, x):
        return x[0], self.b.fneg(x[1])

    def real(self, x):
        return x[0]

    def from_real(self, r):
        return r, T.const(self.cdt, 0)

    def abs2(self, x):
        return self.b.fadd(self.b.fmul(x[0], x[0]), self.b.fmul(x[1], x[1]))

    def magnitude(self, x):
        """|re| + |im|, as LAPACK's izamax."""
        return self.b.fadd(*(T.call_intrinsic(self.b, "fabs", v) for v in x))

    def nonzero(self, x):
        return self.b.or_(*(self.b.fcmp_unordered("!=", v, T.const(self.cdt, 0)) for v in x))

    def alloca(self):
        return super().alloca(), super().alloca()

    def load(self, slot):
        return tuple(self.b.load(s) for s in slot)

    def store(self, x, slot) -> None:
        for v, s in zip(x, slot):
            self.b.store(v, s)


def _kernel_views(b: ir.IRBuilder, ptrs: list, dtype: np.dtype, shapes: list, batch: ir.Value, cplx: bool) -> tuple:
    """The arithmetic and one matrix view per ``(rows, cols)`` of ``shapes`` over the leading ``ptrs`` (two part
    buffers per matrix when ``cplx``)."""
    cdt = _compute(dtype)
    if not cplx:
        return _Real(b, cdt), [_Matrix(b, p, dtype, r, c, batch) for p, (r, c) in zip(ptrs, shapes)]
    return _Complex(b, cdt), [_ComplexMatrix(b, ptrs[2 * k], ptrs[2 * k + 1], dtype, r, c, batch)
                              for k, (r, c) in enumerate(shapes)]


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


def _dot_acc(b, F, start, n, term):
    """sum(term(k) for k in [start, n)) in the compute dtype, as a loop."""
    acc = F.alloca()
    F.store(F.const(0), acc)
    with for_range(b, start, n, "k") as k:
        F.store(F.accumulate(F.load(acc), term(k)), acc)
    return F.load(acc)


def _label(shape: tuple, name: str, cplx: bool) -> str:
    return f"opaque[{','.join(map(str, shape))}]({'complex ' if cplx else ''}{name})"


def _emit_cholesky(lw: Lowering, ins: list, outs: list, cplx: bool) -> None:
    """L with A = L L^H from A's lower triangle (the real part of its diagonal), column by column."""
    x = ins[0]
    n = x.shape[-1]

    def body(b, ptrs, m):
        F, (a, L) = _kernel_views(b, ptrs, x.dtype, [(n, n)] * 2, m, cplx)
        R = _Real(b, F.cdt)
        ok = entry_alloca(b, T.I1)
        b.store(ir.Constant(T.I1, 1), ok)
        with for_range(b, 0, n, "j") as j:
            s = b.fsub(F.real(a.get(j, j)), _dot_acc(b, R, 0, j, lambda k: F.abs2(L.get(j, k))))
            b.store(b.and_(b.load(ok), b.fcmp_ordered(">", s, R.const(0))), ok)
            d = T.call_intrinsic(b, "sqrt", s)
            L.set(j, j, F.from_real(d))
            with for_range(b, b.add(j, i64(1)), n, "i") as i:
                t = F.sub(a.get(i, j), _dot_acc(b, F, 0, j, lambda k: F.mul(L.get(i, k), F.conj(L.get(j, k)))))
                L.set(i, j, F.div(t, F.from_real(d)))
                L.set(j, i, F.const(0))
        with b.if_then(b.xor(b.load(ok), ir.Constant(T.I1, 1))):
            with for_range(b, 0, n * n, "f") as f:
                L.set(i64(0), f, F.const(np.nan))

    bufs = ins + outs
    _batched_kernel(lw, _label(x.shape, "cholesky", cplx), bufs, _batch(x.shape), n ** 3 / 3, body)


@opaque(la.cholesky_p)
def _cholesky(lw: Lowering, eqn, ins, outs):
    _emit_cholesky(lw, ins, outs, False)


def _emit_triangular_solve(lw: Lowering, p: dict, ins: list, outs: list, cplx: bool) -> None:
    a, rhs = ins[0], ins[2 if cplx else 1]
    n = a.shape[-1]
    rows, cols = rhs.shape[-2:]
    left = p["left_side"]
    # op(T) as seen by the substitution: left solves op(T) x = b per column of b; right solves
    # op(T)^T x = b^T per row of b
    flip = p["transpose_a"] != (not left)
    lower = p["lower"] != flip
    n_vec, vec_stride, elem_stride = (cols, 1, cols) if left else (rows, cols, 1)

    def body(b, ptrs, mi):
        F, (T_, B, X) = _kernel_views(b, ptrs, a.dtype, [(n, n), (rows, cols), (rows, cols)], mi, cplx)

        def m_at(i, k):
            v = T_.get(k, i) if flip else T_.get(i, k)
            return F.conj(v) if p["conjugate_a"] else v

        def vec(M, v, i):
            at = b.add(b.mul(v, i64(vec_stride)), b.mul(i, i64(elem_stride)))
            return M.get(i64(0), at)

        def set_vec(v, i, val):
            X.set(i64(0), b.add(b.mul(v, i64(vec_stride)), b.mul(i, i64(elem_stride))), val)

        with for_range(b, 0, n_vec, "v") as v:
            with for_range(b, 0, n, "s") as s:
                i = s if lower else b.sub(i64(n - 1), s)
                lo, hi = (i64(0), i) if lower else (b.add(i, i64(1)), i64(n))
                acc = _dot_acc(b, F, lo, hi, lambda k: F.mul(m_at(i, k), vec(X, v, k)))
                r = F.sub(vec(B, v, i), acc)
                set_vec(v, i, r if p["unit_diagonal"] else F.div(r, m_at(i, i)))

    _batched_kernel(lw, _label(rhs.shape, "triangular_solve", cplx), ins + outs, _batch(a.shape),
                    float(n * n * n_vec), body)


@opaque(la.triangular_solve_p)
def _triangular_solve(lw: Lowering, eqn, ins, outs):
    _emit_triangular_solve(lw, eqn.params, ins, outs, False)


def _emit_lu(lw: Lowering, ins: list, outs: list, cplx: bool) -> None:
    x = ins[0]
    parts = 2 if cplx else 1
    lu, (pivots, perm) = outs[:parts], outs[parts:]
    m, n = x.shape[-2:]
    kk = min(m, n)
    for dst, src in zip(lu, ins):
        lw.copy(dst, src)

    def body(b, ptrs, mi):
        F, (A,) = _kernel_views(b, ptrs, x.dtype, [(m, n)], mi, cplx)
        piv_ptr, perm_ptr = ptrs[parts:]
        piv = b.mul(mi, i64(kk))
        prm = b.mul(mi, i64(m))
        i32 = np.dtype(np.int32)
        with for_range(b, 0, m, "p") as r:
            T.store(b, b.trunc(r, T.I32), perm_ptr, i32, b.add(prm, r))
        best_v, best_i = entry_alloca(b, T.compute_type(F.cdt)), entry_alloca(b, T.I64)
        with for_range(b, 0, kk, "j") as j:
            b.store(F.magnitude(A.get(j, j)), best_v)
            b.store(j, best_i)
            with for_range(b, b.add(j, i64(1)), m, "i") as i:
                v, cur = F.magnitude(A.get(i, j)), b.load(best_v)
                take = b.or_(b.fcmp_ordered(">", v, cur),
                             b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", cur, cur)))
                b.store(b.select(take, v, cur), best_v)
                b.store(b.select(take, i, b.load(best_i)), best_i)
            pv = b.load(best_i)
            T.store(b, b.trunc(pv, T.I32), piv_ptr, i32, b.add(piv, j))
            with b.if_then(b.icmp_signed("!=", pv, j)):
                with for_range(b, 0, n, "c") as c:
                    t = A.get(j, c)
                    A.set(j, c, A.get(pv, c))
                    A.set(pv, c, t)
                pj, pp = b.add(prm, j), b.add(prm, pv)
                t = T.load(b, perm_ptr, i32, pj)
                T.store(b, T.load(b, perm_ptr, i32, pp), perm_ptr, i32, pj)
                T.store(b, t, perm_ptr, i32, pp)
            d = A.get(j, j)
            with b.if_then(F.nonzero(d)):
                with for_range(b, b.add(j, i64(1)), m, "i") as i:
                    A.set(i, j, F.div(A.get(i, j), d))
            with for_range(b, b.add(j, i64(1)), m, "i") as i:
                f = A.get(i, j)
                with for_range(b, b.add(j, i64(1)), n, "c") as c:
                    A.set(i, c, F.sub(A.get(i, c), F.mul(f, A.get(j, c))))

    _batched_kernel(lw, _label(x.shape, "lu", cplx), outs, _batch(x.shape), float(m * n * kk), body)


@opaque(la.lu_p)
def _lu(lw: Lowering, eqn, ins, outs):
    _emit_lu(lw, ins, outs, False)


# --- runtime calls ---------------------------------------------------------------------------------------------
def _nan_if_not_finite(fn):
    """``fn`` (a runtime call decomposing the trailing matrices of ``ins[0]``) with NaN results for the matrices
    holding a NaN or an infinity, on which numpy's LAPACK calls raise (JAX returns NaN)."""
    def run(ins, outs, **params):
        x = ins[0]
        ok = np.isfinite(x).all(axis=(-2, -1))
        fn([np.where(ok[..., None, None], x, 0)], outs, **params)
        for o in outs:
            o[~ok] = np.nan
    return run


def _qr(ins, outs, full_matrices):
    x = ins[0].astype(_compute(ins[0].dtype))
    q, r = np.linalg.qr(x, mode="complete" if full_matrices else "reduced")
    np.copyto(outs[0], q, casting="unsafe")
    np.copyto(outs[1], r, casting="unsafe")


@_nan_if_not_finite
def _svd(ins, outs, full_matrices, compute_uv):
    x = ins[0].astype(_compute(ins[0].dtype))
    if not compute_uv:
        np.copyto(outs[0], np.linalg.svd(x, compute_uv=False), casting="unsafe")
        return
    u, s, vt = np.linalg.svd(x, full_matrices=full_matrices)
    for o, v in zip(outs, (s, u, vt)):
        np.copyto(o, v, casting="unsafe")


@_nan_if_not_finite
def _eigh(ins, outs, lower):
    w, v = np.linalg.eigh(ins[0].astype(_compute(ins[0].dtype)), UPLO="L" if lower else "U")
    np.copyto(outs[0], v, casting="unsafe")
    np.copyto(outs[1], w, casting="unsafe")


@_nan_if_not_finite
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


_COMPLEX_RUNTIME = {"qr": ("LAPACK cgeqrf/zgeqrf and cungqr/zungqr via numpy.linalg.qr", _qr),
                    "svd": ("LAPACK cgesdd/zgesdd via numpy.linalg.svd", _svd),
                    "eigh": ("LAPACK cheevd/zheevd via numpy.linalg.eigh", _eigh),
                    "eig": ("LAPACK cgeev/zgeev via numpy.linalg.eig", _eig)}


def _complex_call(fn, out_avals: list, params: dict):
    """``fn`` (a runtime call on complex arrays) on part buffers: operands joined, complex results split."""
    def run(ins, outs):
        xs = [(re + 1j * im).astype(dtypes.complex_dtype(re.dtype)) for re, im in la.complex_operands(ins)]
        results = [np.empty(a.shape, a.dtype) for a in out_avals]
        fn(xs, results, **params)
        it = iter(outs)
        for r in results:
            for part in ((r.real, r.imag) if r.dtype.kind == "c" else (r,)):
                np.copyto(next(it), part, casting="unsafe")
    return run


@opaque(la.complex_linalg_p)
def _complex_linalg(lw: Lowering, eqn, ins, outs):
    """Complex matrices as part buffers: cholesky, triangular_solve and lu in generated code, the others as
    runtime calls into LAPACK's complex routines."""
    op, params = eqn.params["op"], dict(eqn.params["params"])
    if op == "cholesky":
        return _emit_cholesky(lw, ins, outs, True)
    if op == "triangular_solve":
        return _emit_triangular_solve(lw, params, ins, outs, True)
    if op == "lu":
        return _emit_lu(lw, ins, outs, True)
    name, fn = _COMPLEX_RUNTIME[op]
    avals = [ShapedArray(x.shape, dtypes.complex_dtype(x.dtype)) for x, _ in la.complex_operands(ins)]
    out_avals = abstract_eval_rules[la.BY_NAME[op]](*avals, **params)
    lw.runtime_call(name, eqn, _complex_call(fn, out_avals, params), ins, outs)
