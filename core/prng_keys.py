"""Typed PRNG key arrays, as JAX's ``PRNGKeyArray``: an array of keys of shape ``batch`` and dtype ``key<fry>`` over
uint32 key data of shape ``batch + impl.key_shape``.

A key array is a ``jax.Array`` and a leaf to users' tree functions (portax.tree_util), as in JAX; to portax's
transformations it is a node whose one leaf is its key data, so jit/vmap/scan/cond see uint32 arrays; their mapped
and scanned axes are the leading (batch) axes of the data, which are the key array's own axes."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .dtype_api import prng_key
from .pytree import register_transform_node
from .trace import get_aval


class PRNGImpl:
    """A PRNG implementation, as JAX's ``PRNGImpl``: the shape of one key's uint32 data and the functions on raw
    key data ``seed(integer scalar array)``, ``split(key, shape)``, ``random_bits(key, bit_width, shape)`` and
    ``fold_in(key, uint32 scalar)``; its name and short tag (in the key dtype's name)."""

    def __init__(self, key_shape: tuple, seed: Callable, split: Callable, random_bits: Callable, fold_in: Callable,
                 name: str = "<unnamed>", tag: str = "?") -> None:
        self.key_shape, self.seed, self.split, self.random_bits, self.fold_in = \
            tuple(key_shape), seed, split, random_bits, fold_in
        self.name, self.tag = name, tag

    def _fields(self) -> tuple:
        return self.key_shape, self.seed, self.split, self.random_bits, self.fold_in, self.name, self.tag

    def __repr__(self) -> str:
        return f"PRNGImpl({self.name!r})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, PRNGImpl) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self.tag)

    def __str__(self) -> str:
        return self.tag


prngs: dict = {}  # name -> PRNGImpl, as jax._src.random.prng.prngs


def register_prng(impl: PRNGImpl) -> None:
    """Make ``impl`` available by its name (``jax.random.key(0, impl=name)``, ``jax_default_prng_impl``)."""
    if impl.name in prngs:
        raise ValueError(f"PRNG with name {impl.name} already registered: {impl}")
    prngs[impl.name] = impl


class KeyTy:
    """The dtype of key arrays of one implementation (``jnp.issubdtype(key.dtype, jax.dtypes.prng_key)``)."""

    type = prng_key

    def __init__(self, impl: PRNGImpl) -> None:
        self._impl = impl

    @property
    def name(self) -> str:
        return f"key<{self._impl.tag}>"

    @property
    def itemsize(self) -> int:
        return math.prod(self._impl.key_shape) * 4

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__

    def __eq__(self, other: Any) -> bool:
        return type(other) is KeyTy and self._impl == other._impl

    def __hash__(self) -> int:
        return hash((KeyTy, self._impl))


def check_key_data(impl: PRNGImpl, data: Any) -> None:
    """JAX's checks of key data for ``impl`` (TypeError naming the mismatch)."""
    if not all(hasattr(data, a) for a in ("ndim", "shape", "dtype")):
        raise TypeError("JAX encountered invalid PRNG key data: expected key_data to have ndim, shape, and dtype "
                        f"attributes. Got {data}")
    nd = len(impl.key_shape)
    if data.ndim < 1:
        raise TypeError(f"JAX encountered invalid PRNG key data: expected key_data.ndim >= 1; got ndim={data.ndim}")
    if tuple(data.shape[-nd:]) != impl.key_shape:
        raise TypeError(f"JAX encountered invalid PRNG key data: expected key_data.shape to end with "
                        f"{impl.key_shape}; got shape={tuple(data.shape)} for impl={impl}")
    if data.dtype != np.uint32:
        raise TypeError(f"JAX encountered invalid PRNG key data: expected key_data.dtype = uint32; "
                        f"got dtype={data.dtype}")


class PRNGKeyArray:
    """An array of PRNG keys (shape ``batch``) backed by uint32 data of shape ``batch + key_shape``."""

    __slots__ = ("_impl", "_base_array")
    __hash__ = None  # type: ignore[assignment]
    __array_priority__ = 100

    def __init__(self, impl: PRNGImpl, base_array: Any) -> None:
        self._impl, self._base_array = impl, base_array

    def _wrap(self, data: Any) -> "PRNGKeyArray":
        return PRNGKeyArray(self._impl, data)

    @property
    def _nd(self) -> int:
        return len(self._impl.key_shape)

    @property
    def shape(self) -> tuple:
        return tuple(get_aval(self._base_array).shape[:-self._nd])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype(self) -> KeyTy:
        return KeyTy(self._impl)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def device(self) -> Any:
        return self._base_array.device

    def devices(self) -> Any:
        return self._base_array.devices()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d key array")
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, idx: Any) -> "PRNGKeyArray":
        """Indexes the batch axes: the key data's trailing axes are always taken whole."""
        idx = idx if isinstance(idx, tuple) else (idx,)
        if any(i is Ellipsis for i in idx):
            return self._wrap(self._base_array[idx + (slice(None),) * self._nd])
        consumed = sum(_dims_indexed(i) for i in idx)
        if consumed > self.ndim:
            raise IndexError(f"Too many indices: key array is {self.ndim}-dimensional, but {consumed} were indexed")
        return self._wrap(self._base_array[idx + (slice(None),) * (self.ndim - consumed + self._nd)])

    def reshape(self, *shape: Any, order: str = "C") -> "PRNGKeyArray":
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        shape = tuple(shape)
        if -1 in shape:
            known = math.prod(d for d in shape if d != -1)
            shape = tuple(self.size // max(known, 1) if d == -1 else d for d in shape)
        return self._wrap(self._base_array.reshape(shape + self._impl.key_shape, order=order))

    def ravel(self) -> "PRNGKeyArray":
        return self.reshape(self.size)

    def squeeze(self, axis: Any = None) -> "PRNGKeyArray":
        axes = [i for i, d in enumerate(self.shape) if d == 1] if axis is None else axis
        return self._wrap(self._base_array.squeeze(axes))

    def transpose(self, *axes: Any) -> "PRNGKeyArray":
        axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes
        perm = tuple(axes) if axes else tuple(range(self.ndim))[::-1]
        return self._wrap(self._base_array.transpose(perm + tuple(range(self.ndim, self.ndim + self._nd))))

    @property
    def T(self) -> "PRNGKeyArray":
        return self.transpose()

    @property
    def at(self) -> Any:
        from .prng_key_ops import KeyIndexHelper
        return KeyIndexHelper(self)

    def copy(self) -> "PRNGKeyArray":
        return self._wrap(self._base_array.copy())

    def block_until_ready(self) -> "PRNGKeyArray":
        self._base_array.block_until_ready()
        return self

    def copy_to_host_async(self) -> None:
        self._base_array.copy_to_host_async()

    def delete(self) -> None:
        self._base_array.delete()

    def is_deleted(self) -> bool:
        return self._base_array.is_deleted()

    is_fully_addressable = property(lambda self: self._base_array.is_fully_addressable)
    is_fully_replicated = property(lambda self: self._base_array.is_fully_replicated)
    addressable_shards = property(lambda self: self._key_shards(self._base_array.addressable_shards))
    global_shards = property(lambda self: self._key_shards(self._base_array.global_shards))

    def _key_shards(self, shards: list) -> list:
        """The key data's shards as shards of keys (their indices over the key axes only)."""
        return [s._replace(index=s.index[:self.ndim], data=self._wrap(s.data)) for s in shards]

    def addressable_data(self, index: int) -> "PRNGKeyArray":
        return self._wrap(self._base_array.addressable_data(index))

    def on_device_size_in_bytes(self) -> int:
        return self._base_array.on_device_size_in_bytes()

    def unsafe_buffer_pointer(self) -> int:
        return self._base_array.unsafe_buffer_pointer()

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return _keys_equal(self, other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return ~_keys_equal(self, other)

    def __neg__(self) -> Any:
        return _ufunc("negative")(self)

    def __bool__(self) -> bool:
        raise TypeError("key array cannot be converted to boolean.")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("JAX array with PRNGKey dtype cannot be converted to a NumPy array. Use "
                        "jax.random.key_data(arr) if you wish to extract the underlying integer array.")

    def __repr__(self) -> str:
        return f"Array({self.shape}, dtype={self.dtype.name}) overlaying:\n{self._base_array}"


def _ufunc(name: str) -> Any:
    """The jnp ufunc ``name`` (arithmetic operators on keys raise its TypeError, as in JAX)."""
    from .numpy import ufuncs
    return getattr(ufuncs, name)


def _operator(ufunc: str, reflected: bool) -> Any:
    if reflected:
        return lambda self, other: _ufunc(ufunc)(other, self)
    return lambda self, other: _ufunc(ufunc)(self, other)


for _op, _fn in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("truediv", "true_divide")):
    setattr(PRNGKeyArray, f"__{_op}__", _operator(_fn, False))
    setattr(PRNGKeyArray, f"__r{_op}__", _operator(_fn, True))


def _dims_indexed(i: Any) -> int:
    """How many axes an index entry consumes (None: none; a boolean mask: its rank; anything else: one)."""
    if i is None:
        return 0
    if isinstance(i, (bool, np.bool_)):
        return 0
    dtype = getattr(i, "dtype", None)
    if dtype is None and isinstance(i, (list, tuple)):
        dtype = np.asarray(i).dtype
    return int(np.ndim(i)) if dtype is not None and np.dtype(dtype) == np.bool_ else 1


def _keys_equal(a: PRNGKeyArray, b: Any) -> Any:
    if not isinstance(b, PRNGKeyArray) or a.dtype != b.dtype:
        raise TypeError(f"key array comparison requires two key arrays of one dtype, got {a.dtype} and "
                        f"{getattr(b, 'dtype', type(b).__name__)}")
    eq = a._base_array == b._base_array
    return eq.all(axis=tuple(range(-a._nd, 0)))


register_transform_node(PRNGKeyArray, lambda k: ((k._base_array,), k._impl),
                        lambda impl, children: PRNGKeyArray(impl, children[0]))


def is_key_array(x: Any) -> bool:
    """Whether ``x`` is a typed key array."""
    return isinstance(x, PRNGKeyArray)


def random_wrap(base_arr: Any, *, impl: PRNGImpl) -> PRNGKeyArray:
    """The key array over uint32 key data ``base_arr`` (JAX's ``prng.random_wrap``; checked as key data)."""
    from .numpy._util import asarray_any
    data = asarray_any(base_arr)
    check_key_data(impl, get_aval(data))
    return PRNGKeyArray(impl, data)


def random_unwrap(keys: Any) -> Any:
    """The uint32 key data of a key array (JAX's ``prng.random_unwrap``: TypeError for any other operand)."""
    if not is_key_array(keys):
        aval = get_aval(keys)
        shape = ",".join(map(str, aval.shape))
        raise TypeError(f"random_unwrap takes key array operand, got {aval.dtype.name}[{shape}]")
    return keys._base_array


def random_bits(keys: PRNGKeyArray, bit_width: int, shape: tuple) -> Any:
    """Random bits of each key of ``keys`` (shape ``keys.shape + shape``), by its implementation (JAX's
    ``prng.random_bits``)."""
    from .api import vmap
    fn = lambda data: keys._impl.random_bits(data, bit_width, tuple(shape))
    for _ in range(keys.ndim):
        fn = vmap(fn)
    return fn(keys._base_array)
