"""``portax.scipy.sparse``: matrix-free iterative solvers."""
from . import linalg  # noqa: F401
