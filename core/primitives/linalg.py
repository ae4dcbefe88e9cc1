"""Matrix decompositions and triangular solves (``jax.lax.linalg``): cholesky, qr, svd, eigh, eig, lu and
triangular_solve, on float32/float64/complex64/complex128 matrices. Each acts on the trailing two axes; leading
axes are batch axes.

The derivative rules are JAX's (they come from the matrix-calculus literature cited at each rule), for real and
complex operands; eig's eigenvectors are differentiable too (JAX's rule, which JAX only enables on request).
``triangular_solve`` is linear in its right-hand side and has a transpose rule for it.

Backends without complex dtypes run a complex decomposition as ``complex_linalg``: the same decomposition on
(real, imaginary) part buffers, made by ``core.complex_lowering`` after every transformation.
"""
from __future__ import annotations

import enum
from typing import Any, Sequence

from .. import dtypes
from ..ad_util import Zero
from ..interpreters import batching
from ..interpreters.transpose import is_undefined
from ..ir import ShapedArray
from ..trace import Primitive, abstract_eval_rules, batching_rules, get_aval, jvp_rules, transpose_rules
from . import contractions as ct, elementwise as ew, reductions as red, structural as st
from .sorting import take_along_axis


# --- small matrix helpers over lax (all act on the trailing two axes) -------------------------------------
def _T(x: Any) -> Any:
    nd = get_aval(x).ndim
    return st.transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _is_complex(x: Any) -> bool:
    return dtypes.kind(get_aval(x).dtype) == "c"


def _conj(x: Any) -> Any:
    return ew.conj(x) if _is_complex(x) else x


def _H(x: Any) -> Any:
    """The conjugate transpose (the transpose of a real matrix)."""
    return _conj(_T(x))


def _as_dtype_of(x: Any, like: Any) -> Any:
    """``x`` (real) converted to the dtype of ``like`` (real or complex)."""
    return ew.convert_element_type(x, get_aval(like).dtype)


def _real(x: Any) -> Any:
    return ew.real(x) if _is_complex(x) else x


def _matmul(a: Any, b: Any) -> Any:
    """Batched matrix product of operands with equal batch shapes."""
    nb = get_aval(a).ndim - 2
    batch = tuple(range(nb))
    return ct.dot_general(a, b, (((nb + 1,), (nb,)), (batch, batch)))


def _tri_mask(shape: tuple, k: int, lower: bool) -> Any:
    """Boolean mask of the lower (``col <= row + k``) or upper (``col >= row + k``) triangle."""
    r = st.broadcasted_iota(dtypes.int32, shape[-2:], 0)
    c = st.broadcasted_iota(dtypes.int32, shape[-2:], 1)
    r = ew.add(r, ew._const(r, k))
    mask = ew.le(c, r) if lower else ew.ge(c, r)
    return st.broadcast_in_dim(mask, shape, (len(shape) - 2, len(shape) - 1))


def _tril(x: Any, k: int = 0) -> Any:
    return ew.select(_tri_mask(get_aval(x).shape, k, True), x, st.zeros_like_array(x))


def _triu(x: Any, k: int = 0) -> Any:
    return ew.select(_tri_mask(get_aval(x).shape, k, False), x, st.zeros_like_array(x))


def _eye(dtype, shape: tuple) -> Any:
    """Identity matrices of ``shape`` (``[..., m, n]``)."""
    r = st.broadcasted_iota(dtypes.int32, shape[-2:], 0)
    c = st.broadcasted_iota(dtypes.int32, shape[-2:], 1)
    e = ew.convert_element_type(ew.eq(r, c), dtype)
    return st.broadcast_in_dim(e, shape, (len(shape) - 2, len(shape) - 1))


def _diagonal(x: Any) -> Any:
    """Main diagonal of square matrices ``[..., n, n]`` -> ``[..., n]``."""
    aval = get_aval(x)
    return red.reduce_sum(ew.mul(x, _eye(aval.dtype, aval.shape)), (aval.ndim - 1,))


def _diag_matrix(d: Any) -> Any:
    """``[..., n]`` -> diagonal matrices ``[..., n, n]``."""
    aval = get_aval(d)
    shape = aval.shape + aval.shape[-1:]
    return ew.mul(st.broadcast_in_dim(d, shape, tuple(range(aval.ndim - 1)) + (aval.ndim,)), _eye(aval.dtype, shape))


def _row(v: Any) -> Any:
    """``[..., n]`` broadcast as rows of ``[..., 1, n]``."""
    s = get_aval(v).shape
    return st.reshape(v, s[:-1] + (1, s[-1]))


def symmetrize(x: Any) -> Any:
    """``(x + x^H) / 2`` over the trailing two axes."""
    return ew.div(ew.add(x, _H(x)), ew._const(x, 2))


