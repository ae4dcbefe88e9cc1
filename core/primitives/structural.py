"""Shape primitives: iota, broadcast_in_dim, reshape, squeeze, transpose, rev, pad, concatenate, slice,
dynamic_slice and dynamic_update_slice. All but iota are linear in their array operands."""
from __future__ import annotations

import operator
from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..ad_util import Zero, instantiate, zeros_like_aval
from ..interpreters import batching, jvp as ad
from ..interpreters.transpose import is_undefined
from ..ir import ShapedArray
from ..placement import following_like
from ..trace import (Primitive, abstract_eval_rules, batching_rules, get_aval, is_tracer, jvp_rules,
                     transpose_rules)
from .elementwise import _const, asarray, convert_element_type, sub
from ..prng_key_ops import keys_lifted


def _prim(name: str, abstract, batch, transpose=None, linear_args: tuple | None = None) -> Primitive:
    p = Primitive(name)
    abstract_eval_rules[p] = abstract
    batching_rules[p] = batch
    if transpose is not None:
        if linear_args is None:
            ad.deflinear(p, transpose)
        else:
            ad.linear_jvp(p, *linear_args)
            transpose_rules[p] = transpose
    return p


def canonicalize_axis(axis: int, ndim: int) -> int:
    """``axis`` as an index into ``range(ndim)`` (negative counts from the end); out of range is an error."""
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    return axis % ndim


def canonicalize_shape(shape) -> tuple:
    """JAX's ``canonicalize_shape``: a tuple of ints (``operator.index``, so ``2.5`` is refused)."""
    dims = shape if isinstance(shape, (tuple, list)) or np.ndim(shape) == 1 else (shape,)
    try:
        return tuple(operator.index(d) for d in dims)
    except TypeError:
        msg = f"Shapes must be 1D sequences of concrete values of integer type, got {shape}."
        if any(is_tracer(d) for d in dims):
            msg += "\nIf using `jit`, try using `static_argnums` or applying `jit` to smaller subfunctions."
        raise TypeError(msg) from None


def _check_nonnegative(name: str, arg: str, shape: tuple) -> None:
    """JAX's ``_check_shapelike`` bound: every dimension of ``shape`` at least 0."""
    if any(d < 0 for d in shape):
        raise TypeError(f"{name} {arg} must have every element be nonnegative, got {shape}.")


# --- iota ------------------------------------------------------------------------------------------------
def _iota_abstract(*, dtype, shape, dimension):
    _check_nonnegative("iota", "shape", shape)
    if not 0 <= dimension < len(shape):
        raise ValueError(f"iota dimension must be between 0 and len(shape)={len(shape)}, got {dimension}")
    return ShapedArray(shape, dtype)


iota_p = Primitive("iota")
abstract_eval_rules[iota_p] = _iota_abstract
ad.defjvp_zero(iota_p)


def iota(dtype, size: int) -> Any:
    """``lax.iota``: ``[0, 1, ..., size-1]``."""
    return broadcasted_iota(dtype, (size,), 0)


def broadcasted_iota(dtype, shape: Sequence[int], dimension: int) -> Any:
    return iota_p.bind(dtype=dtypes.canonicalize(dtype), shape=canonicalize_shape(shape), dimension=int(dimension))


