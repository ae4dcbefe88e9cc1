"""``portax.ops``: segment reductions, as ``jax.ops``."""
from portax.core.ops import segment_max, segment_min, segment_prod, segment_sum  # noqa: F401

__all__ = ["segment_max", "segment_min", "segment_prod", "segment_sum"]