def symmetric_product(a_matrix: Any, c_matrix: Any, *, alpha: float = 1., beta: float = 0.,
                      symmetrize_output: bool = False) -> Any:
    """``alpha a a^T + beta c`` for ``a`` of shape ``[..., m, n]`` and ``c`` of shape ``[..., m, m]``; with
    ``symmetrize_output`` the upper triangle is the transpose of the lower one."""
    a, c = get_aval(a_matrix), get_aval(c_matrix)
    if a.shape[-2] != c.shape[-1] or c.shape[-2] != c.shape[-1]:
        raise ValueError("symmetric_update expects a rectangular matrix of shape (m, n) and a square matrix of "
                         f"shape (n, n). Got shapes {a.shape[-2:]} and {c.shape[-2:]}.")
    prod = ew.add(ew.mul(ew._const(a_matrix, alpha), _matmul(a_matrix, _T(a_matrix))),
                  ew.mul(ew._const(c_matrix, beta), c_matrix))
    return ew.add(_tril(prod), _T(_tril(prod, -1))) if symmetrize_output else prod


def _from_triangle(x: Any, lower: bool = True) -> Any:
    """The symmetric (Hermitian) matrix whose stored triangle is that of ``x``: what LAPACK reads of such an
    input (the imaginary part of a complex diagonal is not read)."""
    strict = _tril(x, -1) if lower else _triu(x, 1)
    diag = _triu(_tril(x))
    return ew.add(ew.add(strict, _H(strict)), _as_dtype_of(_real(diag), x))


_DTYPES = (dtypes.float32, dtypes.float64, dtypes.complex64, dtypes.complex128)


def _check_matrix(name: str, x: ShapedArray, square: bool = False) -> None:
    if x.dtype not in _DTYPES and dtypes.kind(x.dtype) == "f":  # (JAX's CPU lowering error for float16 and bf16)
        raise NotImplementedError(f"Unsupported dtype {x.dtype.name}: {name} requires a float32, float64, complex64 "
                                  "or complex128 operand")
    if x.dtype not in _DTYPES:
        raise TypeError(f"{name} requires a float32, float64, complex64 or complex128 operand, got {x.dtype.name}")
    if x.ndim < 2:
        raise ValueError(f"{name} requires an operand with at least 2 dimensions, got shape {x.shape}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{name} requires square matrices in the trailing two axes, got shape {x.shape}")


def _batch_front(p: Primitive):
    """Batching rule of an op on trailing matrices: the batch axis joins the leading batch axes."""
    def rule(axis, vals, dims, **params):
        vals = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims)]
        out = p.bind(*vals, **params)
        return out, ([0] * len(out) if p.multiple_results else 0)
    batching_rules[p] = rule


def _zero_tangents(outs: list) -> list:
    return [Zero(get_aval(o).at_least_vspace()) for o in outs]


# --- cholesky ------------------------------------------------------------------------------------------------
def _cholesky_abstract(x: ShapedArray) -> ShapedArray:
    _check_matrix("cholesky", x, square=True)
    return ShapedArray(x.shape, x.dtype)


def _cholesky_jvp(primals, tangents):
    """Murray (2016), arXiv:1602.07527: dL = L phi(L^-1 dA L^-T), phi = lower triangle with halved diagonal."""
    (x,), (sigma_dot,) = primals, tangents
    L = _tril(cholesky_p.bind(x))
    if type(sigma_dot) is Zero:
        return L, Zero(get_aval(L).at_least_vspace())
    shape = get_aval(x).shape
    sigma_dot = _from_triangle(sigma_dot)
    tmp = triangular_solve(L, sigma_dot, left_side=False, transpose_a=True, conjugate_a=True, lower=True)
    inner = triangular_solve(L, tmp, left_side=True, transpose_a=False, lower=True)
    phi = ew.div(_tril(inner), ew.add(_eye(get_aval(x).dtype, shape), ew._const(inner, 1)))
    return L, _matmul(L, phi)


cholesky_p = Primitive("cholesky")
abstract_eval_rules[cholesky_p] = _cholesky_abstract
jvp_rules[cholesky_p] = _cholesky_jvp
_batch_front(cholesky_p)


def cholesky(x: Any, *, symmetrize_input: bool = True) -> Any:
    """Lower Cholesky factor ``L`` with ``x = L L^H``; NaNs where a matrix is not positive definite."""
    x = ew.asarray(x)
    _check_matrix("cholesky", get_aval(x), square=True)
    if symmetrize_input:
        x = symmetrize(x)
    return _tril(cholesky_p.bind(x))


# --- triangular_solve -------------------------------------------------------------------------------------------
def _ts_abstract(a: ShapedArray, b: ShapedArray, *, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    _check_matrix("triangular_solve", a, square=True)
    if b.dtype != a.dtype:
        raise TypeError(f"triangular_solve requires a and b of the same dtype, got {a.dtype.name} and {b.dtype.name}")
    if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2]:
        raise ValueError(f"triangular_solve requires a and b with the same batch dimensions, got shapes {a.shape} "
                         f"and {b.shape}")
    k = b.shape[-2] if left_side else b.shape[-1]
    if k != a.shape[-1]:
        side = "b.shape[-2]" if left_side else "b.shape[-1]"
        raise ValueError(f"triangular_solve: {side} = {k} must equal a.shape[-1] = {a.shape[-1]} "
                         f"(a {a.shape}, b {b.shape}, left_side={left_side})")
    return ShapedArray(b.shape, b.dtype)


