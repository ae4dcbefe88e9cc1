"""Reshaping, joining and splitting: reshape, transpose, concatenate, stack, split, tile, repeat, ..."""
from __future__ import annotations

import builtins
import operator
import warnings
from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..jit_args import index_tuple
from ..primitives import elementwise as ew, structural as st
from ..prng_key_ops import keys_lifted
from ..trace import concrete_or_error, get_aval, is_tracer
from ._util import asarray_any, broadcast_shapes, broadcast_to, canonicalize_axis, promote_dtypes


def _warn_non_array(name: str, a: Any) -> Any:
    """JAX's deprecation warning for a list or tuple given to ``ndim``/``shape``/``size``; ``a`` as an array."""
    if isinstance(a, (list, tuple)):
        warnings.warn(f"{name} requires ndarray or scalar arguments, got {type(a)} at position 0. In a future JAX "
                      f"release this will be an error.", DeprecationWarning, stacklevel=3)
        return np.asarray(a)
    return asarray_any(a)


def _nd(a: Any) -> int:
    return get_aval(asarray_any(a)).ndim


def shape(a: Any) -> tuple:
    return a.shape if hasattr(a, "shape") else get_aval(_warn_non_array("shape", a)).shape


def ndim(a: Any) -> int:
    return a.ndim if hasattr(a, "ndim") else get_aval(_warn_non_array("ndim", a)).ndim


def size(a: Any, axis: int | Sequence[int] | None = None) -> int:
    """The number of elements of ``a``, or along ``axis`` (an axis or a sequence of distinct axes)."""
    if axis is None and hasattr(a, "size"):
        return a.size
    s = tuple(a.shape) if hasattr(a, "shape") else get_aval(_warn_non_array("size", a)).shape
    if axis is None:
        return int(np.prod(s, dtype=np.int64))
    axes = tuple(canonicalize_axis(i, len(s)) for i in (axis if isinstance(axis, Sequence) else (axis,)))
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis: {axes}")
    return int(np.prod([s[i] for i in axes], dtype=np.int64))


