"""``lax.random_gamma_grad(a, x)``: the derivative of a Gamma(a, 1) sample ``x`` with respect to ``a``, by
implicit differentiation of the CDF (``dx/da = -(dP/da) / (dP/dx)`` with ``P(a, x)`` the regularized lower
incomplete gamma function, as ``jax.random.gamma``'s derivative). ``dP/da`` comes from the power series of
``P`` where ``x <= max(1, a)`` and from Cephes' continued fraction of ``Q = 1 - P`` elsewhere (convergents
``p_k / q_k`` by their three-term recurrence, rescaled when large), each differentiated in ``a`` alongside its
evaluation, with the stopping rules of JAX's lax implementation so that float32 values agree.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .primitives import control_flow as cf, elementwise as ew, structural as st
from .primitives.reductions import reduce_or
from .trace import get_aval

MAX_TERMS = 2000


def _c(like: Any, v: float) -> Any:
    return ew._const(like, v)


def _any(mask: Any) -> Any:
    return reduce_or(mask, tuple(range(get_aval(mask).ndim)))


def _series(a: Any, x: Any, active: Any) -> Any:
    """``(S, dS/da)`` of ``S = sum_n x^n / ((a+1)...(a+n))``, so that ``P = x^a e^-x S / Gamma(a+1)``; stops
    once a term's derivative is below ``eps`` relative to the sum's."""
    eps = float(np.finfo(get_aval(a).dtype).eps)

    def body(state):
        go, denom, term, dterm, s, ds = state
        denom = ew.add(denom, _c(denom, 1))
        dterm = ew.sub(ew.mul(dterm, ew.div(x, denom)), ew.div(ew.mul(term, x), ew.mul(denom, denom)))
        term = ew.mul(term, ew.div(x, denom))
        new = (denom, term, dterm, ew.add(s, term), ew.add(ds, dterm))
        more = ew.bitwise_and(go, ew.gt(ew.abs(ew.div(dterm, new[4])), _c(ds, eps)))
        return (more,) + tuple(ew.select(go, n, o) for n, o in zip(new, state[1:]))

    one, zero = st.full_like(a, 1), st.zeros_like_array(a)
    state = cf.while_loop(lambda s: _any(s[0]), body, (active, a, one, zero, one, zero))
    return state[4], state[5]


def _continued_fraction(a: Any, x: Any, active: Any) -> Any:
    """``(F, dF/da)`` of Cephes' continued fraction ``F`` with ``Q = x^a e^-x F / Gamma(a)``: convergents
    ``p_k / q_k`` with ``p_k = z_k p_{k-1} - k y_k p_{k-2}`` (likewise ``q_k``), ``y_k = k + 1 - a``,
    ``z_k = x + 2k + 1 - a``; stops when ``dF/da`` changes by at most ``eps`` or after ``MAX_TERMS`` terms."""
    eps = float(np.finfo(get_aval(a).dtype).eps)

    def body(state):
        go, k, y, z, p1, q1, p2, q2, dp1, dq1, dp2, dq2, f, df = state
        k, y, z = ew.add(k, _c(k, 1)), ew.add(y, _c(y, 1)), ew.add(z, _c(z, 2))
        yk = ew.mul(y, k)  # d(yk)/da = -k, dz/da = -1
        p = ew.sub(ew.mul(p1, z), ew.mul(p2, yk))
        q = ew.sub(ew.mul(q1, z), ew.mul(q2, yk))
        dp = ew.add(ew.sub(ew.sub(ew.mul(dp1, z), p1), ew.mul(dp2, yk)), ew.mul(p2, k))
        dq = ew.add(ew.sub(ew.sub(ew.mul(dq1, z), q1), ew.mul(dq2, yk)), ew.mul(q2, k))
        ok = ew.ne(q, _c(q, 0))
        f_new = ew.select(ok, ew.div(p, q), f)
        df_new = ew.select(ok, ew.div(ew.sub(dp, ew.mul(f_new, dq)), q), df)
        change = ew.select(ok, ew.abs(ew.sub(df_new, df)), st.full_like(df, 1))
        scale = ew.select(ew.gt(ew.abs(p), _c(p, 1 / eps)), st.full_like(p, eps), st.full_like(p, 1))
        new = (y, z) + tuple(ew.mul(v, scale) for v in (p, q, p1, q1, dp, dq, dp1, dq1)) + (f_new, df_new)
        more = ew.bitwise_and(go, ew.gt(change, _c(change, eps)))
        return (more, k) + tuple(ew.select(go, n, o) for n, o in zip(new, state[2:]))

    zero, one = st.zeros_like_array(a), st.full_like(a, 1)
    y = ew.sub(one, a)
    z = ew.add(ew.add(x, y), one)
    p1, q1 = ew.add(x, one), ew.mul(z, x)
    f = ew.div(p1, q1)
    df = ew.div(ew.mul(f, x), q1)  # dq1/da = -x, dp1/da = 0
    init = (active, _c(a, 0), y, z, p1, q1, one, x, zero, ew.neg(x), zero, zero, f, df)
    state = cf.while_loop(lambda s: ew.bitwise_and(ew.lt(s[1], _c(s[1], MAX_TERMS)), _any(s[0])), body, init)
    return state[12], state[13]


def random_gamma_grad(a: Any, x: Any) -> Any:
    """``d x / d a`` for samples ``x`` of Gamma(a, 1) (``jax.lax.random_gamma_grad``); NaN outside the domain.
    Where ``x^a e^-x / Gamma(a)`` underflows the sums are not evaluated (their first terms stand), as in JAX."""
    from .numpy._util import promote_to_inexact
    a, x = promote_to_inexact(ew.asarray(a), ew.asarray(x))
    if get_aval(a).shape != get_aval(x).shape:
        from .numpy.shape import broadcast_arrays
        a, x = broadcast_arrays(a, x)
    dtype = get_aval(a).dtype
    if dtype not in (dtypes.float32, dtypes.float64):  # float16: computed in float32, rounded at the end
        a, x = (ew.convert_element_type(v, dtypes.float32) for v in (a, x))
    valid = ew.bitwise_and(ew.gt(x, _c(x, 0)), ew.gt(a, _c(a, 0)))
    safe_x = ew.select(valid, x, st.full_like(x, 1))
    safe_a = ew.select(valid, a, st.full_like(a, 1))
    log_x = ew.log(safe_x)
    log_ax = ew.sub(ew.sub(ew.mul(safe_a, log_x), safe_x), ew.lgamma(safe_a))
    max_log = float(np.log(np.finfo(get_aval(a).dtype).max))
    active = ew.bitwise_and(valid, ew.ge(log_ax, _c(log_ax, -max_log)))
    use_fraction = ew.bitwise_and(ew.gt(safe_x, _c(x, 1)), ew.gt(safe_x, safe_a))
    s, ds = _series(safe_a, safe_x, ew.bitwise_and(active, ew.bitwise_not(use_fraction)))
    by_series = ew.neg(ew.div(ew.mul(ew.add(ds, ew.mul(s, ew.sub(log_x, ew.digamma(ew.add(safe_a, _c(a, 1)))))),
                                     safe_x), safe_a))
    f, df = _continued_fraction(safe_a, safe_x, ew.bitwise_and(active, use_fraction))
    by_fraction = ew.mul(ew.add(df, ew.mul(f, ew.sub(log_x, ew.digamma(safe_a)))), safe_x)
    out = ew.select(use_fraction, by_fraction, by_series)
    out = ew.select(ew.eq(x, _c(x, 0)), st.zeros_like_array(out), out)
    bad = ew.bitwise_or(ew.bitwise_or(ew.lt(x, _c(x, 0)), ew.le(a, _c(a, 0))), ew.bitwise_or(ew.ne(a, a), ew.ne(x, x)))
    return ew.convert_element_type(ew.select(bad, st.full_like(out, np.nan), out), dtype)