def _ts_jvp_a(g_a, ans, a, b, *, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    """d(op(A)^-1 B) = -op(A)^-1 op(dA) X (left side), ordered so the cheaper product comes first."""
    m, n = get_aval(b).shape[-2:]
    k = 1 if unit_diagonal else 0
    g_a = _tril(g_a, -k) if lower else _triu(g_a, k)
    g_a = ew.neg(g_a)
    g_a = _T(g_a) if transpose_a else g_a
    g_a = _conj(g_a) if conjugate_a else g_a
    params = dict(left_side=left_side, lower=lower, transpose_a=transpose_a, conjugate_a=conjugate_a,
                  unit_diagonal=unit_diagonal)
    a_inverse = lambda rhs: triangular_solve_p.bind(a, rhs, **params)
    if left_side:
        return a_inverse(_matmul(g_a, ans)) if m > n else _matmul(a_inverse(g_a), ans)
    return a_inverse(_matmul(ans, g_a)) if m < n else _matmul(ans, a_inverse(g_a))


def _ts_jvp(primals, tangents, **params):
    a, b = primals
    t_a, t_b = tangents
    out = triangular_solve_p.bind(a, b, **params)
    t = Zero(get_aval(out).at_least_vspace())
    if type(t_b) is not Zero:
        t = triangular_solve_p.bind(a, t_b, **params)
    if type(t_a) is not Zero:
        d = _ts_jvp_a(t_a, out, a, b, **params)
        t = d if type(t) is Zero else ew.add(t, d)
    return out, t


def _ts_transpose(ct_, a, b, *, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    if is_undefined(a):
        raise ValueError("triangular_solve is not linear in its matrix argument `a`")
    if type(ct_) is Zero:
        return [None, Zero(b.aval)]
    ct_b = triangular_solve_p.bind(a, ct_, left_side=left_side, lower=lower, transpose_a=not transpose_a,
                                   conjugate_a=conjugate_a, unit_diagonal=unit_diagonal)
    return [None, ct_b]


def _ts_batch(axis, vals, dims, **params):
    a, b = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims)]
    return triangular_solve_p.bind(a, b, **params), 0


triangular_solve_p = Primitive("triangular_solve")
abstract_eval_rules[triangular_solve_p] = _ts_abstract
jvp_rules[triangular_solve_p] = _ts_jvp
transpose_rules[triangular_solve_p] = _ts_transpose
batching_rules[triangular_solve_p] = _ts_batch


def triangular_solve(a: Any, b: Any, *, left_side: bool = False, lower: bool = False, transpose_a: bool = False,
                     conjugate_a: bool = False, unit_diagonal: bool = False) -> Any:
    """Solve ``op(a) @ x = b`` (``left_side``) or ``x @ op(a) = b`` for triangular ``a``; op transposes if
    ``transpose_a`` and conjugates if ``conjugate_a`` (complex ``a`` only, as in JAX). Only the selected triangle
    of ``a`` is read. A ``b`` of one dimension less than ``a`` is a (batch of) vector(s), as in JAX."""
    a, b = ew.asarray(a), ew.asarray(b)
    conjugate_a = bool(conjugate_a) and _is_complex(a)
    singleton = get_aval(b).ndim == get_aval(a).ndim - 1
    if singleton:
        b = st.expand_dims(b, (get_aval(b).ndim if left_side else get_aval(b).ndim - 1,))
    out = triangular_solve_p.bind(a, b, left_side=bool(left_side), lower=bool(lower), transpose_a=bool(transpose_a),
                                  conjugate_a=conjugate_a, unit_diagonal=bool(unit_diagonal))
    if singleton:
        out = st.squeeze(out, (get_aval(out).ndim - 1 if left_side else get_aval(out).ndim - 2,))
    return out


# --- qr --------------------------------------------------------------------------------------------------------
def _qr_abstract(x: ShapedArray, *, full_matrices):
    _check_matrix("qr", x)
    *batch, m, n = x.shape
    k = m if full_matrices else min(m, n)
    return [ShapedArray((*batch, m, k), x.dtype), ShapedArray((*batch, k, n), x.dtype)]


