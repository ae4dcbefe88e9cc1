"""Index construction and index-based updates: tril/triu/diag indices, ix_, ravel/unravel_index, s_, r_,
c_, mgrid, ogrid, put, put_along_axis, choose, compress, extract, delete, insert, place, fill_diagonal,
piecewise, apply_along_axis, apply_over_axes and fromfunction."""
from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..trace import concrete_or_error, get_aval
from . import reductions as red
from ._util import asarray_any, broadcast_to, canonicalize_axis, promote_dtypes
from .creation import arange, array, full, indices, linspace, meshgrid, zeros
from .indexing import take_along_axis
from .misc import argsort, clip, nonzero, sort, where
from .shape import concatenate, expand_dims, moveaxis, ravel, reshape, stack


def _int_array(x: np.ndarray) -> Any:
    return asarray_any(np.asarray(x).astype(dtypes.default_int()))


def diag_indices(n: int, ndim: int = 2) -> tuple:
    if n < 0 or ndim < 0:
        raise ValueError(f"n argument to diag_indices must be nonnegative, got {n}")
    return (arange(n),) * ndim


def diag_indices_from(arr: Any) -> tuple:
    shape = get_aval(asarray_any(arr)).shape
    if len(shape) < 2 or len(set(shape)) != 1:
        raise ValueError(f"All dimensions of input must be of equal length, got shape {shape}")
    return diag_indices(shape[0], len(shape))


def tril_indices(n: int, k: int = 0, m: int | None = None) -> tuple:
    return tuple(_int_array(i) for i in np.tril_indices(n, k, m))


def triu_indices(n: int, k: int = 0, m: int | None = None) -> tuple:
    return tuple(_int_array(i) for i in np.triu_indices(n, k, m))


def tril_indices_from(arr: Any, k: int = 0) -> tuple:
    shape = get_aval(asarray_any(arr)).shape
    if len(shape) != 2:
        raise ValueError("Only 2-D inputs are accepted")
    return tril_indices(shape[0], k, shape[1])


def triu_indices_from(arr: Any, k: int = 0) -> tuple:
    shape = get_aval(asarray_any(arr)).shape
    if len(shape) != 2:
        raise ValueError("Only 2-D inputs are accepted")
    return triu_indices(shape[0], k, shape[1])


def mask_indices(n: int, mask_func: Callable, k: int = 0, *, size: int | None = None) -> tuple:
    """Indices where ``mask_func(ones((n, n)), k)`` is nonzero."""
    mask = mask_func(np.ones((n, n), np.int32), k)
    return nonzero(asarray_any(np.asarray(mask)), size=size)


def ix_(*args: Any) -> tuple:
    """Open-mesh index arrays: the i-th output has the i-th input along axis i and size-1 axes elsewhere."""
    n = len(args)
    out = []
    for i, a in enumerate(args):
        a = asarray_any(a)
        if get_aval(a).ndim != 1:
            raise ValueError(f"Arguments to jax.numpy.ix_ must be 1-dimensional, got shape {get_aval(a).shape}")
        if get_aval(a).dtype == dtypes.bool_:
            (a,) = nonzero(a)
        out.append(reshape(a, (1,) * i + (-1,) + (1,) * (n - i - 1)))
    return tuple(out)