# --- broadcast_in_dim -----------------------------------------------------------------------------------------
def _bid_abstract(x: ShapedArray, *, shape, broadcast_dimensions):
    _check_nonnegative("broadcast_in_dim", "shape", shape)
    if len(broadcast_dimensions) != x.ndim:
        raise TypeError(f"broadcast_in_dim broadcast_dimensions must have length equal to operand ndim; got "
                        f"broadcast_dimensions {broadcast_dimensions} for operand ndim {x.ndim}.")
    if len(shape) < x.ndim:
        raise TypeError(f"broadcast_in_dim target broadcast shape must have equal or higher rank to the operand "
                        f"shape; got operand ndim {x.ndim} and target broadcast ndim {len(shape)}.")
    if not all(0 <= b < len(shape) for b in broadcast_dimensions):
        raise TypeError(f"broadcast_in_dim broadcast_dimensions must be a subset of output dimensions, got "
                        f"{broadcast_dimensions} for operand ndim {x.ndim} and shape {shape}.")
    for i, b in enumerate(broadcast_dimensions):
        if x.shape[i] not in (1, shape[b]):
            raise TypeError(f"broadcast_in_dim operand dimension sizes must either be 1, or be equal to their "
                            f"corresponding dimensions in the target broadcast shape; got operand of shape "
                            f"{x.shape}, target broadcast shape {shape}, broadcast_dimensions {broadcast_dimensions}")
    if len(set(broadcast_dimensions)) != len(broadcast_dimensions):
        raise TypeError(f"broadcast_in_dim broadcast_dimensions must not contain duplicates, got "
                        f"broadcast_dimensions {broadcast_dimensions}")
    if any(b1 >= b2 for b1, b2 in zip(broadcast_dimensions, broadcast_dimensions[1:])):
        # lax.broadcast_in_dim transposes the operand first; the primitive keeps the dimensions in order
        raise TypeError(f"broadcast_in_dim_p broadcast_dimensions must be increasing, got {broadcast_dimensions}")
    return ShapedArray(shape, x.dtype, x.weak_type)


def _bid_transpose(ct, x, *, shape, broadcast_dimensions):
    from .reductions import reduce_sum
    in_shape = x.aval.shape
    unit = tuple(i for i, b in enumerate(broadcast_dimensions) if in_shape[i] == 1 and shape[b] != 1)
    summed = tuple(i for i in range(len(shape)) if i not in broadcast_dimensions) + \
        tuple(broadcast_dimensions[i] for i in unit)
    out = reduce_sum(ct, tuple(sorted(summed))) if summed else ct
    return [reshape(out, in_shape)]


def _bid_batch(axis, vals, dims, *, shape, broadcast_dimensions):
    (x,), (d,) = vals, dims
    x = batching.moveaxis(x, d, 0)
    return broadcast_in_dim_p.bind(x, shape=(get_aval(x).shape[0],) + shape,
                                   broadcast_dimensions=(0,) + tuple(b + 1 for b in broadcast_dimensions)), 0


broadcast_in_dim_p = _prim("broadcast_in_dim", _bid_abstract, _bid_batch, _bid_transpose)


@keys_lifted("x")
def broadcast_in_dim(x: Any, shape: Sequence[int], broadcast_dimensions: Sequence[int]) -> Any:
    """``lax.broadcast_in_dim``: operand dimension i becomes output dimension ``broadcast_dimensions[i]``."""
    x = asarray(x)
    shape, bd = canonicalize_shape(shape), tuple(int(b) for b in broadcast_dimensions)
    if get_aval(x).shape == shape and bd == tuple(range(len(shape))):
        return x
    if len(bd) == get_aval(x).ndim and len(set(bd)) == len(bd) and list(bd) != sorted(bd):
        order = tuple(int(i) for i in np.argsort(bd))  # JAX allows any order: transpose into increasing order
        x, bd = transpose(x, order), tuple(bd[i] for i in order)
    return broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=bd)


@keys_lifted("x")
def broadcast(x: Any, sizes: Sequence[int]) -> Any:
    """``lax.broadcast``: prepend dimensions of the given sizes."""
    x = asarray(x)
    nd = get_aval(x).ndim
    sizes = canonicalize_shape(sizes)
    return broadcast_in_dim(x, sizes + get_aval(x).shape, tuple(range(len(sizes), len(sizes) + nd)))


def check_scalar_fill(fill_value: Any) -> None:
    """JAX's TypeError for ``lax.full``/``full_like`` of a non-scalar fill value."""
    if np.shape(fill_value):
        raise TypeError(f"full must be called with scalar fill_value, got fill_value.shape {np.shape(fill_value)}.")


def full(shape: Sequence[int], fill_value: Any, dtype=None, weak_type: bool = False) -> Any:
    """``lax.full``: an array of ``shape`` filled with ``fill_value``."""
    shape = canonicalize_shape(shape)
    check_scalar_fill(fill_value)
    if dtype is None:
        dtype, weak_type = dtypes.result_type_weak(fill_value)
    v = convert_element_type(fill_value, dtype, weak_type=weak_type)
    return broadcast_in_dim(v, shape, ())


