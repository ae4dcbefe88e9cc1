"""``jax.flatten_util.ravel_pytree``: a pytree of arrays as one 1-D array, and the function that undoes it."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import dtypes
from .lax_composites import split
from .primitives import elementwise as ew, structural as st
from .pytree import PyTreeDef, tree_flatten, tree_unflatten
from .trace import get_aval


class HashablePartial:
    """``f`` with leading arguments bound, equal to another with the same ``f`` and arguments (so an ``unravel``
    passed as a static argument of ``jit`` hits the cache, as in JAX)."""

    def __init__(self, f: Callable, *args: Any):
        self.f, self.args = f, args

    def __eq__(self, other: Any) -> bool:
        return type(other) is HashablePartial and self.f is other.f and self.args == other.args

    def __hash__(self) -> int:
        return hash((self.f, self.args))

    def __call__(self, *args: Any) -> Any:
        return self.f(*self.args, *args)


def ravel_pytree(pytree: Any) -> tuple[Any, Callable[[Any], Any]]:
    """``(flat, unravel)``: the leaves raveled and concatenated in the promoted dtype of the leaves (float32 and
    empty for a tree without leaves), and ``unravel(flat)`` rebuilding the tree. With one dtype, ``unravel``
    keeps the dtype of the array it is given; with several, it requires the promoted dtype."""
    leaves, treedef = tree_flatten(pytree)
    flat, unravel_list = _ravel_list([ew.asarray(x) for x in leaves])
    return flat, HashablePartial(_unravel_pytree, treedef, unravel_list)


def _unravel_pytree(treedef: PyTreeDef, unravel_list: Callable, flat: Any) -> Any:
    return tree_unflatten(treedef, unravel_list(flat))


def _ravel_list(leaves: list) -> tuple[Any, Callable]:
    if not leaves:
        return st.full((0,), 0, dtypes.float32), HashablePartial(_unravel_empty)
    avals = [get_aval(x) for x in leaves]
    from_dtypes = tuple(a.dtype for a in avals)
    to_dtype = dtypes.result_type(*from_dtypes)
    sizes, shapes = tuple(int(np.prod(a.shape)) for a in avals), tuple(a.shape for a in avals)
    flat = st.concatenate([st.reshape(ew.convert_element_type(x, to_dtype), (n,)) for x, n in zip(leaves, sizes)], 0)
    if all(d == to_dtype for d in from_dtypes):
        return flat, HashablePartial(_unravel_list, sizes, shapes, None, None)
    return flat, HashablePartial(_unravel_list, sizes, shapes, from_dtypes, to_dtype)


def _unravel_empty(flat: Any) -> list:
    return []


def _unravel_list(sizes: tuple, shapes: tuple, from_dtypes: tuple | None, to_dtype: Any, flat: Any) -> list:
    """The leaves back from ``flat``: in its own dtype when the tree had one dtype (``from_dtypes`` is None)."""
    if from_dtypes is not None and get_aval(flat).dtype != to_dtype:
        raise TypeError(f"unravel function given array of dtype {get_aval(flat).dtype}, but expected dtype {to_dtype}")
    chunks = [st.reshape(c, s) for c, s in zip(split(flat, sizes), shapes)]
    if from_dtypes is None:
        return chunks
    return [ew.convert_element_type(c, d) for c, d in zip(chunks, from_dtypes)]
