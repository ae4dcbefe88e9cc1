"""``jax.scipy.stats.dirichlet``: densities over the simplex (the last axis of ``x``)."""
from __future__ import annotations

from typing import Any

from ... import numpy as jnp
from .. import special
from ._util import floats


def logpdf(x: Any, alpha: Any) -> Any:
    (x,) = floats(x)
    (alpha,) = floats(alpha)
    alpha = alpha.astype(x.dtype)
    if x.shape[-1:] != alpha.shape[-1:]:
        raise TypeError(f"dirichlet.logpdf: x and alpha must have the same last dimension, got {x.shape} and "
                        f"{alpha.shape}")
    normalize = jnp.sum(special.gammaln(alpha), axis=-1) - special.gammaln(jnp.sum(alpha, axis=-1))
    log_probs = jnp.sum(special.xlogy(alpha - 1, x), axis=-1) - normalize
    on_simplex = jnp.all(x >= 0, axis=-1) & (jnp.abs(jnp.sum(x, axis=-1) - 1) < 1e-5)
    return jnp.where(on_simplex, log_probs, -jnp.inf)


def pdf(x: Any, alpha: Any) -> Any:
    return jnp.exp(logpdf(x, alpha))
