"""``portax.interpreters`` (``jax.interpreters``): the transformations' extension points; ``batching`` so far."""
from portax.interpreters import batching  # noqa: F401
