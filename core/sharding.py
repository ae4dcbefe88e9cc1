"""``jax.sharding``: device meshes (``Mesh``, ``make_mesh``), partition specs and the shardings that say
which block of an array each device holds (``NamedSharding``, ``SingleDeviceSharding``)."""
from __future__ import annotations

import contextlib
import enum
import functools
import math
import threading
from typing import Any, Iterator, Sequence

import numpy as np

from .backend import Device, get_backend
from .ir import ShapedArray


class AxisType(enum.Enum):
    """How a mesh axis is used: by the compiler (Auto), in types (Explicit) or by shard_map (Manual)."""
    Auto = enum.auto()
    Explicit = enum.auto()
    Manual = enum.auto()

    def __repr__(self) -> str:
        return self.name


def _canonical_entry(entry: Any) -> Any:
    if isinstance(entry, list):
        entry = tuple(entry)
    if isinstance(entry, tuple) and len(entry) == 1:
        return entry[0]
    return entry


class PartitionSpec:
    """``P(*partitions)``: for each array dimension, the mesh axis (a name, a tuple of names, or None)
    that splits it; dimensions past the spec's length are not split."""

    __slots__ = ("_partitions",)

    def __init__(self, *partitions: Any):
        for p in partitions:
            if not (p is None or isinstance(p, (str, tuple, list))):
                raise TypeError(f"PartitionSpec entries must be None, an axis name or a tuple of axis names, got {p!r}")
        self._partitions = tuple(_canonical_entry(p) for p in partitions)

    partitions = property(lambda self: self._partitions)

    def __init_subclass__(cls, **kwargs):
        raise TypeError("Subclassing `jax.P` is prohibited.")

    def __repr__(self) -> str:
        return f"P({repr(self._partitions)[1:-1]})"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, tuple):
            other = PartitionSpec(*other)
        return isinstance(other, PartitionSpec) and self._partitions == other._partitions

    def __hash__(self) -> int:
        return hash(self._partitions)

    def __getitem__(self, i):
        return self._partitions[i]

    def __iter__(self):
        return iter(self._partitions)

    def __len__(self) -> int:
        return len(self._partitions)

    def __add__(self, other: Any) -> "PartitionSpec":
        if isinstance(other, (PartitionSpec, tuple)):
            return PartitionSpec(*self, *other)
        return NotImplemented

    def __radd__(self, other: Any) -> "PartitionSpec":
        if isinstance(other, tuple):
            return PartitionSpec(*other, *self)
        return NotImplemented

    def index(self, value: Any) -> int:
        return self._partitions.index(_canonical_entry(value))

    def count(self, value: Any) -> int:
        return self._partitions.count(_canonical_entry(value))


def spec_axes(entry: Any) -> tuple:
    """The mesh axes of one PartitionSpec entry, major to minor."""
    return () if entry is None else entry if isinstance(entry, tuple) else (entry,)


