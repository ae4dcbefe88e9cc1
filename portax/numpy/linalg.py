"""``portax.numpy.linalg``: norms, solves, determinants and decompositions (``jax.numpy.linalg``)."""
from portax.core.numpy.linalg import *  # noqa: F401,F403
from portax.core.numpy.linalg import __all__  # noqa: F401
