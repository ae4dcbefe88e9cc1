"""``portax.scipy.stats.uniform`` (``jax.scipy.stats.uniform``)."""
from portax.core.scipy.stats.uniform import logpdf, pdf, cdf, ppf  # noqa: F401