def _thin_qr_jvp(q: Any, r: Any, dx: Any) -> tuple:
    """Townsend, "Differentiating the QR decomposition" (2018): ``(dq, dr)`` of reduced factors of an m x n input,
    m >= n (JAX's ``_thin_qr_jvp``)."""
    dx_rinv = triangular_solve(r, dx)
    qt_dx_rinv = _matmul(_H(q), dx_rinv)
    lower = _tril(qt_dx_rinv, -1)
    do = ew.sub(lower, _H(lower))
    if _is_complex(q):  # the imaginary part of the diagonal, which the skew-Hermitian part must carry
        imag_diag = ew.sub(qt_dx_rinv, _as_dtype_of(ew.real(qt_dx_rinv), qt_dx_rinv))
        do = ew.add(do, ew.mul(_eye(get_aval(q).dtype, get_aval(do).shape), imag_diag))
    dq = ew.add(_matmul(q, ew.sub(do, qt_dx_rinv)), dx_rinv)
    dr = _matmul(ew.sub(qt_dx_rinv, do), r)
    return dq, dr


def _qr_jvp(primals, tangents, *, full_matrices):
    """JAX's QR derivative: the thin rule for m >= n; a wide input as its leading square block (``r``'s other
    columns are ``q^H x``); a tall input's complete ``q`` by Roberts & Roberts (arXiv 2409.13374, eqs. 32-33)."""
    (x,), (dx,) = primals, tangents
    q, r = qr_p.bind(x, full_matrices=full_matrices)
    if type(dx) is Zero:
        return [q, r], _zero_tangents([q, r])
    *_, m, n = get_aval(x).shape
    cols = lambda a, start, stop: st.slice_in_dim(a, start, stop, 1, get_aval(a).ndim - 1)
    rows = lambda a, start, stop: st.slice_in_dim(a, start, stop, 1, get_aval(a).ndim - 2)
    if m < n:
        dq, dr1 = _thin_qr_jvp(q, cols(r, 0, m), cols(dx, 0, m))
        dr2 = ew.add(_matmul(_H(dq), cols(x, m, n)), _matmul(_H(q), cols(dx, m, n)))
        return [q, r], [dq, st.concatenate([dr1, dr2], get_aval(dr1).ndim - 1)]
    q_mn = cols(q, 0, n) if full_matrices else q
    dq_mn, dr_nn = _thin_qr_jvp(q_mn, rows(r, 0, n) if full_matrices else r, dx)
    if not full_matrices or m == n:
        return [q, r], [dq_mn, dr_nn]
    from ..numpy.linalg import solve  # the numpy layer imports this module
    q_nn, q_pn, dq_nn, dq_pn = rows(q_mn, 0, n), rows(q_mn, n, m), rows(dq_mn, 0, n), rows(dq_mn, n, m)
    z_pn_h = solve(_H(ew.sub(q_nn, _eye(get_aval(q).dtype, get_aval(q_nn).shape))), _H(q_pn))  # Z = Q_pn (Q_nn - I)^-1
    z_pn = _H(z_pn_h)
    dq_mp = ew.sub(_matmul(dq_mn, z_pn_h), _matmul(ew.add(q_mn, _matmul(cols(q, n, m), z_pn)),
                                                  _H(ew.sub(dq_pn, _matmul(z_pn, dq_nn)))))
    dq = st.concatenate([dq_mn, dq_mp], get_aval(dq_mn).ndim - 1)
    dr = st.concatenate([dr_nn, st.full(get_aval(dr_nn).shape[:-2] + (m - n, n), 0, get_aval(dr_nn).dtype)],
                        get_aval(dr_nn).ndim - 2)
    return [q, r], [dq, dr]


qr_p = Primitive("qr", multiple_results=True)
abstract_eval_rules[qr_p] = _qr_abstract
jvp_rules[qr_p] = _qr_jvp
_batch_front(qr_p)


def qr(x: Any, *, pivoting: bool = False, full_matrices: bool = True, use_magma: bool | None = None) -> tuple:
    """``(q, r)`` with orthonormal (unitary) columns in ``q`` and upper-triangular ``r`` (Householder, LAPACK's
    signs); with ``pivoting``, ``(q, r, p)`` with ``x[..., p] = q r`` and p geqp3's column order (the
    derivative treats ``p`` as constant, as JAX)."""
    x = ew.asarray(x)
    if not pivoting:
        return tuple(qr_p.bind(x, full_matrices=bool(full_matrices)))
    p = qr_pivots(x)
    cols = st.broadcast_in_dim(p, get_aval(x).shape, tuple(range(get_aval(x).ndim - 2)) + (get_aval(x).ndim - 1,))
    q, r = qr_p.bind(take_along_axis(x, cols, get_aval(x).ndim - 1), full_matrices=bool(full_matrices))
    return q, r, p


# --- svd -----------------------------------------------------------------------------------------------------------
def _svd_abstract(x: ShapedArray, *, full_matrices, compute_uv):
    _check_matrix("svd", x)
    *batch, m, n = x.shape
    k = min(m, n)
    s = ShapedArray((*batch, k), dtypes.real_dtype(x.dtype))
    if not compute_uv:
        return [s]
    return [s, ShapedArray((*batch, m, m if full_matrices else k), x.dtype),
            ShapedArray((*batch, n if full_matrices else k, n), x.dtype)]


