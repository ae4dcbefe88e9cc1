"""Special-matrix constructors of ``jax.scipy.linalg`` (scipy's, batched over leading axes as in JAX):
toeplitz, hankel, circulant, leslie, companion, fiedler, fiedler_companion, convolution_matrix, block_diag,
hilbert, invhilbert, pascal, invpascal, helmert, hadamard and dft."""
from __future__ import annotations

import math
import operator
from functools import partial
from typing import Any

import numpy as np

from .. import dtypes
from .. import numpy as jnp
from ..numpy._util import check_arraylike, promote_args_inexact, promote_dtypes
from ..primitives import elementwise as ew
from .special import comb


def _empty_or(fill: Any, rows: int, cols: int, dt) -> Any:
    """``jnp.empty((rows, cols), dt)`` when either is 0, else ``fill()``."""
    return jnp.empty((rows, cols), dt) if rows == 0 or cols == 0 else fill()


def toeplitz(c: Any, r: Any = None) -> Any:
    """The Toeplitz matrix with first column ``c`` and first row ``r`` (default ``conj(c)``; ``r[0]`` is
    ignored); leading axes of ``c`` and ``r`` are broadcast batch axes."""
    if r is None:
        check_arraylike("toeplitz", c)
        r = jnp.conjugate(jnp.asarray(c))
    else:
        check_arraylike("toeplitz", c, r)
    return _toeplitz(jnp.atleast_1d(jnp.asarray(c)), jnp.atleast_1d(jnp.asarray(r)))


@partial(jnp.vectorize, signature="(m),(n)->(m,n)")
def _toeplitz(c: Any, r: Any) -> Any:
    m, n = c.shape[0], r.shape[0]
    vals = lambda: jnp.concatenate([jnp.flip(r[1:]), c])[(n - 1) + jnp.arange(m)[:, None] - jnp.arange(n)]
    return _empty_or(vals, m, n, dtypes.result_type(c, r))


def hankel(c: Any, r: Any = None) -> Any:
    """The Hankel matrix with first column ``c`` and last row ``r`` (default zeros; ``r[0]`` is ignored)."""
    if r is None:
        check_arraylike("hankel", c)
        c = jnp.asarray(c)
        r = jnp.zeros_like(c)
    else:
        check_arraylike("hankel", c, r)
        c, r = jnp.asarray(c), jnp.asarray(r)
    if c.ndim == 0:
        raise ValueError("hankel: c must be at least 1-dimensional, got a scalar.")
    if r.ndim == 0:
        raise ValueError("hankel: r must be at least 1-dimensional, got a scalar.")
    c = jnp.reshape(c, (1,) * (r.ndim - c.ndim) + c.shape)
    r = jnp.reshape(r, (1,) * (c.ndim - r.ndim) + r.shape)
    return _hankel(c, r)


@partial(jnp.vectorize, signature="(m),(n)->(m,n)")
def _hankel(c: Any, r: Any) -> Any:
    m, n = c.shape[0], r.shape[0]
    vals = lambda: jnp.concatenate([c, r[1:]])[jnp.arange(m)[:, None] + jnp.arange(n)]
    return _empty_or(vals, m, n, dtypes.result_type(c, r))


def circulant(c: Any) -> Any:
    """The circulant matrix with first column ``c``."""
    check_arraylike("circulant", c)
    return _circulant(jnp.atleast_1d(jnp.asarray(c)))


@partial(jnp.vectorize, signature="(n)->(n,n)")
def _circulant(c: Any) -> Any:
    n = c.shape[0]
    return _empty_or(lambda: c[(jnp.arange(n)[:, None] - jnp.arange(n)) % n], n, n, c.dtype)


def leslie(f: Any, s: Any) -> Any:
    """The Leslie matrix with fecundity coefficients ``f`` (first row) and survival coefficients ``s``."""
    check_arraylike("leslie", f, s)
    f, s = jnp.atleast_1d(f), jnp.atleast_1d(s)
    if f.shape[-1] < 2:
        raise ValueError(f"The length of f along the last axis must be at least 2; got shape {f.shape}.")
    if s.shape[-1] != f.shape[-1] - 1:
        raise ValueError("Incorrect lengths for f and s. The length of s along the last axis must be one less "
                         f"than the length of f; got f shape {f.shape} and s shape {s.shape}.")
    return _leslie(f, s)


