"""numpy indexing over lax: basic indexing becomes slices, advanced indexing one gather; ``.at[]``
updates scatter into the flattened array at the positions that indexing an iota selects."""
from __future__ import annotations

import dataclasses
import enum
import string
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import config, dtypes
from ..axis_types import maybe_auto_axes
from ..explicit_sharding import canonicalize_sharding, reshard, unsharded
from ..pytree import register_pytree_node_class
from ..sharded import MultiDeviceArray
from ..sharding import NamedSharding, PartitionSpec
from ..primitives import elementwise as ew, indexing as ix, structural as st
from ..trace import concrete_or_none, get_aval, is_tracer
from ._util import asarray_any, broadcast_shapes, broadcast_to, canonicalize_axis
from .ufuncs import remainder


def _gather(operand: Any, indices: Any, dn: Any, slice_sizes: tuple, **params: Any) -> Any:
    """``lax.gather``, except that an empty result from an operand with an empty dimension (which no slice of
    size 1 fits, as in ``zeros((0, 3))[array([], int)]``) is built directly."""
    aval = get_aval(operand)
    if 0 in aval.shape:
        padded = aval.update(shape=tuple(max(d, 1) for d in aval.shape))
        out = ix._gather_abstract(padded, get_aval(indices), dimension_numbers=dn, slice_sizes=slice_sizes,
                                  mode=None, fill_value=None)
        if 0 in out.shape:
            return st.full(out.shape, 0, aval.dtype)
    return ix.gather(operand, indices, dn, slice_sizes, **params)


@register_pytree_node_class
@dataclasses.dataclass(slots=True)
class Slice:
    """``jax._src.indexing.Slice``: ``size`` elements from ``start`` (static or traced) with a static stride."""

    start: Any
    size: int
    stride: int = 1

    def __post_init__(self) -> None:
        if self.stride < 0:
            raise ValueError("`stride` must be >= 0.")

    def tree_flatten(self) -> tuple:
        static = isinstance(self.start, (int, np.integer))
        return (None if static else self.start,), ((self.start if static else None), self.size, self.stride)

    @classmethod
    def tree_unflatten(cls, aux: tuple, children: tuple) -> "Slice":
        return cls(aux[0] if children[0] is None else children[0], aux[1], aux[2])


def ds(start: Any, size: int | None = None, stride: int | None = None) -> slice | Slice:
    """``jax.ds``: ``ds(None)`` is ``:``, ``ds(j)`` is ``:j``, ``ds(i, n)`` is ``i:i+n`` with ``i`` possibly traced
    (a dynamic slice, its start clamped so the window fits, as ``lax.dynamic_slice``)."""
    if start is None:
        return slice(None)
    if stride is None:
        stride = 1
    if not isinstance(stride, int):
        raise ValueError("Non-static stride in `dslice`")
    if size is None:
        start, size = 0, start
    return Slice(start, size, stride)


dslice = ds


def _apply_dslice(y: Any, dim: int, s: Slice) -> Any:
    if s.stride != 1:
        raise NotImplementedError(f"indexing with jax.ds(..., stride={s.stride}) is not implemented; only stride 1")
    return st.dynamic_slice_in_dim(y, s.start, int(s.size), dim)


def _is_jax_value(i: Any) -> bool:
    """A tracer or a portax array (on one device or laid out over several)."""
    return is_tracer(i) or hasattr(i, "_buf") or isinstance(i, MultiDeviceArray)


def _is_array_index(i: Any) -> bool:
    if isinstance(i, (list, tuple, np.ndarray)) or _is_jax_value(i):
        return get_aval(asarray_any(i)).ndim > 0 or get_aval(asarray_any(i)).dtype == dtypes.bool_
    return False


class _BoolAxis(NamedTuple):
    """A (concrete) scalar boolean index: as in numpy, an advanced index over a new axis of length 1, selecting
    that one entry (True) or none (False)."""
    value: bool


def _is_bool_scalar(i: Any) -> bool:
    if isinstance(i, (bool, np.bool_)):
        return True
    return (isinstance(i, np.ndarray) or _is_jax_value(i)) and \
        get_aval(asarray_any(i)).dtype == dtypes.bool_ and get_aval(asarray_any(i)).ndim == 0


