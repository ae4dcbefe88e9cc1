"""``jax.scipy.stats.bernoulli`` with success probability ``p``."""
from __future__ import annotations

from typing import Any

from ... import numpy as jnp
from .. import special
from ._util import floats


def logpmf(k: Any, p: Any, loc: Any = 0) -> Any:
    k, p, loc = floats(k, p, loc)
    x = k - loc
    out = special.xlogy(x, p) + special.xlog1py(1 - x, -p)
    return jnp.where((x != 0) & (x != 1), -jnp.inf, out)


def pmf(k: Any, p: Any, loc: Any = 0) -> Any:
    return jnp.exp(logpmf(k, p, loc))


def cdf(k: Any, p: Any) -> Any:
    k, p = floats(k, p)
    return jnp.where(k < 0, 0.0, jnp.where(k < 1, 1 - p, 1.0))


def ppf(q: Any, p: Any) -> Any:
    q, p = floats(q, p)
    return jnp.where((q < 0) | (q > 1), jnp.nan, jnp.where(q <= 1 - p, 0.0, 1.0))
