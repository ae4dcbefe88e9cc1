"""``lax.linalg.tridiagonal_solve``: a primitive with JAX's rules (jvp, transpose in ``b``, batching) whose every
backend runs its decomposition: Gaussian elimination with partial (row) pivoting as a ``scan``, then back
substitution as a reverse ``scan``.

Without ``perturb_singular`` the pivoting and the singular case are LAPACK gtsv's (a zero pivot makes the whole
solution NaN, as JAX does with gtsv's ``info``); with it, they are jaxlib's ``tridiagonal_solve_perturbed``
(LAPACK xLAGTF/xLAGTS: scaled pivoting; tiny pivots perturbed by about ``eps * max |U|``).
"""
from __future__ import annotations

from typing import Any

from .. import dtypes
from ..ad_util import Zero, instantiate
from ..decompositions import register_decomposition
from ..interpreters import batching
from ..interpreters.transpose import is_undefined
from ..ir import ShapedArray
from ..trace import Primitive, abstract_eval_rules, batching_rules, get_aval, jvp_rules, transpose_rules
from . import elementwise as ew, structural as st

_DTYPES = (dtypes.float32, dtypes.float64, dtypes.complex64, dtypes.complex128)


def _abstract(dl: ShapedArray, d: ShapedArray, du: ShapedArray, b: ShapedArray, *, perturb_singular):
    for x in (dl, d, du, b):
        if x.dtype not in _DTYPES:
            raise TypeError(f"tridiagonal_solve does not accept dtype {x.dtype.name}")
    if len({dl.dtype, d.dtype, du.dtype, b.dtype}) != 1:
        raise TypeError("tridiagonal_solve requires that all arguments have the same dtype")
    if dl.shape != d.shape or dl.shape != du.shape:
        raise TypeError("tridiagonal_solve requires that all diagonal arguments have the same shape.")
    if dl.shape != b.shape[:-1]:
        raise TypeError("tridiagonal_solve requires that the leading ndim-1 dimensions of b equal the dimensions "
                        "of the diagonal arguments.")
    return ShapedArray(b.shape, b.dtype)


def _product(dl: Any, d: Any, du: Any, x: Any) -> Any:
    """The tridiagonal matrix (``dl[0]`` and ``du[-1]`` not read) times ``x`` (``[..., m, k]``)."""
    y = d[..., None] * x
    y = y.at[..., 1:, :].add(dl[..., 1:, None] * x[..., :-1, :])
    return y.at[..., :-1, :].add(du[..., :-1, None] * x[..., 1:, :])


def _jvp(primals, tangents, *, perturb_singular):
    *diags, b = primals
    *diags_dot, b_dot = tangents
    ans = tridiagonal_solve_p.bind(*primals, perturb_singular=perturb_singular)
    if all(type(t) is Zero for t in diags_dot):
        rhs = b_dot
    else:
        matvec_dot = _product(*[instantiate(t) for t in diags_dot], ans)
        rhs = ew.neg(matvec_dot) if type(b_dot) is Zero else ew.sub(b_dot, matvec_dot)
    if type(rhs) is Zero:
        return ans, rhs
    return ans, tridiagonal_solve_p.bind(*diags, rhs, perturb_singular=perturb_singular)


def _transpose(ct, dl, d, du, b, *, perturb_singular):
    if is_undefined(dl) or is_undefined(d) or is_undefined(du):
        raise ValueError("tridiagonal_solve is not linear in its diagonal arguments")
    if type(ct) is Zero:
        return [None, None, None, Zero(b.aval)]
    m = get_aval(d).shape[-1]
    zero = st.zeros_like_array(st.slice_in_dim(d, 0, 1, axis=-1))
    dl_t = st.concatenate([zero, st.slice_in_dim(du, 0, m - 1, axis=-1)], get_aval(d).ndim - 1)
    du_t = st.concatenate([st.slice_in_dim(dl, 1, m, axis=-1), zero], get_aval(d).ndim - 1)
    return [None, None, None, tridiagonal_solve_p.bind(dl_t, d, du_t, ct, perturb_singular=perturb_singular)]


