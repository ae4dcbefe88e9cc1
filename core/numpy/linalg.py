"""``jnp.linalg``: norms, solves, inverses, determinants and decompositions over the linalg primitives.

Float and complex matrices (integer inputs promote to the default float); ``eig`` and ``eigvals`` are
documented runtime calls (LAPACK geev) where a backend has them.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple, Sequence

import numpy as np

from .. import dtypes
from ..primitives import elementwise as ew, linalg as la, structural as st
from ..primitives.custom_derivatives import custom_jvp
from ..trace import get_aval
from . import reductions as red, ufuncs as uf
from ._util import asarray_any, broadcast_to, canonicalize_axis, power_by_squaring, promote_to_inexact
from .linalg_ops import matmul, outer, tensordot, trace as _trace, vecdot  # noqa: F401  (jnp.linalg re-exports these)
from .misc import diagonal as _diagonal, where as _where
from .shape import concatenate, matrix_transpose, moveaxis, reshape


class EighResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


class EigResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


class QRResult(NamedTuple):
    Q: Any
    R: Any


class SVDResult(NamedTuple):
    U: Any
    S: Any
    Vh: Any


class SlogdetResult(NamedTuple):
    sign: Any
    logabsdet: Any


def _matrix(name: str, a: Any, square: bool = False) -> Any:
    """``a`` as a float array of matrices, with numpy-style errors for bad ranks and shapes."""
    (a,) = promote_to_inexact(asarray_any(a))
    aval = get_aval(a)
    if aval.ndim < 2:
        raise ValueError(f"{name}: input must have at least 2 dimensions, got shape {aval.shape}")
    if square and aval.shape[-1] != aval.shape[-2]:
        raise ValueError(f"{name}: last 2 dimensions of the array must be square, got shape {aval.shape}")
    return a


def diagonal(x: Any, /, *, offset: int = 0) -> Any:
    """The diagonals of the trailing matrices (array API ``linalg.diagonal``)."""
    return _diagonal(x, offset, -2, -1)


def trace(x: Any, /, *, offset: int = 0, dtype=None) -> Any:
    """The traces of the trailing matrices (array API ``linalg.trace``)."""
    return _trace(x, offset, -2, -1, dtype)


def _swap(x: Any) -> Any:
    """Transpose of the trailing matrices."""
    return matrix_transpose(x)


def _herm(x: Any) -> Any:
    """Conjugate transpose of the trailing matrices."""
    x = matrix_transpose(x)
    return ew.conj(x) if dtypes.kind(get_aval(x).dtype) == "c" else x


def _like(x: Any, like: Any) -> Any:
    """``x`` (real) in the dtype of ``like`` (real or complex)."""
    return ew.convert_element_type(x, get_aval(like).dtype)


# --- decompositions -------------------------------------------------------------------------------------------
def cholesky(a: Any, *, upper: bool = False, symmetrize_input: bool = True) -> Any:
    """Lower (or ``upper``) Cholesky factor; NaNs for matrices that are not positive definite."""
    L = la.cholesky(_matrix("cholesky", a, True), symmetrize_input=symmetrize_input)
    return _herm(L) if upper else L


def qr(a: Any, mode: str = "reduced") -> Any:
    """``QRResult(Q, R)`` for mode 'reduced' (or its alias 'full')/'complete', ``R`` alone for mode 'r', and
    LAPACK's packed ``QRResult(h^T, tau)`` (numpy's layout) for mode 'raw'."""
    a = _matrix("qr", a)
    if mode == "raw":
        h, taus = la.geqrf(a)
        return QRResult(matrix_transpose(h), taus)
    if mode not in ("reduced", "full", "complete", "r"):
        raise ValueError(f"Unsupported QR decomposition mode '{mode}'")
    q, r = la.qr(a, full_matrices=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False,
        subset_by_index: tuple | None = None) -> Any:
    """``SVDResult(U, S, Vh)`` (or ``S``) with descending singular values."""
    a = _matrix("svd", a)
    if hermitian:
        w, v = eigh(a)
        s = uf.absolute(w)
        order = _argsort(s, descending=True)
        s = _take_last(s, order)
        if not compute_uv:
            return s
        sign = _like(uf.sign(_take_last(w, order)), v)
        u = _take_cols(v, order)
        vh = _herm(ew.mul(u, broadcast_to(st.expand_dims(sign, (get_aval(sign).ndim - 1,)), get_aval(u).shape)))
        return SVDResult(u, s, vh)
    if not compute_uv:
        return la.svd(a, full_matrices=full_matrices, compute_uv=False, subset_by_index=subset_by_index)
    return SVDResult(*la.svd(a, full_matrices=full_matrices, compute_uv=True, subset_by_index=subset_by_index))


def _take_last(x: Any, idx: Any) -> Any:
    from .indexing import take_along_axis
    return take_along_axis(x, idx, -1)


def _take_cols(m: Any, idx: Any) -> Any:
    from .indexing import take_along_axis
    shape = get_aval(m).shape
    idx_b = broadcast_to(st.expand_dims(idx, (len(shape) - 2,)), shape)
    return take_along_axis(m, idx_b, -1)


def svdvals(x: Any, /) -> Any:
    return svd(x, compute_uv=False)


def eigh(a: Any, UPLO: str | None = None, symmetrize_input: bool = True) -> EighResult:
    """``EighResult(eigenvalues, eigenvectors)``: ascending eigenvalues of symmetric matrices."""
    a = _matrix("eigh", a, True)
    if UPLO not in (None, "L", "U"):
        raise ValueError(f"UPLO must be 'L' or 'U', got {UPLO!r}")
    v, w = la.eigh(a, lower=UPLO != "U", symmetrize_input=symmetrize_input)
    return EighResult(w, v)


def eigvalsh(a: Any, UPLO: str | None = "L", *, symmetrize_input: bool = True) -> Any:
    return eigh(a, UPLO, symmetrize_input).eigenvalues


def eig(a: Any) -> EigResult:
    """``EigResult(eigenvalues, eigenvectors)`` of square matrices (complex; unit eigenvectors in columns, largest
    component real). Backends compute it as a documented runtime call (LAPACK geev) or report it unsupported.
    Differentiable, eigenvectors included (distinct eigenvalues; JAX differentiates only the eigenvalues)."""
    w, v = la.eig(_matrix("eig", a, True), compute_left_eigenvectors=False)
    return EigResult(w, v)


def eigvals(a: Any) -> Any:
    return eig(a).eigenvalues


# --- solves and inverses -----------------------------------------------------------------------------------------
def lu_solve_factored(lu_: Any, perm: Any, b: Any, trans: int = 0) -> Any:
    """Solve ``a x = b`` (``trans=0``), ``a^T x = b`` (``trans=1``) or ``a^H x = b`` (``trans=2``) from
    ``a[perm] = L U``; ``b`` is ``[..., n, k]`` with batch dims equal to those of ``lu_``."""
    if trans == 0:
        pb = _permute_rows(b, perm)
        y = la.triangular_solve(lu_, pb, left_side=True, lower=True, unit_diagonal=True)
        return la.triangular_solve(lu_, y, left_side=True, lower=False)
    conj = trans == 2
    y = la.triangular_solve(lu_, b, left_side=True, lower=False, transpose_a=True, conjugate_a=conj)
    x = la.triangular_solve(lu_, y, left_side=True, lower=True, unit_diagonal=True, transpose_a=True,
                            conjugate_a=conj)
    return _permute_rows(x, _argsort(perm))


def _argsort(x: Any, descending: bool = False) -> Any:
    from .misc import argsort
    return ew.convert_element_type(argsort(x, axis=-1, descending=descending), dtypes.int32)


def _permute_rows(b: Any, perm: Any) -> Any:
    """``b[..., perm, :]`` for per-batch permutations ``perm`` of shape ``[..., n]``."""
    from .indexing import take_along_axis
    shape = get_aval(b).shape
    idx = broadcast_to(st.expand_dims(perm, (len(shape) - 1,)), shape)
    return take_along_axis(b, idx, -2)


def _solve_shapes(a: Any, b: Any) -> tuple:
    """Broadcast the batch dims of ``a`` and ``b``; a 1-D ``b`` is a vector (numpy 2 / JAX semantics)."""
    a = _matrix("solve", a, True)
    (b,) = promote_to_inexact(asarray_any(b))
    a, b = _same_dtype(a, b)
    sa, sb = get_aval(a).shape, get_aval(b).shape
    vector = len(sb) == 1
    if vector:
        b = st.reshape(b, sb + (1,))
        sb = get_aval(b).shape
    if len(sb) < 2 or sb[-2] != sa[-1]:
        raise ValueError(f"Invalid shapes for solve: {sa}, {tuple(sb[:-1]) if vector else sb}. b must be a vector of "
                         f"length {sa[-1]} or a stack of matrices with {sa[-1]} rows.")
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    return broadcast_to(a, batch + sa[-2:]), broadcast_to(b, batch + sb[-2:]), vector


def _same_dtype(*xs: Any) -> list:
    dt = dtypes.result_type(*xs)
    return [ew.convert_element_type(x, dt) if get_aval(x).dtype != dt else x for x in xs]


def solve(a: Any, b: Any) -> Any:
    """``x`` with ``a @ x = b`` by LU with partial pivoting (batched; 1-D ``b`` is a vector). A complex system
    ``(A + iB)(x + iy) = c + id`` is solved as the real one ``[[A, -B], [B, A]] [x; y] = [c; d]``."""
    a, b, vector = _solve_shapes(a, b)
    if dtypes.kind(get_aval(a).dtype) == "c":
        n = get_aval(a).shape[-1]
        ar, ai, br, bi = uf.real(a), uf.imag(a), uf.real(b), uf.imag(b)
        block = concatenate([concatenate([ar, ew.neg(ai)], -1), concatenate([ai, ar], -1)], -2)
        parts = solve(block, concatenate([br, bi], -2))
        x = ew.complex(parts[..., :n, :], parts[..., n:, :])
    else:
        lu_, _, perm = la.lu(a)
        x = lu_solve_factored(lu_, perm, b)
    return st.squeeze(x, (get_aval(x).ndim - 1,)) if vector else x


def inv(a: Any) -> Any:
    a = _matrix("inv", a, True)
    shape = get_aval(a).shape
    eye = broadcast_to(_eye_like(a), shape)
    return solve(a, eye)


def _eye_like(a: Any) -> Any:
    n = get_aval(a).shape[-1]
    return ew.convert_element_type(ew.eq(st.broadcasted_iota(dtypes.int32, (n, n), 0),
                                         st.broadcasted_iota(dtypes.int32, (n, n), 1)), get_aval(a).dtype)


def slogdet(a: Any, *, method: str | None = None) -> SlogdetResult:
    """``(sign, log|det|)`` from the LU factorisation, or Householder QR if ``method='qr'`` (real matrices only,
    as JAX); sign 0 and -inf for singular matrices."""
    a = _matrix("slogdet", a, True)
    if method in (None, "lu"):
        return SlogdetResult(*_slogdet(a))
    if method != "qr":
        raise ValueError(f"Unknown slogdet method '{method}'. Supported methods are 'lu' (`None`), and 'qr'.")
    if dtypes.kind(get_aval(a).dtype) == "c":
        raise NotImplementedError("slogdet method='qr' not implemented for complex inputs")
    return SlogdetResult(*_slogdet_qr(a))


@custom_jvp
def _slogdet(a: Any) -> tuple:
    lu_, pivots, _ = la.lu(a)
    diag = _diagonal(lu_, 0, -2, -1)
    n = get_aval(a).shape[-1]
    swaps = uf.not_equal(pivots, st.iota(dtypes.int32, n))
    parity = red.count_nonzero(swaps, axis=-1)
    parity_sign = ew.sub(ew._const(diag, 1), ew.mul(ew._const(diag, 2), ew.convert_element_type(
        ew.rem(parity, ew._const(parity, 2)), get_aval(diag).dtype)))
    sign = ew.mul(parity_sign, red.prod(uf.sign(diag), axis=-1))
    logdet = red.sum(uf.log(uf.absolute(diag)), axis=-1)
    is_zero = red.any(ew.eq(diag, ew._const(diag, 0)), axis=-1)
    sign = ew.select(is_zero, st.zeros_like_array(sign), sign)
    logdet = ew.select(is_zero, st.full_like(logdet, -np.inf), logdet)
    return sign, logdet


@custom_jvp
def _slogdet_qr(a: Any) -> tuple:
    """det R times -1 for each Householder reflection made (tau != 0), as JAX."""
    from ..linalg_householder import geqrf
    n = get_aval(a).shape[-1]
    r, taus = geqrf(a)
    diag = _diagonal(r, 0, -2, -1)
    logdet = red.sum(uf.log(uf.absolute(diag)), axis=-1)
    reflections = red.count_nonzero(uf.not_equal(taus[..., :n - 1], 0), axis=-1)
    sign = ew.mul(red.prod(uf.sign(diag), axis=-1), ew.convert_element_type(
        ew.sub(1, ew.mul(2, ew.rem(reflections, 2))), get_aval(diag).dtype))
    return sign, logdet


def _slogdet_jvp(slogdet_fn, primals, tangents):
    """d log|det A| = Re tr(A^-1 dA); for complex A the sign turns by i Im tr(A^-1 dA) (as JAX)."""
    (a,), (g,) = primals, tangents
    sign, logdet = slogdet_fn(a)
    t = _trace(solve(a, g), axis1=-1, axis2=-2)
    if dtypes.kind(get_aval(t).dtype) != "c":
        return (sign, logdet), (st.zeros_like_array(sign), t)
    turn = ew.sub(t, _like(uf.real(t), t))
    return (sign, logdet), (ew.mul(turn, sign), uf.real(t))


_slogdet.defjvp(functools.partial(_slogdet_jvp, _slogdet))
_slogdet_qr.defjvp(functools.partial(_slogdet_jvp, _slogdet_qr))


@custom_jvp
def _det(a: Any) -> Any:
    sign, logdet = slogdet(a)
    return ew.mul(sign, ew.convert_element_type(ew.exp(logdet), get_aval(sign).dtype))


def _cofactor_solve(a: Any, b: Any) -> tuple:
    """``(det(a), adj(a) @ b)`` from the LU factors, defined for singular ``a`` too (JAX's rule): the last
    pivot is replaced so that corank-1 matrices get their rank-1 adjugate, and matrices of corank >= 2 (whose
    adjugate is 0) give 0."""
    n = get_aval(a).shape[-1]
    if n == 1:
        return a[..., 0, 0], b
    lu_, pivots, perm = la.lu(a)
    diag = _diagonal(lu_, 0, -2, -1)
    parity = red.count_nonzero(uf.not_equal(pivots, st.iota(dtypes.int32, n)), axis=-1)
    sign = ew.convert_element_type(ew.sub(1, ew.mul(2, ew.rem(parity, 2))), get_aval(a).dtype)
    partial_det = red.cumprod(diag, axis=-1) * sign[..., None]  # [..., -1]: det(a); [..., -2]: det(a) / u_nn
    lu_ = lu_.at[..., -1, -1].set(1 / partial_det[..., -2])
    ones = st.full(get_aval(b).shape[:-1] + (1,), 1, get_aval(a).dtype)
    d = la.triangular_solve(lu_, ones, left_side=True, lower=False)
    rank_deficient = red.any(uf.logical_or(uf.isnan(d), uf.isinf(d)), axis=(-2, -1))[..., None, None]
    x = _where(rank_deficient, 0, b)
    x = la.triangular_solve(lu_, _permute_rows(x, perm), left_side=True, lower=True, unit_diagonal=True)
    x = concatenate([x[..., :-1, :] * partial_det[..., -1, None, None], x[..., -1:, :]], axis=-2)
    x = la.triangular_solve(lu_, x, left_side=True, lower=False)
    return partial_det[..., -1], _where(rank_deficient, 0, x)


@_det.defjvp
def _det_jvp(primals, tangents):
    """d det(A) = tr(adj(A) dA) (Jacobi's formula), with the adjugate of ``_cofactor_solve``."""
    (a,), (g,) = primals, tangents
    y, z = _cofactor_solve(a, g)
    return y, _trace(z, axis1=-1, axis2=-2)


def det(a: Any) -> Any:
    """The determinant; 2x2 and 3x3 matrices by their cofactor expansions (as JAX: exact derivatives at
    singular matrices), larger ones from the LU factors."""
    a = _matrix("det", a, True)
    n = get_aval(a).shape[-1]
    e = lambda i, j: a[..., i, j]
    if n == 2:
        return e(0, 0) * e(1, 1) - e(0, 1) * e(1, 0)
    if n == 3:
        return (e(0, 0) * e(1, 1) * e(2, 2) + e(0, 1) * e(1, 2) * e(2, 0) + e(0, 2) * e(1, 0) * e(2, 1) -
                e(0, 2) * e(1, 1) * e(2, 0) - e(0, 0) * e(1, 2) * e(2, 1) - e(0, 1) * e(1, 0) * e(2, 2))
    return _det(a)


def matrix_power(a: Any, n: int) -> Any:
    """``a`` to the integer power ``n`` by repeated squaring (``inv(a)`` first for negative ``n``)."""
    a = asarray_any(a)
    aval = get_aval(a)
    if aval.ndim < 2 or aval.shape[-1] != aval.shape[-2]:
        raise ValueError(f"matrix_power: last 2 dimensions of the array must be square, got shape {aval.shape}")
    n = int(n)
    if n == 0:
        return broadcast_to(ew.convert_element_type(_eye_like(a), aval.dtype), aval.shape)
    if n < 0:
        a, n = inv(a), -n
    return power_by_squaring(a, n, matmul)


def _default_rtol(a: Any) -> float:
    m, n = get_aval(a).shape[-2:]
    return float(np.finfo(get_aval(a).dtype).eps * max(m, n))


@functools.partial(custom_jvp, nondiff_argnums=(1,))
def _pinv(a: Any, rtol: Any) -> Any:
    u, s, vh = la.svd(a, full_matrices=False)
    cutoff = ew.mul(st.expand_dims(red.max(s, axis=-1), (get_aval(s).ndim - 1,)), _rtol_array(rtol, s))
    cutoff = broadcast_to(cutoff, get_aval(s).shape)
    s_inv = _like(ew.select(ew.gt(s, cutoff), ew.div(ew._const(s, 1), s), st.zeros_like_array(s)), a)
    scaled = ew.mul(_herm(vh), broadcast_to(st.expand_dims(s_inv, (get_aval(s).ndim - 1,)), get_aval(_swap(vh)).shape))
    return matmul(scaled, _herm(u))


def _rtol_array(rtol: Any, like: Any) -> Any:
    r = asarray_any(rtol)
    r = ew.convert_element_type(r, get_aval(like).dtype)
    shape = get_aval(like).shape[:-1] + (1,)
    return broadcast_to(st.expand_dims(r, (get_aval(r).ndim,)) if get_aval(r).ndim else r, shape)


@_pinv.defjvp
def _pinv_jvp(rtol, primals, tangents):
    """Golub & Pereyra (1973): the derivative of the pseudo-inverse."""
    (a,), (a_dot,) = primals, tangents
    p = _pinv(a, rtol)
    m, n = get_aval(a).shape[-2:]
    if m >= n:
        s = matmul(matmul(p, _herm(p)), _herm(a_dot))
        t = matmul(matmul(_herm(a_dot), _herm(p)), p)
        p_dot = -matmul(matmul(p, a_dot), p) + s - matmul(matmul(s, a), p) + t - matmul(matmul(p, a), t)
    else:
        s = matmul(p, matmul(_herm(p), _herm(a_dot)))
        t = matmul(_herm(a_dot), matmul(_herm(p), p))
        p_dot = -matmul(p, matmul(a_dot, p)) + s - matmul(s, matmul(a, p)) + t - matmul(p, matmul(a, t))
    return p, p_dot


def pinv(a: Any, rtol: Any = None, hermitian: bool = False, *, rcond: Any = None) -> Any:
    """Moore-Penrose pseudo-inverse via the SVD; singular values at most ``rtol * max(s)`` are dropped."""
    a = _matrix("pinv", a)
    if rcond is not None:
        if rtol is not None:
            raise ValueError("pinv: only one of rtol and rcond may be specified.")
        rtol = rcond
    m, n = get_aval(a).shape[-2:]
    if m == 0 or n == 0:
        return st.full(get_aval(a).shape[:-2] + (n, m), 0, get_aval(a).dtype)
    rtol = _default_rtol(a) if rtol is None else rtol
    rtol = float(rtol) if np.ndim(rtol) == 0 and not hasattr(rtol, "aval") else rtol
    return _pinv(a, rtol)


def lstsq(a: Any, b: Any, rcond: float | None = None, *, numpy_resid: bool = False) -> tuple:
    """``(x, residuals, rank, s)`` minimising ``||a x - b||`` via the SVD, as ``jnp.linalg.lstsq``."""
    a = _matrix("lstsq", a)
    (b,) = promote_to_inexact(asarray_any(b))
    a, b = _same_dtype(a, b)
    sa, sb = get_aval(a).shape, get_aval(b).shape
    if len(sa) != 2:
        raise TypeError(f"lstsq only supports 2D a, got shape {sa}")
    b_1d = len(sb) == 1
    if b_1d:
        b = st.reshape(b, sb + (1,))
    m, n = sa
    if get_aval(b).shape[0] != m:
        raise TypeError(f"Leading dimensions of input arrays must match: a {sa}, b {sb}")
    eps = float(np.finfo(get_aval(a).dtype).eps)
    if m == 0 or n == 0:  # (as JAX: no singular values, rank 0, x = 0)
        s = st.full((0,), 0, get_aval(a).dtype)
        rank = st.full((), 0, dtypes.default_int())
        x = st.full((n, get_aval(b).shape[1]), 0, get_aval(a).dtype)
    else:
        u, s, vh = la.svd(a, full_matrices=False)
        r = ew.convert_element_type(asarray_any(eps * max(n, m) if rcond is None else rcond), get_aval(s).dtype)
        r = ew.select(ew.lt(r, ew._const(r, 0)), ew._const(r, eps), r)  # a negative rcond means eps
        # zero singular values never count (a zero matrix has rank 0 and x = 0)
        mask = uf.logical_and(ew.gt(s, ew._const(s, 0)), ew.ge(s, ew.mul(r, st.index_in_dim(s, 0, 0, keepdims=False))))
        rank = red.sum(mask)
        safe_s = ew.select(mask, s, st.full_like(s, 1))
        s_inv = _like(ew.select(mask, ew.div(ew._const(s, 1), safe_s), st.zeros_like_array(s)), a)
        s_inv = st.reshape(s_inv, (get_aval(s).shape[0], 1))
        uTb = matmul(_herm(u), b)
        x = matmul(_herm(vh), ew.mul(broadcast_to(s_inv, get_aval(uTb).shape), uTb))
    if numpy_resid and (int(rank) < n or m <= n):
        resid = st.full((0,), 0, get_aval(a).dtype)
    else:
        resid = ew.square(norm(ew.sub(b, matmul(a, x)), axis=0))
    if b_1d:
        x = reshape(x, (-1,))
    return x, resid, rank, s


def matrix_rank(M: Any, rtol: Any = None, *, hermitian: bool = False, tol: Any = None) -> Any:
    """The number of singular values above ``rtol * max(s)`` (``tol`` is an alias of ``rtol``, as in JAX)."""
    if tol is not None:
        if rtol is not None:
            raise ValueError("matrix_rank: only one of tol or rtol may be specified.")
        rtol = tol
    M = asarray_any(M)
    if get_aval(M).ndim < 2:
        return ew.convert_element_type(red.any(ew.ne(M, ew._const(M, 0))), dtypes.default_int())
    M = _matrix("matrix_rank", M)
    s = svd(M, compute_uv=False, hermitian=hermitian)
    rtol = _default_rtol(M) if rtol is None else rtol
    tol = ew.mul(red.max(s, axis=-1, keepdims=True, initial=0), _rtol_array(rtol, s))
    return red.sum(ew.gt(s, broadcast_to(tol, get_aval(s).shape)), axis=-1)


def cond(x: Any, p: Any = None) -> Any:
    """Condition number in the given norm (2-norm by default: ``s_max / s_min``)."""
    x = _matrix("cond", x)
    if p is None or p == 2:
        s = svd(x, compute_uv=False)
        return ew.div(st.index_in_dim(s, 0, -1, keepdims=False), st.index_in_dim(s, get_aval(s).shape[-1] - 1, -1,
                                                                                 keepdims=False))
    if p == -2:
        s = svd(x, compute_uv=False)
        return ew.div(st.index_in_dim(s, get_aval(s).shape[-1] - 1, -1, keepdims=False),
                      st.index_in_dim(s, 0, -1, keepdims=False))
    r = ew.mul(norm(x, ord=p, axis=(-2, -1)), norm(inv(x), ord=p, axis=(-2, -1)))
    return ew.select(uf.isnan(r), st.full_like(r, np.inf), r)


def tensorinv(a: Any, ind: int = 2) -> Any:
    a = asarray_any(a)
    shape = get_aval(a).shape
    out_shape = shape[ind:] + shape[:ind]
    n = int(np.prod(shape[ind:], dtype=np.int64))
    m = int(np.prod(shape[:ind], dtype=np.int64))
    if n != m:
        raise ValueError(f"tensorinv: product of the first {ind} dimensions {shape[:ind]} must equal the product of "
                         f"the rest {shape[ind:]}")
    return reshape(inv(reshape(a, (m, n))), out_shape)


def tensorsolve(a: Any, b: Any, axes: tuple | None = None) -> Any:
    a, b = asarray_any(a), asarray_any(b)
    if axes is not None:
        nd = get_aval(a).ndim
        a = moveaxis(a, [canonicalize_axis(x, nd) for x in axes], [nd - len(axes) + i for i in range(len(axes))])
    bshape = get_aval(b).shape
    out_shape = get_aval(a).shape[len(bshape):]
    n = int(np.prod(out_shape, dtype=np.int64))
    x = solve(reshape(a, (-1, n)), reshape(b, (-1,)))
    return reshape(x, out_shape)


def multi_dot(arrays: Sequence[Any], *, precision: Any = None) -> Any:
    """Product of a chain of matrices in the cheapest association order (first/last may be vectors)."""
    from .linalg_ops import einsum
    arrays = [asarray_any(a) for a in arrays]
    if len(arrays) < 2:
        raise ValueError("multi_dot: expecting at least two arrays.")
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    specs = []
    for i, a in enumerate(arrays):
        nd = get_aval(a).ndim
        if nd == 1:
            specs.append(letters[i] if i == 0 else letters[i])
        elif nd == 2:
            specs.append(letters[i] + letters[i + 1])
        else:
            raise ValueError(f"multi_dot: array {i} has {nd} dimensions; expected 1 or 2")
    if get_aval(arrays[0]).ndim == 1:
        specs[0] = letters[1]
    out = ""
    if get_aval(arrays[0]).ndim == 2:
        out += letters[0]
    if get_aval(arrays[-1]).ndim == 2:
        out += letters[len(arrays)]
    return einsum(",".join(specs) + "->" + out, *arrays)


def cross(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    from .misc import cross as _cross
    return _cross(x1, x2, axis=axis)


# --- norms -----------------------------------------------------------------------------------------------------------
def _vector_norm(x: Any, ord: Any, axis: tuple, keepdims: bool) -> Any:
    if ord is None or ord == 2:
        return uf.sqrt(red.sum(uf.square(uf.absolute(x)), axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return red.max(uf.absolute(x), axis=axis, keepdims=keepdims, initial=0)
    if ord == -np.inf:
        return red.min(uf.absolute(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return red.sum(ew.convert_element_type(ew.ne(x, ew._const(x, 0)), get_aval(x).dtype), axis=axis,
                       keepdims=keepdims)
    if ord == 1:
        return red.sum(uf.absolute(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid order '{ord}' for vector norm.")
    abs_x = uf.absolute(x)
    p = ew._const(abs_x, float(ord))  # real, also for complex x
    return uf.power(red.sum(uf.power(abs_x, p), axis=axis, keepdims=keepdims), ew.div(ew._const(abs_x, 1), p))


def _matrix_norm(x: Any, ord: Any, axis: tuple, keepdims: bool) -> Any:
    r, c = axis
    if ord in (None, "fro", "f"):
        return uf.sqrt(red.sum(uf.square(uf.absolute(x)), axis=axis, keepdims=keepdims))
    if ord == 1:
        return red.max(red.sum(uf.absolute(x), axis=r, keepdims=True), axis=c, keepdims=True, initial=0) \
            if keepdims else red.max(red.sum(uf.absolute(x), axis=r), axis=c - (c > r), initial=0)
    if ord == -1:
        return red.min(red.sum(uf.absolute(x), axis=r, keepdims=True), axis=c, keepdims=True) if keepdims else \
            red.min(red.sum(uf.absolute(x), axis=r), axis=c - (c > r))
    if ord == np.inf:
        return _matrix_norm(x, 1, (c, r), keepdims)
    if ord == -np.inf:
        return _matrix_norm(x, -1, (c, r), keepdims)
    if ord in (2, -2, "nuc"):
        nd = get_aval(x).ndim
        y = moveaxis(x, (r, c), (nd - 2, nd - 1))
        s = svd(y, compute_uv=False)
        out = red.max(s, axis=-1, initial=0) if ord == 2 else red.min(s, axis=-1) if ord == -2 else red.sum(s, axis=-1)
        if keepdims:
            out = st.expand_dims(out, tuple(sorted((r, c))))
        return out
    raise ValueError(f"Invalid order '{ord}' for matrix norm.")


def norm(x: Any, ord: Any = None, axis: None | tuple | int = None, keepdims: bool = False) -> Any:
    """Vector norms (1-D or an int axis) and matrix norms (2-D or a pair of axes), as ``numpy.linalg.norm``."""
    (x,) = promote_to_inexact(asarray_any(x))
    nd = get_aval(x).ndim
    if axis is None:
        if ord is None:
            return _vector_norm(x, None, tuple(range(nd)), keepdims)
        axis = tuple(range(nd))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(canonicalize_axis(a, nd) for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"Improper number of axes for norm: {axis!r}. Pass one axis for a vector norm or two for a "
                     "matrix norm.")


def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:
    (x,) = promote_to_inexact(asarray_any(x))
    nd = get_aval(x).ndim
    axes = tuple(range(nd)) if axis is None else tuple(canonicalize_axis(a, nd) for a in
                                                       ((axis,) if isinstance(axis, int) else axis))
    return _vector_norm(x, ord, axes, keepdims)


def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


__all__ = ["EighResult", "QRResult", "SVDResult", "SlogdetResult", "cholesky", "cond", "cross", "det", "diagonal",
           "eig", "eigh", "eigvals", "eigvalsh", "inv", "lstsq", "matmul", "matrix_norm", "matrix_power",
           "matrix_rank", "matrix_transpose", "multi_dot", "norm", "outer", "pinv", "qr", "slogdet", "solve", "svd",
           "svdvals", "tensordot", "tensorinv", "tensorsolve", "trace", "vecdot", "vector_norm"]