class Mesh:
    """An N-d grid of devices with a name per axis (``jax.sharding.Mesh``)."""

    def __init__(self, devices: Any, axis_names: str | Sequence[Any], axis_types: Any = None):
        devices = np.asarray(devices, dtype=object) if not isinstance(devices, np.ndarray) else devices
        axis_names = (axis_names,) if isinstance(axis_names, str) else tuple(axis_names)
        # ``empty``: an attribute, not a property (every jitted call reads it)
        if devices.ndim == 0 and not axis_names:  # the empty mesh (no mesh set)
            self.devices, self.axis_names, self.axis_types, self.empty = devices, (), (), True
            return
        if any(n is None for n in axis_names):
            raise ValueError(f"Mesh axis names cannot be None. Got: {axis_names}")
        if devices.ndim != len(axis_names):
            raise ValueError("Mesh requires the ndim of its first argument (`devices`) to equal the length of its "
                             f"second argument (`axis_names`), but got devices.ndim == {devices.ndim} and "
                             f"len(axis_names) == {len(axis_names)}.")
        if len(set(axis_names)) != len(axis_names):
            raise ValueError(f"Mesh axis names must be unique, got {axis_names}")
        axis_types = (AxisType.Auto,) * len(axis_names) if axis_types is None else axis_types
        axis_types = axis_types if isinstance(axis_types, tuple) else (axis_types,)
        if not all(isinstance(a, AxisType) for a in axis_types):
            raise TypeError(f"axis_types passed to Mesh must be of type `jax.sharding.AxisType`. Got {axis_types} of "
                            f"type {tuple(type(a) for a in axis_types)}")
        if len(axis_types) != len(axis_names):
            raise ValueError(f"Number of axis names should match the number of axis_types. Got "
                             f"axis_names={axis_names} and axis_types={axis_types}")
        flat = list(devices.flat)
        if not all(isinstance(d, Device) for d in flat):
            raise TypeError(f"Mesh devices must be portax devices, got {[type(d).__name__ for d in flat]}")
        if len({id(d) for d in flat}) != len(flat):
            raise ValueError(f"Mesh devices must be distinct, got {flat}")
        if len({d.backend.name for d in flat}) > 1:
            raise ValueError(f"Mesh devices must belong to one backend, got {flat}")
        self.devices = devices
        self.axis_names = axis_names
        self.axis_types = axis_types
        self.empty = False  # (the devices have one dimension per axis name, at least one)

    shape = property(lambda self: dict(zip(self.axis_names, self.devices.shape)))
    shape_tuple = property(lambda self: tuple(zip(self.axis_names, self.devices.shape)))
    axis_sizes = property(lambda self: tuple(self.devices.shape))
    size = property(lambda self: int(self.devices.size) if self.devices.ndim else 0)
    device_ids = property(lambda self: np.vectorize(lambda d: d.id, otypes=[int])(self.devices))
    local_devices = property(lambda self: [d for d in self.devices.flat if _is_local(d)])
    is_multi_process = property(lambda self: not self.empty and not all(map(_is_local, self.devices.flat)))

    def _key(self) -> tuple:
        key = self.__dict__.get("_cached_key")
        if key is None:
            key = self._cached_key = (tuple(map(id, self.devices.flat)), self.devices.shape, self.axis_names,
                                      self.axis_types)
        return key

    def __eq__(self, other: Any) -> bool:
        return self is other or isinstance(other, Mesh) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def update(self, devices=None, axis_names=None, axis_types=None) -> "Mesh":
        return Mesh(self.devices if devices is None else devices, self.axis_names if axis_names is None else axis_names,
                    self.axis_types if axis_types is None else axis_types)

    def __str__(self) -> str:
        return f"Mesh({', '.join(f'{k!r}: {v}' for k, v in self.shape.items())}, axis_types={self.axis_types})"

    @property
    def abstract_mesh(self) -> "AbstractMesh":
        """The mesh without its devices (``jax.sharding.AbstractMesh``): what types and ``get_abstract_mesh`` hold."""
        mesh = self.__dict__.get("_abstract")
        if mesh is None:
            d = None if self.empty else self.devices.flat[0]
            mesh = self._abstract = AbstractMesh(self.axis_sizes, self.axis_names, self.axis_types,
                                                 None if d is None else d.device_kind, None if d is None else d.platform)
        return mesh

    def __repr__(self) -> str:
        return f"Mesh(axis_sizes={self.axis_sizes}, axis_names={self.axis_names!r}, axis_types={self.axis_types})"


