"""``jax.scipy.stats.geom``: number of trials up to the first success (support 1, 2, ...)."""
from __future__ import annotations

from typing import Any

from ... import numpy as jnp
from .. import special
from ._util import floats


def logpmf(k: Any, p: Any, loc: Any = 0) -> Any:
    k, p, loc = floats(k, p, loc)
    x = k - loc
    out = special.xlog1py(x - 1, -p) + jnp.log(p)
    return jnp.where((x < 1) | (jnp.floor(x) != x), -jnp.inf, out)


def pmf(k: Any, p: Any, loc: Any = 0) -> Any:
    return jnp.exp(logpmf(k, p, loc))
