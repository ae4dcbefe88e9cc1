"""``jax.scipy.stats.chi2`` with ``df`` degrees of freedom."""
from __future__ import annotations

from typing import Any

import numpy as np

from ... import numpy as jnp
from .. import special
from ._util import floats


def logpdf(x: Any, df: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, df, loc, scale = floats(x, df, loc, scale)
    y = (x - loc) / scale
    k = 0.5 * df
    out = special.xlogy(k - 1, y) - 0.5 * y - k * np.log(2.0) - special.gammaln(k) - jnp.log(scale)
    return jnp.where(y < 0, -jnp.inf, out)


def pdf(x: Any, df: Any, loc: Any = 0, scale: Any = 1) -> Any:
    return jnp.exp(logpdf(x, df, loc, scale))


def cdf(x: Any, df: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, df, loc, scale = floats(x, df, loc, scale)
    return special.gammainc(df / 2, jnp.maximum((x - loc) / scale, 0.0) / 2)


def sf(x: Any, df: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, df, loc, scale = floats(x, df, loc, scale)
    return special.gammaincc(df / 2, jnp.maximum((x - loc) / scale, 0.0) / 2)
