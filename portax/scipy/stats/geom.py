"""``portax.scipy.stats.geom`` (``jax.scipy.stats.geom``)."""
from portax.core.scipy.stats.geom import logpmf, pmf  # noqa: F401
