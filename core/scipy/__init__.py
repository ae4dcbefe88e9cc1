"""The implementation of ``portax.scipy``: special functions, distributions and linear algebra."""
from . import linalg, sparse, special, stats  # noqa: F401