def full_like(x: Any, fill_value: Any, dtype=None, shape=None) -> Any:
    """``lax.full_like``: as JAX's, made on the device ``x`` is committed to if it is a strongly typed Array of the
    result's shape."""
    aval = get_aval(x)
    weak_type, shape = dtype is None and aval.weak_type, aval.shape if shape is None else shape
    with following_like(x, shape, weak_type):
        return full(shape, fill_value, aval.dtype if dtype is None else dtype, weak_type=weak_type)


def zeros_like_array(x: Any) -> Any:
    return zeros_like_aval(get_aval(x))


# --- reshape / squeeze / expand_dims ------------------------------------------------------------------------
def _reshape_abstract(x: ShapedArray, *, new_sizes):
    if any(d < 0 for d in new_sizes):
        raise TypeError(f"reshape new_sizes must all be positive, got {new_sizes}.")
    if int(np.prod(new_sizes, dtype=np.int64)) != x.size:
        raise TypeError(f"reshape total size must be unchanged, got new_sizes {new_sizes} for shape {x.shape}.")
    return ShapedArray(new_sizes, x.dtype, x.weak_type)


def _reshape_batch(axis, vals, dims, *, new_sizes):
    (x,), (d,) = vals, dims
    x = batching.moveaxis(x, d, 0)
    return reshape_p.bind(x, new_sizes=(get_aval(x).shape[0],) + new_sizes), 0


reshape_p = _prim("reshape", _reshape_abstract, _reshape_batch,
                  lambda ct, x, *, new_sizes: [reshape(ct, x.aval.shape)])


@keys_lifted("x")
def reshape(x: Any, new_sizes: Sequence[int], dimensions: Sequence[int] | None = None, *,
            out_sharding: Any = None) -> Any:
    """``lax.reshape`` (row-major); ``dimensions`` transposes the operand first."""
    if out_sharding is not None:
        from ..explicit_sharding import computed_as
        return computed_as(lambda v: reshape(v, new_sizes, dimensions), out_sharding, x,
                           api_name="reshape")
    x = asarray(x)
    if dimensions is not None and tuple(dimensions) != tuple(range(get_aval(x).ndim)):
        x = transpose(x, dimensions)
    new_sizes = canonicalize_shape(new_sizes)
    if get_aval(x).shape == new_sizes:
        return x
    return reshape_p.bind(x, new_sizes=new_sizes)


def _squeeze_abstract(x: ShapedArray, *, dimensions):
    if len(set(dimensions)) != len(dimensions):
        raise ValueError(f"dimensions are not unique: {dimensions}")
    if not all(0 <= d < x.ndim for d in dimensions):
        raise ValueError(f"dimensions outside range [0, ndim): {dimensions}")
    for d in dimensions:
        if x.shape[d] != 1:
            raise ValueError(f"cannot select an axis to squeeze out which has size not equal to one, got "
                             f"shape={x.shape} and dimensions={dimensions}")
    return ShapedArray(tuple(s for i, s in enumerate(x.shape) if i not in dimensions), x.dtype, x.weak_type)


def _squeeze_batch(axis, vals, dims, *, dimensions):
    (x,), (d,) = vals, dims
    x = batching.moveaxis(x, d, 0)
    return squeeze_p.bind(x, dimensions=tuple(i + 1 for i in dimensions)), 0


squeeze_p = _prim("squeeze", _squeeze_abstract, _squeeze_batch,
                  lambda ct, x, *, dimensions: [reshape(ct, x.aval.shape)])


@keys_lifted("x")
def squeeze(x: Any, dimensions: Sequence[int]) -> Any:
    x = asarray(x)
    nd = get_aval(x).ndim
    dims = tuple(sorted(canonicalize_axis(d, nd) for d in dimensions))
    return squeeze_p.bind(x, dimensions=dims) if dims else x


