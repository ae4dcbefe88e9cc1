"""``portax.scipy.stats.logistic`` (``jax.scipy.stats.logistic``)."""
from portax.core.scipy.stats.logistic import logpdf, pdf, cdf, sf, logcdf, logsf, ppf, isf  # noqa: F401