@partial(jnp.vectorize, signature="(n),(m)->(n,n)")
def _leslie(f: Any, s: Any) -> Any:
    f, s = promote_dtypes(f, s)
    return jnp.diag(s, k=-1).at[0].set(f)


def companion(a: Any) -> Any:
    """The companion matrix of the polynomial with coefficients ``a`` (highest degree first)."""
    (a,) = promote_args_inexact("companion", a)
    a = jnp.atleast_1d(a)
    if a.shape[-1] < 2:
        raise ValueError(f"The length of `a` along the last axis must be at least 2; got shape {a.shape}.")
    return _companion(a)


@partial(jnp.vectorize, signature="(n)->(m,m)")
def _companion(a: Any) -> Any:
    first_row = -a[1:] / a[0]
    m = a.shape[0] - 1
    return jnp.eye(m, m, k=-1, dtype=first_row.dtype).at[0].set(first_row)


def fiedler(a: Any) -> Any:
    """The symmetric Fiedler matrix ``|a[i] - a[j]|``."""
    check_arraylike("fiedler", a)
    a = jnp.atleast_1d(a)
    return jnp.abs(a[..., None] - a[..., None, :])


def fiedler_companion(a: Any) -> Any:
    """The pentadiagonal Fiedler companion matrix of the polynomial with coefficients ``a``."""
    (a,) = promote_args_inexact("fiedler_companion", a)
    a = jnp.atleast_1d(a)
    if a.shape[-1] == 0:
        raise ValueError("fiedler_companion requires the last axis of 'a' to have nonzero length, but got an "
                         f"array of shape {a.shape}.")
    return _fiedler_companion(a)


@partial(jnp.vectorize, signature="(n)->(m,m)")
def _fiedler_companion(a: Any) -> Any:
    n = a.shape[0] - 1
    if n == 0:
        return jnp.empty((0, 0), a.dtype)
    a = a / a[0]
    if n == 1:
        return -a[1:].reshape(1, 1)
    i, j = jnp.arange(n)[:, None], jnp.arange(n)[None, :]
    even, odd = i % 2 == 0, i % 2 == 1
    conditions = [(i == 0) & (j == 0), (i == 1) & (j == 0), (j == i + 1) & even, (j == i + 2) & even,
                  (j == i - 1) & even & (i >= 2), (j == i - 2) & odd & (i >= 3)]
    one = jnp.ones((), a.dtype)
    choices = [-a[1], one, -a[jnp.minimum(i + 2, n)], one, -a[jnp.minimum(i + 1, n)], one]
    return jnp.select(conditions, choices, default=jnp.zeros((), a.dtype))


def convolution_matrix(a: Any, n: int, mode: str = "full") -> Any:
    """The matrix ``A`` with ``A @ v == convolve(a, v, mode)`` for ``v`` of length ``n``."""
    n = operator.index(n)
    if n <= 0:
        raise ValueError(f"n must be a positive integer; got {n}.")
    check_arraylike("convolution_matrix", a)
    a = jnp.asarray(a)
    if a.ndim == 0:
        raise ValueError("convolution_matrix: a must be at least 1-dimensional, got a scalar.")
    m = a.shape[-1]
    if m < 1:
        raise ValueError(f"len(a) must be at least 1; got shape {a.shape}.")
    if mode not in ("full", "valid", "same"):
        raise ValueError(f"mode must be one of 'full', 'valid', 'same'; got {mode!r}.")
    pad = [(0, 0)] * (a.ndim - 1) + [(0, n - 1)]
    az, raz = jnp.pad(a, pad), jnp.pad(jnp.flip(a, axis=-1), pad)
    L = m + n - 1
    if mode == "same":
        tb = (min(n, m) - 1) // 2
        te = min(n, m) - 1 - tb
    else:
        tb = te = min(n, m) - 1 if mode == "valid" else 0
    return toeplitz(az[..., tb:L - te], raz[..., L - n - tb:L - tb])


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


def hilbert(n: int) -> Any:
    """The Hilbert matrix ``1 / (i + j + 1)``."""
    i = jnp.arange(n, dtype=dtypes.default_float())
    return 1.0 / (i[:, None] + i[None, :] + 1.0)


def invhilbert(n: int) -> Any:
    """The inverse of the ``n x n`` Hilbert matrix (in floating point, as ``scipy``'s ``exact=False``)."""
    a = jnp.arange(n, dtype=dtypes.default_float())
    i, j = a[:, None], a[None, :]
    s = i + j
    return (-1.0) ** s * (s + 1.0) * comb(n + i, n - j - 1) * comb(n + j, n - i - 1) * comb(s, i) ** 2


