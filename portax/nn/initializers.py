"""``portax.nn.initializers``: parameter initializers, as ``jax.nn.initializers``."""
from portax.core.initializers import *  # noqa: F401,F403
from portax.core.initializers import __all__  # noqa: F401