def _check_index(i: Any) -> None:
    """JAX's indexer check: strings and non-integer indexers are TypeErrors, other objects IndexErrors."""
    if i is None or i is Ellipsis or isinstance(i, (slice, Slice, int, np.integer, np.bool_)):
        return
    if isinstance(i, str):
        raise TypeError(f"JAX does not support string indexing; got idx={i!r}")  # JAX's message
    if isinstance(i, (float, complex, np.generic)):
        raise TypeError(f"Indexer must have integer or boolean type, got indexer with type {np.dtype(type(i))}")
    if isinstance(i, (list, tuple, np.ndarray)) or _is_jax_value(i):
        dtype = get_aval(asarray_any(i)).dtype if not isinstance(i, (list, tuple)) or i else dtypes.int32
        if dtypes.kind(dtype) not in "iub":
            raise TypeError(f"Indexer must have integer or boolean type, got indexer with type {dtype}")
        return
    raise IndexError("only integers, slices (`:`), ellipsis (`...`), newaxis (`None`) and integer or boolean "
                     f"arrays are valid indices. Got {i}")


def _check_masks(idx: list, shape: tuple, consumed: int) -> None:
    """A boolean mask's shape must match the dimensions it indexes (JAX lets a size-0 mask dimension pass)."""
    axis = 0
    for pos, i in enumerate(idx):
        if i is Ellipsis:
            axis += len(shape) - consumed
        elif _is_array_index(i) and get_aval(asarray_any(i)).dtype == dtypes.bool_:
            got = get_aval(asarray_any(i)).shape
            expected = list(shape[axis:axis + len(got)])
            if not all(s1 in (0, s2) for s1, s2 in zip(got, expected)):
                raise IndexError("boolean index did not match shape of indexed array in index "
                                 f"{pos}: got {got}, expected {expected}")
            axis += len(got)
        elif i is not None and not _is_bool_scalar(i):
            axis += 1


def _tuple_index(idx: Any) -> tuple:
    """``idx`` as a tuple; a non-tuple sequence (``x[[0, 1]]``) is a TypeError, as in JAX."""
    if isinstance(idx, tuple):
        return idx
    if isinstance(idx, Sequence) and not isinstance(idx, str):
        unpack = any(isinstance(i, (Sequence, slice)) or i is Ellipsis or i is None or
                     ((isinstance(i, np.ndarray) or _is_jax_value(i)) and np.ndim(i) != 0)
                     for i in idx)
        fix = "tuple" if unpack else "array"
        raise TypeError("Using a non-tuple sequence for multidimensional indexing is not allowed; use "
                        f"`arr[{fix}(seq)]` instead of `arr[seq]`. See https://github.com/jax-ml/jax/issues/4564 "
                        "for more information.")
    return (idx,)


def _expand(idx: Any, shape: tuple) -> list:
    ndim = len(shape)
    idx = list(_tuple_index(idx))
    for i in idx:
        _check_index(i)
    n_ell = sum(1 for i in idx if i is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = 0
    for i in idx:
        if i is None or i is Ellipsis or _is_bool_scalar(i):
            continue
        if _is_array_index(i) and get_aval(asarray_any(i)).dtype == dtypes.bool_:
            consumed += get_aval(asarray_any(i)).ndim
        else:
            consumed += 1
    if consumed > ndim:
        raise IndexError(f"Too many indices: array is {ndim}-dimensional, but {consumed} were indexed")
    _check_masks(idx, shape, consumed)
    if n_ell:
        k = next(p for p, i in enumerate(idx) if i is Ellipsis)
        idx[k:k + 1] = [slice(None)] * (ndim - consumed)
    else:
        idx += [slice(None)] * (ndim - consumed)
    # boolean masks (concrete) become integer index arrays, one per masked dimension
    out = []
    for i in idx:
        if _is_bool_scalar(i):
            value = concrete_or_none(i)
            if value is None:
                from ..errors import NonConcreteBooleanIndexError
                raise NonConcreteBooleanIndexError(get_aval(asarray_any(i)))
            out.append(_BoolAxis(bool(value)))
        elif _is_array_index(i) and get_aval(asarray_any(i)).dtype == dtypes.bool_:
            mask = concrete_or_none(i)
            if mask is None:
                from ..errors import NonConcreteBooleanIndexError
                raise NonConcreteBooleanIndexError(get_aval(asarray_any(i)))
            out.extend(asarray_any(n.astype(np.int32)) for n in np.nonzero(np.asarray(mask)))
        elif isinstance(i, (list, tuple)) and not i:  # an empty sequence indexes as an empty integer array
            out.append(asarray_any(np.zeros(0, np.int32)))
        else:
            out.append(i)
    return out


def _normalize_int(i: Any, n: int, wrap: bool = True) -> Any:
    """``i`` checked to be integer; negative entries count from the end unless ``wrap`` is False."""
    i = asarray_any(i)
    if dtypes.kind(get_aval(i).dtype) not in "iu":
        raise TypeError(f"Indexer must have integer or boolean type, got indexer with type {get_aval(i).dtype.name}")
    if dtypes.kind(get_aval(i).dtype) == "u" or not wrap:
        return i
    return ew.select(ew.lt(i, ew._const(i, 0)), ew.add(i, ew._const(i, n)), i)


def _validate_static_indices(items: list, shape: tuple, normalize_indices: bool) -> None:
    """``jax_check_static_indices``: a static integer index out of bounds is an IndexError (as JAX)."""
    axis = 0
    for i in items:
        if i is None or isinstance(i, _BoolAxis):
            continue
        if isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)):
            k, n = int(i), shape[axis]
            if not 0 <= (k + n if normalize_indices and k < 0 else k) < n:
                raise IndexError(f"index {k} out of bounds for axis {axis} with size {n} ({normalize_indices=})")
        axis += 1


