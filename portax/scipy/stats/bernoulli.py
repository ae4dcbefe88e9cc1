"""``portax.scipy.stats.bernoulli`` (``jax.scipy.stats.bernoulli``)."""
from portax.core.scipy.stats.bernoulli import logpmf, pmf, cdf, ppf  # noqa: F401
