"""Arrays split over several devices, one ``Array`` (shard) per device.

``MeshArray`` is an array laid out by a ``NamedSharding`` over a mesh (``device_put(x, sharding)``);
``ShardedArray`` is the one-axis special case pmap returns, whose shards lack the sharded axis.

pmap returns ShardedArrays. ``x[i]`` (an integer index on the sharded axis 0) is shard ``i`` itself, still on
its device; a pmap over the same devices and axis uses the shards in place; ``np.asarray`` gathers the
shards on the host; portax.numpy operations see the array gathered onto the first shard's device.

A MeshArray is never gathered onto one device by an operation: operations on it outside jit run as JAX runs
them, as jitted computations over its mesh (``apply_on_mesh``: the sharding pass lays out the results, which
stay MeshArrays). A MeshArray spanning processes (a global array, ``is_global``) is laid out anew by
``device_put`` through collectives, and ``np.asarray`` of it is JAX's error unless this process holds every block.
"""
from __future__ import annotations

import functools
import hashlib
from typing import Any, NamedTuple, Sequence

import numpy as np

from .array import Array, make_array, to_device
from .array_methods import ArrayMethods
from .backend import Device
from .ir import ShapedArray
from .lru import LRUCache
from .pytree import tree_flatten, tree_map, tree_unflatten
from .sharding import typed


class Shard(NamedTuple):
    """One device's block of an array (``jax.Shard``): ``data[...] == array[index]``."""
    device: Device
    index: tuple
    data: Array
    replica_id: int = 0


class MultiDeviceArray(ArrayMethods):
    """What ShardedArray (pmap's) and MeshArray (a NamedSharding's) share: one Array per device in
    ``shards``; numpy conversion and printing go through the host value, portax operations on a ShardedArray
    through the whole array gathered onto the first shard's device (``_gathered``)."""

    __slots__ = ()
    __array_priority__ = 100

    shape, dtype, ndim, size, weak_type, nbytes = (Array.shape, Array.dtype, Array.ndim, Array.size, Array.weak_type,
                                                   Array.nbytes)

    @property
    def device_buffers(self) -> list[Array]:
        """The shards, one per device (JAX's ``ShardedDeviceArray.device_buffers``)."""
        return list(self.shards)

    def devices(self) -> set:
        return {s.device for s in self.shards}

    def _gathered(self) -> Array:
        if self._gathered_array is None:
            self._gathered_array = self._gather()
        return self._gathered_array

    __jax_array__ = _gathered

    def block_until_ready(self) -> "MultiDeviceArray":
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


class ShardedArray(MultiDeviceArray):
    """Shards (Arrays of equal aval, one per device) stacked along ``sharded_axis``."""

    __slots__ = ("aval", "shards", "sharded_axis", "_host", "_gathered_array", "__weakref__")

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

    @classmethod
    def assembled(cls, shards: list[Array], sharded_axis: int, aval: ShapedArray) -> "ShardedArray":
        """The ShardedArray of ``shards`` of ``aval`` (the stacked aval), all known to be valid: pmap's outputs."""
        self = object.__new__(cls)
        self.aval, self.shards, self.sharded_axis = aval, shards, sharded_axis
        self._host = self._gathered_array = None
        return self

    is_fully_replicated = property(lambda self: len(self.shards) == 1)

    @property
    def addressable_shards(self) -> list[Shard]:
        """Shard ``i`` holds index ``i`` of the sharded axis (which it does not have itself)."""
        lead = (slice(None),) * self.sharded_axis
        return [Shard(s.device, lead + (i,), s) for i, s in enumerate(self.shards)]

    def _value(self) -> np.ndarray:
        if self._host is None:
            host = np.stack([np.asarray(s) for s in self.shards], axis=self.sharded_axis)
            host.flags.writeable = False
            self._host = host
        return self._host

    def _gather(self) -> Array:
        """The whole array on the first shard's device (shards moved there by the backend)."""
        from .primitives.structural import concatenate, expand_dims
        device = self.shards[0].device
        parts = [expand_dims(to_device(s, device), (self.sharded_axis,)) for s in self.shards]
        return concatenate(parts, self.sharded_axis)

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