def _batch(axis, vals, dims, *, perturb_singular):
    vals = [batching.bdim_at_front(v, dim, axis.size) for v, dim in zip(vals, dims)]
    return tridiagonal_solve_p.bind(*vals, perturb_singular=perturb_singular), 0


def _abs(x: Any, cabs1: bool) -> Any:
    """``|x|``; LAPACK's ``|re| + |im|`` of a complex ``x`` if ``cabs1``."""
    from .. import numpy as jnp
    if cabs1 and jnp.iscomplexobj(x):
        return jnp.abs(x.real) + jnp.abs(x.imag)
    return jnp.abs(x)


def _eliminate(dl: Any, d: Any, du: Any, b: Any, perturb: bool) -> tuple:
    """Row-pivoted elimination over the leading axis: the rows of U (diagonal, first and second superdiagonal),
    the transformed right-hand sides, and (for ``perturb``) ``max |U|`` as jaxlib accumulates it."""
    from .. import numpy as jnp
    from .control_flow import scan
    m = d.shape[0]
    absr = lambda x: _abs(x, not perturb)
    zero = jnp.zeros_like(d[0])

    def step(carry, row):
        a, c, r, scale1, k = carry
        l, dd, u, rb = row
        last = k == m - 2
        u = jnp.where(last, zero, u)
        if perturb:
            scale2 = absr(l) + absr(dd) + absr(u)
            piv1 = jnp.where(a == 0, 0, absr(a) / scale1)
            swap = (l != 0) & (absr(l) / scale2 > piv1)
        else:
            swap = absr(l) > absr(a)
        f_keep = jnp.where(l == 0, zero, l / jnp.where(a == 0, 1, a))
        f_swap = a / jnp.where(l == 0, 1, l)
        urow = (jnp.where(swap, l, a), jnp.where(swap, dd, c), jnp.where(swap, u, zero))
        rrow = jnp.where(swap, rb, r)
        new_a = jnp.where(swap, c - f_swap * dd, dd - f_keep * c)
        new_c = jnp.where(swap, -f_swap * u, u)
        new_r = jnp.where(swap, r - f_swap * rb, rb - f_keep * r)
        if perturb:
            scale1 = jnp.where(swap, absr(new_a) + absr(new_c), scale2)
        return (new_a, new_c, new_r, scale1, k + 1), urow + (rrow,)

    init = (d[0], du[0], b[0], absr(d[0]) + absr(du[0]), jnp.int32(0))
    if m == 1:
        a, r, u0, u1, u2, rhs = d[0], b[0], d[:0], d[:0], d[:0], b[:0]
    else:
        (a, _, r, _, _), (u0, u1, u2, rhs) = scan(step, init, (dl[1:], d[1:], du[1:], b[1:]))
    u0 = jnp.concatenate([u0, a[None]])
    u1 = jnp.concatenate([u1, zero[None]])
    u2 = jnp.concatenate([u2, zero[None]])
    rhs = jnp.concatenate([rhs, r[None]])
    if not perturb:
        return u0, u1, u2, rhs, None
    rows = jnp.arange(m).reshape((m,) + (1,) * (d.ndim - 1)) < m - 2
    inner = jnp.maximum(jnp.maximum(absr(u0), absr(u1)), absr(u2))
    max_u = jnp.maximum(jnp.max(jnp.where(rows, inner, 0), axis=0), absr(u0[-1]))
    max_u = jnp.maximum(max_u, jnp.maximum(absr(d[0]), absr(du[0])))
    return u0, u1, u2, rhs, max_u


