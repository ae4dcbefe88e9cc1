"""``portax.scipy``: special functions, probability distributions and linear algebra (``jax.scipy``)."""
from portax.scipy import linalg, sparse, special, stats  # noqa: F401
