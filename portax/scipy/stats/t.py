"""``portax.scipy.stats.t`` (``jax.scipy.stats.t``)."""
from portax.core.scipy.stats.t import logpdf, pdf, cdf  # noqa: F401
