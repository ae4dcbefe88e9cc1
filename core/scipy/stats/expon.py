"""``jax.scipy.stats.expon``: the exponential distribution."""
from __future__ import annotations

from typing import Any

from ... import numpy as jnp
from ._util import floats


def logpdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, loc, scale = floats(x, loc, scale)
    z = (x - loc) / scale
    return jnp.where(z < 0, -jnp.inf, -z - jnp.log(scale))


def pdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    return jnp.exp(logpdf(x, loc, scale))


def cdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, loc, scale = floats(x, loc, scale)
    z = (x - loc) / scale
    return jnp.where(z < 0, 0.0, -jnp.expm1(-jnp.maximum(z, 0.0)))


def sf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, loc, scale = floats(x, loc, scale)
    z = (x - loc) / scale
    return jnp.where(z < 0, 1.0, jnp.exp(-jnp.maximum(z, 0.0)))


def ppf(q: Any, loc: Any = 0, scale: Any = 1) -> Any:
    q, loc, scale = floats(q, loc, scale)
    return -jnp.log1p(-q) * scale + loc
