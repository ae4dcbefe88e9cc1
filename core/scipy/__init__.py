"""The implementation of ``portax.scipy``: special functions, distributions and linear algebra."""
from . import linalg, signal, sparse, special, stats  # noqa: F401
