"""``jax.scipy.linalg``: scipy's conventions (``lu`` returns ``p, l, u`` with ``a = p @ l @ u``, Cholesky is
upper by default, ...) over the linalg primitives and ``jnp.linalg``."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import dtypes
from .. import numpy as jnp
from ..numpy import linalg as nla
from ..primitives import linalg as la
from ..primitives.control_flow import fori_loop


def _square(name: str, a: Any) -> Any:
    return nla._matrix(name, a, square=True)


def _float_pair(a: Any, b: Any) -> tuple:
    a = _square("solve", a)
    (b,) = jnp._util.promote_to_inexact(jnp.asarray(b))
    dt = dtypes.result_type(a, b)
    return a.astype(dt), b.astype(dt)


def cholesky(a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """The Cholesky factor: upper ``U`` with ``a = U^H U`` unless ``lower``, from that triangle of ``a`` alone (as
    scipy and JAX: the other is not read)."""
    a = _square("cholesky", a)
    L = la.cholesky(a if lower else nla._herm(a), symmetrize_input=False)
    return L if lower else nla._herm(L)


def cho_factor(a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> tuple:
    """``(c, lower)`` for cho_solve."""
    return cholesky(a, lower=lower), lower


def cho_solve(c_and_lower: tuple, b: Any, overwrite_b: bool = False, check_finite: bool = True) -> Any:
    """Solve ``a x = b`` from ``cho_factor(a)``."""
    c, lower = c_and_lower
    c, b = _float_pair(c, b)
    vector = b.ndim == c.ndim - 1
    if vector:
        b = b[..., None]
    if lower:
        y = la.triangular_solve(c, b, left_side=True, lower=True)
        x = la.triangular_solve(c, y, left_side=True, lower=True, transpose_a=True, conjugate_a=True)
    else:
        y = la.triangular_solve(c, b, left_side=True, lower=False, transpose_a=True, conjugate_a=True)
        x = la.triangular_solve(c, y, left_side=True, lower=False)
    return x[..., 0] if vector else x


def solve_triangular(a: Any, b: Any, trans: int | str = 0, lower: bool = False, unit_diagonal: bool = False,
                     overwrite_b: bool = False, debug: Any = None, check_finite: bool = True) -> Any:
    """Solve ``op(a) x = b`` for triangular ``a``; ``trans`` is 0/'N', 1/'T' or 2/'C'."""
    a, b = _float_pair(a, b)
    transpose = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}.get(trans)
    if transpose is None:
        raise ValueError(f"Invalid 'trans' value {trans!r}; use 0, 1, 2, 'N', 'T' or 'C'")
    vector = b.ndim == a.ndim - 1
    if vector:
        b = b[..., None]
    x = la.triangular_solve(a, b, left_side=True, lower=lower, transpose_a=transpose, conjugate_a=trans in (2, "C"),
                            unit_diagonal=unit_diagonal)
    return x[..., 0] if vector else x


def solve(a: Any, b: Any, lower: bool = False, overwrite_a: bool = False, overwrite_b: bool = False,
          debug: bool = False, check_finite: bool = True, assume_a: str = "gen") -> Any:
    """Solve ``a x = b``; ``assume_a='pos'`` uses a Cholesky factorisation, others LU."""
    if assume_a not in ("gen", "sym", "her", "pos"):
        raise ValueError(f"Expected assume_a to be one of 'gen', 'sym', 'her' or 'pos'; got {assume_a!r}")
    if assume_a == "pos":
        return cho_solve(cho_factor(a, lower=lower), b)
    a, b = _float_pair(a, b)
    vector = b.ndim == a.ndim - 1
    x = nla.solve(a, b[..., None] if vector else b)
    return x[..., 0] if vector else x


def inv(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    return nla.inv(a)


def det(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    return nla.det(a)


def _permutation_matrix(perm: Any, dtype) -> Any:
    """``p`` with ``p[perm[i], i] = 1``, i.e. ``a = p @ l @ u`` when ``a[perm] = l @ u``."""
    m = perm.shape[-1]
    return (perm[..., None, :] == jnp.arange(m, dtype=perm.dtype)[:, None]).astype(dtype)


def lu(a: Any, permute_l: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> tuple:
    """``(p, l, u)`` with ``a = p @ l @ u`` (or ``(p @ l, u)`` if ``permute_l``)."""
    a = nla._matrix("lu", a)
    lu_, _, perm = la.lu(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    l = jnp.tril(lu_[..., :, :k], -1) + jnp.eye(m, k, dtype=a.dtype)
    u = jnp.triu(lu_[..., :k, :])
    p = _permutation_matrix(perm, a.dtype)
    return (jnp.matmul(p, l), u) if permute_l else (p, l, u)


def lu_factor(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> tuple:
    """``(lu, piv)``: the packed factors and LAPACK-style pivot indices (row i was swapped with piv[i])."""
    lu_, pivots, _ = la.lu(_square("lu_factor", a))
    return lu_, pivots


def lu_solve(lu_and_piv: tuple, b: Any, trans: int = 0, overwrite_b: bool = False, check_finite: bool = True) -> Any:
    """Solve ``a x = b`` (trans=0), ``a^T x = b`` (trans=1) or ``a^H x = b`` (trans=2) from ``lu_factor(a)``."""
    lu_, piv = lu_and_piv
    lu_, b = _float_pair(lu_, b)
    if trans not in (0, 1, 2):
        raise ValueError(f"Invalid 'trans' value {trans!r}; use 0, 1 or 2")
    perm = la.lu_pivots_to_permutation(piv, lu_.shape[-1])
    vector = b.ndim == lu_.ndim - 1
    if vector:
        b = b[..., None]
    batch = np.broadcast_shapes(lu_.shape[:-2], b.shape[:-2])
    lu_b = jnp.broadcast_to(lu_, batch + lu_.shape[-2:])
    perm_b = jnp.broadcast_to(perm, batch + perm.shape[-1:])
    x = nla.lu_solve_factored(lu_b, perm_b, jnp.broadcast_to(b, batch + b.shape[-2:]), trans=trans)
    return x[..., 0] if vector else x


def qr(a: Any, overwrite_a: bool = False, lwork: Any = None, mode: str = "full", pivoting: bool = False,
       check_finite: bool = True) -> Any:
    """``(q, r)`` for mode 'full'/'economic', ``(r,)`` for mode 'r'."""
    if pivoting:
        raise NotImplementedError("qr(pivoting=True) is not supported by portax")
    if mode not in ("full", "economic", "r"):
        raise ValueError(f"Unsupported QR decomposition mode '{mode}'")
    q, r = la.qr(nla._matrix("qr", a), full_matrices=mode != "economic")
    return (r,) if mode == "r" else (q, r)


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, overwrite_a: bool = False,
        check_finite: bool = True, lapack_driver: str = "gesdd") -> Any:
    return nla.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)


def eigh(a: Any, b: Any = None, lower: bool = True, eigvals_only: bool = False, overwrite_a: bool = False,
         overwrite_b: bool = False, turbo: bool = True, eigvals: Any = None, type: int = 1,
         check_finite: bool = True) -> Any:
    """``(w, v)`` (or ``w``) of a symmetric matrix; the generalized problem (``b``) is not supported."""
    if b is not None:
        raise NotImplementedError("Only the b=None case of eigh is implemented")
    if eigvals is not None:
        raise NotImplementedError("Only the eigvals=None case of eigh is implemented.")
    w, v = nla.eigh(a, UPLO="L" if lower else "U")
    return w if eigvals_only else (w, v)


def _pade_coefficients(m: int) -> list[float]:
    """Coefficients b_j of the [m/m] Padé approximant of exp: (2m-j)! m! / ((2m)! j! (m-j)!)."""
    return [math.factorial(2 * m - j) * math.factorial(m) / (math.factorial(2 * m) * math.factorial(j) *
                                                             math.factorial(m - j)) for j in range(m + 1)]


# Higham (2005), "The scaling and squaring method for the matrix exponential revisited": theta_m bounds
# ||A||_1 for which the [m/m] Padé approximant is accurate to unit roundoff (m = 13 double, m = 7 single).
_PADE = {np.dtype(np.float64): (13, 5.371920351148152), np.dtype(np.float32): (7, 3.925724783138660)}


def expm(A: Any, *, upper_triangular: bool = False, max_squarings: int = 16) -> Any:
    """Matrix exponential by scaling and squaring with a Padé approximant (Higham 2005)."""
    A = _square("expm", A)
    if A.dtype not in _PADE:
        raise TypeError(f"expm: A.dtype={A.dtype} is not supported (use float32 or float64)")
    m, theta = _PADE[A.dtype]
    norm1 = jnp.max(jnp.sum(jnp.abs(A), axis=-2), axis=-1)
    n_sq = jnp.clip(jnp.ceil(jnp.log2(jnp.maximum(norm1, 1e-30) / theta)), 0, max_squarings)
    scaled = A / jnp.exp2(n_sq)[..., None, None]
    eye = jnp.broadcast_to(jnp.eye(A.shape[-1], dtype=A.dtype), A.shape)
    b = _pade_coefficients(m)
    powers = [eye, scaled]
    for _ in range(2, m + 1):
        powers.append(jnp.matmul(powers[-1], scaled))
    U = sum(b[j] * powers[j] for j in range(1, m + 1, 2))
    V = sum(b[j] * powers[j] for j in range(0, m + 1, 2))
    R = nla.solve(V - U, V + U)

    def square(i, r):
        return jnp.where((i.astype(n_sq.dtype) < n_sq)[..., None, None], jnp.matmul(r, r), r)

    return fori_loop(0, max_squarings, square, R)


def block_diag(*arrs: Any) -> Any:
    """A block-diagonal matrix from 0-, 1- or 2-D blocks."""
    if not arrs:
        return jnp.zeros((1, 0))
    blocks = [jnp.atleast_2d(jnp.asarray(a)) for a in arrs]
    dt = dtypes.result_type(*blocks)
    rows = sum(b.shape[0] for b in blocks)
    cols = sum(b.shape[1] for b in blocks)
    out = jnp.zeros((rows, cols), dt)
    r = c = 0
    for b in blocks:
        out = out.at[r:r + b.shape[0], c:c + b.shape[1]].set(b.astype(dt))
        r, c = r + b.shape[0], c + b.shape[1]
    return out


def toeplitz(c: Any, r: Any = None) -> Any:
    """The Toeplitz matrix with first column ``c`` and first row ``r`` (default ``c``)."""
    c = jnp.ravel(jnp.asarray(c))
    r = c if r is None else jnp.ravel(jnp.asarray(r))
    vals = jnp.concatenate([jnp.flip(r[1:]), c])
    n, m = c.shape[0], r.shape[0]
    idx = (m - 1) + jnp.arange(n)[:, None] - jnp.arange(m)[None, :]
    return vals[idx]


def hilbert(n: int) -> Any:
    i = jnp.arange(n, dtype=dtypes.default_float())
    return 1.0 / (i[:, None] + i[None, :] + 1.0)


def polar(a: Any, side: str = "right", *, method: str = "svd", eps: float | None = None,
          max_iterations: int | None = None) -> tuple:
    """``(u, p)`` with ``a = u p`` (right) or ``a = p u`` (left), u unitary and p Hermitian PSD."""
    if method != "svd":
        raise NotImplementedError(f"polar method {method!r} is not supported; use 'svd'")
    U, s, Vh = nla.svd(nla._matrix("polar", a), full_matrices=False)
    u = jnp.matmul(U, Vh)
    if side == "right":
        p = jnp.matmul(jnp.conj(jnp.swapaxes(Vh, -1, -2)) * s[..., None, :], Vh)
    elif side == "left":
        p = jnp.matmul(U * s[..., None, :], jnp.conj(jnp.swapaxes(U, -1, -2)))
    else:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return u, p


__all__ = ["block_diag", "cho_factor", "cho_solve", "cholesky", "det", "eigh", "expm", "hilbert", "inv", "lu",
           "lu_factor", "lu_solve", "polar", "qr", "solve", "solve_triangular", "svd", "toeplitz"]