def getitem(x: Any, idx: Any, mode: str | None = None, fill_value: Any = None,
            normalize_indices: bool = True) -> Any:
    """``x[idx]``: ints, slices, None, Ellipsis, integer arrays and concrete boolean masks. Out-of-bounds indices
    are clamped (JAX's gather semantics), or read ``fill_value`` with ``mode='fill'``; negative integer indices
    count from the end unless ``normalize_indices`` is False (then they are out of bounds)."""
    x = asarray_any(x)
    shape = get_aval(x).shape
    items = _expand(idx, shape)
    if mode is None and config.config.jax_check_static_indices:
        _validate_static_indices(items, shape, normalize_indices)
    from .sharded_indexing import check_getitem
    check_getitem(x, items, mode)
    bool_dims = [sum(1 for j in items[:k] if j is not None) for k, i in enumerate(items) if isinstance(i, _BoolAxis)]
    if bool_dims:
        x = st.expand_dims(x, tuple(bool_dims))
        items = [asarray_any(np.zeros(int(i.value), np.int32)) if isinstance(i, _BoolAxis) else i for i in items]
    # a traced scalar index reads fill_value out of bounds only through a gather (dynamic_slice clamps)
    advanced = any(_is_array_index(i) or (mode == "fill" and is_tracer(i)) for i in items)
    # pass 1: basic indices (and, with advanced indexing, scalar ints join the advanced set)
    y, dim = x, 0
    adv: list[tuple[int, Any]] = []  # (dim of y, index array)
    squeeze_dims, adv_positions, kept = [], [], 0
    out_of_bounds = False
    windows: dict[int, tuple] = {}  # dim of y -> static (start, limit, stride), all sliced by one lax.slice
    for pos, i in enumerate(items):
        if i is None:
            y = st.expand_dims(y, (dim,))
            dim += 1
            kept += 1
            continue
        n = get_aval(y).shape[dim]
        if isinstance(i, slice):
            y, windows[dim] = _apply_slice(y, dim, i, n)
            dim += 1
            kept += 1
        elif isinstance(i, Slice):
            y = _apply_dslice(y, dim, i)
            dim += 1
            kept += 1
        elif advanced and (_is_array_index(i) or isinstance(i, (int, np.integer)) or _is_jax_value(i)):
            adv.append((dim, i))
            adv_positions.append(pos)
            dim += 1
        else:
            c = concrete_or_none(i) if not isinstance(i, (int, np.integer)) else i
            if n == 0:
                k = "" if c is None else f" {int(c)}"
                raise IndexError(f"index{k} is out of bounds for axis {pos} with size 0")
            if c is not None and not is_tracer(i):
                k = int(c)
                k = k + n if k < 0 and normalize_indices else k
                out_of_bounds |= not 0 <= k < n
                k = min(max(k, 0), n - 1)
                windows[dim] = (k, k + 1, 1)
            else:
                i = _normalize_int(i, n, normalize_indices)
                y = st.dynamic_slice_in_dim(y, i, 1, dim)
            squeeze_dims.append(dim)
            dim += 1
    if windows:
        full = [(0, d, 1) for d in get_aval(y).shape]
        for d, w in windows.items():
            full[d] = w
        y = st.slice(y, *(tuple(w[j] for w in full) for j in range(3)))
    if not adv:
        y = st.squeeze(y, tuple(squeeze_dims)) if squeeze_dims else y
        if out_of_bounds and mode == "fill":
            y = st.full_like(y, _fill_value(get_aval(y).dtype, fill_value))
        return y
    # pass 2: one gather over the advanced dimensions of y
    y_shape = get_aval(y).shape
    arrays = [_normalize_int(i, y_shape[d], normalize_indices) for d, i in adv]
    bshape = broadcast_shapes(*[get_aval(a).shape for a in arrays])
    arrays = [ew.convert_element_type(broadcast_to(a, bshape), dtypes.int32) for a in arrays]
    indices = st.concatenate([st.expand_dims(a, (len(bshape),)) for a in arrays], len(bshape))
    adv_dims = tuple(d for d, _ in adv)
    window_dims = [d for d in range(len(y_shape)) if d not in adv_dims and d not in squeeze_dims]
    contiguous = adv_positions == list(range(adv_positions[0], adv_positions[0] + len(adv_positions)))
    first = sum(1 for d in window_dims if d < adv_dims[0]) if contiguous else 0
    out_nd = len(bshape) + len(window_dims)
    batch_pos = set(range(first, first + len(bshape)))
    offset_dims = tuple(p for p in range(out_nd) if p not in batch_pos)
    collapsed = tuple(sorted(adv_dims + tuple(squeeze_dims)))
    slice_sizes = tuple(1 if d in collapsed else s for d, s in enumerate(y_shape))
    dn = ix.GatherDimensionNumbers(offset_dims=offset_dims, collapsed_slice_dims=collapsed, start_index_map=adv_dims)
    if squeeze_dims:  # scalar basic indices already sliced to size 1: collapse them via a zero start
        zero_idx = st.full(bshape + (len(squeeze_dims),), 0, dtypes.int32)
        indices = st.concatenate([indices, zero_idx], len(bshape))
        dn = dn._replace(start_index_map=adv_dims + tuple(squeeze_dims))
    out = _gather(y, indices, dn, slice_sizes, mode="clip" if mode is None else mode, fill_value=fill_value)
    if out_of_bounds and mode == "fill":
        out = st.full_like(out, _fill_value(get_aval(out).dtype, fill_value))
    return out


