"""``portax.scipy.stats.dirichlet`` (``jax.scipy.stats.dirichlet``)."""
from portax.core.scipy.stats.dirichlet import logpdf, pdf  # noqa: F401
