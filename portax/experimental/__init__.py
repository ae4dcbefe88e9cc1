"""``portax.experimental``: JAX's experimental APIs portax implements."""
from portax.core.callback import io_callback  # noqa: F401
from portax.experimental import shard_map  # noqa: F401

__all__ = ["io_callback", "shard_map"]