class IndexingStrategy(enum.Enum):
    """How ``rewriting_take`` lowers an index (``jax._src.numpy.indexing.IndexingStrategy``)."""
    AUTO = "auto"
    GATHER = "gather"
    SCATTER = "scatter"
    STATIC_SLICE = "static_slice"
    DYNAMIC_SLICE = "dynamic_slice"


def rewriting_take(arr: Any, idx: Any, *, indices_are_sorted: bool = False, unique_indices: bool = False,
                   mode: Any = None, fill_value: Any = None, normalize_indices: bool = True, out_sharding: Any = None,
                   strategy: IndexingStrategy = IndexingStrategy.AUTO) -> Any:
    """``arr[idx]`` lowered by ``strategy`` (JAX's ``rewriting_take``): STATIC_SLICE by ``lax.slice`` (static integers
    and slices only), DYNAMIC_SLICE by one ``lax.dynamic_slice`` (scalar integers, unit-step slices and ``ds``), AUTO
    and GATHER by portax's general lowering (``getitem``: static windows by ``lax.slice``, the advanced indices by one
    gather). ``indices_are_sorted`` and ``unique_indices`` are hints portax does not need."""
    if not isinstance(strategy, IndexingStrategy):
        raise TypeError(f"Expected strategy to be IndexingStrategy; got {strategy}")
    if out_sharding is not None:
        raise NotImplementedError("rewriting_take: out_sharding is not supported by portax")
    if strategy not in (IndexingStrategy.STATIC_SLICE, IndexingStrategy.DYNAMIC_SLICE):
        return getitem(arr, idx, mode=mode, fill_value=fill_value, normalize_indices=normalize_indices)
    arr = asarray_any(arr)
    shape = get_aval(arr).shape
    name = strategy.value
    mode_name = None if mode is None else str(mode).lower().split(".")[-1]
    if mode_name not in (None, "promise_in_bounds", "clip"):
        raise ValueError(f"{name} requires mode='promise_in_bounds' or mode='clip'")
    items = _expand(_slice_indices(name, idx), shape)
    static = strategy is IndexingStrategy.STATIC_SLICE
    if mode_name != "clip" and (static or config.config.jax_check_static_indices):
        _validate_static_indices(items, shape, normalize_indices)
    if static:
        return getitem(arr, tuple(items), mode="clip", normalize_indices=normalize_indices)
    return _dynamic_slice_take(arr, items, normalize_indices)


