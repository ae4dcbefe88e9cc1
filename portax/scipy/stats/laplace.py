"""``portax.scipy.stats.laplace`` (``jax.scipy.stats.laplace``)."""
from portax.core.scipy.stats.laplace import logpdf, pdf, cdf  # noqa: F401
