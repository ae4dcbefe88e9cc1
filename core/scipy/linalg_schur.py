"""``jax.scipy.linalg`` functions built on the Schur and Hessenberg decompositions (``core.linalg_schur``):
``schur``, ``rsf2csf``, ``hessenberg``, ``sqrtm``, ``funm`` and ``solve_sylvester``, with JAX's algorithms."""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from .. import dtypes, linalg_schur
from .. import numpy as jnp
from ..numpy import linalg as nla
from ..numpy._util import promote_to_inexact
from ..primitives import structural as st
from ..primitives.control_flow import cond, fori_loop, scan


def _jit(**static: Any) -> Callable:
    """``jax.jit`` (made at the first call: ``core.api`` imports this package), as JAX compiles these functions
    whole: the same program runs eagerly and under an outer ``jit``, so both give the same rounding."""
    def wrap(fn: Callable) -> Callable:
        compiled: list = []

        def call(*args: Any, **kwargs: Any) -> Any:
            if not compiled:
                from ..api import jit
                compiled.append(jit(fn, **static))
            return compiled[0](*args, **kwargs)
        return functools.wraps(fn)(call)
    return wrap


def schur(a: Any, output: str = "real") -> tuple:
    """``(T, Z)`` with ``a = Z T Z^H``: ``T`` quasi upper triangular (``output='real'``, real ``a``) or upper
    triangular (``output='complex'``)."""
    if output not in ("real", "complex"):
        raise ValueError(f"Expected 'output' to be either 'real' or 'complex', got output={output!r}.")
    return _schur(nla._matrix("schur", a, square=True), output)


@_jit(static_argnames=("output",))
def _schur(a: Any, output: str) -> tuple:
    if output == "complex":
        a = a.astype(dtypes.complex_dtype(a.dtype))
    return linalg_schur.schur(a)


