"""Householder QR in LAPACK's packed form (``lax.linalg.geqrf``, ``householder_product``, ``ormqr``) as
compositions over lax, so they run (and differentiate) in every backend's generated code.

Packed form (LAPACK xGEQRF): ``R`` in the upper triangle of ``a``; reflector ``i`` is ``H_i = I - tau_i v_i v_i^H``
with ``v_i`` zero above row ``i``, one at row ``i`` and ``a[i+1:, i]`` below; ``Q = H_0 H_1 ... H_{k-1}``.
Reflectors follow xLARFG: ``H^H [alpha; x] = [beta; 0]`` with real ``beta`` of the sign opposite to ``re(alpha)``.
"""
from __future__ import annotations

from typing import Any

from . import dtypes, numpy as jnp
from .linalg_schur import hessenberg_2d, householder_reflector
from .primitives import structural as st
from .primitives.control_flow import fori_loop
from .trace import get_aval


def _check(name: str, *xs: Any) -> list:
    xs = [jnp.asarray(x) for x in xs]
    for x in xs:
        if get_aval(x).dtype not in (dtypes.float32, dtypes.float64, dtypes.complex64, dtypes.complex128):
            raise TypeError(f"{name} requires float32, float64, complex64 or complex128 operands, got "
                            f"{get_aval(x).dtype.name}")
    if len({get_aval(x).dtype for x in xs}) > 1:
        raise TypeError(f"{name} requires operands of the same dtype, got {[get_aval(x).dtype.name for x in xs]}")
    return xs


def _reflector(a: Any, taus: Any, i: Any) -> tuple:
    """``(v_i, tau_i)`` of the 2-D packed ``a``."""
    rows = jnp.arange(a.shape[0])
    col = st.dynamic_index_in_dim(a, i, axis=1, keepdims=False)
    v = jnp.where(rows == i, jnp.ones((), a.dtype), jnp.where(rows > i, col, jnp.zeros((), a.dtype)))
    return v, st.dynamic_index_in_dim(taus, i, axis=0, keepdims=False)


def _ormqr_2d(a: Any, taus: Any, c: Any, left: bool, transpose: bool) -> Any:
    k = taus.shape[0]

    def step(j, c):
        # Q c applies H_{k-1} first, Q^H c applies H_0^H first; c Q applies H_0 first, c Q^H H_{k-1}^H first.
        v, tau = _reflector(a, taus, j if left == transpose else k - 1 - j)
        tau = jnp.conj(tau) if transpose else tau
        if left:
            return c - (tau * v)[:, None] * (jnp.conj(v) @ c)[None, :]
        return c - (c @ v)[:, None] * (tau * jnp.conj(v))[None, :]

    return fori_loop(0, k, step, c)


def ormqr(a: Any, taus: Any, c: Any, *, left: bool = True, transpose: bool = False) -> Any:
    """``Q @ c`` (``left``) or ``c @ Q``, with ``Q^H`` for ``Q`` if ``transpose``; ``Q`` from ``geqrf``'s
    packed ``(a, taus)``."""
    a, taus, c = _check("ormqr", a, taus, c)
    m = a.shape[-2]
    if left and c.shape[-2] != m:
        raise ValueError("ormqr with left=True expects c to have the same number of rows as the Householder "
                         f"matrix a. Got a shape {a.shape} and c shape {c.shape}.")
    if not left and c.shape[-1] != m:
        raise ValueError("ormqr with left=False expects c to have the same number of columns as the Householder "
                         f"matrix a has rows. Got a shape {a.shape} and c shape {c.shape}.")
    fn = lambda a, taus, c: _ormqr_2d(a, taus, c, left, transpose)
    return jnp.vectorize(fn, signature="(m,n),(k),(p,q)->(p,q)")(a, taus, c)


def householder_product(a: Any, taus: Any) -> Any:
    """The first ``n`` columns of ``Q = H_0 ... H_{k-1}`` (LAPACK xORGQR/xUNGQR) for ``a`` of shape
    ``[..., m, n]`` (``m >= n``) and ``taus`` of shape ``[..., k]`` (``k <= n``)."""
    a, taus = _check("householder_product", a, taus)
    m, n = a.shape[-2:]
    if m < n:
        raise ValueError("The first argument to householder_product must have at least as many rows as columns, "
                         f"got shape {a.shape}")
    if taus.shape[-1] > min(m, n):
        raise ValueError("The second argument to householder_product must not have more rows than the minimum of "
                         "the first argument's rows and columns.")
    fn = lambda a, taus: _ormqr_2d(a, taus, jnp.eye(m, n, dtype=a.dtype), True, False)
    return jnp.vectorize(fn, signature="(m,n),(k)->(m,n)")(a, taus)