class AbstractMesh:
    """``jax.sharding.AbstractMesh``: a mesh's axis names, sizes and types, without devices."""

    def __init__(self, axis_sizes: tuple, axis_names: tuple, axis_types: Any = None, device_kind: str | None = None,
                 platform: str | None = None):
        self.axis_sizes, self.axis_names = tuple(axis_sizes), tuple(axis_names)
        self.axis_types = (AxisType.Auto,) * len(self.axis_names) if axis_types is None else tuple(axis_types)
        self.device_kind, self.platform = device_kind, platform

    shape = property(lambda self: dict(zip(self.axis_names, self.axis_sizes)))
    shape_tuple = property(lambda self: tuple(zip(self.axis_names, self.axis_sizes)))
    size = property(lambda self: math.prod(self.axis_sizes) if self.axis_names else 0)
    empty = property(lambda self: not self.axis_names)
    explicit_axes = property(lambda self: tuple(n for n, t in zip(self.axis_names, self.axis_types)
                                                if t == AxisType.Explicit))
    abstract_mesh = property(lambda self: self)

    def _key(self) -> tuple:
        return self.axis_sizes, self.axis_names, self.axis_types, self.device_kind, self.platform

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, AbstractMesh) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self.empty:
            return "AbstractMesh((), axis_types=())"
        return (f"AbstractMesh({', '.join(f'{k!r}: {v}' for k, v in self.shape.items())}, axis_types={self.axis_types},"
                f" device_kind={self.device_kind}, num_cores=None, platform={self.platform})")


def make_mesh(axis_shapes: Sequence[int], axis_names: Sequence[str], axis_types: Any = None, *,
              devices: Sequence[Device] | None = None) -> Mesh:
    """``jax.make_mesh``: a mesh of the given shape over the first devices (of the default backend);
    axis types default to Explicit, as in JAX."""
    devices = list(get_backend().devices() if devices is None else devices)
    if not all(isinstance(s, (int, np.integer)) for s in axis_shapes):
        raise ValueError(f"`axis_shapes` passed to `make_mesh` should be a sequence of ints. Got {axis_shapes}")
    shape = tuple(int(s) for s in axis_shapes)
    if math.prod(shape) > len(devices):
        raise ValueError(f"Number of devices {len(devices)} must be >= the product of mesh_shape {shape}")
    grid = np.empty(math.prod(shape), dtype=object)
    grid[:] = devices[:grid.size]
    axis_names = (axis_names,) if isinstance(axis_names, str) else tuple(axis_names)
    if axis_types is None:
        axis_types = (AxisType.Explicit,) * len(shape)
    return Mesh(grid.reshape(shape), axis_names, axis_types)


class _MeshContext(threading.local):
    """The mesh set by ``set_mesh`` on this thread (the empty mesh if none)."""

    def __init__(self) -> None:
        self.mesh = Mesh(np.empty((), dtype=object), ())


_context = _MeshContext()


class set_mesh:
    """``jax.set_mesh``: make ``mesh`` the current mesh of this thread, as a global setter or as a
    context manager (the previous mesh comes back on exit). Under it, APIs taking a sharding accept a
    bare PartitionSpec and ``shard_map`` may leave out its mesh. Only outside of ``jit``."""

    __slots__ = ("prev_mesh",)

    def __init__(self, mesh: Mesh | None):
        from .trace import is_tracing
        if mesh is not None and not isinstance(mesh, Mesh):
            raise ValueError(f"Expected mesh of type `jax.sharding.Mesh`. Got {type(mesh)}")
        if is_tracing():
            raise ValueError("`set_mesh` can only be used outside of `jax.jit`.")
        if mesh is not None and AxisType.Manual in mesh.axis_types:
            raise ValueError(f"mesh {mesh} contains manual axes which is not allowed when using `jax.set_mesh`. "
                             "Please use `jax.shard_map` to enter into `Manual` mode instead.")
        self.prev_mesh = _context.mesh
        _context.mesh = Mesh(np.empty((), dtype=object), ()) if mesh is None else mesh

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        _context.mesh = self.prev_mesh


def current_mesh() -> Mesh:
    """The mesh set by ``set_mesh`` on this thread (the empty mesh if none), inside jit too."""
    return _context.mesh


@contextlib.contextmanager
def use_mesh(mesh: Mesh) -> Iterator[None]:
    """``mesh`` as the current mesh of this thread inside the block, inside jit too (``auto_axes`` and
    ``explicit_axes`` switch to the current mesh with other axis types)."""
    prev, _context.mesh = _context.mesh, mesh
    try:
        yield
    finally:
        _context.mesh = prev


