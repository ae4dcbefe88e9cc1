"""``portax.extend``: JAX's interface for libraries built on it (``jax.extend``); ``core`` so far."""
from portax.extend import core  # noqa: F401