def _householder_step(a: Any, j: Any) -> tuple:
    """Step ``j`` of Householder QR of the 2-D ``a``: ``(a, tau)`` with ``H^H`` applied to the columns right of
    ``j`` and column ``j`` replaced by ``[R; beta; v below the diagonal]``."""
    m, n = a.shape
    rows, cols = jnp.arange(m), jnp.arange(n)
    zero = jnp.zeros((), a.dtype)
    col = st.dynamic_index_in_dim(a, j, axis=1, keepdims=False)
    beta, tau, v = householder_reflector(col, j, rows > j)
    update = (jnp.conj(tau) * v)[:, None] * (jnp.conj(v) @ a)[None, :]
    a = a - jnp.where(cols > j, update, zero)
    new_col = jnp.where(rows < j, col, jnp.where(rows == j, beta, v))
    return jnp.where((cols == j)[None, :], new_col[:, None], a), tau


def _geqrf_2d(a: Any) -> tuple:
    k = min(a.shape)

    def step(j, state):
        a, tau = _householder_step(state[0], j)
        return a, st.dynamic_update_index_in_dim(state[1], tau, j, axis=0)

    return fori_loop(0, k, step, (a, jnp.zeros((k,), a.dtype)))


def _qr_pivots_2d(a: Any) -> Any:
    """geqp3's column order: at step ``j`` the remaining column of largest norm below row ``j`` comes next."""
    m, n = a.shape
    rows, cols = jnp.arange(m)[:, None], jnp.arange(n)

    def step(j, state):
        a, perm = state
        norms = jnp.where(cols >= j, jnp.sum(jnp.where(rows >= j, jnp.abs(a) ** 2, 0), axis=0), -1)
        swap = jnp.where(cols == j, jnp.argmax(norms), jnp.where(cols == jnp.argmax(norms), j, cols))
        return _householder_step(a[:, swap], j)[0], perm[swap]

    return fori_loop(0, min(m, n), step, (a, cols.astype(dtypes.int32)))[1]


def qr_pivots(a: Any) -> Any:
    """The column permutation ``p`` of the pivoted QR ``a[..., p] = q r`` (LAPACK geqp3's, 0-based)."""
    m, n = a.shape[-2:]
    if m == 0 or n == 0:
        return jnp.zeros(a.shape[:-2] + (n,), dtypes.int32)
    return jnp.vectorize(_qr_pivots_2d, signature="(m,n)->(n)")(a)


def geqrf(a: Any) -> tuple:
    """``(a_out, taus)``: the QR decomposition of ``a`` in LAPACK's packed form (R in the upper triangle)."""
    (a,) = _check("geqrf", a)
    if a.ndim < 2:
        raise ValueError(f"geqrf requires a batch of matrices, got shape {a.shape}")
    return jnp.vectorize(_geqrf_2d, signature="(m,n)->(m,n),(k)")(a)


def _tridiagonal_lower_2d(a: Any) -> tuple:
    """sytrd/hetrd with ``lower=True``: the Hessenberg reduction of the Hermitian matrix stored in the lower
    triangle (a tridiagonal ``T = Q^H a Q``); the strict upper triangle of ``a`` is returned unchanged."""
    n = a.shape[0]
    rows, cols = jnp.arange(n)[:, None], jnp.arange(n)[None, :]
    strict = jnp.where(rows > cols, a, jnp.zeros((), a.dtype))
    herm = strict + jnp.conj(strict.T) + jnp.diag(jnp.real(jnp.diagonal(a))).astype(a.dtype)
    h, _, packed, taus = hessenberg_2d(herm)
    d, e = jnp.real(jnp.diagonal(h)), jnp.real(jnp.diagonal(packed, -1))
    out = jnp.where(rows > cols + 1, packed, a)
    out = jnp.where(rows == cols + 1, jnp.diag(e, -1).astype(a.dtype), out)
    return jnp.where(rows == cols, jnp.diag(d).astype(a.dtype), out), d, e, taus


def tridiagonal(a: Any, *, lower: bool = True) -> tuple:
    """``(a_out, d, e, taus)`` as LAPACK sytrd/hetrd: the Hermitian matrix in ``a``'s lower (or upper) triangle
    reduced to a tridiagonal one with diagonal ``d`` and sub- (super-)diagonal ``e``, the Householder vectors
    below (above) it in ``a_out`` and their scalars in ``taus``; the other triangle is returned unchanged."""
    (a,) = _check("tridiagonal", a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2] or a.shape[-1] == 0:
        raise ValueError(f"The input to tridiagonal must be a square matrix. Got shape {a.shape}.")
    if lower:
        return jnp.vectorize(_tridiagonal_lower_2d, signature="(n,n)->(n,n),(n),(k),(k)")(a)
    # the upper triangle of a is the lower one of a with rows and columns reversed (sytrd's upper reflectors
    # are the lower ones of that matrix, in reverse order)
    out, d, e, taus = tridiagonal(jnp.flip(a, (-2, -1)), lower=True)
    return jnp.flip(out, (-2, -1)), jnp.flip(d, -1), jnp.flip(e, -1), jnp.flip(taus, -1)


__all__ = ["geqrf", "householder_product", "ormqr", "tridiagonal"]