def get_mesh() -> Mesh:
    """``jax.sharding.get_mesh``: the mesh set by ``set_mesh`` (the empty mesh if none); only outside of jit."""
    from .trace import is_tracing
    if is_tracing():
        raise ValueError("`get_mesh` can only be used outside of `jax.jit`. Maybe you want "
                         "`jax.sharding.get_abstract_mesh()`?")
    return current_mesh()


def get_abstract_mesh() -> AbstractMesh:
    """``jax.sharding.get_abstract_mesh``: the abstract mesh of the mesh set by ``set_mesh`` (inside jit too)."""
    return current_mesh().abstract_mesh


def pspec_to_sharding(name: str, value: Any) -> Any:
    """A PartitionSpec given to ``name`` as the NamedSharding over the current mesh; other values as they are."""
    if isinstance(value, PartitionSpec):
        if _context.mesh.empty:
            raise ValueError(f"Please set a mesh via `jax.set_mesh` if a PartitionSpec is passed to {name}")
        return NamedSharding(_context.mesh, value)
    return value


@functools.lru_cache(maxsize=1024)
def type_sharding(sharding: Any, ndim: int) -> NamedSharding | None:
    """The sharding in the type of an array of rank ``ndim`` laid out by ``sharding``: its spec restricted to the
    Explicit axes of its mesh, one entry per dimension; None unless a NamedSharding over a mesh with Explicit axes."""
    if not isinstance(sharding, NamedSharding):
        return None
    mesh = sharding.mesh.abstract_mesh
    explicit = mesh.explicit_axes
    if not explicit:
        return None
    entries = [tuple(a for a in spec_axes(e) if a in explicit) or None for e in sharding.spec] + [None] * ndim
    return NamedSharding(mesh, PartitionSpec(*entries[:ndim]))


def typed(aval: ShapedArray, sharding: Any) -> ShapedArray:
    """``aval`` with the type sharding of an array laid out by ``sharding``."""
    s = type_sharding(sharding, aval.ndim)
    return aval if s == aval.sharding else ShapedArray(aval.shape, aval.dtype, aval.weak_type, s)


Index = tuple  # a tuple of slices, one per array dimension


class Sharding:
    """Where the blocks of an array live: ``devices_indices_map(shape)`` gives each device its block."""

    memory_kind = None

    @property
    def device_set(self) -> set:
        return set(self._device_list())

    @property
    def addressable_devices(self) -> set:
        """The devices of this process (``portax.distributed``: the others hold the rest)."""
        return {d for d in self._device_list() if _is_local(d)}

    @property
    def is_fully_addressable(self) -> bool:
        return all(map(_is_local, self._device_list()))

    num_devices = property(lambda self: len(self._device_list()))

    def _device_list(self) -> list[Device]:
        raise NotImplementedError

    def devices_indices_map(self, global_shape: Sequence[int]) -> dict[Device, Index]:
        return dict(zip(self._device_list(), self._indices(tuple(global_shape))))

    def addressable_devices_indices_map(self, global_shape: Sequence[int]) -> dict[Device, Index]:
        return {d: i for d, i in self.devices_indices_map(global_shape).items() if _is_local(d)}

    def _indices(self, shape: tuple) -> list[Index]:
        raise NotImplementedError

    def shard_shape(self, global_shape: Sequence[int]) -> tuple:
        index = self._indices(tuple(global_shape))[0]
        return tuple(len(range(*s.indices(n))) for s, n in zip(index, global_shape))

    def is_equivalent_to(self, other: "Sharding", ndim: int) -> bool:
        """Whether both put the same block of any array of rank ``ndim`` on each device."""
        shape = tuple(math.lcm(a, b) for a, b in zip(_splits(self, ndim), _splits(other, ndim)))
        norm = lambda s: {id(d): tuple(i.indices(n) for i, n in zip(idx, shape))
                          for d, idx in s.devices_indices_map(shape).items()}
        return isinstance(other, Sharding) and norm(self) == norm(other)

    @property
    def is_fully_replicated(self) -> bool:
        raise NotImplementedError


