"""``portax.debug``: printing and callbacks from inside transformed functions (``jax.debug``)."""
from portax.core.callback import debug_callback as callback, debug_print as print  # noqa: F401
from portax.core.sharding import visualize_array_sharding  # noqa: F401

__all__ = ["callback", "print", "visualize_array_sharding"]
