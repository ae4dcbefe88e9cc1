"""Decompositions, triangular_solve and the split-complex FFT. Decompositions whose factors are only
unique up to signs (phases, for complex matrices) are compared through what is unique: QR normalised to a
positive diagonal of R, U diag(s) V^H and s for the SVD, V diag(w) V^H and w for eigh.

Complex matrices get cells of their own (c64, c128): the operands are the real and imaginary parts (float32 or
float64, so that jvp and vjp apply to them) joined inside the case, and complex results are returned as parts."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

import portax.numpy as jnp
from portax import lax
from portax.core import dtypes
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


def _H(x):
    return jnp.conj(jnp.swapaxes(x, -1, -2))


def _qr_unique(x):
    q, r = la.qr(x, full_matrices=False)
    s = jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))
    return q * s[..., None, :], r * jnp.conj(s)[..., :, None]


def _svd_unique(x):
    u, s, vt = la.svd(x, full_matrices=False)
    return s, jnp.matmul(u * s[..., None, :].astype(u.dtype), vt)


def _eigh_unique(x):
    v, w = la.eigh(x)
    return w, jnp.matmul(v * w[..., None, :].astype(v.dtype), _H(v))


def _eig_unique(x):
    """Eigenvalues in sorted order and the residual |A v - w v| (eigenvector phases are not unique)."""
    w, v = la.eig(x, compute_left_eigenvectors=False)
    residual = jnp.sum(jnp.abs(jnp.matmul(x.astype(v.dtype), v) - v * w[..., None, :]), axis=-2)
    w = jnp.sort(w, axis=-1)
    return jnp.real(w), jnp.imag(w), residual


def _eig_smooth(x):
    """What jvp and vjp compare of eig (phase- and order-free): sum_j w_j p_j p_j^H over the unit eigenvectors p_j,
    and sum_j w_j^2, as parts."""
    w, v = la.eig(x, compute_left_eigenvectors=False)
    p = v / jnp.linalg.norm(v, axis=-2, keepdims=True).astype(v.dtype)
    m = jnp.matmul(p * w[..., None, :], _H(p))
    return jnp.real(m), jnp.imag(m), jnp.real(jnp.sum(w * w, axis=-1)), jnp.imag(jnp.sum(w * w, axis=-1))


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


def _tridiagonal_solve_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes_of("f"):
        for batch, perturb in (((), False), ((2,), False), ((), True)):
            dl, du = values(ctx.rng, batch + (5,), dt), values(ctx.rng, batch + (5,), dt)
            d = (values(ctx.rng, batch + (5,), dt) + 4).astype(dt)  # diagonally dominant: well conditioned
            b = values(ctx.rng, batch + (5, 2), dt)
            yield Case(la.tridiagonal_solve_p, dt, [dl, d, du, b],
                       fn=lambda *xs, p=perturb: la.tridiagonal_solve(*xs, perturb_singular=p), accum=5,
                       label=f"{dt.name}{list(batch)}[5] b [5, 2] perturb_singular={perturb}", layout_args=(3,))


def _fft_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes_of("f"):
        for ft, shapes, lengths in ((ff.FftType.RFFT, [(8,)], (8,)), (ff.FftType.RFFT, [(3, 8)], (8,)),
                                    (ff.FftType.FFT, [(8,), (8,)], (8,)), (ff.FftType.IFFT, [(4, 6), (4, 6)], (4, 6)),
                                    (ff.FftType.IRFFT, [(5,), (5,)], (8,))):
            args = [values(ctx.rng, s, dt) for s in shapes]
            yield Case(ff.fft_p, dt, args, fn=lambda *p, ft=ft, n=lengths: ff.fft_split(p, ft, n), accum=lengths[-1],
                       label=f"{ft.name} of {dt.name}{list(shapes[0])} lengths {lengths}")


def _hpd(rng, shape, dt) -> np.ndarray:
    m = values(rng, shape, dt) + 1j * values(rng, shape, dt)
    n = shape[-1]
    return m @ np.conj(np.swapaxes(m, -1, -2)) + n * np.eye(n)


def _complex_values(rng, shape, dt) -> np.ndarray:
    return values(rng, shape, dt) + 1j * values(rng, shape, dt)


def _complex_triangular(rng, shape, dt) -> np.ndarray:
    return np.tril(_complex_values(rng, shape, dt)) + 3 * np.eye(shape[-1])


def _on_parts(fn: Callable) -> Callable:
    """``fn`` of complex operands as a function of their (real, imaginary) parts, its complex results split."""
    def run(*parts):
        out = fn(*[lax.complex(re, im) for re, im in zip(parts[::2], parts[1::2])])
        out = out if isinstance(out, (tuple, list)) else (out,)
        return tuple(p for o in out for p in ((jnp.real(o), jnp.imag(o)) if jnp.iscomplexobj(o) else (o,)))
    return run


def _parts(*xs: np.ndarray, dt) -> list:
    return [p.astype(dt) for x in xs for p in (np.real(x), np.imag(x))]


def _part_dtypes(ctx: GenContext) -> list:
    """``(part dtype, complex dtype)`` for the float32/float64 dtypes under test."""
    return [(dt, dtypes.complex_dtype(dt)) for dt in ctx.dtypes_of("f") if dt in (dtypes.float32, dtypes.float64)]


def _complex_matrix_cases(primitive, fn: Callable, shapes, make=_complex_values, transforms=TRANSFORMS):
    def generate(ctx: GenContext) -> Iterable[Case]:
        for dt, cdt in _part_dtypes(ctx):
            for shape in shapes:
                yield Case(primitive, cdt, _parts(make(ctx.rng, shape, dt), dt=dt), fn=_on_parts(fn),
                           accum=shape[-1], label=f"{cdt.name}{list(shape)} as parts", layout_args=(),
                           transforms=transforms)
    return generate


def _complex_triangular_solve_cases(ctx: GenContext) -> Iterable[Case]:
    for dt, cdt in _part_dtypes(ctx):
        for left_side, lower, transpose_a, conjugate_a in ((True, True, False, False), (False, True, True, True),
                                                           (True, False, True, True), (True, True, False, True)):
            a = _complex_triangular(ctx.rng, (3, 3), dt)
            a = a if lower else np.ascontiguousarray(a.T)
            b = _complex_values(ctx.rng, (3, 2) if left_side else (2, 3), dt)
            kw = {"left_side": left_side, "lower": lower, "transpose_a": transpose_a, "conjugate_a": conjugate_a}
            yield Case(la.triangular_solve_p, cdt, _parts(a, b, dt=dt),
                       fn=_on_parts(lambda a, b, kw=kw: la.triangular_solve(a, b, **kw)), accum=3,
                       label=f"a {cdt.name}[3,3] b {list(b.shape)} {kw} as parts", layout_args=(2, 3))


def _complex_linalg_cases(ctx: GenContext) -> Iterable[Case]:
    """The part-buffer primitive bound directly, for the decompositions whose results are unique."""
    for dt, cdt in _part_dtypes(ctx):
        a, b = _complex_triangular(ctx.rng, (3, 3), dt), _complex_values(ctx.rng, (3, 2), dt)
        ts = (("conjugate_a", True), ("left_side", True), ("lower", True), ("transpose_a", True),
              ("unit_diagonal", False))
        for op, args, params in (("cholesky", [_hpd(ctx.rng, (2, 3, 3), dt)], ()), ("lu", [_complex_values(
                ctx.rng, (3, 4), dt)], ()), ("triangular_solve", [a, b], ts)):
            yield Case(la.complex_linalg_p, cdt, _parts(*args, dt=dt), params={"op": op, "params": params},
                       accum=3, label=f"{op} of {cdt.name} {dict(params)}", layout_args=())


for _prim, _fn, _shapes, _make, _complex_make, _transforms in (
        (la.cholesky_p, la.cholesky, SQUARE, _spd, _hpd, TRANSFORMS),
        (la.qr_p, _qr_unique, ((4, 3), (3, 3), (2, 4, 3)), values, _complex_values, TRANSFORMS),  # JAX: tall QR only
        (la.svd_p, _svd_unique, RECT, values, _complex_values, TRANSFORMS),
        (la.eigh_p, _eigh_unique, SQUARE, _spd, _hpd, TRANSFORMS),
        (la.lu_p, la.lu, SQUARE + ((3, 4),), values, _complex_values, TRANSFORMS),
        # eigenvector phases are not unique: derivatives are compared through _eig_smooth
        (la.eig_p, _eig_unique, SQUARE, values, _complex_values, ("eval", "jit", "vmap")),
        (la.eig_p, _eig_smooth, SQUARE, values, _complex_values, ("jvp", "vjp"))):
    register_cases(_prim, _matrix_cases(_prim, _fn, _shapes, _make, _transforms))
    register_cases(_prim, _complex_matrix_cases(_prim, _fn, _shapes, _complex_make, _transforms))
register_cases(la.triangular_solve_p, _triangular_solve_cases)
register_cases(la.triangular_solve_p, _complex_triangular_solve_cases)
register_cases(la.tridiagonal_solve_p, _tridiagonal_solve_cases)
register_cases(ff.fft_p, _fft_cases)
register_cases(la.complex_linalg_p, _complex_linalg_cases)