def ravel_multi_index(multi_index: Sequence[Any], dims: Sequence[int], mode: str = "raise", order: str = "C", *,
                      dtype: Any = None) -> Any:
    """Flat indices of the coordinate arrays ``multi_index`` in an array of shape ``dims``, in ``dtype`` (the
    indices' own integer dtype by default, as JAX)."""
    assert len(multi_index) == len(dims), f"len(multi_index)={len(multi_index)} != len(dims)={len(dims)}"
    dims = tuple(operator.index(concrete_or_error(d, "in `dims` argument of ravel_multi_index().")) for d in dims)
    idx = [asarray_any(i) for i in multi_index]
    dtype = dtypes.result_type(int, *idx) if dtype is None else dtypes.canonicalize(dtype)
    if not dtypes.is_int(dtype):
        raise ValueError(f"dtype={dtype!r} is not an integer type.")
    if np.prod(dims, dtype=np.int64) - 1 > np.iinfo(dtype).max:
        raise ValueError(f"jnp.ravel_multi_index: dtype={dtype!r} not large enough to hold flattened index for "
                         f"dims={dims}. Use the dtype argument to pass a suitable dtype (e.g. "
                         f"dtype=np.min_scalar_type(prod(dims))).")
    for i in idx:
        if mode == "raise":
            concrete_or_error(i, "The error occurred because ravel_multi_index was jit-compiled with mode='raise'. "
                                 "Use mode='wrap' or mode='clip' instead.")
        if not dtypes.is_int(i.dtype):
            raise TypeError("only int indices permitted")
    if mode == "raise":
        if any(bool(red.any((i < 0) | (i >= d))) for i, d in zip(idx, dims)):
            raise ValueError("invalid entry in coordinates array")
    elif mode == "clip":
        idx = [clip(i, 0, d - 1) for i, d in zip(idx, dims)]
    elif mode == "wrap":
        idx = [i % d for i, d in zip(idx, dims)]
    elif mode != "ignore":
        raise ValueError(f"invalid mode={mode!r}. Expected 'raise', 'wrap', 'clip', or 'ignore'.")
    if order == "F":
        strides = np.cumprod((1,) + dims[:-1])
    elif order == "C":
        strides = np.cumprod((1,) + dims[1:][::-1])[::-1]
    else:
        raise ValueError(f"invalid order={order!r}. Expected 'C' or 'F'")
    out = zeros((), dtype)
    for i, s in zip(idx, strides):
        out = out + i.astype(dtype) * int(s)
    return out


def unravel_index(indices: Any, shape: Sequence[int]) -> tuple:
    """Coordinate arrays of flat ``indices`` in an array of ``shape`` (whose entries may be traced); out-of-range
    indices are clipped, as JAX."""
    from .ufuncs import divmod as divmod_
    idx = asarray_any(indices)
    try:
        shape = list(shape)
    except TypeError:
        shape = [shape]
    if any(np.ndim(s) != 0 for s in shape):
        raise ValueError("unravel_index: shape should be a scalar or 1D sequence.")
    out = [0] * len(shape)
    for i, s in reversed(list(enumerate(shape))):
        idx, out[i] = divmod_(idx, s)
    oob_pos = idx > 0
    oob_neg = asarray_any(False) if dtypes.is_unsigned(idx.dtype) else idx < -1
    return tuple(where(oob_pos, s - 1, where(oob_neg, 0, i)) for s, i in zip(shape, out))


index_exp = np.index_exp
s_ = np.s_


def _grid_axis(sl: slice, dtype) -> Any:
    """``arange`` for a real step, ``linspace`` for an imaginary (``Nj``) step, as numpy's grids."""
    start = 0 if sl.start is None else sl.start
    step = 1 if sl.step is None else sl.step
    if isinstance(step, complex):
        return linspace(start, sl.stop, int(abs(step)), endpoint=True, dtype=dtype)
    return arange(start, sl.stop, step, dtype=dtype)


class _Grid:
    def __init__(self, sparse: bool):
        self.sparse = sparse

    def __getitem__(self, key: Any) -> Any:
        keys = key if isinstance(key, tuple) else (key,)
        is_float = any(isinstance(v, float) or isinstance(k.step, complex)
                       for k in keys for v in (k.start, k.stop, k.step))
        dt = dtypes.default_float() if is_float else dtypes.default_int()
        axes = [_grid_axis(k, dt) for k in keys]
        if not isinstance(key, tuple):
            return axes[0]
        if self.sparse:
            return meshgrid(*axes, indexing="ij", sparse=True)
        return stack(meshgrid(*axes, indexing="ij"))


