"""``portax.flatten_util``: as ``jax.flatten_util``."""
from portax.core.flatten_util import ravel_pytree  # noqa: F401