def _is_local(device: Device) -> bool:
    from . import distributed
    return device.process_index == distributed.process_index()


def _splits(s: Sharding, ndim: int) -> list[int]:
    return s._dim_splits(ndim) if isinstance(s, NamedSharding) else [1] * ndim


class SingleDeviceSharding(Sharding):
    """The whole array on one device."""

    def __init__(self, device: Device, *, memory_kind: str | None = None):
        self._device = device

    def _device_list(self) -> list[Device]:
        return [self._device]

    def _indices(self, shape: tuple) -> list[Index]:
        return [(slice(None),) * len(shape)]

    is_fully_replicated = True

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, SingleDeviceSharding) and other._device is self._device

    def __hash__(self) -> int:
        return hash(id(self._device))

    def __repr__(self) -> str:
        return f"SingleDeviceSharding(device={self._device!r})"


def make_single_device_sharding(device: Device) -> SingleDeviceSharding:
    """JAX's internal constructor (``jax._src.sharding_impls``) of the sharding of one device."""
    return SingleDeviceSharding(device)


class NamedSharding(Sharding):
    """Blocks of an array over a mesh: dimension ``i`` is split over the mesh axes named by ``spec[i]``;
    the array is replicated over the mesh axes the spec does not name."""

    def __init__(self, mesh: Mesh, spec: PartitionSpec | None = None, *, memory_kind: str | None = None):
        if not isinstance(mesh, (Mesh, AbstractMesh)):
            raise TypeError(f"NamedSharding expects a Mesh, got {type(mesh).__name__}")
        spec = PartitionSpec() if spec is None else spec
        if isinstance(spec, tuple):
            spec = PartitionSpec(*spec)
        if not isinstance(spec, PartitionSpec):
            raise TypeError(f"NamedSharding spec must be a PartitionSpec, got {spec!r} of type {type(spec).__name__}")
        check_spec(spec, mesh, "NamedSharding spec")
        self.mesh, self.spec = mesh, spec

    def _device_list(self) -> list[Device]:
        return list(self.mesh.devices.flat)

    @property
    def is_fully_addressable(self) -> bool:
        """(Cached with the process index it was computed for: the mesh's devices are fixed.)"""
        from . import distributed
        process, cached = self.__dict__.get("_addressable", (None, None))
        if process != distributed.process_index():
            process, cached = self._addressable = (distributed.process_index(), Sharding.is_fully_addressable.fget(self))
        return cached

    def _dim_splits(self, ndim: int) -> list[int]:
        """How many blocks each dimension is cut into."""
        sizes = self.mesh.shape
        return [math.prod(sizes[a] for a in spec_axes(e)) for e in self.spec] + [1] * (ndim - len(self.spec))

    def check_shape(self, shape: tuple, what: str = "device_put args") -> None:
        """JAX's errors (``pjit_check_aval_sharding``) for a spec longer than the rank and a dimension the
        mesh axes do not divide."""
        if len(self.spec) > len(shape):
            scalar = " For scalars the PartitionSpec should be P()" if not shape else ""
            raise ValueError(f"One of {what} is incompatible with its sharding annotation {self}: Sharding {self} is "
                             f"only valid for values of rank at least {len(self.spec)}, but was applied to a value of "
                             f"rank {len(shape)}.{scalar}")
        self.shard_shape(shape)

    def shard_shape(self, global_shape: Sequence[int]) -> tuple:
        """Each device's block shape; JAX's error for a dimension the mesh axes do not divide."""
        shape, splits = tuple(global_shape), self._dim_splits(len(global_shape))
        if len(self.spec) > len(shape):
            self.check_shape(shape, "the arrays")
        for d, (n, k) in enumerate(zip(shape, splits)):
            if n % k:
                raise ValueError(f"Sharding {self} implies that array axis {d} is partitioned {k} times, but the "
                                 f"dimension size is {n} (full shape: {shape}, per-dimension tiling factors: "
                                 f"{splits} should evenly divide the shape)")
        return tuple(n // k for n, k in zip(shape, splits))

    def _indices(self, shape: tuple) -> list[Index]:
        self.check_shape(shape)
        names, sizes = self.mesh.axis_names, self.mesh.axis_sizes
        blocks = [n // k for n, k in zip(shape, self._dim_splits(len(shape)))]
        out = []
        for coords in np.ndindex(*sizes):
            pos = dict(zip(names, coords))
            index = []
            for d, n in enumerate(shape):
                block_id = 0
                for a in spec_axes(self.spec[d]) if d < len(self.spec) else ():
                    block_id = block_id * self.mesh.shape[a] + pos[a]
                index.append(slice(block_id * blocks[d], (block_id + 1) * blocks[d]) if blocks[d] != n else slice(None))
            out.append(tuple(index))
        return out

    @property
    def is_fully_replicated(self) -> bool:
        return all(self.mesh.shape[a] == 1 for e in self.spec for a in spec_axes(e))

    def with_spec(self, spec: PartitionSpec) -> "NamedSharding":
        return NamedSharding(self.mesh, spec)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, NamedSharding) and (self.mesh, self.spec) == (other.mesh, other.spec)

    def __hash__(self) -> int:
        return hash((self.mesh, self.spec))

    def __repr__(self) -> str:
        return f"NamedSharding(mesh={self.mesh}, spec={self.spec})"


def check_spec(spec: PartitionSpec, mesh: Mesh, what: str) -> None:
    """JAX's errors for a spec naming an axis the mesh lacks or naming an axis twice."""
    seen: list = []
    for entry in spec:
        for a in spec_axes(entry):
            if a not in mesh.axis_names:
                raise ValueError(f"Resource axis: {a} of {spec} is not found in mesh: {tuple(mesh.axis_names)}.")
            seen.append(a)
    dups = sorted({a for a in seen if seen.count(a) > 1}, key=str)
    if dups:
        raise ValueError(f"A single {what} specification can map every mesh axis to at most one positional "
                         f"dimension, but {spec} has duplicate entries for {', '.join(f'`{a}`' for a in dups)}")


def sharding_table(sharding: Sharding, shape: Sequence[int]) -> str:
    """A text table of which devices hold each block of a 1-D or 2-D array (rows: blocks of dimension 0)."""
    shape = tuple(shape)
    if len(shape) not in (1, 2):
        raise ValueError(f"`visualize_sharding` only works for shapes with 1 and 2 dimensions. Got shape {shape}")
    cells: dict = {}
    for device, index in sharding.devices_indices_map(shape).items():
        spans = tuple(s.indices(n)[:2] for s, n in zip(index, shape))
        cells.setdefault(((0, 1),) + spans if len(shape) == 1 else spans, []).append(device)
    rows, cols = sorted({k[0] for k in cells}), sorted({k[1] for k in cells})
    label = lambda ds: f"{ds[0].platform.upper()} {','.join(str(d.id) for d in sorted(ds, key=lambda d: d.id))}"
    labels = [[label(cells[(r, c)]) for c in cols] for r in rows]
    width = max(len(s) for row in labels for s in row) + 2
    line = lambda left, mid, right: left + mid.join("─" * width for _ in cols) + right
    out = [line("┌", "┬", "┐")]
    for i, row in enumerate(labels):
        out.append("│" + "│".join(s.center(width) for s in row) + "│")
        out.append(line("├", "┼", "┤") if i < len(labels) - 1 else line("└", "┴", "┘"))
    return "\n".join(out)


def visualize_array_sharding(arr: Any, *, use_color: bool = False, scale: float = 1.0, min_width: int = 9,
                             max_width: int = 80, color_map: Any = None) -> None:
    """``jax.debug.visualize_array_sharding``: print the table of ``arr``'s blocks and their devices."""
    print(sharding_table(arr.sharding, arr.shape))
