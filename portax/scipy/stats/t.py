"""``portax.scipy.stats.t`` (``jax.scipy.stats.t``)."""
from portax.core.scipy.stats.t import logpdf, pdf  # noqa: F401