def _svd_jvp(primals, tangents, *, full_matrices, compute_uv):
    """Townsend, "Differentiating the singular value decomposition" (2016), as JAX implements it."""
    (A,), (dA,) = primals, tangents
    outs = svd_p.bind(A, full_matrices=full_matrices, compute_uv=compute_uv)
    if type(dA) is Zero:
        return outs, _zero_tangents(outs)
    m, n = get_aval(A).shape[-2:]
    if compute_uv and full_matrices and m != n:  # (square matrices: the full SVD is the reduced one)
        raise NotImplementedError("Singular value decomposition JVP not implemented for full matrices")
    s, U, Vt = svd_p.bind(A, full_matrices=False, compute_uv=True)
    Ut, V = _H(U), _H(Vt)
    s_dim = _row(s)
    dS = _matmul(_matmul(Ut, dA), V)
    ds = _diagonal(_real(dS))
    if not compute_uv:
        return outs, [ds]
    kk = get_aval(dS).shape
    s_b = st.broadcast_in_dim(s_dim, kk, tuple(range(len(kk))))
    s_diffs = ew.mul(ew.add(s_b, _T(s_b)), ew.sub(s_b, _T(s_b)))
    eye = _eye(get_aval(s).dtype, kk)
    F = _as_dtype_of(ew.sub(ew.div(ew._const(s, 1), ew.add(s_diffs, eye)), eye), A)
    dSS = ew.mul(_as_dtype_of(s_b, A), dS)
    SdS = ew.mul(_as_dtype_of(_T(s_b), A), dS)
    s_zeros = ew.convert_element_type(ew.eq(s, ew._const(s, 0)), get_aval(s).dtype)
    s_inv = ew.sub(ew.div(ew._const(s, 1), ew.add(s, s_zeros)), s_zeros)
    dUdV_diag = ew.mul(ew.mul(ew._const(dS, 0.5), ew.sub(dS, _H(dS))), _as_dtype_of(_diag_matrix(s_inv), A))
    dU = _matmul(U, ew.add(ew.mul(F, ew.add(dSS, _H(dSS))), dUdV_diag))
    dV = _matmul(V, ew.mul(F, ew.add(SdS, _H(SdS))))
    if m > n:
        dAV = _matmul(dA, V)
        s_cols = _as_dtype_of(st.broadcast_in_dim(s_dim, get_aval(dAV).shape, tuple(range(get_aval(dAV).ndim))), A)
        dU = ew.add(dU, ew.div(ew.sub(dAV, _matmul(U, _matmul(Ut, dAV))), s_cols))
    if n > m:
        dAHU = _matmul(_H(dA), U)
        s_cols = _as_dtype_of(st.broadcast_in_dim(s_dim, get_aval(dAHU).shape, tuple(range(get_aval(dAHU).ndim))), A)
        dV = ew.add(dV, ew.div(ew.sub(dAHU, _matmul(V, _matmul(Vt, dAHU))), s_cols))
    return outs, [ds, dU, _H(dV)]


svd_p = Primitive("svd", multiple_results=True)
abstract_eval_rules[svd_p] = _svd_abstract
jvp_rules[svd_p] = _svd_jvp
_batch_front(svd_p)


class SvdAlgorithm(enum.Enum):
    """``lax.linalg.svd``'s algorithm: accepted for JAX compatibility; every backend computes the same SVD."""
    DEFAULT = "default"
    QR = "QR"
    JACOBI = "Jacobi"
    POLAR = "polar"
    DIVIDE_AND_CONQUER = "divide_and_conquer"


def svd(x: Any, *, full_matrices: bool = True, compute_uv: bool = True, subset_by_index: tuple | None = None,
        algorithm: SvdAlgorithm | None = None) -> Any:
    """``(u, s, vh)`` (or ``s`` alone) with real singular values in descending order, as ``lax.linalg.svd``;
    ``subset_by_index=(start, end)`` keeps the singular values (and vectors) ``start:end``."""
    if algorithm is not None and not isinstance(algorithm, SvdAlgorithm):
        raise TypeError(f"svd algorithm must be None or a lax.linalg.SvdAlgorithm, got {algorithm!r}")
    x = ew.asarray(x)
    if subset_by_index is not None:
        rank = min(get_aval(x).shape[-2:])
        start, end = subset_by_index
        if full_matrices and (start, end) != (0, rank):
            raise ValueError("full_matrices and subset_by_index cannot both be set")
        full_matrices = False
    outs = svd_p.bind(x, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))
    if subset_by_index is not None:
        outs = [outs[0][..., start:end]] + ([outs[1][..., start:end], outs[2][..., start:end, :]] if compute_uv
                                            else [])
    if not compute_uv:
        return outs[0]
    s, u, vt = outs
    return u, s, vt