def _slice_indices(name: str, idx: Any) -> tuple:
    """``idx`` as a tuple, checked to hold only what the ``name`` strategy lowers (JAX's TypeErrors otherwise)."""
    idx = _tuple_index(idx)
    for pos, i in enumerate(idx):
        _check_index(i)
        if i is None or i is Ellipsis or (isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))):
            continue
        if isinstance(i, slice) and name == "static_slice":
            continue
        if name == "static_slice":
            raise TypeError(f"static_slice: indices must be static scalars or slices. Got index of type {type(i)} at "
                            f"position {pos}")
        if isinstance(i, (slice, Slice)):
            if i.stride != 1 if isinstance(i, Slice) else i.step not in (None, 1, -1):
                raise TypeError(f"dynamic_slice: only unit steps supported in slice. Got {i} at position {pos}")
            continue
        aval = get_aval(asarray_any(i))
        if aval.dtype == dtypes.bool_:
            raise TypeError(f"dynamic_slice: indices must be scalars or slices. Got index of type {type(i)} at "
                            f"position {pos}")
        if isinstance(i, Sequence) or aval.ndim:
            raise TypeError(f"dynamic_slice: only scalar indices allowed. Got index of type {type(i)} at position "
                            f"{pos}")
    return idx


def _dynamic_slice_take(arr: Any, items: list, normalize_indices: bool) -> Any:
    """``arr[items]`` (expanded; integers, unit-step slices, ``ds`` and None) as one ``lax.dynamic_slice`` followed by
    reverses, squeezes and new axes (JAX's ``_dynamic_slice``)."""
    shape = get_aval(arr).shape
    starts: list = []
    sizes: list[int] = []
    rev, squeeze, newaxis = [], [], []
    for i in items:
        if i is None:
            newaxis.append(len(starts) - len(squeeze) + len(newaxis))
            continue
        axis, n = len(starts), shape[len(starts)]
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step < 0:
                rev.append(axis)
                start, stop = stop + 1, start + 1
            starts.append(start)
            sizes.append(max(0, stop - start))
        elif isinstance(i, Slice):
            starts.append(i.start)
            sizes.append(int(i.size))
        else:
            if n == 0:
                raise IndexError(f"index is out of bounds for axis {axis} with size 0")
            starts.append(i)
            sizes.append(1)
            squeeze.append(axis)
    y = arr
    if not all(isinstance(i, slice) and i == slice(None) for i in items if i is not None):
        starts = [ew.convert_element_type(asarray_any(s), dtypes.int32) for s in starts]
        y = st.dynamic_slice(arr, starts, sizes, allow_negative_indices=normalize_indices)
    y = st.rev(y, tuple(rev)) if rev else y
    y = st.squeeze(y, tuple(squeeze)) if squeeze else y
    return st.expand_dims(y, tuple(newaxis)) if newaxis else y


def _fill_value(dtype: np.dtype, fill_value: Any) -> Any:
    """JAX's default fill for out-of-bounds reads: NaN for floats, the minimum (signed) or maximum (unsigned)
    integer, True for booleans."""
    if fill_value is not None:
        return fill_value
    if dtypes.kind(dtype) == "f":
        return np.nan
    if dtypes.kind(dtype) == "b":
        return True
    return np.iinfo(dtype).min if dtypes.kind(dtype) == "i" else np.iinfo(dtype).max