@keys_lifted("x")
def expand_dims(x: Any, dimensions: Sequence[int]) -> Any:
    """``lax.expand_dims``: insert size-1 dimensions (a broadcast_in_dim)."""
    x = asarray(x)
    aval = get_aval(x)
    if len(set(dimensions)) != len(dimensions):
        raise ValueError(f"repeated axis in lax.expand_dims: {dimensions}")
    ndim_out = aval.ndim + len(dimensions)
    dims = sorted(canonicalize_axis(d, ndim_out) for d in dimensions)
    if len(set(dims)) != len(dims):
        raise ValueError(f"repeated axis in lax.expand_dims: {dims}")
    shape = list(aval.shape)
    for d in dims:
        shape.insert(d, 1)
    bd = tuple(i for i in range(ndim_out) if i not in dims)
    return broadcast_in_dim(x, shape, bd)


# --- transpose / rev ---------------------------------------------------------------------------------------
def _transpose_abstract(x: ShapedArray, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise TypeError(f"transpose permutation isn't a permutation of operand dimensions, got permutation "
                        f"{permutation} for operand shape {x.shape}.")
    return ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype, x.weak_type)


def _transpose_batch(axis, vals, dims, *, permutation):
    (x,), (d,) = vals, dims
    perm = (d,) + tuple(p if p < d else p + 1 for p in permutation)
    return transpose_p.bind(x, permutation=perm), 0


transpose_p = _prim("transpose", _transpose_abstract, _transpose_batch,
                    lambda ct, x, *, permutation: [transpose(ct, tuple(np.argsort(permutation)))])


@keys_lifted("x")
def transpose(x: Any, permutation: Sequence[int]) -> Any:
    x = asarray(x)
    perm = tuple(int(p) for p in permutation)
    if perm == tuple(range(len(perm))) and len(perm) == get_aval(x).ndim:
        return x
    return transpose_p.bind(x, permutation=perm)


def _rev_abstract(x: ShapedArray, *, dimensions):
    if any(not 0 <= d < x.ndim for d in dimensions) or len(set(dimensions)) != len(dimensions):
        raise TypeError(f"rev dimensions must be unique and in range, got {dimensions} for shape {x.shape}")
    return x


def _rev_batch(axis, vals, dims, *, dimensions):
    (x,), (d,) = vals, dims
    return rev_p.bind(x, dimensions=tuple(i + (i >= d) for i in dimensions)), d


rev_p = _prim("rev", _rev_abstract, _rev_batch, lambda ct, x, *, dimensions: [rev(ct, dimensions)])


@keys_lifted("x")
def rev(x: Any, dimensions: Sequence[int]) -> Any:
    return rev_p.bind(asarray(x), dimensions=tuple(int(d) for d in dimensions))


# --- pad ---------------------------------------------------------------------------------------------------
def _pad_abstract(x: ShapedArray, pv: ShapedArray, *, padding_config):
    if pv.shape != ():
        raise ValueError(f"padding_value must be a scalar; got np.shape(padding_value)={pv.shape}")
    if len(padding_config) != x.ndim:
        raise ValueError(f"length of padding_config must equal the number of axes of operand, got padding_config "
                         f"{padding_config} for operand shape {x.shape}")
    if not all(interior >= 0 for _, _, interior in padding_config):
        raise ValueError(f"interior padding in padding_config must be nonnegative, got padding_config "
                         f"{padding_config}")
    shape = tuple(lo + hi + n + max(n - 1, 0) * interior for n, (lo, hi, interior) in zip(x.shape, padding_config))
    if not all(d >= 0 for d in shape):
        raise ValueError(f"Dimension size after padding is not at least 0, got result shape {shape}, for "
                         f"padding_config {padding_config} and operand shape {x.shape}")
    if pv.dtype != x.dtype:
        raise TypeError(f"pad operand and padding_value must be same dtype: got {x.dtype} and {pv.dtype}.")
    return ShapedArray(shape, x.dtype, x.weak_type and pv.weak_type)


