"""Shape and indexing functions of jnp/lax on typed key arrays, as JAX treats arrays of an extended dtype: a
function whose ``data`` arguments are key arrays runs on each uint32 word of their key data (mapped over the
trailing key axes, as JAX's ``iterated_vmap``), and its results are key arrays of the same implementation. Key
arrays and other arrays do not mix in one data argument list (TypeError, as JAX)."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

from .prng_keys import KeyTy, PRNGKeyArray, is_key_array
from .pytree import tree_flatten, tree_map, tree_unflatten


def _arrays_in(value: Any) -> list:
    """The array-like leaves of a data argument (a sequence argument such as concatenate's contributes each)."""
    leaves, _ = tree_flatten(value, is_leaf=is_key_array)
    return [x for x in leaves if is_key_array(x) or hasattr(x, "dtype") or isinstance(x, (bool, int, float, complex))]


def _holds_key(x: Any) -> bool:
    """Whether an argument is a key array or a list/tuple holding one (a quick test before binding arguments)."""
    return is_key_array(x) or (type(x) in (list, tuple) and any(map(is_key_array, x)))


def on_key_words(fn: Callable, args: tuple, kwargs: dict) -> Any:
    """``fn(*args, **kwargs)`` with each key array argument replaced by one word of its key data at a time."""
    from .api import vmap
    leaves, tree = tree_flatten((args, kwargs), is_leaf=is_key_array)
    positions = [i for i, x in enumerate(leaves) if is_key_array(x)]
    impl = leaves[positions[0]]._impl
    if any(leaves[p]._impl != impl for p in positions):
        raise TypeError(f"key arrays of different PRNG implementations in one operation: "
                        f"{sorted({str(leaves[p].dtype) for p in positions})}")

    def per_word(*words):
        filled = list(leaves)
        for p, w in zip(positions, words):
            filled[p] = w
        a, k = tree_unflatten(tree, filled)
        return fn(*a, **k)

    mapped = per_word
    for _ in impl.key_shape:
        mapped = vmap(mapped, in_axes=-1, out_axes=-1)
    out = mapped(*(leaves[p]._base_array for p in positions))
    return tree_map(lambda data: PRNGKeyArray(impl, data), out)


def keys_lifted(*data: str) -> Callable:
    """Decorate a jnp/lax function so that key arrays in its arguments named ``data`` act as arrays of their key
    dtype (see the module docstring); without key arrays the function runs as is."""
    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        if not set(data) <= set(signature.parameters):
            raise TypeError(f"keys_lifted: {fn.__name__} has no parameters {sorted(set(data) - set(signature.parameters))}")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not any(map(_holds_key, args)) and not any(map(_holds_key, kwargs.values())):
                return fn(*args, **kwargs)
            bound = signature.bind_partial(*args, **kwargs)
            arrays = [x for name in data if name in bound.arguments for x in _arrays_in(bound.arguments[name])]
            keys = [x for x in arrays if is_key_array(x)]
            if not keys:
                return fn(*args, **kwargs)
            if len(keys) != len(arrays):
                others = sorted({str(getattr(x, "dtype", type(x).__name__)) for x in arrays if not is_key_array(x)})
                raise TypeError(f"{fn.__name__} does not accept key arrays together with arrays of dtypes {others}")
            return on_key_words(fn, args, kwargs)
        return wrapper
    return decorate


def key_full(shape: Any, fill_value: Any, dtype: KeyTy) -> PRNGKeyArray:
    """``jnp.full(shape, fill_value, dtype=<key dtype>)``: a key fill is broadcast, a number fills every word."""
    from .numpy._util import broadcast_to
    from .primitives import structural as st
    shape = st.canonicalize_shape(shape)
    if is_key_array(fill_value):
        if fill_value.dtype != dtype:
            raise TypeError(f"full: fill value of dtype {fill_value.dtype} for an array of dtype {dtype}")
        return broadcast_to(fill_value, shape)
    impl = dtype._impl
    return PRNGKeyArray(impl, st.full(shape + impl.key_shape, fill_value, np.dtype(np.uint32)))


def key_array(keys: PRNGKeyArray, dtype: Any) -> PRNGKeyArray:
    """``jnp.array`` / ``jnp.asarray`` of a key array: the keys themselves (key arrays are immutable)."""
    if dtype is not None and dtype != keys.dtype:
        raise TypeError(f"Cannot convert a key array of dtype {keys.dtype} to dtype {dtype}")
    return keys


class _KeyIndexRef:
    """``keys.at[idx]``: ``get`` and ``set`` act on every word of the key data as on an array."""

    def __init__(self, keys: PRNGKeyArray, idx: Any) -> None:
        self._keys, self._idx = keys, idx

    def get(self, **kwargs: Any) -> PRNGKeyArray:
        return on_key_words(lambda k: k.at[self._idx].get(**kwargs), (self._keys,), {})

    def set(self, values: Any, **kwargs: Any) -> PRNGKeyArray:
        if not is_key_array(values):
            raise TypeError(f"scatter of {getattr(values, 'dtype', type(values).__name__)} values into a key array "
                            f"of dtype {self._keys.dtype}: the values must be keys of that dtype")
        return on_key_words(lambda k, v: k.at[self._idx].set(v, **kwargs), (self._keys, values), {})


class KeyIndexHelper:
    """``keys.at``: indexed reads and writes of key arrays."""

    def __init__(self, keys: PRNGKeyArray) -> None:
        self._keys = keys

    def __getitem__(self, idx: Any) -> _KeyIndexRef:
        return _KeyIndexRef(self._keys, idx)


def _dtype_name(x: Any) -> str:
    from . import dtypes
    if is_key_array(x):
        return str(x.dtype)
    dt = getattr(x, "dtype", None)
    return (dtypes.canonicalize(dt) if dt is not None else dtypes.result_type_weak(x)[0]).name


def reject_keys(name: str, *args: Any) -> None:
    """JAX's TypeError for an arithmetic primitive ``name`` given key arrays (they have no arithmetic)."""
    if any(map(is_key_array, args)):
        names = list(dict.fromkeys(_dtype_name(a) for a in args))
        raise TypeError(f"{name} does not accept dtype{'s' if len(names) > 1 else ''} {', '.join(names)}.")


def check_conversion(x: Any, new_dtype: Any) -> None:
    """JAX's ValueError for ``convert_element_type`` to or from a key dtype."""
    if is_key_array(x) or isinstance(new_dtype, KeyTy):
        from . import dtypes
        to = str(new_dtype) if isinstance(new_dtype, KeyTy) else dtypes.canonicalize(new_dtype).name
        raise ValueError(f"Cannot convert_element_type from {_dtype_name(x)} to {to}")


def key_result_type(args: tuple) -> KeyTy | None:
    """``jnp.result_type`` of key arrays or key dtypes: their one key dtype (None if no argument is a key)."""
    key_dtypes = {a.dtype if is_key_array(a) else a for a in args if is_key_array(a) or isinstance(a, KeyTy)}
    if not key_dtypes:
        return None
    if len(key_dtypes) != 1 or not all(is_key_array(a) or isinstance(a, KeyTy) for a in args):
        raise TypeError(f"Cannot promote key dtypes with other dtypes: {[_arg_type(a) for a in args]}")
    return key_dtypes.pop()


def _arg_type(a: Any) -> str:
    return str(a) if isinstance(a, KeyTy) else _dtype_name(a)
