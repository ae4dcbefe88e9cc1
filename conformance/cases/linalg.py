"""Decompositions, triangular_solve and the split-complex FFT. Decompositions whose factors are only
unique up to signs are compared through what is unique: QR normalised to a positive diagonal of R,
U diag(s) V^T and s for the SVD, V diag(w) V^T and w for eigh."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

import portax.numpy as jnp
from portax.core.primitives import fft as ff, linalg as la

from ..inputs import values
from ..registry import TRANSFORMS, Case, GenContext, register_cases

SQUARE = ((3, 3), (4, 4), (2, 3, 3))
RECT = ((4, 3), (3, 4), (2, 4, 3))


def _spd(rng, shape, dt) -> np.ndarray:
    m = values(rng, shape, dt).astype(np.float64)
    n = shape[-1]
    return (m @ np.swapaxes(m, -1, -2) + n * np.eye(n)).astype(dt)


def _triangular(rng, shape, dt) -> np.ndarray:
    n = shape[-1]
    return (np.tril(values(rng, shape, dt)) + 3 * np.eye(n)).astype(dt)


def _qr_unique(x):
    q, r = la.qr(x, full_matrices=False)
    s = jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))
    return q * s[..., None, :], r * s[..., :, None]


def _svd_unique(x):
    u, s, vt = la.svd(x, full_matrices=False)
    return s, jnp.matmul(u * s[..., None, :], vt)


def _eigh_unique(x):
    v, w = la.eigh(x)
    return w, jnp.matmul(v * w[..., None, :], jnp.swapaxes(v, -1, -2))


def _eig_unique(x):
    """Eigenvalues in sorted order and the residual |A v - w v| (eigenvector phases are not unique)."""
    w, v = la.eig(x)
    residual = jnp.sum(jnp.abs(jnp.matmul(x.astype(v.dtype), v) - v * w[..., None, :]), axis=-2)
    w = jnp.sort(w, axis=-1)
    return jnp.real(w), jnp.imag(w), residual


def _matrix_cases(primitive, fn: Callable, shapes, make=values, transforms=TRANSFORMS):
    def generate(ctx: GenContext) -> Iterable[Case]:
        for dt in ctx.dtypes_of("f"):
            for shape in shapes:
                x = make(ctx.rng, shape, dt)
                # contiguous operands only: a broadcast layout repeats rows, and decompositions of such
                # rank-deficient matrices are not unique (nor SPD, for cholesky)
                yield Case(primitive, dt, [x], fn=fn, accum=shape[-1], label=f"{dt.name}{list(shape)}", layout_args=(),
                           transforms=transforms)
    return generate


def _triangular_solve_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes_of("f"):
        for left_side, lower, transpose_a in ((True, True, False), (False, True, True), (True, False, True)):
            a = _triangular(ctx.rng, (3, 3), dt)
            a = a if lower else np.ascontiguousarray(a.T)
            b = values(ctx.rng, (3, 2) if left_side else (2, 3), dt)
            kw = {"left_side": left_side, "lower": lower, "transpose_a": transpose_a}
            yield Case(la.triangular_solve_p, dt, [a, b], fn=lambda a, b, kw=kw: la.triangular_solve(a, b, **kw),
                       accum=3, label=f"a {dt.name}[3,3] b {list(b.shape)} {kw}", layout_args=(1,))


def _fft_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes_of("f"):
        for ft, shapes, lengths in ((ff.FftType.RFFT, [(8,)], (8,)), (ff.FftType.RFFT, [(3, 8)], (8,)),
                                    (ff.FftType.FFT, [(8,), (8,)], (8,)), (ff.FftType.IFFT, [(4, 6), (4, 6)], (4, 6)),
                                    (ff.FftType.IRFFT, [(5,), (5,)], (8,))):
            args = [values(ctx.rng, s, dt) for s in shapes]
            yield Case(ff.fft_p, dt, args, fn=lambda *p, ft=ft, n=lengths: ff.fft_split(p, ft, n), accum=lengths[-1],
                       label=f"{ft.name} of {dt.name}{list(shapes[0])} lengths {lengths}")


register_cases(la.cholesky_p, _matrix_cases(la.cholesky_p, la.cholesky, SQUARE, _spd))
register_cases(la.triangular_solve_p, _triangular_solve_cases)
# JAX differentiates tall QR only
register_cases(la.qr_p, _matrix_cases(la.qr_p, _qr_unique, ((4, 3), (3, 3), (2, 4, 3))))
register_cases(la.svd_p, _matrix_cases(la.svd_p, _svd_unique, RECT))
register_cases(la.eigh_p, _matrix_cases(la.eigh_p, _eigh_unique, SQUARE, _spd))
register_cases(la.lu_p, _matrix_cases(la.lu_p, la.lu, SQUARE + ((3, 4),)))
# eig is not differentiable in portax (nor are its eigenvector phases unique)
register_cases(la.eig_p, _matrix_cases(la.eig_p, _eig_unique, SQUARE, transforms=("eval", "jit", "vmap")))
register_cases(ff.fft_p, _fft_cases)
