"""``portax.experimental.shard_map``: the former home of ``shard_map`` (``jax.experimental.shard_map``)."""
from typing import Any, Callable

from portax.core.parallel.shard_map import shard_map as _shard_map


def shard_map(f: Callable, mesh: Any, in_specs: Any, out_specs: Any, check_rep: bool = True) -> Callable:
    """``jax.experimental.shard_map.shard_map``: ``portax.shard_map`` with positional mesh and specs."""
    return _shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=check_rep)


__all__ = ["shard_map"]
