"""Polynomials as coefficient arrays, highest degree first (numpy's legacy ``poly*`` API), and window
functions (bartlett, blackman, hamming, hanning, kaiser)."""
from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .. import dtypes
from ..trace import concrete_or_error
from . import ufuncs as uf
from ._util import asarray_any, promote_dtypes, promote_to_inexact
from .creation import arange, eye, ones, zeros
from .shape import concatenate, ravel
from .statistics import convolve


def _coeffs(*ps: Any) -> list:
    out = promote_dtypes(*[ravel(asarray_any(p)) for p in ps])
    return out


def _trim_leading_zeros(p: Any) -> Any:
    """Drop leading zero coefficients of a concrete polynomial (keeping at least one)."""
    c = np.asarray(concrete_or_error(p, "Leading zeros can only be trimmed from concrete coefficients "
                                        "(pass trim_leading_zeros=False under jit)."))
    nz = np.flatnonzero(c)
    return p[int(nz[0]):] if len(nz) else p[-1:]


def polyadd(a1: Any, a2: Any) -> Any:
    a1, a2 = _coeffs(a1, a2)
    n = max(a1.shape[0], a2.shape[0])
    pad = lambda p: concatenate([zeros((n - p.shape[0],), p.dtype), p])
    return pad(a1) + pad(a2)


def polysub(a1: Any, a2: Any) -> Any:
    a1, a2 = _coeffs(a1, a2)
    return polyadd(a1, -a2)


def polymul(a1: Any, a2: Any, *, trim_leading_zeros: bool = False) -> Any:
    a1, a2 = _coeffs(a1, a2)
    if trim_leading_zeros:
        a1, a2 = _trim_leading_zeros(a1), _trim_leading_zeros(a2)
    if a1.shape[0] == 0 or a2.shape[0] == 0:
        return zeros((1,), a1.dtype)
    return convolve(a1, a2)


def polyval(p: Any, x: Any, *, unroll: int = 16) -> Any:
    """``p[0] * x**(n-1) + ... + p[n-1]`` by Horner's scheme."""
    p, x = promote_dtypes(asarray_any(p), asarray_any(x))
    y = uf.multiply(x, 0)
    for i in range(p.shape[0]):
        y = y * x + p[i]
    return y


def polyder(p: Any, m: int = 1) -> Any:
    """The m-th derivative's coefficients."""
    (p,) = _coeffs(p)
    if m < 0:
        raise ValueError("Order of derivative must be positive")
    for _ in range(m):
        n = p.shape[0]
        if n <= 1:
            return zeros((0,), p.dtype)
        p = p[:-1] * arange(n - 1, 0, -1).astype(p.dtype)
    return p


def polyint(p: Any, m: int = 1, k: Any = None) -> Any:
    """The m-th antiderivative's coefficients, with integration constants ``k`` (default 0)."""
    (p,) = promote_to_inexact(ravel(asarray_any(p)))
    if m < 0:
        raise ValueError("Order of integral must be positive")
    ks = np.zeros(m) if k is None else np.broadcast_to(np.asarray(k, dtype=float).ravel(), (m,))
    for i in range(m):
        n = p.shape[0]
        p = concatenate([p / arange(n, 0, -1).astype(p.dtype), asarray_any(ks[i]).astype(p.dtype)[None]])
    return p


def polydiv(u: Any, v: Any, *, trim_leading_zeros: bool = False) -> tuple:
    """Quotient and remainder of polynomial division (synthetic division, static lengths), as JAX: the remainder
    keeps ``u``'s length unless ``trim_leading_zeros`` drops its leading entries below ``sqrt(eps)``."""
    u, v = promote_to_inexact(ravel(asarray_any(u)), ravel(asarray_any(v)))
    m, n = u.shape[0] - 1, v.shape[0] - 1
    scale = 1.0 / v[0]
    q = zeros((max(m - n + 1, 1),), u.dtype)
    for k in range(0, m - n + 1):
        d = scale * u[k]
        q = q.at[k].set(d)
        u = u.at[k:k + n + 1].add(-d * v)
    if trim_leading_zeros:
        c = np.abs(np.asarray(concrete_or_error(u, "Leading zeros can only be trimmed from concrete coefficients "
                                                   "(pass trim_leading_zeros=False under jit).")))
        big = np.flatnonzero(~(c < np.sqrt(dtypes.finfo(u.dtype).eps)))
        u = u[int(big[0]):] if len(big) else u[:0]
    return q, u


def poly(seq_of_zeros: Any) -> Any:
    """Coefficients of the monic polynomial with the given roots, or of a square matrix's characteristic
    polynomial (from its eigenvalues: complex, as in JAX)."""
    (a,) = promote_to_inexact(asarray_any(seq_of_zeros))
    a = a.reshape(1) if a.ndim == 0 else a
    if a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 0:
        from .linalg import eigvals
        a = eigvals(a)
    if a.ndim != 1:
        raise ValueError("input must be 1d or non-empty square 2d array.")
    if a.shape[0] == 0:
        return ones((), a.dtype)
    c = ones((1,), a.dtype)
    for i in range(a.shape[0]):
        c = convolve(c, concatenate([ones((1,), a.dtype), -a[i:i + 1]]))
    return c


