"""``portax.random``: threefry2x32 keys and samplers, bit-identical to ``jax.random``."""
from portax.core.random import *  # noqa: F401,F403
from portax.core.random import __all__  # noqa: F401
