"""The implementation of ``portax.scipy``: special functions, distributions and linear algebra."""
from . import linalg, special, stats  # noqa: F401
