"""``jax.scipy.linalg``: scipy's conventions (``lu`` returns ``p, l, u`` with ``a = p @ l @ u``, Cholesky is
upper by default, ...) over the linalg primitives and ``jnp.linalg``."""
from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

from .. import dtypes
from .. import numpy as jnp
from ..numpy import linalg as nla
from ..primitives import linalg as la
from .expm import expm, expm_frechet  # noqa: F401
from .special_matrices import *  # noqa: F401,F403
from .special_matrices import __all__ as _special_matrices


def _square(name: str, a: Any) -> Any:
    return nla._matrix(name, a, square=True)


def _float_pair(a: Any, b: Any) -> tuple:
    a = _square("solve", a)
    (b,) = jnp._util.promote_to_inexact(jnp.asarray(b))
    dt = dtypes.result_type(a, b)
    return a.astype(dt), b.astype(dt)


def _broadcast_solve(name: str, solve2: Any, a: Any, b: Any) -> Any:
    """``solve2(a, b)`` (square ``a``, ``b`` of one column or more) over broadcast batch dimensions, as JAX: ``b`` is
    a vector if 1-D, or (deprecated) if it has one dimension less than ``a`` and the same last one."""
    vector = b.ndim == 1
    if not vector and a.ndim == b.ndim + 1 and a.shape[-1] == b.shape[-1]:
        warnings.warn(f"jax.scipy.linalg.{name}: batched 1D solves with b.ndim > 1 are deprecated, and in the future "
                      f"will be treated as a batched 2D solve. Use {name}(..., b[..., None]).squeeze(-1) to avoid "
                      "this warning.", category=FutureWarning)
        vector = True
    if vector:
        return jnp.vectorize(solve2, signature="(n,n),(n)->(n)")(a, b)
    return jnp.vectorize(solve2, signature="(n,n),(n,k)->(n,k)")(a, b)


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

    def solve2(c, b):
        y = la.triangular_solve(c, b, left_side=True, lower=lower, transpose_a=not lower, conjugate_a=not lower)
        return la.triangular_solve(c, y, left_side=True, lower=lower, transpose_a=lower, conjugate_a=lower)
    return _broadcast_solve("cho_solve", solve2, c, b)


def solve_triangular(a: Any, b: Any, trans: int | str = 0, lower: bool = False, unit_diagonal: bool = False,
                     overwrite_b: bool = False, debug: Any = None, check_finite: bool = True) -> Any:
    """Solve ``op(a) x = b`` for triangular ``a``; ``trans`` is 0/'N', 1/'T' or 2/'C'."""
    a, b = _float_pair(a, b)
    transpose = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}.get(trans)
    if transpose is None:
        raise ValueError(f"Invalid 'trans' value {trans!r}; use 0, 1, 2, 'N', 'T' or 'C'")
    return _broadcast_solve("solve_triangular", functools.partial(
        la.triangular_solve, left_side=True, lower=lower, transpose_a=transpose, conjugate_a=trans in (2, "C"),
        unit_diagonal=unit_diagonal), a, b)


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
    """``(q, r)`` for mode 'full'/'economic', ``(r,)`` for mode 'r'; with ``pivoting`` also the column
    permutation ``p`` (``a[:, p] = q r``): ``(q, r, p)``, or ``(r, p)`` for mode 'r'."""
    if mode not in ("full", "economic", "r"):
        raise ValueError(f"Unsupported QR decomposition mode '{mode}'")
    q, r, *p = la.qr(nla._matrix("qr", a), pivoting=pivoting, full_matrices=mode != "economic")
    return (r, *p) if mode == "r" else (q, r, *p)


def qr_multiply(a: Any, c: Any, mode: str = "right", pivoting: bool = False, conjugate: bool = False,
                overwrite_a: bool = False, overwrite_c: bool = False) -> tuple:
    """``(Q @ c, r)`` (mode 'left') or ``(c @ Q, r)`` (mode 'right'), with ``Q, r`` the economic QR of ``a``
    (``Q`` conjugated if ``conjugate``; ``(.., .., p)`` with ``pivoting``); a 1-D ``c`` gives a 1-D product."""
    if mode not in ("right", "left"):
        raise ValueError(f"mode must be 'right' or 'left', got {mode!r}")
    a, c = jnp._util.promote_to_inexact(jnp.asarray(a), jnp.asarray(c))
    onedim = c.ndim == 1
    if onedim:
        c = c[:, None] if mode == "left" else c[None, :]
    m, n = a.shape[-2:]
    k = min(m, n)
    if mode == "left" and c.shape[-2] != k:
        raise ValueError(f"Array shapes are not compatible for Q @ c operation: a has shape {tuple(a.shape)} so Q "
                         f"has {k} columns, but c has {c.shape[-2]} rows (expected {k}).")
    if mode == "right" and c.shape[-1] != m:
        raise ValueError(f"Array shapes are not compatible for c @ Q operation: a has shape {tuple(a.shape)} so Q "
                         f"has {m} rows, but c has {c.shape[-1]} columns (expected {m}).")
    q, r, *p = qr(a, mode="economic", pivoting=pivoting)
    q = jnp.conj(q) if conjugate else q
    cq = jnp.matmul(q, c) if mode == "left" else jnp.matmul(c, q)
    return (jnp.ravel(cq) if onedim else cq), r, *p


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


__all__ = ["cho_factor", "cho_solve", "cholesky", "det", "eigh", "expm", "expm_frechet", "inv", "lu", "lu_factor",
           "lu_solve", "polar", "qr", "qr_multiply", "solve", "solve_triangular", "svd", *_special_matrices]

from .linalg_schur import funm, hessenberg, rsf2csf, schur, solve_sylvester, sqrtm  # noqa: E402  (Schur-based)

__all__ += ["funm", "hessenberg", "rsf2csf", "schur", "solve_sylvester", "sqrtm"]