def _apply_slice(y: Any, dim: int, s: slice, n: int) -> tuple:
    """``y`` (reversed along ``dim`` for a negative step) and the forward ``(start, limit, stride)`` window of ``s``
    along ``dim`` still to slice."""
    start, stop, step = (concrete_or_none(v) if v is not None else None for v in (s.start, s.stop, s.step))
    if any(v is None and orig is not None for v, orig in zip((start, stop, step), (s.start, s.stop, s.step))):
        raise IndexError("Array slice indices must have static start/stop/step to be used with NumPy indexing syntax. "
                         "Try lax.dynamic_slice/dynamic_update_slice instead.")
    start, stop, step = (None if v is None else int(v) for v in (start, stop, step))
    start, stop, step = slice(start, stop, step).indices(n)
    if step > 0:
        return y, (start, max(start, stop), step)
    # negative step: reverse, then a forward slice
    length = len(range(start, stop, step))
    s0 = n - 1 - start
    return st.rev(y, (dim,)), (s0, s0 + (length - 1) * (-step) + 1 if length else s0, -step)


# --- take / take_along_axis ------------------------------------------------------------------------------
def take(a: Any, indices: Any, axis: int | None = None, out: None = None, mode: str | None = None,
         unique_indices: bool = False, indices_are_sorted: bool = False, fill_value: Any = None) -> Any:
    """``jnp.take``: mode None/'fill' wraps negative indices and fills out-of-bound ones, 'wrap' takes indices
    modulo the axis size, 'clip' clamps them to ``[0, n - 1]`` (negative indices too, as numpy and JAX)."""
    if out is not None:
        raise NotImplementedError("The 'out' argument to jnp.take is not supported.")
    a = asarray_any(a)
    if axis is None:
        a, axis = st.reshape(a, (get_aval(a).size,)), 0
    axis = canonicalize_axis(axis, get_aval(a).ndim)
    indices = asarray_any(indices)
    n = get_aval(a).shape[axis]
    if mode is None or mode == "fill":
        gather_mode = "fill"
        indices = _normalize_int(indices, n)
    elif mode == "raise":
        raise NotImplementedError("The 'raise' mode to jnp.take is not supported.")
    elif mode == "wrap":
        gather_mode = "clip"
        indices = remainder(indices, ew._const(indices, n)) if n else indices
    elif mode == "clip":
        gather_mode = "clip"
    else:
        raise ValueError(f"Invalid mode '{mode}' for np.take")
    if n == 0:
        if get_aval(indices).size:
            raise IndexError("Cannot do a non-empty jnp.take() from an empty axis.")
        return a  # as JAX does, whatever the shape of the (empty) indices
    idx = (slice(None),) * axis + (indices,)
    return getitem(a, idx, mode=gather_mode, fill_value=fill_value, normalize_indices=False)


def take_along_axis(arr: Any, indices: Any, axis: int | None = -1, mode: str | None = None, fill_value: Any = None,
                    *, wrap_negative_indices: bool | None = None) -> Any:
    """``jnp.take_along_axis``: negative indices wrap unless ``wrap_negative_indices`` is False (its default for
    mode 'promise_in_bounds'); mode 'one_hot' selects by a one-hot contraction, as JAX."""
    arr, indices = asarray_any(arr), asarray_any(indices)
    i_dtype = get_aval(indices).dtype
    if dtypes.kind(i_dtype) not in "iu":
        raise TypeError(f"take_along_axis indices must be of integer type, got {i_dtype}")
    if axis is None:
        if get_aval(indices).ndim != 1:
            raise ValueError(f"take_along_axis indices must be 1D if axis=None, got shape {get_aval(indices).shape}")
        arr, axis = st.reshape(arr, (get_aval(arr).size,)), 0
    a_shape, i_shape = get_aval(arr).shape, get_aval(indices).shape
    nd = len(a_shape)
    if len(i_shape) != nd:
        raise ValueError(f"indices and arr must have the same number of dimensions; {len(i_shape)} vs. {nd}")
    axis = canonicalize_axis(axis, nd)
    n = a_shape[axis]
    out_shape = broadcast_shapes(i_shape, a_shape[:axis] + (1,) + a_shape[axis + 1:])
    if n == 0:
        return st.full(out_shape, 0, get_aval(arr).dtype)
    if wrap_negative_indices is None:
        wrap_negative_indices = mode != "promise_in_bounds"
    if wrap_negative_indices:
        index_dtype = dtypes.int64 if n > np.iinfo(np.int32).max else dtypes.int32
        indices = _normalize_int(ew.convert_element_type(indices, index_dtype), n)
    indices = broadcast_to(indices, out_shape)
    arr = broadcast_to(arr, out_shape[:axis] + (n,) + out_shape[axis + 1:])
    if mode == "one_hot":
        return _take_along_axis_one_hot(arr, indices, axis)
    others = tuple(d for d in range(nd) if d != axis)
    dn = ix.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(axis,), start_index_map=(axis,),
                                   operand_batching_dims=others, start_indices_batching_dims=others)
    idx = st.expand_dims(indices, (nd,))
    return _gather(arr, idx, dn, (1,) * nd, mode=ix.GatherScatterMode.from_any(mode), fill_value=fill_value)


