"""``portax.scipy``: special functions, probability distributions, linear algebra and signal processing (``jax.scipy``)."""
from portax.scipy import linalg, signal, sparse, special, stats  # noqa: F401
