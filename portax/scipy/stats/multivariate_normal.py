"""``portax.scipy.stats.multivariate_normal`` (``jax.scipy.stats.multivariate_normal``)."""
from portax.core.scipy.stats.multivariate_normal import logpdf, pdf  # noqa: F401
