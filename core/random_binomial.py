"""``random.binomial`` and ``random.multinomial``, drawing the same values as ``jax.random``.

Binomial(n, p) is sampled for ``q = min(p, 1 - p)`` (the count of failures is returned when ``p >= 1/2``):
by inversion through geometric waiting times when ``n q <= 10``, else by Hörmann's transformed rejection
with squeeze (BTRS, 1993). Both run on every element with the same key and the right one is selected.
Multinomial draws one binomial per category, on what the previous categories left.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import numpy as jnp
from .numpy import _util
from .primitives import elementwise as ew
from .primitives.control_flow import scan, while_loop
from .random import _check_key, _float_dtype, _follows_key, split, uniform
from .trace import get_aval

# log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi)/2], the Stirling remainder, for k = 0..9
_STIRLING_REMAINDER = np.array([0.0810614667953272, 0.0413406959554092, 0.0276779256849983, 0.02079067210376509,
                                0.0166446911898211, 0.0138761288230707, 0.0118967099458917, 0.0104112652619720,
                                0.00925546218271273, 0.00833056343336287])


def _stirling_remainder(k: Any) -> Any:
    """The table for k <= 9, its asymptotic series (1/12 - 1/(360 m^2) + 1/(1260 m^4)) / m, m = k + 1, above."""
    small = jnp.clip(k, 0, 9)
    table = jnp.asarray(_STIRLING_REMAINDER.astype(get_aval(k).dtype))[small.astype(np.int32)]
    m2 = (small + 1) * (small + 1)  # at k clamped to 9, as jax.random evaluates it, so that samples agree
    series = (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / m2) / m2) / (small + 1)
    return jnp.where(k <= 9, table, series)


def _by_inversion(key: Any, n: Any, q: Any, shape: tuple) -> Any:
    """The number of successes: geometric waiting times (in trials) are summed until they exceed ``n``."""
    log_fail = jnp.log1p(-q)

    def body(state):
        i, count, total, key = state
        subkey, key = split(key)
        count = jnp.where(total <= n, count + 1, count)
        total = total + jnp.ceil(jnp.log(uniform(subkey, shape, get_aval(q).dtype)) / log_fail)
        return i + 1, count, total, key

    zeros = jnp.zeros(shape, get_aval(q).dtype)
    state = while_loop(lambda s: jnp.any(s[2] <= n), body, (0, zeros, zeros, key))
    return state[1] - 1


def _by_btrs(key: Any, n: Any, q: Any, shape: tuple) -> Any:
    """Hörmann's BTRS: a transformed uniform proposal, accepted by a squeeze or by the log-density bound."""
    dt = get_aval(q).dtype
    spread = jnp.sqrt(n * q * (1 - q))
    b = 1.15 + 2.53 * spread
    a = -0.0873 + 0.0248 * b + 0.01 * q
    c = n * q + 0.5
    v_r = 0.92 - 4.2 / b
    odds = q / (1 - q)
    alpha = (2.83 + 5.1 / b) * spread
    mode = jnp.floor((n + 1) * q)

    def body(state):
        i, k_out, done, key = state
        key, k0, k1 = split(key, 3)
        u = uniform(k0, shape, dt) - 0.5
        v = uniform(k1, shape, dt)
        us = 0.5 - jnp.abs(u)
        squeezed = (us >= 0.07) & (v <= v_r)
        k = jnp.floor((2 * a / us + b) * u + c)
        outside = (k < 0) | (k > n)
        log_v = jnp.log(v * alpha / (a / (us * us) + b))
        bound = ((mode + 0.5) * jnp.log((mode + 1) / (odds * (n - mode + 1)))
                 + (n + 1) * jnp.log((n - mode + 1) / (n - k + 1))
                 + (k + 0.5) * jnp.log(odds * (n - k + 1) / (k + 1))
                 + _stirling_remainder(mode) + _stirling_remainder(n - mode)
                 - _stirling_remainder(k) - _stirling_remainder(n - k))
        accept = squeezed | (~outside & (log_v <= bound))
        return i + 1, jnp.where(accept, k, k_out), done | accept, key

    state = (0, jnp.full(shape, -1, dt), jnp.zeros(shape, bool), key)
    return while_loop(lambda s: jnp.any(~s[2]), body, state)[1]


@_follows_key
def binomial(key: Any, n: Any, p: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Binomial(n, p) samples (float ``dtype``): NaN for a NaN or negative ``n`` or an invalid ``p``, inf for
    ``n = inf``; a non-integral ``n`` is floored."""
    key = _check_key("binomial", key)
    dt = _float_dtype("binomial", dtype)
    n, p = _util.asarray_any(n), _util.asarray_any(p)
    (p,) = _util.promote_to_inexact(p)
    shape = _util.broadcast_shapes(get_aval(n).shape, get_aval(p).shape) if shape is None else tuple(shape)
    n = jnp.broadcast_to(ew.convert_element_type(n, get_aval(p).dtype), shape)
    p = jnp.broadcast_to(p, shape)
    low = p < 0.5
    q = jnp.where(low, p, 1 - p)
    bad_q = jnp.isnan(q) | (q < 0)
    q = jnp.where(bad_q, 0.01, q)
    bad_n = jnp.isnan(n) | (n < 0)
    small = bad_n | (n * q <= 10)
    n = jnp.floor(n)
    inverted = _by_inversion(key, jnp.where(small, n, 0.0), q, shape)
    rejected = _by_btrs(key, jnp.where(small, 1e4, n), jnp.where(small, 0.5, q), shape)
    out = jnp.where(small, inverted, rejected).astype(dt)
    invalid = bad_q | bad_n
    out = jnp.where(invalid, np.nan, out)
    out = jnp.where(jnp.isinf(n) & ~invalid, np.inf, out)
    return jnp.where(low | bad_n | jnp.isnan(q) | jnp.isinf(n), out, n.astype(dt) - out)


@_follows_key
def multinomial(key: Any, n: Any, p: Any, *, shape: Sequence[int] | None = None, dtype: Any = None,
                unroll: int | bool = 1) -> Any:
    """Counts of ``n`` trials over the categories of the last axis of ``p`` (result shape ``shape`` or
    ``p.shape``)."""
    key = _check_key("multinomial", key)
    dt = _float_dtype("multinomial", dtype)
    n, p = _util.promote_to_inexact(_util.asarray_any(n), _util.asarray_any(p))
    shape = get_aval(p).shape if shape is None else tuple(shape)
    n = jnp.broadcast_to(n, shape[:-1])
    p = jnp.moveaxis(jnp.broadcast_to(p, shape), -1, 0)
    left = jnp.cumsum(p[::-1], axis=0)[::-1]
    ratios = p / jnp.where(left == 0, 1, left)

    def draw(remaining, ratio_and_key):
        ratio, k = ratio_and_key
        count = binomial(k, remaining, jnp.clip(ratio, 0, 1), dtype=get_aval(remaining).dtype)
        return remaining - count, count

    _, counts = scan(draw, n, (ratios, split(key, get_aval(ratios).shape[0])), unroll=unroll)
    return jnp.moveaxis(counts, 0, -1).astype(dt)