mgrid = _Grid(sparse=False)
ogrid = _Grid(sparse=True)


class _Concatenator:
    """``r_`` / ``c_``: concatenation of arrays, scalars and slices (``a:b:c`` ranges, ``a:b:Nj`` linspaces)."""

    def __init__(self, axis: int, ndmin: int, trans1d: int):
        self.axis, self.ndmin, self.trans1d = axis, ndmin, trans1d

    def __getitem__(self, key: Any) -> Any:
        keys = key if isinstance(key, tuple) else (key,)
        axis, ndmin, trans1d = self.axis, self.ndmin, self.trans1d
        if keys and isinstance(keys[0], str):
            spec, keys = keys[0], keys[1:]
            if spec in ("r", "c"):
                raise NotImplementedError("matrix directives 'r' and 'c' are not supported by portax")
            parts = [int(p) for p in spec.split(",")]
            axis = parts[0]
            ndmin = parts[1] if len(parts) > 1 else ndmin
            trans1d = parts[2] if len(parts) > 2 else trans1d
        items = []
        for k in keys:
            a = _grid_axis(k, None) if isinstance(k, slice) else array(k)
            nd = get_aval(a).ndim
            if nd < ndmin:
                shape = get_aval(a).shape
                new = [1] * ndmin
                t = trans1d % ndmin if trans1d != -1 else ndmin - nd
                new[t:t + nd] = shape
                a = reshape(a, tuple(new))
            items.append(a)
        if not items:
            return zeros((0,))
        return concatenate(items, axis=axis)


r_ = _Concatenator(0, 1, -1)
c_ = _Concatenator(-1, 2, 0)


def _inplace_error(name: str) -> ValueError:
    return ValueError(f"jax.numpy.{name} cannot modify arrays in-place, because JAX arrays are immutable. Pass "
                      f"inplace=False to instead return an updated array.")


def put(a: Any, ind: Any, v: Any, mode: str | None = None, *, inplace: bool = True) -> Any:
    """``a`` with ``a.flat[ind] = v`` (``v`` repeats cyclically); needs ``inplace=False`` as in JAX."""
    if inplace:
        raise _inplace_error("put")
    a = asarray_any(a)
    ind = ravel(asarray_any(ind))
    v = ravel(asarray_any(v)).astype(a.dtype)
    n = ind.shape[0]
    if v.shape[0] == 0:
        return a
    vals = v[arange(n) % v.shape[0]] if v.shape[0] != n else v
    size = a.size
    if mode in (None, "fill", "drop"):
        ind = where(ind < 0, ind + size, ind)
        flat = ravel(a).at[ind].set(vals, mode="drop")
    elif mode == "wrap":
        flat = ravel(a).at[ind % size].set(vals)
    elif mode == "clip":
        flat = ravel(a).at[ind.clip(0, size - 1)].set(vals)
    else:
        raise ValueError(f"mode should be one of 'wrap' or 'clip'; got {mode!r}")
    return reshape(flat, a.shape)


def put_along_axis(arr: Any, indices: Any, values: Any, axis: int | None, inplace: bool = True, *,
                   mode: str | None = None) -> Any:
    """The counterpart of take_along_axis: ``arr`` with values written at ``indices`` along ``axis``."""
    if inplace:
        raise _inplace_error("put_along_axis")
    arr, indices = asarray_any(arr), asarray_any(indices)
    if axis is None:
        return reshape(put_along_axis(ravel(arr), ravel(indices), ravel(asarray_any(values)), 0, inplace=False,
                                      mode=mode), arr.shape)
    nd = arr.ndim
    axis = canonicalize_axis(axis, nd)
    idx_shape = indices.shape
    index = []
    for d in range(nd):
        if d == axis:
            index.append(indices)
        else:
            shape = [1] * nd
            shape[d] = idx_shape[d]
            index.append(reshape(arange(idx_shape[d]), shape))
    vals = broadcast_to(asarray_any(values).astype(arr.dtype), idx_shape)
    return arr.at[tuple(index)].set(vals, mode=mode)