def _pad_transpose(ct, x, pv, *, padding_config):
    from .reductions import reduce_sum
    lo, hi, interior = (tuple(c[i] for c in padding_config) for i in range(3))
    t_x = None
    if is_undefined(x):
        unpadded = pad(ct, _const(ct, 0), tuple((-l, -h, 0) for l, h in zip(lo, hi)))
        t_x = slice(unpadded, (0,) * len(lo), get_aval(unpadded).shape, tuple(i + 1 for i in interior))
    t_pv = None
    if is_undefined(pv):
        total = lambda v: reduce_sum(v, tuple(range(get_aval(v).ndim)))
        t_pv = total(ct) if t_x is None else sub(total(ct), total(t_x))
    return [t_x, t_pv]


def _pad_batch(axis, vals, dims, *, padding_config):
    (x, pv), (dx, dpv) = vals, dims
    x = batching.bdim_at_front(x, dx, axis.size)
    config = ((0, 0, 0),) + tuple(padding_config)
    if dpv is None:
        return pad_p.bind(x, pv, padding_config=config), 0
    from .elementwise import eq, select
    out = pad_p.bind(x, _const(x, 0), padding_config=config)
    mask = pad_p.bind(zeros_like_array(x), _const(x, 1), padding_config=config)
    pv_b = broadcast_in_dim(pv, get_aval(out).shape, (0,))
    return select(eq(mask, _const(x, 1)), pv_b, out), 0


pad_p = _prim("pad", _pad_abstract, _pad_batch, _pad_transpose)


def pad(x: Any, padding_value: Any, padding_config: Sequence[tuple[int, int, int]]) -> Any:
    """``lax.pad``: (low, high, interior) per dimension; negative low/high crop."""
    x = asarray(x)
    pv = convert_element_type(padding_value, get_aval(x).dtype) if type(padding_value) in (int, float, bool) else padding_value
    return pad_p.bind(x, pv, padding_config=tuple(tuple(int(v) for v in c) for c in padding_config))


# --- concatenate -------------------------------------------------------------------------------------------
def _concat_abstract(*xs: ShapedArray, dimension):
    if not xs:
        raise ValueError("concatenate requires a non-empty sequence of operands")
    x0 = xs[0]
    if not 0 <= dimension < x0.ndim:
        raise ValueError(f"concatenate dimension out of bounds: dimension {dimension} for shapes "
                         f"{', '.join(str(x.shape) for x in xs)}.")
    for x in xs:
        if x.dtype != x0.dtype:
            raise TypeError(f"Cannot concatenate arrays with different dtypes, got {', '.join(x.dtype.name for x in xs)}.")
        if x.ndim != x0.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, x0.shape)) if i != dimension):
            raise TypeError(f"Cannot concatenate arrays with shapes that differ in dimensions other than the one "
                            f"being concatenated: concatenating along dimension {dimension} for shapes "
                            f"{', '.join(str(x.shape) for x in xs)}.")
    shape = list(x0.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return ShapedArray(tuple(shape), x0.dtype, all(x.weak_type for x in xs))


def _concat_transpose(ct, *xs, dimension):
    outs, start = [], 0
    for x in xs:
        size = (x.aval if is_undefined(x) else get_aval(x)).shape[dimension]
        if is_undefined(x):
            shape = get_aval(ct).shape
            lo = [0] * len(shape)
            hi = list(shape)
            lo[dimension], hi[dimension] = start, start + size
            outs.append(slice(ct, lo, hi))
        else:
            outs.append(None)
        start += size
    return outs


def _concat_batch(axis, vals, dims, *, dimension):
    vals = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims)]
    return concatenate_p.bind(*vals, dimension=dimension + 1), 0


concatenate_p = _prim("concatenate", _concat_abstract, _concat_batch, _concat_transpose)


@keys_lifted("operands")
def concatenate(operands: Sequence[Any], dimension: int) -> Any:
    ops = [asarray(o) for o in operands]
    if len(ops) == 1:
        return ops[0]
    return concatenate_p.bind(*ops, dimension=int(dimension))