@keys_lifted("a")
def reshape(a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None, copy: bool | None = None,
            out_sharding: Any = None) -> Any:
    """``jnp.reshape`` (row-major); one dimension may be -1. ``copy`` is accepted for the array API (arrays are
    immutable, so a reshape never aliases observably)."""
    if out_sharding is not None:
        from ..explicit_sharding import computed_as
        return computed_as(lambda v: reshape(v, shape, order, newshape=newshape), out_sharding, a, api_name="reshape")
    a = asarray_any(a)
    shape = newshape if shape is None else shape
    shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    n = get_aval(a).size
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        if known == 0 or n % known:
            raise TypeError(f"cannot reshape array of shape {get_aval(a).shape} (size {n}) into shape {shape}")
        shape = tuple(n // known if s == -1 else s for s in shape)
    if int(np.prod(shape, dtype=np.int64)) != n:
        raise TypeError(f"cannot reshape array of shape {get_aval(a).shape} (size {n}) into shape {shape}")
    if order == "F":
        a = st.transpose(a, tuple(range(get_aval(a).ndim))[::-1])
        return st.transpose(st.reshape(a, shape[::-1]), tuple(range(len(shape)))[::-1])
    return st.reshape(a, shape)


@keys_lifted("a")
def ravel(a: Any, order: str = "C") -> Any:
    return reshape(a, (-1,), order)


@keys_lifted("a")
def transpose(a: Any, axes: Sequence[int] | None = None) -> Any:
    a = asarray_any(a)
    nd = get_aval(a).ndim
    axes = tuple(range(nd))[::-1] if axes is None else tuple(canonicalize_axis(int(x), nd) for x in axes)
    return st.transpose(a, axes)


def permute_dims(a: Any, axes: Sequence[int]) -> Any:
    return transpose(a, axes)


def matrix_transpose(x: Any) -> Any:
    nd = _nd(x)
    return transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


@keys_lifted("a")
def moveaxis(a: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Any:
    a = asarray_any(a)
    nd = get_aval(a).ndim
    src = [canonicalize_axis(s, nd) for s in ((source,) if isinstance(source, int) else source)]
    dst = [canonicalize_axis(d, nd) for d in ((destination,) if isinstance(destination, int) else destination)]
    if len(src) != len(dst):
        raise ValueError("moveaxis: source and destination must have the same number of elements")
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return st.transpose(a, tuple(order))


@keys_lifted("a")
def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    a = asarray_any(a)
    nd = get_aval(a).ndim
    perm = list(range(nd))
    i, j = canonicalize_axis(axis1, nd), canonicalize_axis(axis2, nd)
    perm[i], perm[j] = perm[j], perm[i]
    return st.transpose(a, tuple(perm))


@keys_lifted("a")
def expand_dims(a: Any, axis: int | Sequence[int]) -> Any:
    return st.expand_dims(asarray_any(a), index_tuple(axis))


@keys_lifted("a")
def squeeze(a: Any, axis: int | Sequence[int] | None = None) -> Any:
    a = asarray_any(a)
    s = get_aval(a).shape
    if axis is None:
        axes = tuple(i for i, d in enumerate(s) if d == 1)
    else:
        axes = tuple(canonicalize_axis(x, len(s)) for x in ((axis,) if isinstance(axis, int) else axis))
    return st.squeeze(a, axes)


def atleast_1d(*arys: Any) -> Any:
    out = [reshape(x, (1,)) if _nd(x) == 0 else asarray_any(x) for x in arys]
    return out[0] if len(out) == 1 else out


def atleast_2d(*arys: Any) -> Any:
    out = []
    for x in arys:
        x = asarray_any(x)
        nd = get_aval(x).ndim
        out.append(reshape(x, (1, 1)) if nd == 0 else reshape(x, (1,) + get_aval(x).shape) if nd == 1 else x)
    return out[0] if len(out) == 1 else out


def atleast_3d(*arys: Any) -> Any:
    out = []
    for x in arys:
        x = asarray_any(x)
        s = get_aval(x).shape
        out.append(reshape(x, (1, 1, 1)) if len(s) == 0 else reshape(x, (1,) + s + (1,)) if len(s) == 1 else
                   reshape(x, s + (1,)) if len(s) == 2 else x)
    return out[0] if len(out) == 1 else out


@keys_lifted("arrays")
def concatenate(arrays: Sequence[Any], axis: int | None = 0, dtype=None) -> Any:
    if not len(arrays):
        raise ValueError("Need at least one array to concatenate.")
    arrays = promote_dtypes(*arrays)
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    nd = get_aval(arrays[0]).ndim
    if nd == 0:
        raise ValueError("Zero-dimensional arrays cannot be concatenated.")
    out = st.concatenate(arrays, canonicalize_axis(axis, nd))
    from ..primitives import elementwise as ew
    return out if dtype is None else ew.convert_element_type(out, dtype)


def concat(arrays: Sequence[Any], /, *, axis: int | None = 0) -> Any:
    """Array API ``concat``: ``concatenate`` without numpy's extra arguments."""
    return concatenate(arrays, axis)


@keys_lifted("arrays")
def stack(arrays: Sequence[Any], axis: int = 0, out: None = None, dtype=None) -> Any:
    if out is not None:
        raise NotImplementedError("The 'out' argument to jnp.stack is not supported.")
    if not len(arrays):
        raise ValueError("Need at least one array to stack.")
    arrays = promote_dtypes(*arrays)
    shapes = {get_aval(a).shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError("All input arrays must have the same shape.")
    nd = get_aval(arrays[0]).ndim + 1
    axis = canonicalize_axis(axis, nd)
    return concatenate([st.expand_dims(a, (axis,)) for a in arrays], axis, dtype)


def hstack(tup: Sequence[Any], dtype=None) -> Any:
    arrs = [atleast_1d(t) for t in tup]
    return concatenate(arrs, 0 if _nd(arrs[0]) == 1 else 1, dtype)


def vstack(tup: Sequence[Any], dtype=None) -> Any:
    return concatenate([atleast_2d(t) for t in tup], 0, dtype)


def dstack(tup: Sequence[Any], dtype=None) -> Any:
    return concatenate([atleast_3d(t) for t in tup], 2, dtype)


def column_stack(tup: Sequence[Any]) -> Any:
    return concatenate([reshape(t, (-1, 1)) if _nd(t) < 2 else asarray_any(t) for t in tup], 1)


def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list:
    return _split("split", ary, indices_or_sections, axis)


def array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list:
    return _split("array_split", ary, indices_or_sections, axis)


def _split(name: str, ary: Any, sections: Any, axis: int) -> list:
    ary = asarray_any(ary)
    s = get_aval(ary).shape
    axis = canonicalize_axis(axis, len(s))
    n = s[axis]
    if isinstance(sections, int) or (hasattr(sections, "__index__") and np.ndim(sections) == 0):
        k = int(sections)
        if name == "split" and n % k:
            raise ValueError(f"array split does not result in an equal division: {n} into {k}")
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
        points = np.cumsum([0] + sizes)
    else:
        idx = [int(concrete_or_error(i, "split indices must be concrete")) for i in sections]
        points = [0] + [min(max(i + n if i < 0 else i, 0), n) for i in idx] + [n]
    return [st.slice_in_dim(ary, int(a), int(builtins.max(a, b)), 1, axis) for a, b in zip(points[:-1], points[1:])]


def hsplit(ary: Any, indices_or_sections: Any) -> list:
    return split(ary, indices_or_sections, 1 if _nd(ary) > 1 else 0)


def vsplit(ary: Any, indices_or_sections: Any) -> list:
    return split(ary, indices_or_sections, 0)


def dsplit(ary: Any, indices_or_sections: Any) -> list:
    return split(ary, indices_or_sections, 2)


@keys_lifted("A")
def tile(A: Any, reps: int | Sequence[int]) -> Any:
    A = asarray_any(A)
    reps = tuple(operator.index(r) for r in (reps if np.ndim(reps) else (reps,)))
    s = get_aval(A).shape
    nd = builtins.max(len(s), len(reps))
    s = (1,) * (nd - len(s)) + s
    reps = (1,) * (nd - len(reps)) + reps
    A = st.reshape(A, s)
    big = tuple(x for r, d in zip(reps, s) for x in (r, d))
    b = st.broadcast_in_dim(A, big, tuple(range(1, 2 * nd, 2)))
    return st.reshape(b, tuple(r * d for r, d in zip(reps, s)))


def repeat(a: Any, repeats: Any, axis: int | None = None, *, total_repeat_length: int | None = None) -> Any:
    """numpy's ``repeat``; ``repeats`` may be traced when ``total_repeat_length`` is given (as JAX: the output is
    cut or padded with the last entry to that length)."""
    a = asarray_any(a)
    if axis is None:
        a, axis = ravel(a), 0
    s = get_aval(a).shape
    axis = canonicalize_axis(operator.index(concrete_or_error(axis, "'axis' argument of jnp.repeat()")), len(s))
    if total_repeat_length is None:
        repeats = concrete_or_error(
            repeats, "When jit-compiling jnp.repeat, the total number of repeats must be static. To fix this, either "
                     "specify a static value for `repeats`, or pass a static value to `total_repeat_length`.")
        if np.ndim(repeats) == 0 and s:
            r = operator.index(np.asarray(repeats).item())
            dims = tuple(i if i <= axis else i + 1 for i in range(len(s)))
            b = st.broadcast_in_dim(a, s[:axis + 1] + (r,) + s[axis + 1:], dims)
            return st.reshape(b, s[:axis] + (s[axis] * r,) + s[axis + 1:])
        repeats = np.ravel(repeats)
        if s:
            repeats = np.broadcast_to(repeats, (s[axis],))
        total_repeat_length = int(np.sum(repeats))
    repeats = ravel(asarray_any(repeats))
    if s:
        repeats = broadcast_to(repeats, (s[axis],))
    else:
        if repeats.shape != (1,):
            raise ValueError("`repeat` with a scalar parameter `a` is only implemented for scalar values of the "
                             "parameter `repeats`.")
        return broadcast_to(a, (total_repeat_length,))
    if total_repeat_length == 0:
        return st.reshape(a[(slice(None),) * axis + (slice(0, 0),)], s[:axis] + (0,) + s[axis + 1:])
    if s[axis] == 0:
        return a
    from .indexing import take
    from .reductions import cumsum
    starts = cumsum(repeats) - repeats
    marks = broadcast_to(asarray_any(np.int32(0)), (total_repeat_length,)).at[starts].add(1)
    return take(a, cumsum(marks) - 1, axis=axis)


def flip(m: Any, axis: int | Sequence[int] | None = None) -> Any:
    m = asarray_any(m)
    nd = get_aval(m).ndim
    if axis is None:
        axes = tuple(range(nd))
    else:
        axes = tuple(canonicalize_axis(a, nd) for a in ((axis,) if isinstance(axis, int) else axis))
    return st.rev(m, axes)


def fliplr(m: Any) -> Any:
    return flip(m, 1)


def flipud(m: Any) -> Any:
    return flip(m, 0)


def rot90(m: Any, k: int = 1, axes: tuple = (0, 1)) -> Any:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes`` (from the first axis towards the second)."""
    m = asarray_any(m)
    nd = get_aval(m).ndim
    if nd < 2:
        raise ValueError(f"rot90 requires its first argument to have ndim at least two, but got first argument of "
                         f"shape {get_aval(m).shape}, which has ndim {nd}")
    a0, a1 = (canonicalize_axis(a, nd) for a in axes)
    if a0 == a1:
        raise ValueError("Axes must be different")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(nd))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(m, a1), perm)
    return flip(transpose(m, perm), a1)


def roll(a: Any, shift: Any, axis: int | Sequence[int] | None = None) -> Any:
    a = asarray_any(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), get_aval(a).shape)
    shifts = (shift,) if isinstance(shift, int) or np.ndim(shift) == 0 else tuple(shift)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    for sh, ax in zip(shifts, axes):
        ax = canonicalize_axis(ax, get_aval(a).ndim)
        n = get_aval(a).shape[ax]
        if n == 0:
            continue
        if is_tracer(sh):  # a traced shift: a window of ``a`` twice over, at ``n - shift % n`` (as JAX)
            k = ew.convert_element_type(sh, dtypes.int32)
            k = ew.rem(k, ew._const(k, n))
            k = ew.select(ew.lt(k, ew._const(k, 0)), ew.add(k, ew._const(k, n)), k)
            a = st.dynamic_slice_in_dim(st.concatenate([a, a], ax), ew.sub(ew._const(k, n), k), n, ax)
            continue
        k = int(sh) % n
        if k:
            a = st.concatenate([st.slice_in_dim(a, n - k, n, 1, ax), st.slice_in_dim(a, 0, n - k, 1, ax)], ax)
    return a


@keys_lifted("args")
def broadcast_arrays(*args: Any) -> list:
    args = [asarray_any(a) for a in args]
    shp = broadcast_shapes(*[get_aval(a).shape for a in args])
    return [broadcast_to(a, shp) for a in args]


def rollaxis(a: Any, axis: int, start: int = 0) -> Any:
    """Roll ``axis`` backwards until it lies before ``start`` (numpy's legacy moveaxis)."""
    a = asarray_any(a)
    nd = get_aval(a).ndim
    axis = canonicalize_axis(axis, nd)
    if not -nd <= start <= nd:
        raise ValueError(f"start={start} must satisfy {-nd} <= start <= {nd}")
    start = start + nd if start < 0 else start
    if start > axis:
        start -= 1
    return moveaxis(a, axis, start)


@keys_lifted("arr", "values")
def append(arr: Any, values: Any, axis: int | None = None) -> Any:
    if axis is None:
        return concatenate([ravel(asarray_any(arr)), ravel(asarray_any(values))], 0)
    return concatenate([arr, values], axis)


def resize(a: Any, new_shape: Any) -> Any:
    """A new array of ``new_shape`` filled with the flattened ``a`` repeated cyclically."""
    a = ravel(asarray_any(a))
    new_shape = (new_shape,) if isinstance(new_shape, int) else tuple(int(s) for s in new_shape)
    if any(s < 0 for s in new_shape):
        raise ValueError("all elements of `new_shape` must be non-negative")
    total = int(np.prod(new_shape, dtype=np.int64))
    n = get_aval(a).shape[0]
    if n == 0:
        from .creation import zeros
        return zeros(new_shape, get_aval(a).dtype)
    reps = -(-total // n)
    return reshape(tile(a, reps)[:total], new_shape)


def block(arrays: Any) -> Any:
    """Assemble an array from nested lists of blocks (the innermost list joins along the last axis)."""
    def depth(x):
        return 1 + depth(x[0]) if isinstance(x, list) and x else (1 if isinstance(x, list) else 0)

    def nd_of(x):
        return max(nd_of(e) for e in x) if isinstance(x, list) else _nd(x)

    d = depth(arrays)
    target = builtins.max(d, nd_of(arrays))

    def assemble(x, level):
        if not isinstance(x, list):
            x = asarray_any(x)
            return reshape(x, (1,) * (target - get_aval(x).ndim) + get_aval(x).shape)
        if not x:
            raise ValueError("Lists cannot be empty")
        return concatenate([assemble(e, level + 1) for e in x], axis=-(d - level))

    if not isinstance(arrays, list):
        return asarray_any(arrays)
    return assemble(arrays, 0)


def trim_zeros(filt: Any, trim: str = "fb", axis: int | Sequence[int] | None = None) -> Any:
    """Strip leading ('f') and/or trailing ('b') all-zero slices of a concrete array along ``axis`` (all axes by
    default), as JAX."""
    f = np.asarray(concrete_or_error(filt, "Error arose in the `filt` argument of trim_zeros()"))
    nd = f.ndim
    axes = set(range(nd)) if axis is None else {canonicalize_axis(a, nd) for a in index_tuple(axis)}
    trim = trim.lower()
    if not axes or ("f" not in trim and "b" not in trim):
        return asarray_any(filt)

    def bounds(ax: int) -> slice:
        if ax not in axes:
            return slice(None)
        mask = f.any(axis=tuple(i for i in range(nd) if i != ax))
        if not mask.any():
            return slice(0, 0)
        start = int(mask.argmax()) if "f" in trim else None
        stop = f.shape[ax] - int(mask[::-1].argmax()) if "b" in trim else None
        return slice(start, stop)

    return asarray_any(filt)[tuple(bounds(ax) for ax in range(nd))]


def unstack(x: Any, /, *, axis: int = 0) -> tuple:
    x = asarray_any(x)
    nd = get_aval(x).ndim
    if nd == 0:
        raise ValueError("Unstack requires arrays with rank > 0, however a scalar array was passed.")
    axis = canonicalize_axis(axis, nd)
    return tuple(st.index_in_dim(x, i, axis, keepdims=False) for i in range(get_aval(x).shape[axis]))


__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "Any", "Sequence", "np", "st", "builtins", "annotations", "asarray_any", "broadcast_shapes", "canonicalize_axis",
    "promote_dtypes", "concrete_or_error", "get_aval", "index_tuple")]
