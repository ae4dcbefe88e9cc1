"""``portax.scipy.linalg`` (``jax.scipy.linalg``): scipy's conventions over portax's decompositions."""
from portax.core.scipy.linalg import *  # noqa: F401,F403
from portax.core.scipy.linalg import __all__  # noqa: F401
