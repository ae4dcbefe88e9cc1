"""``portax.scipy.stats.chi2`` (``jax.scipy.stats.chi2``)."""
from portax.core.scipy.stats.chi2 import logpdf, pdf, cdf, sf  # noqa: F401
