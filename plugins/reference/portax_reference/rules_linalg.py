"""numpy implementations of the decompositions, triangular_solve and fft (LAPACK and pocketfft via numpy).

Registered into the same ``RULES`` table as every other reference rule. Conventions match JAX on CPU:
a Cholesky factor of a matrix that is not positive definite is all NaN; ``lu`` pivots like LAPACK's
getrf (first largest magnitude in the column, |re| + |im| for complex values); eigenvalues ascend; singular
values descend. Complex matrices arrive as ``complex_linalg`` (part buffers) and run through the same rules.
"""
from __future__ import annotations

import math

import numpy as np

from portax.core.primitives import fft as ff, linalg as la

from .rules import RULES, rule


def _batched(fn, x: np.ndarray, *outs_like) -> list:
    """Apply ``fn`` to each trailing matrix of ``x``; returns one stacked array per output."""
    batch = x.shape[:-2]
    flat = x.reshape((math.prod(batch),) + x.shape[-2:])
    results = [fn(m) for m in flat]
    return [np.stack([r[i] for r in results]).reshape(batch + results[0][i].shape) if len(flat) else
            np.zeros(batch + like, x.dtype) for i, like in enumerate(outs_like)]


@rule(la.cholesky_p)
def _cholesky(x):
    def one(m):
        try:
            return (np.linalg.cholesky(np.tril(m) + np.tril(m, -1).conj().T),)
        except np.linalg.LinAlgError:
            return (np.full(m.shape, np.nan, m.dtype),)
    return _batched(one, x, x.shape[-2:])[0].astype(x.dtype)


def _substitute(t: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    """Forward (lower) or back (upper) substitution for ``t @ x = b``, batched; zero pivots give inf/nan
    as trsm does."""
    n = t.shape[-1]
    x = np.zeros(np.broadcast_shapes(t.shape[:-2], b.shape[:-2]) + b.shape[-2:], b.dtype)
    for i in (range(n) if lower else range(n - 1, -1, -1)):
        known = slice(0, i) if lower else slice(i + 1, n)
        acc = np.einsum("...k,...kj->...j", t[..., i, known], x[..., known, :])
        x[..., i, :] = (b[..., i, :] - acc) / t[..., i, i:i + 1]
    return x


@rule(la.triangular_solve_p)
def _triangular_solve(a, b, *, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        n = a.shape[-1]
        t = t * (1 - np.eye(n, dtype=a.dtype)) + np.eye(n, dtype=a.dtype)
    if conjugate_a:
        t = t.conj()
    if transpose_a:
        t, lower = np.swapaxes(t, -1, -2), not lower
    if left_side:
        return _substitute(t, b, lower)
    # x @ t = b  <=>  t^T @ x^T = b^T
    return np.swapaxes(_substitute(np.swapaxes(t, -1, -2), np.swapaxes(b, -1, -2), not lower), -1, -2)


def _nan_if_not_finite(fn):
    """``fn`` (a decomposition of the trailing matrices of ``x``) with NaN results for the matrices holding a NaN
    or an infinity, on which numpy's LAPACK calls raise (JAX returns NaN)."""
    def run(x, **params):
        ok = np.isfinite(x).all(axis=(-2, -1))
        outs = fn(np.where(ok[..., None, None], x, 0).astype(x.dtype), **params)
        for o in outs:
            o[~ok] = np.nan
        return outs
    return run


@rule(la.qr_p)
def _qr(x, *, full_matrices):
    q, r = np.linalg.qr(x, mode="complete" if full_matrices else "reduced")
    return [q.astype(x.dtype), r.astype(x.dtype)]


@rule(la.svd_p)
@_nan_if_not_finite
def _svd(x, *, full_matrices, compute_uv):
    if not compute_uv:
        return [np.linalg.svd(x, compute_uv=False).astype(_real_dtype(x))]
    u, s, vt = np.linalg.svd(x, full_matrices=full_matrices)
    return [s.astype(_real_dtype(x)), u.astype(x.dtype), vt.astype(x.dtype)]


@rule(la.eigh_p)
@_nan_if_not_finite
def _eigh(x, *, lower):
    w, v = np.linalg.eigh(x, UPLO="L" if lower else "U")
    return [v.astype(x.dtype), w.astype(_real_dtype(x))]


@rule(la.eig_p)
@_nan_if_not_finite
def _eig(x):
    w, v = np.linalg.eig(x)
    w, v = w.astype(np.complex128), v.astype(np.complex128)
    return [part.astype(_real_dtype(x)) for part in (w.real, w.imag, v.real, v.imag)]


def _lu_one(a: np.ndarray) -> tuple:
    """getrf: Gaussian elimination with partial pivoting on one m x n matrix."""
    a = a.copy()
    m, n = a.shape
    k = min(m, n)
    pivots = np.zeros(k, np.int32)
    perm = np.arange(m, dtype=np.int32)
    for j in range(k):
        col = a[j:, j]
        p = j + int(np.argmax(np.abs(col.real) + np.abs(col.imag) if a.dtype.kind == "c" else np.abs(col)))
        pivots[j] = p
        if p != j:
            a[[j, p]] = a[[p, j]]
            perm[[j, p]] = perm[[p, j]]
        if a[j, j] != 0:
            a[j + 1:, j] /= a[j, j]
        a[j + 1:, j + 1:] -= np.outer(a[j + 1:, j], a[j, j + 1:])
    return a, pivots, perm


@rule(la.lu_p)
def _lu(x):
    m, n = x.shape[-2:]
    lu, piv, perm = _batched(_lu_one, x, (m, n), (min(m, n),), (m,))
    return [lu.astype(x.dtype), piv.astype(np.int32), perm.astype(np.int32)]


def _real_dtype(x: np.ndarray) -> np.dtype:
    return x.real.dtype


@rule(la.complex_linalg_p)
def _complex_linalg(*parts, op, params):
    """A decomposition of the complex matrices made of (real, imaginary) ``parts``, its complex results split."""
    xs = [(re + 1j * im).astype(np.result_type(re.dtype, np.complex64)) for re, im in la.complex_operands(parts)]
    outs = RULES[la.BY_NAME[op]](*xs, **dict(params))
    flat = []
    for o in (outs if isinstance(outs, list) else [outs]):
        flat += [o.real.copy(), o.imag.copy()] if o.dtype.kind == "c" else [o]
    return flat


@rule(ff.fft_p)
def _fft(*parts, fft_type, fft_lengths):
    axes = tuple(range(-len(fft_lengths), 0))
    dtype = parts[0].dtype
    if fft_type == ff.FftType.RFFT:
        c = np.fft.rfftn(parts[0], s=fft_lengths, axes=axes)
    elif fft_type == ff.FftType.IRFFT:
        return [np.fft.irfftn(parts[0] + 1j * parts[1], s=fft_lengths, axes=axes).astype(dtype)]
    elif fft_type == ff.FftType.FFT:
        c = np.fft.fftn(parts[0] + 1j * parts[1], s=fft_lengths, axes=axes)
    else:
        c = np.fft.ifftn(parts[0] + 1j * parts[1], s=fft_lengths, axes=axes)
    return [c.real.astype(dtype), c.imag.astype(dtype)]
