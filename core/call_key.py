"""The key of jit's fast path: a call's leaves and their structure, read without building a PyTreeDef.

Arguments made of Arrays, NumPy arrays and Python scalars in tuples, lists, dicts and Nones (what
``tree_flatten`` handles natively), and typed key arrays over Arrays, give ``(key, leaves, convert)``: the key is
the structure (each container's type and arity or keys, in preorder) and each leaf's abstract signature (an Array's
aval and device, a MeshArray's aval and sharding, a NumPy array's shape and dtype, a scalar's type; a key array's
implementation too), after
``context``; the leaves come in ``tree_flatten``'s order;
``convert`` says whether some leaf is not an Array yet. With ``sharded`` (pmap's fast path), a ShardedArray is a leaf
too, keyed by its aval, sharded axis and the device of each shard. Anything else (a tracer, a NumPy scalar, a custom
pytree node, a subclass of a container, a dict with keys of mixed types) gives None: the call takes jit's
general path. Each item's first token says what it is, so two different structures never share a key.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .array import Array
from .prng_keys import PRNGKeyArray
from .sharded import MeshArray, ShardedArray

_SCALARS = (bool, int, float, complex)  # their aval depends on their type only (and on x64, in ``context``)


def arrays_key(args: Any, context: Any, sharded: bool = False) -> tuple[tuple, list, bool] | None:
    """``(key, leaves, convert)`` of the leaves of ``args`` (a tuple: each element is a pytree), else None."""
    key: list = [context]
    leaves: list = []
    convert = _collect(args, key, leaves, sharded)
    return None if convert is None else (tuple(key), leaves, convert)


def static_call_key(args: tuple, kwargs: dict, positions: tuple, names: tuple, context: Any, sharded: bool = False
                    ) -> tuple[tuple, list, bool] | None:
    """``arrays_key`` of a call with keyword or static arguments (at the nonnegative ``positions``, or named in
    ``names``), split without wrapping them: a static value stands in the key as its type and itself, so that it
    equals only a value of the same type, as ``StaticArg`` does. The key may be unhashable (so may a static value)."""
    statics: list = []
    dyn: list = []
    for i, a in enumerate(args):
        if i in positions:
            statics += (i, type(a), a)
        else:
            dyn.append(a)
    if not kwargs:
        return arrays_key(dyn, (context, tuple(statics)), sharded)
    skw: list = []  # (in the order given: another order is another key, of the same program)
    dkw = {}
    for k, v in kwargs.items():
        if k in names:
            skw += (k, type(v), v)
        else:
            dkw[k] = v
    if not dkw:  # (each case's context has its own length: their keys never meet)
        return arrays_key(dyn, (context, tuple(statics), tuple(skw)), sharded)
    return arrays_key((dyn, dkw), (context, tuple(statics), tuple(skw), dict), sharded)


def _collect(nodes: Any, key: list, leaves: list, sharded: bool) -> bool | None:
    """Append the items of ``nodes``; whether one is not an Array, or None if one is not supported."""
    convert = False
    for x in nodes:
        t = type(x)
        if t is Array:
            key.append(x.aval)
            key.append(x._device)
        elif t is MeshArray:
            key += (t, x.aval, x.sharding)
        elif t is tuple or t is list or t is dict:
            if t is dict:
                try:
                    names = sorted(x)
                except TypeError:  # keys of mixed types
                    return None
                key.append(dict)
                key.append(tuple(names))
                x = [x[k] for k in names]
            else:
                key.append(t)
                key.append(len(x))
            inner = _collect(x, key, leaves, sharded)
            if inner is None:
                return None
            convert = convert or inner
            continue
        elif x is None:
            key.append(None)
            continue
        elif t is PRNGKeyArray:  # a key array over an Array: its data is the leaf (tree_flatten's node of one child)
            data = x._base_array
            if type(data) is not Array:
                return None
            key += (t, x._impl, data.aval, data._device)
            leaves.append(data)
            continue
        elif t is np.ndarray:
            key.append(np.ndarray)
            key.append(x.shape)
            key.append(x.dtype)
            convert = True
        elif t in _SCALARS:
            key.append(t)
            convert = True
        elif t is ShardedArray and sharded:
            key += (t, x.aval, x.sharded_axis, tuple([s._device for s in x.shards]))
            convert = True
        else:
            return None
        leaves.append(x)
    return convert