# --- eigh -------------------------------------------------------------------------------------------------------------
def _eigh_abstract(x: ShapedArray, *, lower):
    _check_matrix("eigh", x, square=True)
    return [ShapedArray(x.shape, x.dtype), ShapedArray(x.shape[:-1], dtypes.real_dtype(x.dtype))]


def _eigh_jvp(primals, tangents, *, lower):
    """dw = Re diag(V^H dA V), dV = V (F * (V^H dA V)) with F_ij = 1 / (w_j - w_i) off the diagonal."""
    (a,), (a_dot,) = primals, tangents
    v, w = eigh_p.bind(a, lower=lower)
    if type(a_dot) is Zero:
        return [v, w], _zero_tangents([v, w])
    shape = get_aval(a).shape
    eye = _eye(get_aval(a).dtype, shape)
    w_row = st.broadcast_in_dim(_as_dtype_of(_row(w), a), shape, tuple(range(len(shape))))
    Fmat = ew.sub(ew.integer_pow(ew.add(eye, ew.sub(w_row, _T(w_row))), -1), eye)
    a_dot = _from_triangle(a_dot, lower)
    vdag_adot_v = _matmul(_matmul(_H(v), a_dot), v)
    dv = _matmul(v, ew.mul(Fmat, vdag_adot_v))
    dw = _diagonal(_real(vdag_adot_v))
    return [v, w], [dv, dw]


eigh_p = Primitive("eigh", multiple_results=True)
abstract_eval_rules[eigh_p] = _eigh_abstract
jvp_rules[eigh_p] = _eigh_jvp
_batch_front(eigh_p)


def eigh(x: Any, *, lower: bool = True, symmetrize_input: bool = True, sort_eigenvalues: bool = True) -> tuple:
    """``(v, w)``: eigenvectors (columns) and ascending (real) eigenvalues of symmetric or Hermitian matrices, as
    ``lax.linalg.eigh``. Eigenvalues are always sorted."""
    x = ew.asarray(x)
    _check_matrix("eigh", get_aval(x), square=True)
    if symmetrize_input:
        x = symmetrize(x)
    v, w = eigh_p.bind(x, lower=bool(lower))
    return v, w


# --- eig (nonsymmetric) ----------------------------------------------------------------------------------------------
def _eig_abstract(x: ShapedArray):
    """Split-complex results, like ``fft``: eigenvalues ``(re, im)`` and right eigenvectors ``(re, im)``."""
    _check_matrix("eig", x, square=True)
    part = dtypes.real_dtype(x.dtype)
    w, v = ShapedArray(x.shape[:-1], part), ShapedArray(x.shape, part)
    return [w, w, v, v]


def _eig_vec_jvp(w: Any, v: Any, da: Any) -> tuple:
    """JAX's rule (nondegenerate perturbation theory, Giles 2008, sec. 3.1): with P = V^-1 dA V, dw = diag(P) and
    dv_j = u_j + c_j v_j for U = V (F * P); c_j keeps LAPACK's normalisation of v_j (unit 2-norm, real largest
    component k_j): c_j = -Re(v_j^H u_j) - i Im(u_kj) / v_kj."""
    from ..numpy.linalg import solve
    shape = get_aval(v).shape
    nd = len(shape)
    eye = _eye(get_aval(v).dtype, shape)
    w_row = st.broadcast_in_dim(_row(w), shape, tuple(range(nd)))
    Fmat = ew.sub(ew.integer_pow(ew.add(eye, ew.sub(w_row, _T(w_row))), -1), eye)
    P = _matmul(solve(v, da), v)
    U = _matmul(v, ew.mul(Fmat, P))
    c = ew.complex(ew.neg(ew.real(_col_sum(ew.mul(ew.conj(v), U)))),
                   ew.neg(ew.div(ew.imag(_largest_component(v, U)), ew.real(_largest_component(v, v)))))
    return _diagonal(P), ew.add(U, _scale_columns(v, c))


def _col_sum(x: Any) -> Any:
    return red.reduce_sum(x, (get_aval(x).ndim - 2,))


def _scale_columns(x: Any, c: Any) -> Any:
    """Column j of ``x`` times ``c[..., j]``."""
    shape = get_aval(x).shape
    return ew.mul(x, st.broadcast_in_dim(_row(c), shape, tuple(range(len(shape)))))


def _largest_component(v: Any, x: Any) -> Any:
    """Per column j, the element of ``x`` in the row where column j of ``v`` has its largest modulus."""
    shape = get_aval(v).shape
    nd = len(shape)
    k = red.argmax(ew.abs(v), nd - 2, dtypes.int32)
    rows = st.broadcasted_iota(dtypes.int32, shape, nd - 2)
    mask = ew.eq(rows, st.broadcast_in_dim(k, shape, tuple(range(nd - 2)) + (nd - 1,)))
    return _col_sum(ew.select(mask, x, st.zeros_like_array(x)))


