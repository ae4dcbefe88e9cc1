"""``lax.random_gamma_grad(a, x)``: the derivative of a Gamma(a, 1) sample ``x`` with respect to ``a``, by
implicit differentiation of the CDF (``dx/da = -(dP/da) / (dP/dx)`` with ``P(a, x)`` the regularized lower
incomplete gamma function, as ``jax.random.gamma``'s derivative). ``dP/da`` comes from the power series of
``P`` where ``x <= max(1, a)`` and from the continued fraction of ``Q = 1 - P`` elsewhere, each differentiated
term by term alongside its evaluation.
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
    """``(S, dS/da)`` of ``S = sum_n x^n / ((a+1)...(a+n))``, so that ``P = x^a e^-x S / Gamma(a+1)``."""
    eps = float(np.finfo(get_aval(a).dtype).eps)

    def body(state):
        k, go, term, dterm, s, ds = state
        denom = ew.add(a, k)
        new_dterm = ew.sub(ew.mul(dterm, ew.div(x, denom)), ew.div(ew.mul(term, x), ew.mul(denom, denom)))
        new_term = ew.mul(term, ew.div(x, denom))
        term, dterm = ew.select(go, new_term, term), ew.select(go, new_dterm, dterm)
        s, ds = ew.select(go, ew.add(s, term), s), ew.select(go, ew.add(ds, dterm), ds)
        go = ew.bitwise_and(go, ew.gt(ew.abs(dterm), ew.mul(_c(ds, eps), ew.abs(ds))))
        return ew.add(k, _c(k, 1)), go, term, dterm, s, ds

    one, zero = st.full_like(a, 1), st.zeros_like_array(a)
    init = (_c(a, 1), active, one, zero, one, zero)
    state = cf.while_loop(lambda s: ew.bitwise_and(ew.lt(s[0], _c(s[0], MAX_TERMS)), _any(s[1])), body, init)
    return state[4], state[5]


def _continued_fraction(a: Any, x: Any, active: Any) -> Any:
    """``(F, dF/da)`` of the continued fraction ``F = 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))``, so that
    ``Q = x^a e^-x F / Gamma(a)``; convergents ``A/B`` by the three-term recurrence, rescaled when large."""
    eps = float(np.finfo(get_aval(a).dtype).eps)
    big = 1.0 / eps

    def body(state):
        k, go, a1, a2, b1, b2, da1, da2, db1, db2, f, df = state
        coef = ew.neg(ew.mul(k, ew.sub(k, a)))          # -k (k - a), d/da = k
        part = ew.sub(ew.add(x, ew.add(ew.mul(_c(k, 2), k), _c(k, 1))), a)  # x + 2k + 1 - a, d/da = -1
        an = ew.add(ew.mul(part, a1), ew.mul(coef, a2))
        bn = ew.add(ew.mul(part, b1), ew.mul(coef, b2))
        dan = ew.add(ew.add(ew.sub(ew.mul(part, da1), a1), ew.mul(coef, da2)), ew.mul(k, a2))
        dbn = ew.add(ew.add(ew.sub(ew.mul(part, db1), b1), ew.mul(coef, db2)), ew.mul(k, b2))
        ok = ew.bitwise_and(go, ew.ne(bn, _c(bn, 0)))
        fn = ew.div(an, ew.select(ok, bn, st.full_like(bn, 1)))
        dfn = ew.div(ew.sub(dan, ew.mul(fn, dbn)), ew.select(ok, bn, st.full_like(bn, 1)))
        converged = ew.le(ew.abs(ew.sub(dfn, df)), ew.mul(_c(df, eps), ew.abs(dfn)))
        f, df = ew.select(ok, fn, f), ew.select(ok, dfn, df)
        scale = ew.select(ew.gt(ew.abs(bn), _c(bn, big)), st.full_like(bn, eps), st.full_like(bn, 1))
        new = [ew.mul(v, scale) for v in (an, a1, bn, b1, dan, da1, dbn, db1)]
        keep = lambda n, o: ew.select(go, n, o)
        a1, a2, b1, b2, da1, da2, db1, db2 = (keep(n, o) for n, o in zip(new, (a1, a2, b1, b2, da1, da2, db1, db2)))
        go = ew.bitwise_and(go, ew.bitwise_not(converged))
        return ew.add(k, _c(k, 1)), go, a1, a2, b1, b2, da1, da2, db1, db2, f, df

    zero, one = st.zeros_like_array(a), st.full_like(a, 1)
    b_first = ew.sub(ew.add(x, one), a)  # the first convergent: A = 1, B = x + 1 - a
    f0 = ew.div(one, b_first)
    init = (_c(a, 1), active, one, zero, b_first, one, zero, zero, ew.neg(one), zero, f0, ew.div(f0, b_first))
    state = cf.while_loop(lambda s: ew.bitwise_and(ew.lt(s[0], _c(s[0], MAX_TERMS)), _any(s[1])), body, init)
    return state[10], state[11]


def random_gamma_grad(a: Any, x: Any) -> Any:
    """``d x / d a`` for samples ``x`` of Gamma(a, 1) (``jax.lax.random_gamma_grad``); NaN outside the domain."""
    from .numpy._util import promote_to_inexact
    a, x = promote_to_inexact(ew.asarray(a), ew.asarray(x))
    if get_aval(a).shape != get_aval(x).shape:
        from .numpy.shape import broadcast_arrays
        a, x = broadcast_arrays(a, x)
    if get_aval(a).dtype not in (dtypes.float32, dtypes.float64):
        a, x = (ew.convert_element_type(v, dtypes.float32) for v in (a, x))
    valid = ew.bitwise_and(ew.gt(x, _c(x, 0)), ew.gt(a, _c(a, 0)))
    safe_x = ew.select(valid, x, st.full_like(x, 1))
    safe_a = ew.select(valid, a, st.full_like(a, 1))
    use_fraction = ew.bitwise_and(ew.gt(safe_x, _c(x, 1)), ew.gt(safe_x, safe_a))
    log_x = ew.log(safe_x)
    s, ds = _series(safe_a, safe_x, ew.bitwise_and(valid, ew.bitwise_not(use_fraction)))
    by_series = ew.neg(ew.div(ew.mul(ew.add(ds, ew.mul(s, ew.sub(log_x, ew.digamma(ew.add(safe_a, _c(a, 1)))))),
                                     safe_x), safe_a))
    f, df = _continued_fraction(safe_a, safe_x, ew.bitwise_and(valid, use_fraction))
    by_fraction = ew.mul(ew.add(df, ew.mul(f, ew.sub(log_x, ew.digamma(safe_a)))), safe_x)
    out = ew.select(use_fraction, by_fraction, by_series)
    out = ew.select(ew.eq(x, _c(x, 0)), st.zeros_like_array(out), out)
    bad = ew.bitwise_or(ew.bitwise_or(ew.lt(x, _c(x, 0)), ew.le(a, _c(a, 0))), ew.bitwise_or(ew.ne(a, a), ew.ne(x, x)))
    return ew.select(bad, st.full_like(out, np.nan), out)
