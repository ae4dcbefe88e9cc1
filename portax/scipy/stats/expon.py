"""``portax.scipy.stats.expon`` (``jax.scipy.stats.expon``)."""
from portax.core.scipy.stats.expon import logpdf, pdf, cdf, sf, ppf  # noqa: F401
