"""Indexing arrays whose types carry Explicit mesh axes: the types JAX gives ``x[idx]`` and ``x.at[idx]`` updates,
from the one gather (or scatter) JAX's ``_index_to_gather`` makes of the index (portax lowers indexing otherwise:
slices then a gather, updates as a scatter into the flattened array), checked by JAX's sharding rules."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import dtypes
from .. import explicit_sharding as es
from ..ir import ShapedArray
from ..primitives import indexing as ix
from ..sharding import NamedSharding, PartitionSpec
from ..trace import get_aval, is_tracer
from ._util import asarray_any, broadcast_shapes
from .indexing import Slice, _BoolAxis, _expand, _is_array_index, _is_jax_value, _tuple_index


class JaxGather(NamedTuple):
    """The operand and indices types, dimension numbers and slice sizes of JAX's gather for an index; the updates'
    shape and spec (JAX's ``slice_sharding``) of the matching scatter; the dimensions added for scalar booleans."""
    operand: ShapedArray
    indices: ShapedArray
    dn: ix.GatherDimensionNumbers
    slice_sizes: tuple
    slice_shape: tuple
    slice_spec: tuple
    newaxis_dims: tuple
    bool_dims: tuple


def _sharded(aval: ShapedArray) -> bool:
    return aval.sharding is not None and any(e is not None for e in aval.sharding.spec)


def _typed(shape: tuple, dtype: Any, spec: list, sharding: Any) -> ShapedArray:
    typed = None if sharding is None else sharding.with_spec(PartitionSpec(*spec))
    return ShapedArray(tuple(shape), dtype, False, typed)


def _is_index(i: Any) -> bool:
    return i is not None and not isinstance(i, (slice, Slice))


def jax_gather(aval: ShapedArray, items: list, sharding: Any) -> JaxGather:
    """JAX's gather for ``items`` (an expanded index) into a value of type ``aval`` (``sharding``: the mesh's typed
    sharding, None when nothing is typed)."""
    shape, spec, items = list(aval.shape), list(aval._spec()), list(items)
    bool_dims = []
    for k, i in enumerate(items):
        if isinstance(i, _BoolAxis):  # (a new size-1 dimension indexed by 0 or 1 entries)
            d = sum(1 for j in items[:k] if j is not None)
            shape.insert(d, 1)
            spec.insert(d, None)
            bool_dims.append(d)
            items[k] = np.zeros(int(i.value), np.int32)
    adv = [k for k, i in enumerate(items) if _is_index(i)] if any(map(_is_array_index, items)) else []
    adv_avals = [get_aval(asarray_any(items[k])) for k in adv]
    bshape = broadcast_shapes(*[a.shape for a in adv_avals]) if adv else ()
    bspec = ((None,) * len(bshape) + adv_avals[0]._spec())[-len(bshape):] if bshape else ()
    contiguous = adv == list(range(adv[0], adv[0] + len(adv))) if adv else True
    offset, collapsed, start_map, sizes, gshape, ispec = [], [], [], [], [], []
    slice_shape, slice_spec, newaxis = [], [], []
    count = x_axis = y_axis = cy = 0
    for k, i in enumerate(items):
        if adv and k == (adv[0] if contiguous else 0):
            axes = [sum(1 for j in items[:a] if j is not None) for a in adv]
            count += len(adv)
            gshape += bshape
            ispec += bspec
            start_map += axes
            collapsed += axes
            slice_shape += bshape
            slice_spec += bspec
            y_axis += len(bshape)
            cy += len(bshape)
        if k in adv:
            x_axis += 1
            sizes.append(1)
        elif i is None:
            slice_shape.append(1)
            slice_spec.append(None)
            newaxis.append(y_axis)
            y_axis += 1
        elif isinstance(i, (slice, Slice)):
            n = shape[x_axis]
            if isinstance(i, Slice):
                step, size = i.stride, i.size
            else:
                start, stop, step = i.indices(n)
                size = len(range(start, stop, step))
            slice_shape.append(size)
            slice_spec.append(spec[x_axis])
            if step == 1:
                if size != n:
                    count += 1
                    start_map.append(x_axis)
                sizes.append(size)
                offset.append(cy)
            else:
                count += 1
                sizes.append(1)
                start_map.append(x_axis)
                collapsed.append(x_axis)
                gshape.append(size)
                ispec.append(None)
            cy += 1
            y_axis += 1
            x_axis += 1
        else:  # a scalar integer
            count += 1
            collapsed.append(x_axis)
            sizes.append(1)
            start_map.append(x_axis)
            x_axis += 1
    ishape = tuple(gshape) + (count,) if count else (0,)
    dn = ix.GatherDimensionNumbers(offset_dims=tuple(offset), collapsed_slice_dims=tuple(sorted(collapsed)),
                                   start_index_map=tuple(start_map))
    operand = _typed(shape, aval.dtype, spec, sharding)
    operand = operand.update(weak_type=aval.weak_type)
    indices = _typed(ishape, dtypes.int32, ispec + [None] if count else [None], sharding)
    return JaxGather(operand, indices, dn, tuple(sizes), tuple(slice_shape), tuple(slice_spec), tuple(newaxis),
                     tuple(bool_dims))


def _mesh_sharding(*avals: ShapedArray) -> Any:
    typed = [a.sharding for a in avals if a.sharding is not None]
    return typed[0] if typed else None


def _has_partial_slices(items: list, shape: tuple) -> bool:
    """JAX's ``has_partial_slices`` (integers, dynamic slices, slices other than the whole dimension)."""
    axis = 0
    for i in items:
        if i is None:
            continue
        if isinstance(i, (int, np.integer, Slice)):
            return True
        if isinstance(i, slice):
            start, stop, step = i.indices(shape[axis])
            if abs(step) != 1 or abs(stop - start) != shape[axis]:
                return True
        axis += 1
    return False


def check_getitem(x: Any, items: list, mode: Any) -> None:
    """When JAX lowers ``x[items]`` to a gather (advanced indices; ``mode='fill'``; partial slices of a concrete
    array laid out over several devices, or a strided slice with a traced index) and a type involved has a sharded
    dimension: JAX's ShardingTypeError if its gather's sharding rule rejects it."""
    aval = get_aval(x)
    arrays = [get_aval(asarray_any(i)) for i in items if _is_array_index(i)]
    if not any(map(_sharded, [aval] + arrays)):
        return
    gather = bool(arrays) or any(isinstance(i, _BoolAxis) for i in items) or \
        (mode is not None and ix.GatherScatterMode.from_any(mode) == ix.GatherScatterMode.FILL_OR_DROP) or \
        (not is_tracer(x) and _has_partial_slices(items, aval.shape)) or \
        (any(is_tracer(i) for i in items) and any(isinstance(i, slice) and i.step not in (None, 1) for i in items))
    if not gather:
        return
    g = jax_gather(aval, items, _mesh_sharding(aval, *arrays))
    if es.gather_spec(g.operand, g.indices, g.dn, g.slice_sizes) is None:
        raise es.gather_error(g.operand, g.indices)


def scatter_sharding(x: Any, idx: Any, values: Any, apply: bool = False) -> NamedSharding | None:
    """For ``x.at[idx]`` updated with ``values`` (``apply``: by a function), when a type involved has a sharded
    dimension: the sharding JAX's scatter gives the result (JAX's ShardingTypeError if its rule rejects the update);
    None otherwise."""
    avals = [get_aval(v) for v in (x, values, *_tuple_index(idx)) if _is_jax_value(v)]
    if not any(map(_sharded, avals)):
        return None
    aval, items = get_aval(x), _expand(idx, get_aval(x).shape)
    sharding = _mesh_sharding(*avals)
    g = jax_gather(aval, items, sharding)
    keep = [d for d in range(len(g.slice_shape)) if d not in g.newaxis_dims]
    spec = [None if apply else g.slice_spec[d] for d in keep]  # (the values broadcast and laid out so; JAX's
    updates = _typed([g.slice_shape[d] for d in keep], aval.dtype, spec, sharding)  # scatter_apply's: unsharded)
    dn = ix.ScatterDimensionNumbers(update_window_dims=g.dn.offset_dims, inserted_window_dims=g.dn.collapsed_slice_dims,
                                    scatter_dims_to_operand_dims=g.dn.start_index_map)
    spec = es.scatter_spec(g.operand, g.indices, updates, dn)
    if spec is None:
        raise es.scatter_error(g.operand, g.indices, updates)
    return sharding.with_spec(PartitionSpec(*(e for d, e in enumerate(spec) if d not in g.bool_dims)))