def _perturb_pivot(perturb: Any, p: Any, r: Any) -> tuple:
    """jaxlib's ``MaybePerturbPivot`` (from LAPACK xLAGTS), elementwise over the batch: ``p`` nudged away from 0
    by doubling multiples of ``perturb`` (or ``p`` and ``r`` scaled up) until ``r / p`` cannot overflow."""
    from .. import numpy as jnp
    from .control_flow import while_loop
    fi = dtypes.finfo(get_aval(perturb).dtype)
    tiny, small = float(fi.tiny), 1 / float(fi.max)  # Python floats: weakly typed
    safemin = tiny if small < tiny else small * (1 + float(fi.eps))
    bignum = 1 / safemin
    perturb = jnp.maximum(jnp.abs(perturb), safemin)
    perturb = jnp.where(jnp.real(p) < 0, -perturb, perturb)
    max_factor = jnp.max(jnp.abs(r), axis=-1, keepdims=True)

    def body(state):
        p, perturb, r, done = state
        ap = jnp.abs(p)
        tiny_p = ap < safemin
        nudge = jnp.where(tiny_p, (ap == 0) | (max_factor * safemin > ap), max_factor > ap * bignum)
        scale = tiny_p & ~nudge
        p = jnp.where(done, p, jnp.where(nudge, p + perturb.astype(p.dtype), jnp.where(scale, p * bignum, p)))
        r = jnp.where(done | ~scale, r, r * bignum)
        perturb = jnp.where(done | ~nudge, perturb, perturb * 2)
        return p, perturb, r, done | ~nudge | (jnp.abs(p) >= 1)

    p, _, r, _ = while_loop(lambda s: jnp.any(~s[3]), body, (p, perturb, r, jnp.abs(p) >= 1))
    return p, r


def _decomposition(dl: Any, d: Any, du: Any, b: Any, *, perturb_singular: bool) -> Any:
    from .. import numpy as jnp
    from .control_flow import scan
    m = get_aval(d).shape[-1]
    if m == 0:
        return b
    # the scanned axis first: diagonals [m, ..., 1] (broadcasting against the right-hand sides [m, ..., k])
    dl, d, du = (jnp.moveaxis(x, -1, 0)[..., None] for x in (dl, d, du))
    b = jnp.moveaxis(b, -2, 0)
    u0, u1, u2, rhs, max_u = _eliminate(dl, d, du, b, perturb_singular)
    if perturb_singular:
        eps = float(dtypes.finfo(dtypes.real_dtype(get_aval(d).dtype)).eps)
        perturb = eps * (max_u if m > 1 else jnp.abs(d[0]))

    def back(carry, row):
        x1, x2 = carry
        p, c1, c2, r = row
        r = r - c1 * x1 - c2 * x2
        if perturb_singular:
            p, r = _perturb_pivot(perturb, p, r)
            x = r * (1 / p)
        else:
            x = r / p
        return (x, x1), x

    zero = jnp.zeros_like(b[0])
    _, x = scan(back, (zero, zero), (u0, u1, u2, rhs), reverse=True)
    if not perturb_singular:  # gtsv's info > 0: an exactly zero pivot
        x = jnp.where(jnp.any(u0 == 0, axis=0), jnp.nan, x)
    return jnp.moveaxis(x, 0, -2)


tridiagonal_solve_p = Primitive("tridiagonal_solve")
abstract_eval_rules[tridiagonal_solve_p] = _abstract
jvp_rules[tridiagonal_solve_p] = _jvp
transpose_rules[tridiagonal_solve_p] = _transpose
batching_rules[tridiagonal_solve_p] = _batch
register_decomposition(tridiagonal_solve_p, _decomposition)


def tridiagonal_solve(dl: Any, d: Any, du: Any, b: Any, *, perturb_singular: bool = False) -> Any:
    """Solve ``A x = b`` for the tridiagonal ``A`` with ``A[i, i-1] = dl[i]``, ``A[i, i] = d[i]``,
    ``A[i, i+1] = du[i]`` (``dl[..., 0]`` and ``du[..., -1]`` are not read); ``b`` is ``[..., m, k]``.
    ``perturb_singular`` perturbs tiny pivots so that a singular system gives a finite result."""
    dl, d, du, b = (ew.asarray(x) for x in (dl, d, du, b))
    return tridiagonal_solve_p.bind(dl, d, du, b, perturb_singular=bool(perturb_singular))


__all__ = ["tridiagonal_solve", "tridiagonal_solve_p"]
