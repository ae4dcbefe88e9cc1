"""``jax.scipy.stats.t``: Student's t distribution with ``df`` degrees of freedom."""
from __future__ import annotations

from typing import Any

import numpy as np

from ... import numpy as jnp
from .. import special
from ._util import floats


def logpdf(x: Any, df: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, df, loc, scale = floats(x, df, loc, scale)
    z = (x - loc) / scale
    half = 0.5 * (df + 1)
    return (special.gammaln(half) - special.gammaln(0.5 * df) - 0.5 * jnp.log(df * np.pi) - jnp.log(scale)
            - half * jnp.log1p(z * z / df))


def pdf(x: Any, df: Any, loc: Any = 0, scale: Any = 1) -> Any:
    return jnp.exp(logpdf(x, df, loc, scale))


def cdf(x: Any, df: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Through the incomplete beta function: tail = I_{df / (df + z^2)}(df / 2, 1 / 2) / 2."""
    x, df, loc, scale = floats(x, df, loc, scale)
    z = (x - loc) / scale
    tail = 0.5 * special.betainc(df / 2, 0.5, df / (df + z * z))
    return jnp.where(z > 0, 1.0 - tail, tail)