class MeshArray(MultiDeviceArray):
    """An array laid out by ``sharding`` (a NamedSharding): ``shards[k]`` is the block of the ``k``-th
    mesh device of this process (in ``mesh.devices.flat`` order), an Array on that device. Over a mesh
    spanning processes (a global array) the other processes hold the other blocks."""

    __slots__ = ("aval", "shards", "sharding", "_spans", "_host", "_gathered_array", "__weakref__")

    def __init__(self, shards: Sequence[Array], sharding: Any, aval: ShapedArray, spans: list | None = None):
        """(``spans``: ``local_spans(sharding, aval.shape)`` if known already.)"""
        self.aval, self.shards, self.sharding = typed(aval, sharding), list(shards), sharding
        self._spans = local_spans(sharding, aval.shape) if spans is None else spans
        self._host = None
        self._gathered_array = None

    is_fully_replicated = property(lambda self: self.sharding.is_fully_replicated)
    is_fully_addressable = property(lambda self: self.sharding.is_fully_addressable)

    @property
    def addressable_shards(self) -> list[Shard]:
        return [Shard(s.device, tuple(slice(a, b) if (a, b) != (0, n) else slice(None)
                                      for (a, b), n in zip(sp, self.shape)), s)
                for s, sp in zip(self.shards, self._spans)]

    def _unique(self) -> dict:
        """One shard per distinct block (the first device holding it)."""
        out: dict = {}
        for s, sp in zip(self.shards, self._spans):
            out.setdefault(sp, s)
        return out

    def __repr__(self) -> str:
        if self.is_fully_addressable or self.is_fully_replicated:
            return Array.__repr__(self)
        return f"Array(shape={self.shape}, dtype={self.dtype.name}{', weak_type=True' if self.weak_type else ''})"

    @property
    def _holds_whole(self) -> bool:
        """Whether this process's devices hold every block (JAX's ``_process_has_full_value_in_mcjax``)."""
        return self.is_fully_addressable or len(set(self._spans)) == len(
            {_spans(i, self.shape) for i in self.sharding.devices_indices_map(self.shape).values()})

    def __jax_array__(self) -> "MeshArray":
        """The array itself: portax operations on it run partitioned over its mesh (``apply_on_mesh``)."""
        return self

    def _value(self) -> np.ndarray:
        if not self._holds_whole:
            raise RuntimeError("Fetching value for `jax.Array` that spans non-addressable (non process local) devices "
                               "is not possible. You can use `jax.experimental.multihost_utils.process_allgather` to "
                               "print the global array or use `.addressable_shards` method of jax.Array to inspect "
                               "the addressable (process local) shards.")
        if self._host is None:
            host = np.empty(self.shape, self.dtype)
            for sp, s in self._unique().items():
                host[tuple(slice(a, b) for a, b in sp)] = np.asarray(s)
            host.flags.writeable = False
            self._host = host
        return self._host

    def _gather(self) -> Array:
        """The blocks moved to the first shard's device and concatenated there, dimension by dimension."""
        from .primitives.structural import concatenate
        if not self._holds_whole:
            raise ValueError(f"an array spanning processes ({self.aval.str_short()} laid out by {self.sharding}) "
                             "cannot be gathered onto one device: lay it out anew over its mesh (device_put with a "
                             "NamedSharding), or fetch its value with multihost_utils.process_allgather.")
        device, blocks = self.shards[0].device, self._unique()

        def build(prefix: tuple) -> Array:
            d = len(prefix)
            if d == self.ndim:
                return to_device(blocks[prefix], device)
            starts = sorted({sp[d] for sp in blocks if sp[:d] == prefix})
            parts = [build(prefix + (st,)) for st in starts]
            return parts[0] if len(parts) == 1 else concatenate(parts, d)

        return build(())

    def __getitem__(self, idx: Any) -> Any:
        from .numpy.indexing import getitem
        return getitem(self, idx)  # (its operations run partitioned over the mesh)

    def __iter__(self):
        """As JAX's: the rows of a split array held by this process as single-device arrays, else (replicated,
        or spanning processes) rows laid out over the mesh."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        if self.is_fully_addressable and not self.is_fully_replicated:
            host = self._value()
            return (make_array(host[i], dtype=self.dtype) for i in range(self.shape[0]))
        return (self[i] for i in range(self.shape[0]))


# Arithmetic on a MeshArray runs as a jitted function: partitioned over its mesh, the result stays sharded.
_MESH_OPERATORS = ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
                   "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__",
                   "__rmatmul__", "__neg__", "__pos__", "__abs__", "__invert__", "__and__", "__rand__", "__or__",
                   "__ror__", "__xor__", "__rxor__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__")
_jitted_operators: dict = {}


def _on_mesh(name: str):
    def op(self, *args):
        fn = _jitted_operators.get(name)
        if fn is None:
            from .api import jit
            fn = _jitted_operators.setdefault(name, jit(getattr(ArrayMethods, name)))
        return fn(self, *args)
    op.__name__ = name
    return op


for _name in _MESH_OPERATORS:
    setattr(MeshArray, _name, _on_mesh(_name))


def is_global(x: Any) -> bool:
    """Whether ``x`` is an array spanning processes (laid out over a mesh holding other processes' devices)."""
    return type(x) is MeshArray and not x.is_fully_addressable


def on_mesh(x: Any) -> bool:
    """Whether ``x`` is an array laid out over a mesh (a MeshArray): operations on it run ``apply_on_mesh``."""
    return type(x) is MeshArray


_jitted_primitives = LRUCache()


def apply_on_mesh(primitive: Any, args: Sequence, params: dict) -> Any:
    """A primitive applied outside jit to arrays laid out over a mesh: run as JAX does, as a jitted computation
    over its operands' layouts (each device computes its blocks, the sharding pass lays out the results; across
    processes collectives go through MPI). The partitioned path is taken directly: an enclosing transformation
    (grad's known values) stays outside."""
    from .api import jit
    from .parallel.partition import ShardedJit
    try:
        key = (primitive, tuple(params.items()))
        fn = _jitted_primitives.get(key)
    except TypeError:  # an unhashable parameter: not cached
        key, fn = None, None
    if fn is None:
        def bound(*xs):
            return primitive.bind(*xs, **params)
        bound.__name__ = bound.__qualname__ = primitive.name
        fn = ShardedJit(jit(bound), None, None)
        fn = fn if key is None else _jitted_primitives.put(key, fn)
    return fn._run(tuple(args), {})


@functools.lru_cache(maxsize=1024)
def local_spans(sharding: Any, shape: tuple) -> list:
    """The spans of the blocks of this process's devices (a list shared by the arrays of one layout)."""
    return [_spans(i, shape) for i in sharding.addressable_devices_indices_map(shape).values()]


def _spans(index: tuple, shape: tuple) -> tuple:
    """An index (slices) as ((start, stop), ...) per dimension."""
    return tuple(s.indices(n)[:2] for s, n in zip(index, shape))


def _sliced(x: Array, span: tuple) -> Array:
    """``x[span]``, sliced on its device."""
    from .primitives.structural import slice as slice_
    return x if span == tuple((0, n) for n in x.shape) else slice_(x, *zip(*span))


def _block(x: Any, span: tuple, device: Device) -> Any:
    """The block ``span`` of ``x`` for ``device``: sliced from a shard of ``x`` holding it (preferably one
    already on ``device``), else from the whole array; host values are sliced on the host."""
    if isinstance(x, MeshArray):
        holders = [(s, sp) for s, sp in zip(x.shards, x._spans)
                   if all(a <= c and e <= b for (a, b), (c, e) in zip(sp, span))]
        if holders:
            s, sp = min(holders, key=lambda h: h[0].device is not device)
            return _sliced(s, tuple((c - a, e - a) for (a, _), (c, e) in zip(sp, span)))
    if isinstance(x, MultiDeviceArray):
        x = x._gathered()
    if type(x) is Array:
        return _sliced(x, span)
    return np.asarray(x)[tuple(slice(a, b) for a, b in span)]


def put_sharded(x: Any, sharding: Any, checked: bool = False) -> MeshArray:
    """``device_put(x, named_sharding)``: every mesh device gets its block of ``x`` (JAX's errors for a
    spec longer than the rank or a dimension the mesh axes do not divide). A value put on a sharding
    spanning processes must be the same on every process (``check_same_everywhere``, unless ``checked``)."""
    if isinstance(x, MeshArray) and x.sharding == sharding:
        return x
    from .trace import get_aval
    aval = get_aval(x)
    sharding.check_shape(aval.shape)
    if isinstance(x, MeshArray) and not x.is_fully_addressable:
        return _reshard_across(x, sharding)
    if not checked and not sharding.is_fully_addressable:
        check_same_everywhere([x])
    return _cut(x, sharding, aval)


def _cut(x: Any, sharding: Any, aval: ShapedArray) -> MeshArray:
    """The MeshArray of this process's blocks of ``x`` (a value whose blocks this process holds)."""
    shards = []
    for device, index in sharding.addressable_devices_indices_map(aval.shape).items():
        block = _block(x, _spans(index, aval.shape), device)
        shards.append(to_device(block, device) if type(block) is Array else
                      make_array(block, weak_type=aval.weak_type, device=device, dtype=aval.dtype))
    return MeshArray(shards, sharding, aval)


def check_same_everywhere(values: Sequence) -> None:
    """JAX's check (``device_put`` of a value onto a sharding spanning processes, each process cutting its
    devices' blocks from its own copy) that every process holds the same ``values``: digests, in one exchange."""
    from . import distributed
    mine = np.array([_digest(np.asarray(v)) for v in values], np.uint64)
    every = distributed.allgather(mine, f"device_put of {len(values)} values held by every process")
    for v, column in zip(values, every.T):
        if (column != column[0]).any():
            differ = [p for p in range(len(column)) if column[p] != column[0]]
            raise AssertionError(f"{type(v)} passed to device_put is not the same on each process. Make sure you are "
                                 f"passing the same value of {type(v)} on each process (process 0's value differs "
                                 f"from that of process {', '.join(map(str, differ))}).")


def _digest(host: np.ndarray) -> int:
    text = f"{host.dtype.str}{host.shape}".encode() + np.ascontiguousarray(host).tobytes()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def _reshard_across(x: MeshArray, sharding: Any) -> MeshArray:
    """An array spanning processes laid out anew: over its mesh, the devices exchange blocks through
    collectives (a shard_map program); onto another mesh of the same devices (another order or shape), the
    array is first replicated over its mesh (an all_gather between processes), then each process cuts its
    devices' blocks. Other devices are JAX's error."""
    from .parallel.partition import resharding
    from .sharding import PartitionSpec
    if sharding.mesh == x.sharding.mesh:
        return resharding(x.sharding.spec, sharding.spec, sharding.mesh, x.ndim)(x)
    if sharding.device_set != x.sharding.device_set:
        ids = lambda s: [d.id for d in s._device_list()]
        platform = lambda s: s._device_list()[0].platform.upper()
        raise ValueError(f"For a cross-host reshard in multi-controller JAX, input and target sharding should have the "
                         f"same set of devices. Got input's device set ids: {ids(x.sharding)} on platform "
                         f"{platform(x.sharding)} and target sharding's device set ids: {ids(sharding)} on platform "
                         f"{platform(sharding)}.")
    whole = x if x.sharding.is_fully_replicated else resharding(x.sharding.spec, PartitionSpec(), x.sharding.mesh,
                                                                 x.ndim)(x)
    return _cut(whole, sharding, x.aval)


def _put(x: Any, device: Device) -> Array:
    """``x`` as an Array on ``device`` (moved by the backend if it already is an Array)."""
    if isinstance(x, MultiDeviceArray):
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
    """``jax.local_devices``: the devices of ``backend`` held by process ``process_index`` (this one)."""
    from . import distributed
    from .api import devices
    index = process_index if process_index is not None else host_id
    if index is None:
        index = distributed.process_index()
    if not 0 <= index < distributed.process_count():
        raise ValueError(f"Unknown process_index {index}: there are {distributed.process_count()} processes")
    return [d for d in devices(backend) if d.process_index == index]


def with_sharding_constraint(x: Any, shardings: Any) -> Any:
    """``lax.with_sharding_constraint``: ``x`` (a pytree; ``shardings`` a prefix of it, PartitionSpecs
    meaning NamedShardings over the mesh set by ``set_mesh``) laid out by the shardings. Traced values pass unchanged: inside jit the sharding pass decides their layout."""
    from .api import _flatten_axes, device_put
    from .sharding import Sharding, pspec_to_sharding
    from .trace import is_tracer
    leaves, tree = tree_flatten(x)
    shardings = tree_map(lambda s: pspec_to_sharding("with_sharding_constraint", s), shardings)
    flat = _flatten_axes("with_sharding_constraint shardings", tree, shardings, Sharding)
    return tree_unflatten(tree, [v if is_tracer(v) or s is None else device_put(v, s) for v, s in zip(leaves, flat)])
