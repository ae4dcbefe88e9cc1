"""``portax.scipy.stats.cauchy`` (``jax.scipy.stats.cauchy``)."""
from portax.core.scipy.stats.cauchy import logpdf, pdf, cdf, ppf  # noqa: F401
