"""``jax.scipy.stats.beta``."""
from __future__ import annotations

from typing import Any

from ... import numpy as jnp
from .. import special
from ._util import floats


def logpdf(x: Any, a: Any, b: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, a, b, loc, scale = floats(x, a, b, loc, scale)
    y = (x - loc) / scale
    out = special.xlogy(a - 1, y) + special.xlog1py(b - 1, -y) - special.betaln(a, b) - jnp.log(scale)
    return jnp.where((y < 0) | (y > 1), -jnp.inf, out)


def pdf(x: Any, a: Any, b: Any, loc: Any = 0, scale: Any = 1) -> Any:
    return jnp.exp(logpdf(x, a, b, loc, scale))


def cdf(x: Any, a: Any, b: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, a, b, loc, scale = floats(x, a, b, loc, scale)
    return special.betainc(a, b, jnp.clip((x - loc) / scale, 0.0, 1.0))
