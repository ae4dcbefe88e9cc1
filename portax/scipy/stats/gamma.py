"""``portax.scipy.stats.gamma`` (``jax.scipy.stats.gamma``)."""
from portax.core.scipy.stats.gamma import logpdf, pdf, cdf, sf  # noqa: F401
