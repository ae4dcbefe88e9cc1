"""``jax.scipy.stats``: one module per distribution, each with its logpdf/pdf (and cdf, ppf, ... where
they are elementary)."""
from . import (bernoulli, beta, cauchy, chi2, dirichlet, expon, gamma, geom, laplace, logistic,  # noqa: F401
               multivariate_normal, norm, poisson, t, uniform)