def _take_along_axis_one_hot(arr: Any, indices: Any, axis: int) -> Any:
    """``take_along_axis`` as JAX's mode 'one_hot': a contraction of ``arr`` with the one-hot encoding of the
    (same-shaped but for ``axis``) ``indices`` over the axis (out-of-bound indices select nothing: 0)."""
    from .linalg_ops import einsum
    n = get_aval(arr).shape[axis]
    hot = ew.eq(st.expand_dims(indices, (indices.ndim,)),
                st.broadcasted_iota(get_aval(indices).dtype, get_aval(indices).shape + (n,), indices.ndim))
    hot = ew.convert_element_type(hot, get_aval(arr).dtype)
    if arr.ndim >= len(string.ascii_letters):
        raise ValueError("One Hot indexing is only supported for up to 50 leading dimensions.")
    out, z = string.ascii_letters[:arr.ndim], string.ascii_letters[arr.ndim]
    return einsum(f"{out}{z},{out[:axis]}{z}{out[axis + 1:]}->{out}", hot, arr, precision="highest",
                  preferred_element_type=get_aval(arr).dtype)


# --- .at[] updates -------------------------------------------------------------------------------------------
def _flat_positions(shape: tuple, idx: Any, mode: str, normalize_indices: bool) -> Any:
    """Linear positions selected by ``idx``: out-of-bounds array entries clamped (mode ``clip``) or -1 (dropped by
    scatter)."""
    n = int(np.prod(shape, dtype=np.int64))
    iota = st.reshape(st.iota(dtypes.int32, n), shape)
    return getitem(iota, idx, mode=mode, fill_value=None if mode == "clip" else -1,
                   normalize_indices=normalize_indices)


def scatter_update(x: Any, idx: Any, values: Any, kind: str, mode: str | None = None,
                   wrap_negative_indices: bool = True) -> Any:
    """``x.at[idx].<kind>(values)`` for kind in set/add/mul/min/max, and ``apply`` (``values`` is then the
    function, applied once per time a position is indexed, as ``lax.scatter_apply``)."""
    x = asarray_any(x)
    from .sharded_indexing import scatter_sharding
    typed = scatter_sharding(x, idx, values, apply=kind == "apply")
    if typed is not None:  # (computed on unsharded values, laid out and typed as JAX's scatter gives it)
        values = unsharded(values) if _is_jax_value(values) else values
        out = scatter_update(unsharded(x), idx, values, kind, mode, wrap_negative_indices)
        return reshard(out, typed)
    aval = get_aval(x)
    mode = ix.GatherScatterMode.from_any(mode)
    pos = _flat_positions(aval.shape, idx, mode, wrap_negative_indices)
    pshape = get_aval(pos).shape
    npos = int(np.prod(pshape, dtype=np.int64))
    flat = st.reshape(x, (aval.size,))
    indices = st.reshape(pos, (npos, 1))
    dn = ix.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,))
    if kind == "apply":
        from ..lax_composites import scatter_apply
        return st.reshape(scatter_apply(flat, indices, values, dn, update_shape=(npos,), mode=mode), aval.shape)
    # as JAX: a Python int that fits an integer array's dtype takes that dtype directly (2**32 - 1 fits a uint32
    # array, not an int32 value)
    fits = isinstance(values, int) and dtypes.kind(aval.dtype) in "iu" and \
        np.iinfo(aval.dtype).min <= values <= np.iinfo(aval.dtype).max
    v = asarray_any(values, aval.dtype) if fits else asarray_any(values)
    if get_aval(v).dtype != aval.dtype and dtypes.result_type(v, aval.dtype) != aval.dtype:
        warnings.warn("scatter inputs have incompatible types: cannot safely cast value from "
                      f"dtype={get_aval(v).dtype} to dtype={aval.dtype} with "
                      f"jax_numpy_dtype_promotion={config.config.jax_numpy_dtype_promotion}. In future JAX releases "
                      "this will result in an error.", FutureWarning, stacklevel=4)
    if get_aval(v).dtype != aval.dtype:
        v = ew.convert_element_type(v, aval.dtype)
    updates = st.reshape(broadcast_to(v, pshape), (npos,))
    fn = {"set": ix.scatter, "add": ix.scatter_add, "mul": ix.scatter_mul, "min": ix.scatter_min,
          "max": ix.scatter_max}[kind]
    out = fn(flat, indices, updates, dn, mode=mode, unique_indices=kind == "set")
    return st.reshape(out, aval.shape)


