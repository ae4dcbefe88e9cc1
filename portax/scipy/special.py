"""``portax.scipy.special`` (``jax.scipy.special``)."""
from portax.core.scipy.special import *  # noqa: F401,F403
from portax.core.scipy.special import __all__  # noqa: F401
