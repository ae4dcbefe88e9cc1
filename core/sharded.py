"""``ShardedArray``: an array split over devices along one axis, one ``Array`` (shard) per device.

pmap returns these. ``x[i]`` (an integer index on the sharded axis 0) is shard ``i`` itself, still on
its device; a pmap over the same devices and axis uses the shards in place; ``np.asarray`` gathers the
shards on the host; portax.numpy operations see the array gathered onto the first shard's device.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .array import Array, make_array, to_device
from .array_methods import ArrayMethods
from .backend import Device
from .ir import ShapedArray
from .pytree import tree_flatten, tree_map, tree_unflatten


class ShardedArray(ArrayMethods):
    """Shards (Arrays of equal aval, one per device) stacked along ``sharded_axis``."""

    __slots__ = ("aval", "shards", "sharded_axis", "_host", "_gathered_array", "__weakref__")
    __array_priority__ = 100

    def __init__(self, shards: Sequence[Array], sharded_axis: int = 0):
        shards = list(shards)
        if not shards:
            raise ValueError("ShardedArray needs at least one shard")
        aval = shards[0].aval
        if any(s.aval.shape != aval.shape or s.aval.dtype != aval.dtype for s in shards):
            raise ValueError(f"ShardedArray shards must share one shape and dtype, got "
                             f"{[s.aval.str_short() for s in shards]}")
        if not 0 <= sharded_axis <= aval.ndim:
            raise ValueError(f"sharded_axis {sharded_axis} is out of range for shards of shape {aval.shape}")
        shape = aval.shape[:sharded_axis] + (len(shards),) + aval.shape[sharded_axis:]
        self.aval = ShapedArray(shape, aval.dtype, aval.weak_type)
        self.shards = shards
        self.sharded_axis = sharded_axis
        self._host = None
        self._gathered_array = None

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: len(self.aval.shape))
    size = property(lambda self: self.aval.size)
    weak_type = property(lambda self: self.aval.weak_type)
    nbytes = property(lambda self: self.aval.size * self.aval.dtype.itemsize)
    is_fully_replicated = property(lambda self: len(self.shards) == 1)

    @property
    def device_buffers(self) -> list[Array]:
        """The shards, one per device (JAX's ``ShardedDeviceArray.device_buffers``)."""
        return list(self.shards)

    def devices(self) -> set:
        return {s.device for s in self.shards}

    def _value(self) -> np.ndarray:
        if self._host is None:
            host = np.stack([np.asarray(s) for s in self.shards], axis=self.sharded_axis)
            host.flags.writeable = False
            self._host = host
        return self._host

    def _gathered(self) -> Array:
        """The whole array on the first shard's device (shards moved there by the backend)."""
        if self._gathered_array is None:
            from .primitives.structural import concatenate, expand_dims
            device = self.shards[0].device
            parts = [expand_dims(to_device(s, device), (self.sharded_axis,)) for s in self.shards]
            self._gathered_array = concatenate(parts, self.sharded_axis)
        return self._gathered_array

    __jax_array__ = _gathered

    def __getitem__(self, idx: Any) -> Any:
        first, rest = (idx[0], idx[1:]) if isinstance(idx, tuple) and idx else (idx, ())
        if self.sharded_axis == 0 and isinstance(first, (int, np.integer)) and not isinstance(first, bool):
            n = len(self.shards)
            if not -n <= first < n:
                raise IndexError(f"index {first} is out of bounds for axis 0 with size {n}")
            shard = self.shards[int(first) % n]
            return shard[rest] if rest else shard
        return self._gathered()[idx]

    def __iter__(self):
        if self.sharded_axis == 0:
            return iter(list(self.shards))
        return iter(self._gathered())

    def block_until_ready(self) -> "ShardedArray":
        for s in self.shards:
            s.block_until_ready()
        return self

    # Host conversions and printing are those of Array, over the gathered host value.
    __array__ = Array.__array__
    __len__ = Array.__len__
    __bool__, __int__, __float__, __index__, __complex__ = (Array.__bool__, Array.__int__, Array.__float__,
                                                             Array.__index__, Array.__complex__)
    item, tolist, copy_to_host_async = Array.item, Array.tolist, Array.copy_to_host_async
    __format__, __repr__, __str__, __hash__ = Array.__format__, Array.__repr__, Array.__str__, Array.__hash__
    __reduce__, __getstate__ = Array.__reduce__, Array.__getstate__


def _put(x: Any, device: Device) -> Array:
    """``x`` as an Array on ``device`` (moved by the backend if it already is an Array)."""
    if isinstance(x, ShardedArray):
        x = x._gathered()
    if type(x) is Array:
        return to_device(x, device)
    from .trace import get_aval
    aval = get_aval(x)
    return make_array(x, weak_type=aval.weak_type, device=device, dtype=aval.dtype)


def device_put_sharded(shards: Sequence[Any], devices: Sequence[Device]) -> Any:
    """``jax.device_put_sharded``: put ``shards[i]`` (pytrees of one structure and shapes) on
    ``devices[i]``; the result stacks them along a new leading axis, sharded over the devices."""
    if not isinstance(shards, (list, tuple)) or not shards:
        raise ValueError(f"device_put_sharded `shards` input must be a non-empty sequence, got {type(shards).__name__}")
    if len(shards) != len(devices):
        raise ValueError(f"len(shards) = {len(shards)} must equal len(devices) = {len(devices)}.")
    flat = [tree_flatten(s) for s in shards]
    tree = flat[0][1]
    for leaves, t in flat[1:]:
        if t != tree:
            raise ValueError(f"device_put_sharded: all shards must have the same tree structure, got {tree} and {t}")
    columns = zip(*(leaves for leaves, _ in flat))
    out = []
    for column in columns:
        placed = [_put(x, d) for x, d in zip(column, devices)]
        shapes = {(p.shape, p.dtype) for p in placed}
        if len(shapes) > 1:
            raise ValueError(f"device_put_sharded: shards must have the same shape and dtype, got "
                             f"{[p.aval.str_short() for p in placed]}")
        out.append(ShardedArray(placed, 0))
    return tree_unflatten(tree, out)


def device_put_replicated(x: Any, devices: Sequence[Device]) -> Any:
    """``jax.device_put_replicated``: a copy of ``x`` (a pytree) on every device, stacked along a new
    leading axis sharded over the devices."""
    if not isinstance(devices, (list, tuple)) or not devices:
        raise ValueError("`devices` argument to `device_put_replicated must be a non-empty sequence.")
    return tree_map(lambda leaf: ShardedArray([_put(leaf, d) for d in devices], 0), x)


def local_devices(process_index: int | None = None, backend: str | None = None, host_id: int | None = None
                  ) -> list[Device]:
    """``jax.local_devices``: the devices of ``backend`` (portax runs in one process, index 0)."""
    from .backend import get_backend
    index = process_index if process_index is not None else host_id
    if index not in (None, 0):
        raise ValueError(f"Unknown process_index {index}: portax runs in a single process (index 0)")
    return list(get_backend(backend).devices())
