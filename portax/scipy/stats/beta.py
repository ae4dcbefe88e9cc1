"""``portax.scipy.stats.beta`` (``jax.scipy.stats.beta``)."""
from portax.core.scipy.stats.beta import logpdf, pdf, cdf  # noqa: F401
