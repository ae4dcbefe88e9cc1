"""``portax.scipy.stats.norm`` (``jax.scipy.stats.norm``)."""
from portax.core.scipy.stats.norm import logpdf, pdf, cdf, logcdf, sf, logsf, ppf, isf  # noqa: F401