def choose(a: Any, choices: Sequence[Any], out: None = None, mode: str = "raise") -> Any:
    """``choices[a[i]][i]`` elementwise, with numpy's broadcasting and 'raise'/'wrap'/'clip' modes."""
    if out is not None:
        raise NotImplementedError("The 'out' argument to jnp.choose is not supported.")
    a = asarray_any(a)
    if not dtypes.is_int(a.dtype):
        raise ValueError("`a` array must be integer typed")
    n = len(choices)
    if mode == "raise":
        c = np.asarray(concrete_or_error(a, "The error occurred because jnp.choose was jit-compiled with "
                                            "mode='raise'. Use mode='wrap' or mode='clip' instead."))
        if ((c < 0) | (c >= n)).any():
            raise ValueError("invalid entry in choice array")
    elif mode == "wrap":
        a = a % n
    elif mode == "clip":
        a = a.clip(0, n - 1)
    else:
        raise ValueError(f"mode={mode!r} not understood. Must be 'raise', 'wrap', or 'clip'")
    choices = promote_dtypes(*choices)
    shape = np.broadcast_shapes(a.shape, *[c.shape for c in choices])
    stacked = stack([broadcast_to(c, shape) for c in choices])
    idx = expand_dims(broadcast_to(a, shape), 0)
    return take_along_axis(stacked, idx, axis=0)[0]


