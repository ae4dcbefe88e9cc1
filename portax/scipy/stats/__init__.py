"""``portax.scipy.stats`` (``jax.scipy.stats``): one submodule per distribution."""
from portax.scipy.stats import (bernoulli, beta, cauchy, chi2, dirichlet, expon, gamma, geom, laplace,  # noqa: F401
                                logistic, multivariate_normal, norm, poisson, t, uniform)
