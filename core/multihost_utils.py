"""``jax.experimental.multihost_utils`` over ``core.distributed``: values exchanged between processes
through host memory (each leaf is read back to a numpy array first)."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import distributed
from .pytree import tree_flatten, tree_map, tree_unflatten
from .sharded import MeshArray, put_sharded
from .sharding import NamedSharding, PartitionSpec


def process_allgather(in_tree: Any, tiled: bool = False) -> Any:
    """Every process's value of each leaf (same shape everywhere), as numpy arrays: stacked along a new
    leading axis of size ``process_count()``, or concatenated along axis 0 if ``tiled``. A global array
    (laid out over a mesh spanning processes) gives its whole value, whatever ``tiled``."""
    def gather(leaf):
        if isinstance(leaf, MeshArray) and not leaf.is_fully_addressable:
            whole = put_sharded(leaf, NamedSharding(leaf.sharding.mesh, PartitionSpec()))
            return np.asarray(whole.shards[0])
        stacked = distributed.allgather(np.asarray(leaf), "process_allgather")
        return np.concatenate(list(stacked), axis=0) if tiled else stacked
    return tree_map(gather, in_tree)


def sync_global_devices(name: str) -> None:
    """Wait until every process reaches ``sync_global_devices(name)``; different names are an error."""
    distributed.barrier(f"sync_global_devices({name!r})")


def broadcast_one_to_all(in_tree: Any, is_source: bool | None = None) -> Any:
    """The source process's values of ``in_tree`` on every process (the source: process 0 unless
    ``is_source`` says otherwise; exactly one process may be it), as portax Arrays."""
    from .primitives.elementwise import asarray
    if is_source is None:
        is_source = distributed.process_index() == 0
    sources = np.flatnonzero(distributed.allgather(np.array(bool(is_source)), "broadcast_one_to_all sources"))
    if len(sources) != 1:
        raise ValueError(f"broadcast_one_to_all needs exactly one source process, got {sources.tolist()}")
    leaves, tree = tree_flatten(in_tree)
    return tree_unflatten(tree, [asarray(distributed.broadcast(np.asarray(x), int(sources[0]), "broadcast_one_to_all"))
                                 for x in leaves])


def assert_equal(in_tree: Any, fail_message: str = "") -> None:
    """Raise AssertionError unless every process holds the same values of ``in_tree``."""
    for leaf in tree_flatten(in_tree)[0]:
        values = distributed.allgather(np.asarray(leaf), "assert_equal")
        if not all(np.array_equal(values[0], v, equal_nan=True) for v in values[1:]):
            raise AssertionError(f"{fail_message} Expected equal values on every process, got {values.tolist()}")