def _canonical_out_sharding(out_sharding: Any, method: str) -> NamedSharding | None:
    """An ``.at[...]`` method's ``out_sharding=`` canonicalized, as JAX's (which asserts its type first)."""
    if out_sharding is None:
        return None
    assert isinstance(out_sharding, (NamedSharding, PartitionSpec))
    return canonicalize_sharding(out_sharding, method)


class _IndexUpdateRef:
    def __init__(self, array: Any, index: Any):
        self.array, self.index = array, index

    def get(self, *, mode: str | None = None, fill_value: Any = None, indices_are_sorted: bool = False,
            unique_indices: bool = False, out_sharding: Any = None, wrap_negative_indices: bool = True) -> Any:
        mode = None if mode is None else ix.GatherScatterMode.from_any(mode)
        return maybe_auto_axes(lambda a: getitem(a, self.index, mode=mode, fill_value=fill_value,
                                                 normalize_indices=wrap_negative_indices),
                               _canonical_out_sharding(out_sharding, ".get"), self.array)

    def _update(self, values: Any, kind: str, method: str, *, indices_are_sorted: bool = False,
                unique_indices: bool = False, mode: str | None = None, out_sharding: Any = None,
                wrap_negative_indices: bool = True) -> Any:
        """The update ``kind`` (``scatter_update``), laid out by ``out_sharding`` as JAX's ``_scatter_update``
        (array ``values`` go through ``auto_axes`` with the array; Python scalars keep their weak type)."""
        arrays = (self.array, values) if hasattr(values, "aval") else (self.array,)
        return maybe_auto_axes(lambda x, *v: scatter_update(x, self.index, v[0] if v else values, kind, mode,
                                                            wrap_negative_indices),
                               _canonical_out_sharding(out_sharding, method), *arrays)

    def set(self, values: Any, **kw) -> Any:
        return self._update(values, "set", ".set", **kw)

    def add(self, values: Any, **kw) -> Any:
        return self._update(values, "add", ".add", **kw)

    def subtract(self, values: Any, **kw) -> Any:
        return self._update(ew.neg(asarray_any(values)), "add", ".subtract", **kw)

    def multiply(self, values: Any, **kw) -> Any:
        return self._update(values, "mul", ".multiply", **kw)

    mul = multiply

    def _ones_multiplied(self, values: Any, method: str, kw: dict) -> Any:
        """JAX's divisor (exponent) for ``divide`` (``power``): ones like the array, multiplied by ``values`` at the
        index (once per time a position is indexed)."""
        from .creation import ones_like
        return _IndexUpdateRef(ones_like(self.array), self.index)._update(values, "mul", method, **kw)

    def divide(self, values: Any, **kw) -> Any:
        from .ufuncs import divide
        return divide(self.array, self._ones_multiplied(values, ".divide", kw))

    def power(self, values: Any, **kw) -> Any:
        from .ufuncs import power
        return power(self.array, self._ones_multiplied(values, ".power", kw))

    def min(self, values: Any, **kw) -> Any:
        return self._update(values, "min", ".min", **kw)

    def max(self, values: Any, **kw) -> Any:
        return self._update(values, "max", ".max", **kw)

    def apply(self, func, *, indices_are_sorted: bool = False, unique_indices: bool = False, mode: str | None = None,
              wrap_negative_indices: bool = True) -> Any:
        return self._update(func, "apply", ".apply", mode=mode, wrap_negative_indices=wrap_negative_indices)


class _IndexUpdateHelper:
    """``x.at[idx]``: functional in-place-style updates, as ``jax.Array.at``."""

    __slots__ = ("array",)

    def __init__(self, array: Any):
        self.array = array

    def __getitem__(self, index: Any) -> _IndexUpdateRef:
        return _IndexUpdateRef(self.array, index)
