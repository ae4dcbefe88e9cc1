"""``portax.scipy.stats.poisson`` (``jax.scipy.stats.poisson``)."""
from portax.core.scipy.stats.poisson import logpmf, pmf, cdf  # noqa: F401