# --- slice -------------------------------------------------------------------------------------------------
def _slice_abstract(x: ShapedArray, *, start_indices, limit_indices, strides):
    n = x.ndim
    if len(start_indices) != n or len(limit_indices) != n or (strides is not None and len(strides) != n):
        raise TypeError(f"slice start_indices, limit_indices and strides must have length {n} for operand "
                        f"shape {x.shape}; got {start_indices}, {limit_indices}, {strides}")
    shape = []
    for i, (s, l, size) in enumerate(zip(start_indices, limit_indices, x.shape)):
        st = 1 if strides is None else strides[i]
        if not 0 <= s <= l <= size or st < 1:
            raise TypeError(f"slice indices out of bounds or not increasing: start_indices {start_indices}, "
                            f"limit_indices {limit_indices}, strides {strides} for operand shape {x.shape}")
        shape.append((l - s + st - 1) // st)
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides):
    shape = x.aval.shape
    ct_shape = get_aval(ct).shape
    if strides is None or all(s == 1 for s in strides):
        config = [(s, n - l, 0) for s, l, n in zip(start_indices, limit_indices, shape)]
    else:
        real_limits = [s + (c - 1) * st + 1 if c > 0 else s for s, c, st in zip(start_indices, ct_shape, strides)]
        config = [(s, n - rl, st - 1) for s, rl, n, st in zip(start_indices, real_limits, shape, strides)]
    return [pad(ct, _const(ct, 0), config)]


def _slice_batch(axis, vals, dims, *, start_indices, limit_indices, strides):
    (x,), (d,) = vals, dims
    size = get_aval(x).shape[d]
    st = list(start_indices)
    li = list(limit_indices)
    st.insert(d, 0)
    li.insert(d, size)
    sd = None if strides is None else tuple(list(strides[:d]) + [1] + list(strides[d:]))
    return slice_p.bind(x, start_indices=tuple(st), limit_indices=tuple(li), strides=sd), d


slice_p = _prim("slice", _slice_abstract, _slice_batch, _slice_transpose)


@keys_lifted("x")
def slice(x: Any, start_indices: Sequence[int], limit_indices: Sequence[int], strides: Sequence[int] | None = None) -> Any:
    """``lax.slice``: a static strided window."""
    x = asarray(x)
    st = tuple(int(i) for i in start_indices)
    li = tuple(int(i) for i in limit_indices)
    sd = None if strides is None or all(int(s) == 1 for s in strides) else tuple(int(s) for s in strides)
    if sd is None and st == (0,) * len(st) and li == get_aval(x).shape:
        return x
    return slice_p.bind(x, start_indices=st, limit_indices=li, strides=sd)


@keys_lifted("x")
def slice_in_dim(x: Any, start_index: int | None, limit_index: int | None, stride: int = 1, axis: int = 0) -> Any:
    shape = get_aval(x).shape
    axis = canonicalize_axis(axis, len(shape))
    start = [0] * len(shape)
    limit = list(shape)
    strides = [1] * len(shape)
    n = shape[axis]
    s = 0 if start_index is None else (start_index + n if start_index < 0 else start_index)
    l = n if limit_index is None else (limit_index + n if limit_index < 0 else limit_index)
    start[axis], limit[axis], strides[axis] = s, l, stride
    return slice(x, start, limit, strides)


@keys_lifted("x")
def index_in_dim(x: Any, index: int, axis: int = 0, keepdims: bool = True) -> Any:
    n = get_aval(x).shape[axis]
    index = index + n if index < 0 else index
    out = slice_in_dim(x, index, index + 1, 1, axis)
    return out if keepdims else squeeze(out, (axis,))


# --- dynamic_slice / dynamic_update_slice ----------------------------------------------------------------------
def _check_indices(name, x: ShapedArray, idx: Sequence[ShapedArray]):
    if len(idx) != x.ndim:
        raise TypeError(f"{name}: got {len(idx)} start indices for operand of rank {x.ndim} (shape {x.shape})")
    for i in idx:
        if i.shape != ():
            raise TypeError(f"{name}: start indices must be scalar integers, got {i.str_short()}")
    if any(i.dtype != idx[0].dtype or dtypes.kind(i.dtype) not in "iu" for i in idx):
        sep = ":" if name == "dynamic_slice" else ""  # JAX's two messages differ so
        raise TypeError(f"index arguments to {name} must be integers of the same type, got{sep} "
                        f"{', '.join(i.dtype.name for i in idx)}")