def _left_eigenvectors(vr: Any) -> Any:
    """Left eigenvectors (u_j^H A = w_j u_j^H) from the right ones: the columns of V^-H, scaled as LAPACK's geev
    scales eigenvectors (unit 2-norm, largest component real and positive)."""
    from ..numpy.linalg import inv
    if get_aval(vr).shape[-1] == 0:
        return vr
    u = _H(inv(vr))
    u = _scale_columns(u, _as_dtype_of(ew.rsqrt(_col_sum(ew.real(ew.mul(u, ew.conj(u))))), u))
    big = _largest_component(u, u)
    return _scale_columns(u, ew.div(ew.conj(big), _as_dtype_of(ew.abs(big), big)))


def _eig_jvp(primals, tangents):
    """Eigenvalues and eigenvectors (``_eig_vec_jvp``), for distinct eigenvalues."""
    (a,), (da,) = primals, tangents
    outs = eig_p.bind(a)
    if type(da) is Zero or get_aval(a).shape[-1] == 0:
        return outs, _zero_tangents(outs)
    w, v = ew.complex(outs[0], outs[1]), ew.complex(outs[2], outs[3])
    dw, dv = _eig_vec_jvp(w, v, _as_dtype_of(da, v) if not _is_complex(da) else da)
    return outs, [ew.real(dw), ew.imag(dw), ew.real(dv), ew.imag(dv)]


eig_p = Primitive("eig", multiple_results=True)
abstract_eval_rules[eig_p] = _eig_abstract
jvp_rules[eig_p] = _eig_jvp
_batch_front(eig_p)


def eig(x: Any, *, compute_left_eigenvectors: bool = True, compute_right_eigenvectors: bool = True,
        enable_eigvec_derivs: bool = False, implementation: Any = None, use_magma: Any = None) -> list:
    """``[w, vl, vr]`` as ``lax.linalg.eig``: the complex eigenvalues and the left and right eigenvectors (columns,
    LAPACK's normalisation: unit 2-norm, largest component real) of square matrices, ``vl`` and ``vr`` as asked.
    Eigenvector derivatives (distinct eigenvalues) are always available: ``enable_eigvec_derivs`` is accepted
    for compatibility, as are ``implementation`` and ``use_magma`` (CPU LAPACK is the only implementation)."""
    x = ew.asarray(x)
    _check_matrix("eig", get_aval(x), square=True)
    w_re, w_im, v_re, v_im = eig_p.bind(x)
    w, vr = ew.complex(w_re, w_im), ew.complex(v_re, v_im)
    return [w] + ([_left_eigenvectors(vr)] if compute_left_eigenvectors else []) + \
        ([vr] if compute_right_eigenvectors else [])


# --- lu ------------------------------------------------------------------------------------------------------------
def _lu_abstract(x: ShapedArray):
    _check_matrix("lu", x)
    *batch, m, n = x.shape
    return [ShapedArray(x.shape, x.dtype), ShapedArray((*batch, min(m, n)), dtypes.int32),
            ShapedArray((*batch, m), dtypes.int32)]


def _lu_jvp(primals, tangents):
    """De Hoog, Anderssen & Lukas: with F = L^-1 P dA U^-1, dL = L tril(F, -1) and dU = triu(F) U."""
    (a,), (a_dot,) = primals, tangents
    lu_, pivots, perm = lu_p.bind(a)
    outs = [lu_, pivots, perm]
    if type(a_dot) is Zero:
        return outs, _zero_tangents(outs)
    shape = get_aval(a).shape
    nd = len(shape)
    m, n = shape[-2:]
    k = min(m, n)
    dtype = get_aval(a).dtype
    perm_b = st.broadcast_in_dim(perm, shape, tuple(range(nd - 1)))
    x = take_along_axis(a_dot, perm_b, nd - 2)
    zero = ew._const(lu_, 0)
    l_pad = [(0, 0, 0)] * nd
    l_pad[-1] = (0, m - k, 0)
    l = st.pad(_tril(st.slice_in_dim(lu_, 0, k, 1, nd - 1), -1), zero, l_pad)
    l = ew.add(l, _eye(dtype, shape[:-2] + (m, m)))
    u_pad = [(0, 0, 0)] * nd
    u_pad[-2] = (0, n - k, 0)
    u = st.pad(_triu(st.slice_in_dim(lu_, 0, k, 1, nd - 2)), zero, u_pad)
    if n > k:
        u_eye = st.pad(_eye(dtype, (n - k, n - k)), zero, ((k, 0, 0), (k, 0, 0)))
        u = ew.add(u, st.broadcast_in_dim(u_eye, shape[:-2] + (n, n), (nd - 2, nd - 1)))
    la = triangular_solve(l, x, left_side=True, transpose_a=False, lower=True, unit_diagonal=True)
    lau = triangular_solve(u, la, left_side=False, transpose_a=False, lower=False)
    lu_dot = ew.add(_matmul(l, _tril(lau, -1)), _matmul(_triu(lau), u))
    return outs, [lu_dot, Zero(get_aval(pivots).at_least_vspace()), Zero(get_aval(perm).at_least_vspace())]


