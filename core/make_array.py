"""Arrays assembled from per-device pieces: ``jax.make_array_from_single_device_arrays``,
``jax.make_array_from_callback`` and ``jax.make_array_from_process_local_data``.

A NamedSharding gives a MeshArray (one Array per mesh device of this process, in mesh order), a
SingleDeviceSharding the Array on its device. Over a mesh spanning processes (``portax.distributed``) each
process gives the pieces of its own devices and the result is a global array.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import distributed, dtypes
from .array import Array
from .errors import UnexpectedTracerError
from .ir import ShapedArray
from .pytree import tree_flatten, tree_map, tree_unflatten
from .sharded import MeshArray, MultiDeviceArray, _put
from .sharding import NamedSharding, Sharding, SingleDeviceSharding, pspec_to_sharding
from .trace import get_aval, is_tracer


def _local_devices(sharding: Sharding, fname: str) -> list:
    """The sharding's devices held by this process, in its order (a NamedSharding may span processes)."""
    if not isinstance(sharding, NamedSharding) and not sharding.is_fully_addressable:
        raise NotImplementedError(f"jax.{fname}: the sharding {sharding} holds devices of other processes; only a "
                                  "NamedSharding may span processes.")
    return [d for d in sharding._device_list() if d.process_index == distributed.process_index()]


def _dtype(pieces: Sequence[Any], dtype: Any, fname: str) -> np.dtype:
    """JAX's ``_get_and_check_dtype``: the pieces' dtype, or ``dtype`` checked against them."""
    if dtype is None:
        if not pieces:
            raise ValueError(f"If the Array has no addressable shards, `dtype` must be provided via the `dtype` "
                             f"argument to `jax.{fname}`.")
        return get_aval(pieces[0]).dtype
    dtype = dtypes.canonicalize(np.dtype(dtype))
    if pieces and get_aval(pieces[0]).dtype != dtype:
        raise ValueError(f"If `dtype` is provided to `jax.{fname}`, it must match the dtype of the addressable "
                         f"shards. Got dtype={dtype} and shard dtype={get_aval(pieces[0]).dtype}`.")
    return dtype


def _validate(pieces: Sequence[Any], sharding: Sharding, aval: ShapedArray) -> None:
    """JAX's checks of the pieces' dtype and shape against the sharding's block shape."""
    block = sharding.shard_shape(aval.shape)
    for p in pieces:
        a = get_aval(p)
        if a.dtype != aval.dtype:
            raise ValueError(f"Input buffers to `Array` must have matching dtypes. Got {a.dtype}, expected "
                             f"{aval.dtype} for buffer: {p}")
        if a.shape != block:
            raise ValueError(f"Expected shard shape {block} doesn't match the single device array shape {a.shape}. "
                             f"Shape of Array is {aval.str_short()} with sharding {sharding}")


def _assemble(sharding: Sharding, aval: ShapedArray, arrays: list[Array]) -> Any:
    """The array laid out by ``sharding`` whose blocks are ``arrays`` (in the sharding's device order)."""
    if isinstance(sharding, NamedSharding):
        return MeshArray(arrays, sharding, aval)
    if isinstance(sharding, SingleDeviceSharding):
        return arrays[0]
    raise TypeError(f"sharding should be an instance of `jax.sharding`. Got {sharding} of type {type(sharding)}")


def make_array_from_single_device_arrays(shape: Sequence[int], sharding: Sharding, arrays: Sequence[Array], *,
                                         dtype: Any = None) -> Any:
    """``jax.make_array_from_single_device_arrays``: the array of ``shape`` laid out by ``sharding`` whose
    block on each device is the one of ``arrays`` on that device (one per device, in any order)."""
    fname = "make_array_from_single_device_arrays"
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(f"jax.make_array_from_single_device_arrays `arrays` argument must be a list or tuple, but got "
                        f"{type(arrays)}.")
    if any(map(is_tracer, arrays)):
        raise ValueError(f"jax.make_array_from_single_device_arrays requires a list of concrete arrays as input, but "
                         f"got types {set(map(type, arrays))}")
    if not isinstance(sharding, Sharding):
        raise TypeError(f"sharding should be an instance of `jax.sharding`. Got {sharding} of type {type(sharding)}")
    devices = _local_devices(sharding, fname)
    for a in arrays:
        if type(a) is not Array:
            kind = "an array over several devices" if isinstance(a, MultiDeviceArray) else type(a).__name__
            raise ValueError(f"jax.{fname} takes single-device jax.Arrays, got {kind}")
    aval = ShapedArray(tuple(shape), _dtype(arrays, dtype, fname))
    if len(arrays) != len(devices):
        raise ValueError(f"Expected {len(devices)} per-device arrays (this is how many devices are addressable by the "
                         f"sharding), but got {len(arrays)}")
    by_device = {id(a.device): a for a in arrays}
    if len(by_device) != len(arrays):
        raise ValueError(f"When making an array from single-device arrays, the input arrays must be from distinct "
                         f"devices, but got device IDs {[a.device.id for a in arrays]}")
    missing = [d.id for d in devices if id(d) not in by_device]
    if missing:
        extra = [a.device.id for a in arrays if all(a.device is not d for d in devices)]
        raise ValueError(f"Addressable devices and per-device arrays devices do not match. Sharding contains devices "
                         f"{set(missing)} that are not present in per-device arrays. Per-device arrays contain devices "
                         f"{set(extra)} that are not present in the sharding.")
    _validate(arrays, sharding, aval)
    return _assemble(sharding, aval, [by_device[id(d)] for d in devices])


def _fetch(data_callback: Callable, index: tuple) -> Any:
    value = data_callback(index)
    if is_tracer(value):
        raise UnexpectedTracerError("jax.make_array_from_callback cannot be called within a traced context.")
    return np.asarray(value) if isinstance(value, (bool, np.bool_)) else value