def _ds_abstract(x: ShapedArray, *idx: ShapedArray, slice_sizes):
    _check_indices("dynamic_slice", x, idx)
    if len(slice_sizes) != x.ndim or any(not 0 <= s <= n for s, n in zip(slice_sizes, x.shape)):
        raise TypeError(f"dynamic_slice: slice_sizes {slice_sizes} must be within operand shape {x.shape}")
    return ShapedArray(tuple(slice_sizes), x.dtype, x.weak_type)


def _ds_transpose(ct, x, *idx, slice_sizes):
    zeros = zeros_like_aval(x.aval)
    return [dynamic_update_slice_p.bind(zeros, ct, *idx)] + [None] * len(idx)


def _ds_batch(axis, vals, dims, *, slice_sizes):
    x, *idx = vals
    dx, *didx = dims
    if all(d is None for d in didx):
        idx = list(idx)
        idx.insert(dx, _const(idx[0], 0) if idx else np.int32(0))
        sizes = list(slice_sizes)
        sizes.insert(dx, axis.size)
        return dynamic_slice_p.bind(x, *idx, slice_sizes=tuple(sizes)), dx
    from .indexing import dynamic_slice_via_gather
    return dynamic_slice_via_gather(axis, x, dx, idx, didx, slice_sizes), 0


dynamic_slice_p = _prim("dynamic_slice", _ds_abstract, _ds_batch, _ds_transpose, linear_args=(0,))


def _index_scalar(i):
    if type(i) is int:
        return np.int32(i) if -2**31 <= i < 2**31 else np.int64(i)
    return i


def _zero_index(i: Any) -> Any:
    """A 0 start index of the dtype of ``i`` (the other dimensions' starts of a ``*_in_dim`` slice)."""
    return 0 if type(i) is int else np.zeros((), get_aval(asarray(i)).dtype)


def _dynamic_slice_indices(shape: tuple, start_indices: Any, allow_negative_indices: bool | Sequence[bool]) -> list:
    """The start indices, a negative one counting from the end of its dimension (JAX's ``_dynamic_slice_indices``)."""
    if len(start_indices) != len(shape):
        raise ValueError(f"Length of slice indices must match number of operand dimensions ({len(start_indices)} "
                         f"vs {shape})")
    if not isinstance(start_indices, (tuple, list)):
        if np.ndim(start_indices) != 1:
            raise ValueError(f"Slice indices must be a 1D sequence, got {np.shape(start_indices)}")
        start_indices = list(start_indices)
    if isinstance(allow_negative_indices, bool):
        allow_negative_indices = [allow_negative_indices] * len(start_indices)
    out = []
    for i, d, allow in zip(start_indices, shape, allow_negative_indices):
        i = _index_scalar(i)
        if isinstance(i, np.integer):
            if i < 0 and not allow:
                raise ValueError(f"Index {i} is out of bounds for dimension {d} if allow_negative_indices=False")
            out.append(type(i)(i + d) if i < 0 and dtypes.kind(np.dtype(type(i))) == "i" else i)
        elif allow and dtypes.kind(get_aval(i).dtype) == "i":
            from .elementwise import _const, add, lt, select
            out.append(select(lt(i, _const(i, 0)), add(i, _const(i, d)), i))
        else:
            out.append(i)
    return out


@keys_lifted("x")
def dynamic_slice(x: Any, start_indices: Sequence[Any], slice_sizes: Sequence[int], *,
                  allow_negative_indices: bool | Sequence[bool] = True) -> Any:
    """``lax.dynamic_slice``: a negative start index counts from the end (unless ``allow_negative_indices`` is
    False); start indices are then clamped so the window stays inside the operand."""
    x = asarray(x)
    idx = _dynamic_slice_indices(get_aval(x).shape, start_indices, allow_negative_indices)
    return dynamic_slice_p.bind(x, *idx, slice_sizes=canonicalize_shape(slice_sizes))