lu_p = Primitive("lu", multiple_results=True)
abstract_eval_rules[lu_p] = _lu_abstract
jvp_rules[lu_p] = _lu_jvp
_batch_front(lu_p)


def lu(x: Any) -> tuple:
    """``(lu, pivots, permutation)``: LU with partial pivoting, ``x[perm] = L @ U`` with unit-diagonal L
    below the diagonal of ``lu`` and U on and above it (int32 pivots and permutation, as in JAX)."""
    lu_, pivots, perm = lu_p.bind(ew.asarray(x))
    return lu_, pivots, perm


def lu_pivots_to_permutation(pivots: Any, permutation_size: int) -> Any:
    """The permutation that applying the row swaps ``i <-> pivots[..., i]`` in order makes of ``arange``."""
    pivots = ew.asarray(pivots)
    shape = get_aval(pivots).shape
    batch, k = shape[:-1], shape[-1]
    nd = len(shape)
    iota = st.broadcasted_iota(dtypes.int32, batch + (permutation_size,), nd - 1)
    pivots = ew.convert_element_type(pivots, dtypes.int32)
    perm = iota
    for i in range(k):
        j = st.index_in_dim(pivots, i, nd - 1, keepdims=True)
        j_b = st.broadcast_in_dim(j, batch + (permutation_size,), tuple(range(nd)))
        p_i = st.broadcast_in_dim(st.index_in_dim(perm, i, nd - 1, keepdims=True), batch + (permutation_size,),
                                  tuple(range(nd)))
        p_j = take_along_axis(perm, j_b, nd - 1)
        is_i = ew.eq(iota, ew._const(iota, i))
        perm = ew.select(is_i, p_j, ew.select(ew.eq(iota, j_b), p_i, perm))
    return perm


DECOMPOSITIONS = (cholesky_p, triangular_solve_p, qr_p, svd_p, eigh_p, eig_p, lu_p)
BY_NAME = {p.name: p for p in DECOMPOSITIONS}


# --- complex decompositions on part buffers (made by core.complex_lowering) ---------------------------------------
def complex_operands(parts: Sequence[Any]) -> list:
    """``(re, im)`` pairs, flattened, as complex operands (avals or host arrays alike)."""
    return [(re, im) for re, im in zip(parts[::2], parts[1::2])]


def _complex_linalg_abstract(*parts: ShapedArray, op, params):
    from ..complex_lowering import real_avals
    if len(parts) % 2 or any(a.dtype not in (dtypes.float32, dtypes.float64) for a in parts):
        raise TypeError(f"complex_linalg takes (real, imaginary) float32 or float64 part pairs, got "
                        f"{', '.join(a.str_short() for a in parts)}")
    avals = [re.update(dtype=dtypes.complex_dtype(re.dtype)) for re, _ in complex_operands(parts)]
    outs = abstract_eval_rules[BY_NAME[op]](*avals, **dict(params))
    return real_avals(outs if isinstance(outs, list) else [outs])


def _complex_linalg_run(parts: Sequence[Any], op: str, params: tuple) -> list:
    """``op`` on the complex operands made of ``parts``, its complex results split again."""
    outs = BY_NAME[op].bind(*[ew.complex(re, im) for re, im in complex_operands(parts)], **dict(params))
    flat = []
    for o in (outs if BY_NAME[op].multiple_results else [outs]):
        flat += [ew.real(o), ew.imag(o)] if _is_complex(o) else [o]
    return flat


def _complex_linalg_jvp(primals, tangents, *, op, params):
    from ..interpreters.jvp import jvp_flat
    return jvp_flat(lambda *parts: _complex_linalg_run(parts, op, params), primals, tangents, instantiate_zeros=False)


complex_linalg_p = Primitive("complex_linalg", multiple_results=True)
abstract_eval_rules[complex_linalg_p] = _complex_linalg_abstract
jvp_rules[complex_linalg_p] = _complex_linalg_jvp
_batch_front(complex_linalg_p)

from .tridiagonal import tridiagonal_solve, tridiagonal_solve_p  # noqa: E402  (lax.linalg re-exports it)

LINALG = DECOMPOSITIONS + (complex_linalg_p, tridiagonal_solve_p)

from ..linalg_schur import hessenberg, schur  # noqa: E402,F401  (compositions over lax)
from ..linalg_householder import geqrf, householder_product, ormqr, qr_pivots, tridiagonal  # noqa: E402,F401

__all__ = ["SvdAlgorithm", "cholesky", "eig", "eigh", "geqrf", "hessenberg", "householder_product", "lu",
           "lu_pivots_to_permutation", "ormqr", "qr", "schur", "svd", "symmetric_product", "symmetrize",
           "triangular_solve", "tridiagonal", "tridiagonal_solve"]
