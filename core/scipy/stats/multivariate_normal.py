"""``jax.scipy.stats.multivariate_normal``: log-density through a Cholesky factorisation of ``cov``."""
from __future__ import annotations

from typing import Any

import numpy as np

from ... import numpy as jnp
from ...primitives import linalg as la
from ._util import floats


def logpdf(x: Any, mean: Any, cov: Any, allow_singular: bool = False) -> Any:
    """Log-density at ``x`` (``[..., n]``) for ``mean`` (``[..., n]``) and ``cov`` (``[..., n, n]``, or a
    scalar/vector for an isotropic/diagonal covariance)."""
    if allow_singular:
        raise NotImplementedError("allow_singular=True is not supported by multivariate_normal.logpdf")
    x, mean = floats(x, mean)
    (cov,) = floats(cov)
    cov = cov.astype(x.dtype)
    if cov.ndim < 2:
        n = x.shape[-1] if x.ndim else 1
        var = jnp.broadcast_to(cov, (n,)) if cov.ndim == 0 else cov
        y = x - mean
        return (-0.5 * jnp.sum(y * y / var, axis=-1) - 0.5 * n * np.log(2 * np.pi)
                - 0.5 * jnp.sum(jnp.log(var), axis=-1))
    n = cov.shape[-1]
    if x.shape[-1:] != (n,):
        raise ValueError(f"multivariate_normal.logpdf: x has shape {x.shape} but cov is {cov.shape}")
    L = la.cholesky(cov)
    y = x - mean
    batch = np.broadcast_shapes(y.shape[:-1], L.shape[:-2])
    Lb = jnp.broadcast_to(L, batch + (n, n))
    yb = jnp.broadcast_to(y, batch + (n,))
    z = la.triangular_solve(Lb, yb[..., None], left_side=True, lower=True)[..., 0]
    log_det = jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * jnp.sum(z * z, axis=-1) - log_det - 0.5 * n * np.log(2 * np.pi)


def pdf(x: Any, mean: Any, cov: Any) -> Any:
    return jnp.exp(logpdf(x, mean, cov))
