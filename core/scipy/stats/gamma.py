"""``jax.scipy.stats.gamma`` with shape ``a``."""
from __future__ import annotations

from typing import Any

from ... import numpy as jnp
from .. import special
from ._util import floats


def logpdf(x: Any, a: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, a, loc, scale = floats(x, a, loc, scale)
    y = (x - loc) / scale
    out = special.xlogy(a - 1, y) - y - special.gammaln(a) - jnp.log(scale)
    return jnp.where(y < 0, -jnp.inf, out)


def pdf(x: Any, a: Any, loc: Any = 0, scale: Any = 1) -> Any:
    return jnp.exp(logpdf(x, a, loc, scale))


def cdf(x: Any, a: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, a, loc, scale = floats(x, a, loc, scale)
    return special.gammainc(a, jnp.maximum((x - loc) / scale, 0.0))


def sf(x: Any, a: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, a, loc, scale = floats(x, a, loc, scale)
    return special.gammaincc(a, jnp.maximum((x - loc) / scale, 0.0))