def compress(condition: Any, a: Any, axis: int | None = None, *, size: int | None = None, fill_value: Any = 0,
             out: None = None) -> Any:
    """The slices of ``a`` along ``axis`` where ``condition`` is true (``size`` pads for jit)."""
    cond = ravel(asarray_any(condition)).astype(bool)
    a = asarray_any(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = canonicalize_axis(axis, a.ndim)
    n = a.shape[axis]
    if cond.shape[0] < n:
        cond = concatenate([cond, zeros((n - cond.shape[0],), bool)])
    cond = cond[:n]
    (idx,) = nonzero(cond, size=size, fill_value=0)
    out_ = moveaxis(moveaxis(a, axis, 0)[idx], 0, axis)
    if size is not None:
        valid = arange(size) < red.sum(cond)
        shape = [1] * out_.ndim
        shape[axis] = size
        out_ = where(reshape(valid, shape), out_, asarray_any(fill_value).astype(a.dtype))
    return out_


def extract(condition: Any, arr: Any, *, size: int | None = None, fill_value: Any = 0) -> Any:
    return compress(ravel(asarray_any(condition)), ravel(asarray_any(arr)), size=size, fill_value=fill_value)


def delete(arr: Any, obj: Any, axis: int | None = None, *, assume_unique_indices: bool = False) -> Any:
    """``arr`` without the entries at indices/slice/mask ``obj`` along ``axis``: ``obj`` concrete, or integer
    indices that may be traced with ``assume_unique_indices=True`` (as JAX)."""
    a = asarray_any(arr)
    if axis is None:
        a, axis = ravel(a), 0
    axis = canonicalize_axis(axis, a.ndim)
    n = a.shape[axis]
    if assume_unique_indices and not isinstance(obj, slice) and dtypes.is_int(get_aval(asarray_any(obj)).dtype):
        return _delete_unique(a, asarray_any(obj), axis)
    keep = np.ones(n, bool)
    if isinstance(obj, slice):
        keep[obj] = False
    else:
        o = np.asarray(concrete_or_error(obj, "jnp.delete needs concrete indices (obj)."))
        if o.dtype == bool:
            if o.shape != (n,):
                raise ValueError(f"boolean array argument obj to delete must be one dimensional and match the axis "
                                 f"length of {n}")
            keep = ~o
        else:
            keep[o.astype(np.int64)] = False
    return moveaxis(moveaxis(a, axis, 0)[_int_array(np.nonzero(keep)[0])], 0, axis)


def _delete_unique(a: Any, obj: Any, axis: int) -> Any:
    """``delete`` of distinct integer indices, jit-compatible: the kept positions computed from the sorted
    indices (the ``i``-th kept one is ``i`` plus the number of deleted indices at or below it)."""
    n = a.shape[axis]
    o = ravel(obj)
    o = sort(clip(where(o < 0, o + n, o), 0, n))
    o = o - arange(o.shape[0], dtype=o.dtype)
    i = arange(n - o.shape[0], dtype=o.dtype)
    i = i + red.sum(i[None, :] >= o[:, None], axis=0, dtype=i.dtype)
    return moveaxis(moveaxis(a, axis, 0)[i], 0, axis)


def insert(arr: Any, obj: Any, values: Any, axis: int | None = None) -> Any:
    """``arr`` with ``values`` inserted before the indices ``obj`` (a slice, or integer indices that may be
    traced; out-of-range indices are clipped) along ``axis``, as JAX."""
    a = asarray_any(arr)
    if axis is None:
        a, axis = ravel(a), 0
    axis = canonicalize_axis(operator.index(concrete_or_error(axis, "axis argument of jnp.insert()")), a.ndim)
    n_input = a.shape[axis]
    idx = arange(*obj.indices(n_input)) if isinstance(obj, slice) else asarray_any(obj)
    if idx.ndim > 1:
        raise ValueError(f"jnp.insert(): obj must be a slice, a one-dimensional array, or a scalar; got {obj}")
    if not dtypes.is_int(idx.dtype):
        if idx.size == 0 and not hasattr(obj, "aval"):
            idx = idx.astype(dtypes.default_int())
        else:
            raise ValueError(f"jnp.insert(): index array must be integer typed; got {obj}")
    v = array(values, ndmin=a.ndim, dtype=a.dtype, copy=False)
    if idx.size == 1:
        index = ravel(idx)[0]
        if idx.ndim == 0:
            v = moveaxis(v, 0, axis)
        idx = full((v.shape[axis],), index)
    n_insert = np.broadcast_shapes(idx.shape, (v.shape[axis],))[0]
    out_shape = list(a.shape)
    out_shape[axis] += n_insert
    idx = clip(where(idx < 0, idx + n_input, idx), 0, n_input)
    values_ind = idx.at[argsort(idx)].add(arange(n_insert, dtype=idx.dtype))
    arr_mask = full((n_input + n_insert,), True).at[values_ind].set(False)
    (arr_ind,) = nonzero(arr_mask, size=n_input)
    lead = (slice(None),) * axis
    out = zeros(tuple(out_shape), a.dtype)
    out = out.at[lead + (values_ind,)].set(v)
    return out.at[lead + (arr_ind,)].set(a)


def place(arr: Any, mask: Any, vals: Any, *, inplace: bool = True) -> Any:
    """``arr`` with its masked entries replaced by ``vals`` (cycled), needing ``inplace=False``; the mask may be
    traced, as JAX."""
    a, m = asarray_any(arr), asarray_any(mask)
    v = ravel(asarray_any(vals))
    if inplace:
        raise _inplace_error("place")
    if a.size != m.size:
        raise ValueError("place: arr and mask must be the same size")
    if not v.size:
        raise ValueError("Cannot place values from an empty array")
    if not a.size:
        return a
    (idx,) = nonzero(ravel(m), size=m.size, fill_value=m.size)
    vals_ = v[arange(idx.shape[0]) % v.shape[0]].astype(a.dtype)
    return reshape(ravel(a).at[idx].set(vals_, mode="drop"), a.shape)


def fill_diagonal(a: Any, val: Any, wrap: bool = False, *, inplace: bool = True) -> Any:
    """``a`` with its main diagonal set to ``val``, needing ``inplace=False``."""
    if inplace:
        raise NotImplementedError("JAX arrays are immutable, must use inplace=False")
    a = asarray_any(a)
    if a.ndim < 2:
        raise ValueError("array must be at least 2-d")
    if a.ndim > 2 and len(set(a.shape)) != 1:
        raise ValueError("All dimensions of input must be of equal length")
    n = min(a.shape)
    if a.ndim == 2 and wrap and a.shape[0] > a.shape[1] + 1:
        step = a.shape[1] + 1
        flat_idx = np.arange(0, a.shape[0] * a.shape[1], step)
    else:
        flat_idx = np.ravel_multi_index((np.arange(n),) * a.ndim, a.shape)
    v = ravel(asarray_any(val)).astype(a.dtype)
    vals_ = v[_int_array(np.arange(len(flat_idx)) % v.shape[0])] if v.shape[0] != len(flat_idx) else v
    return reshape(ravel(a).at[_int_array(flat_idx)].set(vals_), a.shape)


def piecewise(x: Any, condlist: Any, funclist: Sequence[Any], *args: Any, **kw: Any) -> Any:
    """Evaluate each function on all of ``x`` and select by the conditions (the last function, if there is one
    more than conditions, is the default)."""
    x = asarray_any(x)
    conds = condlist if isinstance(condlist, (list, tuple)) else [condlist]
    conds = [broadcast_to(asarray_any(c).astype(bool), x.shape) for c in conds]
    if len(funclist) not in (len(conds), len(conds) + 1):
        raise ValueError(f"with {len(conds)} condition(s), either {len(conds)} or {len(conds) + 1} functions are "
                         f"expected; got {len(funclist)}")
    if len(funclist) == len(conds) + 1:
        default_fn = funclist[-1]
        funclist = funclist[:-1]
    else:
        default_fn = 0

    def evaluate(f):
        out = f(x, *args, **kw) if callable(f) else f
        return broadcast_to(asarray_any(out).astype(x.dtype), x.shape)

    out = evaluate(default_fn)
    for c, f in zip(conds, funclist):
        out = where(c, evaluate(f), out)
    return out


def apply_along_axis(func1d: Callable, axis: int, arr: Any, *args: Any, **kwargs: Any) -> Any:
    """``func1d`` applied to 1-D slices along ``axis`` (vmapped over the other axes)."""
    from ..api import vmap
    arr = asarray_any(arr)
    nd = arr.ndim
    axis = canonicalize_axis(axis, nd)
    fn = lambda x: func1d(x, *args, **kwargs)
    for i in range(1, nd - axis):
        fn = vmap(fn, in_axes=i, out_axes=-1)
    for _ in range(axis):
        fn = vmap(fn, in_axes=0, out_axes=0)
    return fn(arr)


def apply_over_axes(func: Callable, a: Any, axes: Sequence[int]) -> Any:
    """Apply ``func(a, axis)`` for each axis in turn, keeping the reduced axes."""
    a = asarray_any(a)
    for axis in axes:
        b = asarray_any(func(a, axis))
        a = b if b.ndim == a.ndim else expand_dims(b, axis)
    return a


def fromfunction(function: Callable, shape: Sequence[int], *, dtype: Any = float, **kwargs: Any) -> Any:
    """``function(*indices)`` with coordinate arrays of the given shape and dtype."""
    coords = indices(shape, dtype=dtypes.canonicalize(dtype))
    return function(*[coords[i] for i in range(len(shape))], **kwargs)


__all__ = ["apply_along_axis", "apply_over_axes", "c_", "choose", "compress", "delete", "diag_indices",
           "diag_indices_from", "extract", "fill_diagonal", "fromfunction", "index_exp", "insert", "ix_",
           "mask_indices", "mgrid", "ogrid", "piecewise", "place", "put", "put_along_axis", "r_", "ravel_multi_index",
           "s_", "tril_indices", "tril_indices_from", "triu_indices", "triu_indices_from", "unravel_index"]