def hessenberg(a: Any, *, calc_q: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """The Hessenberg form ``h`` of ``a`` (and ``q`` with ``a = q h q^H`` if ``calc_q``), as LAPACK gehrd."""
    a = nla._matrix("hessenberg", a, square=True)
    if a.shape[-1] == 0:
        return (jnp.zeros_like(a), jnp.zeros_like(a)) if calc_q else jnp.zeros_like(a)
    h, q = linalg_schur.hessenberg_q(a)
    return (h, q) if calc_q else h


@_jit()
def _rsf2csf_2d(T: Any, Z: Any) -> tuple:
    """scipy's algorithm: a Givens rotation per nonzero subdiagonal entry, bottom to top."""
    eps = float(dtypes.finfo(T.dtype).eps)
    N = T.shape[0]
    if N == 1:
        return T, Z
    rows = jnp.arange(N)

    def update(m, T, Z):
        mu = nla.eigvals(_block2(T, m - 1)) - T[m, m]
        r = jnp.sqrt(jnp.abs(mu[0]) ** 2 + jnp.abs(T[m, m - 1]) ** 2).astype(T.dtype)
        c = mu[0] / r
        s = T[m, m - 1] / r
        G = jnp.stack([jnp.stack([jnp.conj(c), s]), jnp.stack([-s, c])])
        T_rows = T[jnp.stack([m - 1, m])]
        col_mask = rows >= m - 1
        T = T.at[jnp.stack([m - 1, m])].set(jnp.where(col_mask, G @ jnp.where(col_mask, T_rows, 0), T_rows))
        T_cols = T[:, jnp.stack([m - 1, m])]
        row_mask = (rows < m + 1)[:, None]
        GH = jnp.conj(G.T)
        T = T.at[:, jnp.stack([m - 1, m])].set(jnp.where(row_mask, jnp.where(row_mask, T_cols, 0) @ GH, T_cols))
        Z = Z.at[:, jnp.stack([m - 1, m])].set(Z[:, jnp.stack([m - 1, m])] @ GH)
        return T, Z

    def step(i, TZ):
        m = N - i
        T, Z = TZ
        big = jnp.abs(T[m, m - 1]) > eps * (jnp.abs(T[m - 1, m - 1]) + jnp.abs(T[m, m]))
        T, Z = cond(big, lambda T, Z: update(m, T, Z), lambda T, Z: (T, Z), T, Z)
        return T.at[m, m - 1].set(0), Z

    return fori_loop(1, N, step, (T, Z))


def _block2(T: Any, k: Any) -> Any:
    """The 2x2 diagonal block of ``T`` at ``k``."""
    return st.dynamic_slice(T, (k, k), (2, 2))


def rsf2csf(T: Any, Z: Any, check_finite: bool = True) -> tuple:
    """Convert a real Schur form ``(T, Z)`` to the complex Schur form (batch dimensions broadcast)."""
    T, Z = jnp.asarray(T), jnp.asarray(Z)
    if T.ndim < 2 or T.shape[-1] != T.shape[-2]:
        raise ValueError("Input 'T' must be square.")
    if Z.ndim < 2 or Z.shape[-1] != Z.shape[-2]:
        raise ValueError("Input 'Z' must be square.")
    if T.shape[-1] != Z.shape[-1]:
        raise ValueError(f"Input array shapes must match: Z: {Z.shape} vs. T: {T.shape}")
    T, Z = promote_to_inexact(T, Z)
    dt = dtypes.complex_dtype(T.dtype)
    return jnp.vectorize(_rsf2csf_2d, signature="(n,n),(n,n)->(n,n),(n,n)")(T.astype(dt), Z.astype(dt))


def _sqrtm_triu(T: Any) -> Any:
    """Björck & Hammarling (1983): the upper triangular square root of an upper triangular ``T``, column by
    column, each bottom to top."""
    diag = jnp.sqrt(jnp.diagonal(T))
    n = diag.shape[0]
    idx = jnp.arange(n)

    def i_loop(l, data):
        j, U = data
        i = j - 1 - l
        s = jnp.sum(jnp.where((idx > i) & (idx < j), U[i, :] * U[:, j], 0))
        value = jnp.where(T[i, j] == s, 0, (T[i, j] - s) / (diag[i] + diag[j]))
        return j, U.at[i, j].set(value)

    def j_loop(j, U):
        return fori_loop(0, j, i_loop, (j, U))[1]

    return fori_loop(0, n, j_loop, jnp.diag(diag))


def sqrtm(A: Any, blocksize: int = 1) -> Any:
    """The principal matrix square root (the complex Schur method of Björck & Hammarling)."""
    if blocksize > 1:
        raise NotImplementedError("Blocked version is not implemented yet.")
    return _sqrtm(A)


@_jit()
def _sqrtm(A: Any) -> Any:
    T, Z = schur(A, output="complex")
    return jnp.vectorize(lambda T, Z: Z @ _sqrtm_triu(T) @ jnp.conj(Z.T), signature="(n,n),(n,n)->(n,n)")(T, Z)


@_jit()
def _parlett(F: Any, T: Any) -> tuple:
    """Golub & Van Loan, Algorithm 11.1.1 (Parlett's recurrence) as JAX runs it: ``(F, min |T_jj - T_ii|)``."""
    N = T.shape[0]
    ar = jnp.arange(N)

    def inner(i, state):
        p, F, minden = state
        j = i + p
        s = T[i - 1, j - 1] * (F[j - 1, j - 1] - F[i - 1, i - 1])
        ind = (ar >= i) & (ar < j - 1)
        s = s + (jnp.sum(jnp.where(ind, T[i - 1] * F[:, j - 1], 0)) - jnp.sum(jnp.where(ind, F[i - 1] * T[:, j - 1], 0)))
        den = T[j - 1, j - 1] - T[i - 1, i - 1]
        s = jnp.where(den != 0, s / jnp.where(den != 0, den, 1), s)
        return p, F.at[i - 1, j - 1].set(s), jnp.minimum(minden, jnp.abs(den))

    def outer(p, state):
        _, F, minden = fori_loop(1, N - p + 1, inner, (p,) + state)
        return F, minden

    return fori_loop(1, N, outer, (F, jnp.abs(T[0, 0])))


def funm(A: Any, func: Callable, disp: bool = True) -> Any:
    """``func`` of the matrix ``A`` by the Schur-Parlett method; with ``disp=False`` also an error estimate."""
    A = jnp.asarray(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError("expected square array_like input")
    T, Z = schur(A)
    T, Z = rsf2csf(T, Z)
    F = jnp.diag(func(jnp.diagonal(T))).astype(T.dtype)
    F, minden = _parlett(F, T)
    F = Z @ F @ jnp.conj(Z.T)
    if disp:
        return F
    tol = float(dtypes.finfo(np.float32 if F.dtype.char.lower() == "f" else np.float64).eps)
    minden = jnp.where(minden == 0.0, tol, minden)
    err = jnp.where(jnp.any(jnp.isinf(F)), np.inf,
                    jnp.minimum(1, jnp.maximum(tol, (tol / minden) * nla.norm(jnp.triu(T, 1), 1))))
    return F, err


def _sylvester_triangular(R: Any, S: Any, F: Any) -> Any:
    """Bartels-Stewart back substitution: ``Y`` with ``R Y + Y S^T = F`` for upper triangular ``R`` and ``S``,
    entry by entry from the bottom right (JAX's scan)."""
    m, n = F.shape
    rows, cols = jnp.arange(m), jnp.arange(n)

    def step(Y, idx):
        i, j = idx // n, idx % n
        row_term = jnp.sum(jnp.where(rows > i, R[i, :] * Y[:, j], 0))
        col_term = jnp.sum(jnp.where(cols > j, Y[i, :] * S[:, j], 0))
        return Y.at[i, j].set((F[i, j] - row_term - col_term) / (R[i, i] + S[j, j])), None

    return scan(step, jnp.zeros((m, n), F.dtype), jnp.arange(m * n - 1, -1, -1))[0]


def _solve_sylvester_2d(A: Any, B: Any, C: Any, *, method: str, tol: float) -> Any:
    m, n = C.shape[-2:]
    if method == "schur":
        R, U = schur(A, output="complex")
        S, V = schur(jnp.conj(B.T), output="complex")
        F = jnp.conj(U.T) @ C.astype(R.dtype) @ V
        X = U @ _sylvester_triangular(R, jnp.conj(S.T), F) @ jnp.conj(V.T)
    elif method == "eigen":
        RA, UA = nla.eig(A)
        RB, UB = nla.eig(B)
        F = nla.solve(UA, C.astype(RA.dtype) @ UB)
        Y = F / (RA[:, None] + RB[None, :])
        X = UA[:m, :m] @ Y[:m, :n] @ nla.inv(UB)[:n, :n]
    else:
        raise ValueError(f"Unrecognized method {method}. The two valid methods are either \"schur\" or \"eigen\".")
    if not jnp.iscomplexobj(C):
        X = X.real
    singular = jnp.any(jnp.abs(nla.eigvals(A)[:, None] + nla.eigvals(B)[None, :]) < tol)
    return jnp.where(singular, jnp.nan, X)


@_jit(static_argnames=("method",))
def solve_sylvester(A: Any, B: Any, C: Any, *, method: str = "schur", tol: float = 1e-8) -> Any:
    """``X`` with ``A X + X B = C`` (Bartels-Stewart over Schur forms, or ``method='eigen'``); NaN where an
    eigenvalue of ``A`` plus one of ``B`` is within ``tol`` of 0 (batch dimensions broadcast)."""
    A, B, C = promote_to_inexact(A, B, C)
    m, n = C.shape[-2:]
    if A.shape[-2:] != (m, m) or B.shape[-2:] != (n, n):
        raise ValueError(f"Incompatible shapes for Sylvester equation:\nA: {A.shape}\nB: {B.shape}\nC: {C.shape}")
    fn = lambda A, B, C: _solve_sylvester_2d(A, B, C, method=method, tol=tol)
    return jnp.vectorize(fn, signature="(m,m),(n,n),(m,n)->(m,n)")(A, B, C)


__all__ = ["funm", "hessenberg", "rsf2csf", "schur", "solve_sylvester", "sqrtm"]
