"""``jax.scipy.stats.cauchy``."""
from __future__ import annotations

from typing import Any

import numpy as np

from ... import numpy as jnp
from ._util import floats


def logpdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, loc, scale = floats(x, loc, scale)
    z = (x - loc) / scale
    return -np.log(np.pi) - jnp.log(scale) - jnp.log1p(z * z)


def pdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    return jnp.exp(logpdf(x, loc, scale))


def cdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    x, loc, scale = floats(x, loc, scale)
    return 0.5 + jnp.arctan((x - loc) / scale) / np.pi


def ppf(q: Any, loc: Any = 0, scale: Any = 1) -> Any:
    q, loc, scale = floats(q, loc, scale)
    return loc + scale * jnp.tan(np.pi * (q - 0.5))