def _binom(n: Any, k: Any) -> Any:
    """``n choose k`` through log-gamma (0 for integer ``k > n``)."""
    return jnp.exp(ew.lgamma(n + 1.0) - ew.lgamma(n - k + 1.0) - ew.lgamma(k + 1.0))


def _pascal_kind(kind: str | None) -> str:
    kind = "symmetric" if kind is None else kind
    valid = ["symmetric", "lower", "upper"]
    if kind not in valid:
        raise ValueError(f"Expected kind to be one of: {valid}; got {kind}")
    return kind


def pascal(n: int, kind: str | None = None) -> Any:
    """The Pascal matrix (``kind`` 'symmetric', 'lower' or 'upper'), in float32 as JAX."""
    kind = _pascal_kind(kind)
    a = jnp.arange(n, dtype=np.float32)
    L = _binom(a[:, None], a[None, :])
    if kind == "lower":
        return L
    return L.T if kind == "upper" else jnp.dot(L, L.T)


def invpascal(n: int, kind: str | None = None) -> Any:
    """The inverse of ``pascal(n, kind)``."""
    kind = _pascal_kind(kind)
    a = jnp.arange(n, dtype=dtypes.default_float())
    i, j = a[:, None], a[None, :]
    L_inv = (-1.0) ** (i - j) * _binom(i, j)
    if kind == "lower":
        return L_inv
    return L_inv.T if kind == "upper" else jnp.dot(L_inv.T, L_inv)


def helmert(n: int, full: bool = False) -> Any:
    """The Helmert matrix of order ``n`` (without its first row ``1/sqrt(n)`` unless ``full``)."""
    if n < 1:
        raise ValueError(f"n must be a positive integer; got {n}.")
    i, j = jnp.arange(n - 1)[:, None], jnp.arange(n)[None, :]
    k = (i + 1).astype(dtypes.default_float())
    denom = jnp.sqrt(k * (k + 1))
    H = jnp.where(j <= i, 1.0 / denom, jnp.where(j == i + 1, -k / denom, jnp.zeros_like(denom)))
    if full:
        H = jnp.concatenate([jnp.full((1, n), 1.0 / math.sqrt(n), dtype=H.dtype), H], axis=0)
    return H


def hadamard(n: int, dtype: Any = int) -> Any:
    """The Sylvester-construction Hadamard matrix of order ``n`` (a power of 2)."""
    if n < 1 or not math.log2(n).is_integer():
        raise ValueError(f"n must be a positive power of 2; got {n}.")
    H = jnp.ones((1, 1), dtype=dtype)
    for _ in range(int(math.log2(n))):
        H = jnp.block([[H, H], [H, -H]])
    return H


def dft(n: int, scale: str | None = None, *, dtype: Any = None) -> Any:
    """The ``n``-point discrete Fourier transform matrix ``exp(-2 pi i jk / n)``, divided by ``sqrt(n)``
    (scale='sqrtn') or ``n`` (scale='n')."""
    if scale is not None and scale not in ("sqrtn", "n"):
        raise ValueError(f"scale must be None, 'sqrtn', or 'n'; got {scale!r}.")
    if dtype is None:
        dtype = dtypes.complex_dtype(dtypes.default_float())
    else:
        dtype = dtypes.canonicalize(dtype)
        if not dtypes.issubdtype(dtype, np.complexfloating):
            raise ValueError(f"dtype must be a complex floating-point type; got {dtype}.")
    part = np.finfo(dtype).dtype
    a = jnp.arange(n)
    # jk mod n keeps the angle in [0, 2 pi), exact for any n.
    angle = (-2 * np.pi / max(n, 1)) * ((a[:, None] * a[None, :]) % max(n, 1)).astype(part)
    omegas = ew.complex(jnp.cos(angle), jnp.sin(angle)).astype(dtype)
    if scale == "sqrtn":
        return omegas / math.sqrt(n)
    return omegas / n if scale == "n" else omegas


__all__ = ["block_diag", "circulant", "companion", "convolution_matrix", "dft", "fiedler", "fiedler_companion",
           "hadamard", "hankel", "helmert", "hilbert", "invhilbert", "invpascal", "leslie", "pascal", "toeplitz"]