def _dus_abstract(x: ShapedArray, u: ShapedArray, *idx: ShapedArray):
    _check_indices("dynamic_update_slice", x, idx)
    if u.dtype != x.dtype:
        raise TypeError(f"lax.dynamic_update_slice requires arguments to have the same dtypes, got {x.dtype}, "
                        f"{u.dtype}.")
    if u.ndim != x.ndim or any(a > b for a, b in zip(u.shape, x.shape)):
        raise TypeError(f"dynamic_update_slice update shape {u.shape} must fit in operand shape {x.shape}")
    return ShapedArray(x.shape, x.dtype, x.weak_type)


def _dus_transpose(ct, x, u, *idx):
    u_aval = u.aval if is_undefined(u) else get_aval(u)
    ct_x = dynamic_update_slice_p.bind(ct, zeros_like_aval(u_aval), *idx) if is_undefined(x) else None
    ct_u = dynamic_slice_p.bind(ct, *idx, slice_sizes=u_aval.shape) if is_undefined(u) else None
    return [ct_x, ct_u] + [None] * len(idx)


def _dus_batch(axis, vals, dims):
    x, u, *idx = vals
    dx, du, *didx = dims
    if all(d is None for d in didx):
        x = batching.bdim_at_front(x, dx, axis.size)
        u = batching.bdim_at_front(u, du, axis.size)
        zero = _const(idx[0], 0) if idx else np.int32(0)
        return dynamic_update_slice_p.bind(x, u, zero, *idx), 0
    from .indexing import dynamic_update_slice_via_scatter
    return dynamic_update_slice_via_scatter(axis, x, dx, u, du, idx, didx), 0


def _dus_jvp(primals, tangents):
    x, u, *idx = primals
    tx, tu = tangents[0], tangents[1]
    out = dynamic_update_slice_p.bind(x, u, *idx)
    if type(tx) is Zero and type(tu) is Zero:
        return out, Zero(get_aval(out).at_least_vspace())
    return out, dynamic_update_slice_p.bind(instantiate(tx), instantiate(tu), *idx)


dynamic_update_slice_p = _prim("dynamic_update_slice", _dus_abstract, _dus_batch)
jvp_rules[dynamic_update_slice_p] = _dus_jvp
transpose_rules[dynamic_update_slice_p] = _dus_transpose


@keys_lifted("x", "update")
def dynamic_update_slice(x: Any, update: Any, start_indices: Sequence[Any], *,
                         allow_negative_indices: bool | Sequence[bool] = True) -> Any:
    """``lax.dynamic_update_slice``: write ``update`` at ``start_indices`` (negative ones count from the end),
    clamped so the update fits."""
    x = asarray(x)
    idx = _dynamic_slice_indices(get_aval(x).shape, start_indices, allow_negative_indices)
    return dynamic_update_slice_p.bind(x, asarray(update), *idx)


@keys_lifted("x")
def dynamic_slice_in_dim(x: Any, start_index: Any, slice_size: int, axis: int = 0) -> Any:
    aval = get_aval(x)
    starts = [_zero_index(start_index)] * aval.ndim
    sizes = list(aval.shape)
    starts[axis], sizes[axis] = start_index, slice_size
    return dynamic_slice(x, starts, sizes)


@keys_lifted("x")
def dynamic_index_in_dim(x: Any, index: Any, axis: int = 0, keepdims: bool = True) -> Any:
    out = dynamic_slice_in_dim(x, index, 1, axis)
    return out if keepdims else squeeze(out, (axis,))


@keys_lifted("x", "update")
def dynamic_update_slice_in_dim(x: Any, update: Any, start_index: Any, axis: int) -> Any:
    starts = [_zero_index(start_index)] * get_aval(x).ndim
    starts[axis] = start_index
    return dynamic_update_slice(x, update, starts)


@keys_lifted("x", "update")
def dynamic_update_index_in_dim(x: Any, update: Any, index: Any, axis: int) -> Any:
    u = asarray(update)
    if get_aval(u).ndim == get_aval(x).ndim - 1:
        u = expand_dims(u, (axis,))
    return dynamic_update_slice_in_dim(x, u, index, axis)


STRUCTURAL = (iota_p, broadcast_in_dim_p, reshape_p, squeeze_p, transpose_p, rev_p, pad_p, concatenate_p, slice_p,
              dynamic_slice_p, dynamic_update_slice_p)
