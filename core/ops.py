"""``jax.ops``: segment reductions (sum/prod/max/min), one scatter of ``data`` into ``num_segments`` rows.

As JAX's ``jax/_src/ops/scatter.py``: segment ids are not wrapped, so negative or too large ids are dropped
(default mode ``FILL_OR_DROP``); with ``bucket_size`` each bucket of consecutive rows is reduced separately and
the buckets are then reduced with the matching ``jnp`` reduction."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import dtypes
from .numpy import reductions
from .numpy._util import asarray_any, broadcast_to, check_arraylike
from .primitives import elementwise as ew, indexing as ix, structural as st
from .trace import concrete_or_error, get_aval

__all__ = ["segment_max", "segment_min", "segment_prod", "segment_sum"]


def _identity(kind: str, dtype: np.dtype) -> Any:
    """The value each output row starts from: the identity of the reduction in ``dtype``."""
    if kind in ("add", "mul"):
        return 0 if kind == "add" else 1
    low = kind == "max"
    if dtype == dtypes.bool_:
        return not low
    if dtypes.kind(dtype) in "iu":
        return np.iinfo(dtype).min if low else np.iinfo(dtype).max
    return -np.inf if low else np.inf


_SCATTER = {"add": ix.scatter_add, "mul": ix.scatter_mul, "min": ix.scatter_min, "max": ix.scatter_max}


def _segment_update(name: str, data: Any, segment_ids: Any, kind: str, num_segments: int | None,
                    indices_are_sorted: bool, unique_indices: bool, bucket_size: int | None,
                    reducer: Callable, mode: Any) -> Any:
    check_arraylike(name, data, segment_ids)
    data, segment_ids = asarray_any(data), asarray_any(segment_ids)
    dtype = get_aval(data).dtype
    if num_segments is None:
        num_segments = int(np.max(concrete_or_error(segment_ids, f"{name}() without `num_segments`"))) + 1
    num_segments = int(concrete_or_error(num_segments, f"{name}() `num_segments` argument."))
    if num_segments < 0:
        raise ValueError("num_segments must be non-negative.")
    ids_shape, rest = get_aval(segment_ids).shape, get_aval(data).shape[1:]
    ids = ew.convert_element_type(segment_ids, dtypes.int32)
    columns, lead = [ids], (num_segments,)
    if bucket_size is not None:
        n = ids_shape[0] if ids_shape else 1
        num_buckets = -(-get_aval(segment_ids).size // bucket_size)
        buckets = ew.div(st.iota(dtypes.int32, n), ew._const(ids, bucket_size))
        columns = [st.broadcast_in_dim(buckets, ids_shape, (0,)) if ids_shape else st.reshape(buckets, ()), ids]
        lead = (num_buckets, num_segments)
    indices = st.concatenate([st.expand_dims(c, (len(ids_shape),)) for c in columns], len(ids_shape))
    updates = broadcast_to(data, ids_shape + rest)
    k = len(lead)
    dn = ix.ScatterDimensionNumbers(update_window_dims=tuple(range(len(ids_shape), len(ids_shape) + len(rest))),
                                    inserted_window_dims=tuple(range(k)), scatter_dims_to_operand_dims=tuple(range(k)))
    out = st.full(lead + rest, _identity(kind, dtype), dtype)
    out = _SCATTER[kind](out, indices, updates, dn, indices_are_sorted=indices_are_sorted,
                         unique_indices=unique_indices, mode=ix.GatherScatterMode.from_any(mode))
    if bucket_size is None:
        return out
    return ew.convert_element_type(reducer(out, axis=0), dtype)


def _segment_fn(name: str, kind: str, reducer: Callable) -> Callable:
    def fn(data: Any, segment_ids: Any, num_segments: int | None = None, indices_are_sorted: bool = False,
           unique_indices: bool = False, bucket_size: int | None = None, mode: Any = None) -> Any:
        return _segment_update(name, data, segment_ids, kind, num_segments, indices_are_sorted, unique_indices,
                               bucket_size, reducer, mode)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"``jax.ops.{name}``: the {reducer.__name__} of ``data``'s rows within each segment; output shape "
                  "``(num_segments,) + data.shape[1:]``, ids outside ``[0, num_segments)`` dropped.")
    return fn


segment_sum = _segment_fn("segment_sum", "add", reductions.sum)
segment_prod = _segment_fn("segment_prod", "mul", reductions.prod)
segment_max = _segment_fn("segment_max", "max", reductions.max)
segment_min = _segment_fn("segment_min", "min", reductions.min)