def polyfit(x: Any, y: Any, deg: int, rcond: float | None = None, full: bool = False, w: Any = None,
            cov: bool | str = False) -> Any:
    """Least-squares polynomial fit of degree ``deg`` (highest degree first); with ``cov`` also the covariance
    matrix of the coefficients (scaled by the residuals unless ``cov='unscaled'``), as JAX."""
    from .linalg import inv, lstsq
    from .linalg_ops import dot, outer
    x, y = promote_to_inexact(asarray_any(x), asarray_any(y))
    deg = int(concrete_or_error(deg, "deg must be int"))
    order = deg + 1
    if deg < 0:
        raise ValueError("expected deg >= 0")
    if x.ndim != 1:
        raise TypeError("expected 1D vector for x")
    if x.size == 0:
        raise TypeError("expected non-empty vector for x")
    if y.ndim < 1 or y.ndim > 2:
        raise TypeError("expected 1D or 2D array for y")
    if x.shape[0] != y.shape[0]:
        raise TypeError("expected x and y to have same length")
    rcond = x.shape[0] * float(np.finfo(x.dtype).eps) if rcond is None else rcond
    rcond = float(concrete_or_error(rcond, "rcond must be float"))
    lhs = vander(x, order)
    rhs = y
    if w is not None:
        (w,) = promote_to_inexact(asarray_any(w))
        if w.ndim != 1:
            raise TypeError("expected a 1-d array for weights")
        if w.shape[0] != y.shape[0]:
            raise TypeError("expected w and y to have the same length")
        lhs = lhs * w[:, None]
        rhs = rhs * (w[:, None] if rhs.ndim == 2 else w)
    scale = uf.sqrt((lhs * lhs).sum(axis=0))
    lhs = lhs / scale
    c, resids, rank, s = lstsq(lhs, rhs, rcond)
    c = (c.T / scale).T
    if full:
        return c, resids, rank, s, asarray_any(rcond)
    if not cov:
        return c
    vbase = inv(dot(lhs.T, lhs)) / outer(scale, scale)
    if cov == "unscaled":
        fac = asarray_any(1.0)
    else:
        if x.shape[0] <= order:
            raise ValueError("the number of data points must exceed order to scale the covariance matrix")
        fac = resids / (x.shape[0] - order)
    fac = ravel(fac)
    return (c, vbase * fac[None]) if y.ndim == 1 else (c, vbase[:, :, None] * fac[None, None, :])


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Any:
    """Vandermonde matrix: columns are powers of ``x`` (decreasing unless ``increasing``)."""
    x = asarray_any(x)
    if x.ndim != 1:
        raise ValueError("x must be a one-dimensional array")
    N = x.shape[0] if N is None else operator.index(concrete_or_error(N, "'N' argument of jnp.vander()"))
    if N < 0:
        raise ValueError("N must be nonnegative")
    powers = (arange(N) if increasing else arange(N - 1, -1, -1)).astype(x.dtype)  # in x's dtype, as JAX
    return uf.power(x[:, None], powers[None, :])


def roots(p: Any, *, strip_zeros: bool = True) -> Any:
    """The (complex) roots of the polynomial with coefficients ``p`` (highest power first): the eigenvalues of
    its companion matrix. ``strip_zeros`` drops leading zero coefficients (``p`` must then be concrete) and
    returns a zero root per trailing zero, as numpy."""
    from .linalg import eigvals
    (p,) = promote_to_inexact(asarray_any(p))
    if p.ndim != 1:
        raise ValueError(f"Input must be a rank-1 array, got shape {p.shape}")
    trailing = 0
    if strip_zeros:
        host = np.asarray(concrete_or_error(p, "jnp.roots with strip_zeros=True needs concrete coefficients"))
        nonzero = np.flatnonzero(host)
        if nonzero.size == 0:
            return zeros((0,), dtypes.complex_dtype(p.dtype))
        trailing = p.shape[0] - 1 - int(nonzero[-1])
        p = p[int(nonzero[0]):int(nonzero[-1]) + 1]
    n = p.shape[0] - 1
    if n < 1:
        return zeros((trailing,), dtypes.complex_dtype(p.dtype))
    companion = concatenate([(-p[1:] / p[0])[None, :], eye(n - 1, n, dtype=p.dtype)], axis=0)
    found = eigvals(companion)
    return concatenate([found, zeros((trailing,), found.dtype)]) if trailing else found


def _window(M: int, fn) -> Any:
    M = int(M)
    if M <= 0:
        return zeros((0,), dtypes.default_float())
    if M == 1:
        return ones((1,), dtypes.default_float())
    n = arange(M, dtype=dtypes.default_float())
    return fn(n, M)


def bartlett(M: int) -> Any:
    return _window(M, lambda n, M: 1 - uf.absolute(2 * n / (M - 1) - 1))


def blackman(M: int) -> Any:
    return _window(M, lambda n, M: 0.42 - 0.5 * uf.cos(2 * np.pi * n / (M - 1)) +
                   0.08 * uf.cos(4 * np.pi * n / (M - 1)))


def hamming(M: int) -> Any:
    return _window(M, lambda n, M: 0.54 - 0.46 * uf.cos(2 * np.pi * n / (M - 1)))


def hanning(M: int) -> Any:
    return _window(M, lambda n, M: 0.5 - 0.5 * uf.cos(2 * np.pi * n / (M - 1)))


def kaiser(M: int, beta: float) -> Any:
    from ..scipy.special import i0
    return _window(M, lambda n, M: i0(beta * uf.sqrt(1 - (2 * n / (M - 1) - 1) ** 2)) / i0(float(beta)))


__all__ = ["bartlett", "blackman", "hamming", "hanning", "kaiser", "poly", "polyadd", "polyder", "polydiv",
           "polyfit", "polyint", "polymul", "polysub", "polyval", "roots", "vander"]
