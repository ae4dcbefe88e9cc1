"""``jax.scipy.stats.poisson`` with rate ``mu``."""
from __future__ import annotations

from typing import Any

from ... import numpy as jnp
from .. import special
from ._util import floats


def logpmf(k: Any, mu: Any, loc: Any = 0) -> Any:
    k, mu, loc = floats(k, mu, loc)
    x = k - loc
    out = special.xlogy(x, mu) - mu - special.gammaln(x + 1)
    return jnp.where((x < 0) | (jnp.floor(x) != x), -jnp.inf, out)


def pmf(k: Any, mu: Any, loc: Any = 0) -> Any:
    return jnp.exp(logpmf(k, mu, loc))


def cdf(k: Any, mu: Any, loc: Any = 0) -> Any:
    """P(X <= k) = Q(floor(k - loc) + 1, mu)."""
    k, mu, loc = floats(k, mu, loc)
    x = jnp.floor(k - loc)
    return jnp.where(x < 0, 0.0, special.gammaincc(jnp.maximum(x, 0.0) + 1, mu))