def make_array_from_callback(shape: Sequence[int], sharding: Sharding, data_callback: Callable[[Any], Any],
                             dtype: Any = None) -> Any:
    """``jax.make_array_from_callback``: the array of ``shape`` laid out by ``sharding``, each device's
    block being ``data_callback(index)`` (``index``: a tuple of slices into the whole array; called once
    if the sharding replicates the array)."""
    if not isinstance(sharding, Sharding):
        raise TypeError(f"sharding should be an instance of `jax.sharding`. Got {sharding} of type {type(sharding)}")
    devices = _local_devices(sharding, "make_array_from_callback")
    shape = tuple(shape)
    sharding.shard_shape(shape)  # JAX's error for dimensions the sharding does not divide
    if sharding.is_fully_replicated:
        values = [_fetch(data_callback, (slice(None),) * len(shape))] * len(devices)
    else:
        index_map = sharding.addressable_devices_indices_map(shape)
        values = [_fetch(data_callback, index_map[d]) for d in devices]
    aval = ShapedArray(shape, _dtype(values, dtype, "make_array_from_callback"))
    _validate(values, sharding, aval)
    return _assemble(sharding, aval, [_put(v, d) for v, d in zip(values, devices)])


def make_array_from_process_local_data(sharding: Any, local_data: Any, global_shape: Any = None) -> Any:
    """``jax.make_array_from_process_local_data``: ``local_data`` (a pytree of host arrays; ``sharding`` and
    ``global_shape`` prefixes of it) laid out by the shardings. In one process ``global_shape`` must be None
    or the local shape; over several, each process gives the part its devices hold (``_from_process``)."""
    from .api import _flatten_axes, device_put
    leaves, tree = tree_flatten(local_data)
    sharding = tree_map(lambda s: pspec_to_sharding("make_array_from_process_local_data", s), sharding)
    flat_shardings = _flatten_axes("make_array_from_process_local_data sharding", tree, sharding, Sharding)
    shapes = tree_map(_Shape, global_shape, is_leaf=lambda s: s is None or (
        isinstance(s, tuple) and all(isinstance(n, (int, np.integer)) for n in s)))
    flat_shapes = _flatten_axes("make_array_from_process_local_data global_shape", tree, shapes, _Shape)
    if distributed.process_count() > 1:
        return tree_unflatten(tree, [_from_process(np.asarray(x), s, None if shape is None else shape.shape)
                                     if isinstance(s, NamedSharding) else device_put(x, s)
                                     for x, s, shape in zip(leaves, flat_shardings, flat_shapes)])
    for x, s, shape in zip(leaves, flat_shardings, flat_shapes):
        if shape is not None and shape.shape is not None and tuple(shape.shape) != np.shape(x):
            raise ValueError(f"When calling `make_array_from_process_local_data` on a single process, global_shape "
                             f"should be None or equal to local_data.shape.Got global_shape={tuple(shape.shape)} and "
                             f"local_data.shape={np.shape(x)}.")
    return tree_unflatten(tree, [device_put(x, s) for x, s in zip(leaves, flat_shardings)])


def _process_slices(sharding: NamedSharding, ndim: int) -> list[int | None]:
    """Per dimension, into how many distinct per-process parts the processes' devices cut it (JAX's
    ``get_process_index_and_count``), None where the processes' parts overlap unevenly."""
    n = sharding.num_devices
    index_map = sharding.devices_indices_map((n,) * ndim)
    counts: list = []
    for d in range(ndim):
        held: dict = {}
        for device, index in index_map.items():
            held.setdefault(device.process_index, set()).add(index[d].indices(n)[:2])
        parts = {frozenset(v) for v in held.values()}
        uniform = len({len(v) for v in held.values()}) == 1 and sum(map(len, parts)) == len(set().union(*parts))
        counts.append(len(parts) if uniform else None)
    return counts


def _from_process(data: np.ndarray, sharding: NamedSharding, global_shape: tuple | None) -> Any:
    """The global array whose blocks on this process's devices come from ``data``: along a dimension
    ``data`` does not hold whole, its devices' distinct blocks in order (JAX's
    ``_array_from_process_local_data``)."""
    if global_shape is None:
        counts = _process_slices(sharding, data.ndim)
        global_shape = tuple(None if c is None else n * c for n, c in zip(data.shape, counts))
        if None in global_shape:
            raise ValueError(f"Unable to compute global_shape due to non-uniform sharding. Specify global shape "
                             f"directly. Partially computed global_shape={global_shape}.")
    global_shape = tuple(global_shape)
    block = sharding.shard_shape(global_shape)
    local = sharding.addressable_devices_indices_map(global_shape).values()
    starts = [sorted({index[i].indices(n)[0] for index in local}) for i, n in enumerate(global_shape)]
    for i, (have, n) in enumerate(zip(data.shape, global_shape)):
        if have != n and have != len(starts[i]) * block[i]:
            raise ValueError(f"Invalid host data, each dimension should match either global or process shape. In "
                             f"dimension {i}, the process data has {have} elements. Process addresses "
                             f"{len(starts[i]) * block[i]} elements and global_shape={global_shape}.")

    def local_block(index: tuple) -> np.ndarray:
        k = lambda i, s: starts[i].index(s.indices(global_shape[i])[0]) * block[i]
        return data[tuple(s if data.shape[i] == global_shape[i] else slice(k(i, s), k(i, s) + block[i])
                          for i, s in enumerate(index))]

    return make_array_from_callback(global_shape, sharding, local_block)


class _Shape:
    """A global shape as a leaf of a prefix tree (tuples being pytree nodes)."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple | None):
        self.shape = shape
