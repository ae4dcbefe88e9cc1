"""Set operations and sorting helpers: unique (with size= for jit), union1d, intersect1d, setdiff1d,
setxor1d, isin, lexsort, partition/argpartition.

Results whose length depends on the data need concrete inputs, or a static ``size`` (padded with
``fill_value``, by default the smallest kept value) under jit, as in JAX.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from .. import dtypes
from ..primitives import sorting as so, structural as st
from ..trace import concrete_or_none, get_aval
from ..errors import ConcretizationTypeError
from . import reductions as red, ufuncs as uf
from ._util import asarray_any, canonicalize_axis, promote_dtypes
from .creation import arange, full, zeros
from .misc import argsort, nonzero, sort, where
from .shape import concatenate, moveaxis, ravel, reshape


class _UniqueAll(NamedTuple):
    values: Any
    indices: Any
    inverse_indices: Any
    counts: Any


class _UniqueCounts(NamedTuple):
    values: Any
    counts: Any


class _UniqueInverse(NamedTuple):
    values: Any
    inverse_indices: Any


def _static_size(name: str, mask: Any, size: int | None) -> int:
    """``size`` if given, else the (concrete) number of true entries of ``mask``."""
    if size is not None:
        return int(size)
    c = concrete_or_none(mask)
    if c is None:
        raise ConcretizationTypeError(mask, f"The error arose in jnp.{name}: its output size depends on the data; "
                                            "pass size= (and optionally fill_value=) to use it under jit.")
    return int(np.count_nonzero(np.asarray(c)))


def _compress(name: str, values: Any, mask: Any, size: int | None, fill_value: Any) -> tuple:
    """``values[mask]`` (1-D), padded to ``size`` with ``fill_value`` (default: the first kept value);
    also returns the positions taken and whether each output slot is filled."""
    n = _static_size(name, mask, size)
    (idx,) = nonzero(mask, size=n, fill_value=0)
    valid = arange(n) < red.sum(mask)
    out = values[idx]
    fill = out[:1] if fill_value is None and n else fill_value
    if n:
        fill_arr = asarray_any(fill).astype(out.dtype)
        out = where(valid.reshape(valid.shape + (1,) * (out.ndim - 1)), out, fill_arr)
    return out, idx, valid


def _sorted_with_perm(a: Any, axis_rows: bool) -> tuple:
    """Stable sort of 1-D values (or of rows, lexicographically) with the permutation applied."""
    n = get_aval(a).shape[0]
    iota = st.iota(dtypes.int32, n)
    if not axis_rows:
        s, perm = so.sort((a, iota), 0, num_keys=1)
        return s, perm
    cols = [a[:, j] for j in range(get_aval(a).shape[1])]
    *sorted_cols, perm = so.sort(tuple(cols) + (iota,), 0, num_keys=len(cols))
    return a[perm], perm


def _new_value_mask(s: Any, equal_nan: bool, rows: bool) -> Any:
    """True where a sorted entry (or row) differs from its predecessor (always for the first)."""
    if get_aval(s).shape[0] == 0:
        return zeros((0,), dtypes.bool_)
    prev, cur = s[:-1], s[1:]
    diff = cur != prev
    if equal_nan and dtypes.kind(get_aval(s).dtype) == "f":
        diff = diff & ~(uf.isnan(cur) & uf.isnan(prev))
    if rows:
        diff = red.any(diff, axis=tuple(range(1, get_aval(s).ndim)))
    return concatenate([full((1,), True), diff])


def unique(ar: Any, return_index: bool = False, return_inverse: bool = False, return_counts: bool = False,
           axis: int | None = None, *, equal_nan: bool = True, size: int | None = None, fill_value: Any = None,
           sorted: bool = True) -> Any:
    """Sorted unique values (or unique slices along ``axis``), with first indices, inverse and counts."""
    ar = asarray_any(ar)
    orig_shape = get_aval(ar).shape
    if axis is None:
        a, rows = ravel(ar), False
    else:
        axis = canonicalize_axis(axis, len(orig_shape))
        a = moveaxis(ar, axis, 0)
        a, rows = reshape(a, (get_aval(a).shape[0], -1)), True
    s, perm = _sorted_with_perm(a, rows)
    mask = _new_value_mask(s, equal_nan, rows)
    values, idx, valid = _compress("unique", s, mask, size, fill_value)
    if rows:
        slice_shape = moveaxis(ar, axis, 0).shape[1:]
        values = moveaxis(reshape(values, (values.shape[0],) + slice_shape), 0, axis)
    if not (return_index or return_inverse or return_counts):
        return values
    out = [values]
    if return_index:
        out.append(where(valid, perm[idx], 0).astype(dtypes.default_int()))
    if return_inverse:
        group = red.cumsum(mask.astype(dtypes.default_int())) - 1
        inv = zeros(group.shape, group.dtype).at[perm].set(group)
        out.append(inv if axis is not None else reshape(inv, orig_shape))
    if return_counts:
        n = get_aval(s).shape[0]
        starts = where(valid, idx, n)
        ends = concatenate([starts[1:], full((1,), n, starts.dtype)])
        out.append(where(valid, ends - starts, 0).astype(dtypes.default_int()))
    return tuple(out)


def unique_values(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> Any:
    return unique(x, size=size, fill_value=fill_value)


def unique_counts(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> _UniqueCounts:
    return _UniqueCounts(*unique(x, return_counts=True, size=size, fill_value=fill_value))


def unique_inverse(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> _UniqueInverse:
    return _UniqueInverse(*unique(x, return_inverse=True, size=size, fill_value=fill_value))


def unique_all(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> _UniqueAll:
    return _UniqueAll(*unique(x, return_index=True, return_inverse=True, return_counts=True, size=size,
                              fill_value=fill_value))


def union1d(ar1: Any, ar2: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    a1, a2 = promote_dtypes(ar1, ar2)
    return unique(concatenate([ravel(a1), ravel(a2)]), size=size, fill_value=fill_value)


def setdiff1d(ar1: Any, ar2: Any, assume_unique: bool = False, *, size: int | None = None,
              fill_value: Any = None) -> Any:
    """Sorted unique values of ``ar1`` that are not in ``ar2``."""
    a1, a2 = promote_dtypes(ar1, ar2)
    if assume_unique:
        values = ravel(a1)
        keep = ~isin(values, a2)
    else:
        values, first = _unique_all_slots(ravel(a1))
        keep = first & ~isin(values, a2)
    return _compress("setdiff1d", values, keep, size, fill_value)[0]


def _unique_all_slots(a: Any) -> tuple:
    """Sorted ``a`` with a mask of the first occurrence of each value (a fixed-size 'unique')."""
    s = sort(a)
    return s, _new_value_mask(s, True, False)


def intersect1d(ar1: Any, ar2: Any, assume_unique: bool = False, return_indices: bool = False, *,
                size: int | None = None, fill_value: Any = None) -> Any:
    """Sorted unique values present in both arrays (with their first indices in each)."""
    a1, a2 = promote_dtypes(ravel(asarray_any(ar1)), ravel(asarray_any(ar2)))
    v1, i1 = unique(a1, return_index=True) if not assume_unique else (a1, arange(a1.shape[0]))
    v2, i2 = unique(a2, return_index=True) if not assume_unique else (a2, arange(a2.shape[0]))
    keep = isin(v1, v2)
    values, pos, valid = _compress("intersect1d", v1, keep, size, fill_value)
    if not return_indices:
        return values
    idx1 = where(valid, i1[pos], 0)
    match = (values[:, None] == v2[None, :])
    idx2 = where(valid, i2[red.argmax(match, axis=1)], 0)
    return values, idx1, idx2


def setxor1d(ar1: Any, ar2: Any, assume_unique: bool = False, *, size: int | None = None,
             fill_value: Any = None) -> Any:
    """Sorted unique values in exactly one of the arrays."""
    a1, a2 = promote_dtypes(ravel(asarray_any(ar1)), ravel(asarray_any(ar2)))
    s1, k1 = _unique_all_slots(a1)
    s2, k2 = _unique_all_slots(a2)
    in_1 = k1 & ~isin(s1, a2)
    in_2 = k2 & ~isin(s2, a1)
    values = concatenate([s1, s2])
    keep = concatenate([in_1, in_2])
    big = red.max(values) if values.shape[0] else 0
    keyed = where(keep, values, big)
    order = argsort(keyed, stable=True)
    return _compress("setxor1d", values[order], keep[order], size, fill_value)[0]


def isin(element: Any, test_elements: Any, assume_unique: bool = False, invert: bool = False, *,
         method: str = "auto") -> Any:
    """Whether each element occurs in ``test_elements`` (by comparison against every test element)."""
    element, test = promote_dtypes(element, test_elements)
    t = ravel(test)
    if t.shape[0] == 0:
        out = zeros(element.shape, dtypes.bool_)
    else:
        out = red.any(element[..., None] == t, axis=-1)
    return ~out if invert else out


def lexsort(keys: Sequence[Any], axis: int = -1) -> Any:
    """Indices sorting by the last key first, then the previous ones (stable)."""
    keys = [asarray_any(k) for k in keys]
    if not keys:
        raise TypeError("need sequence of keys with len > 0 in lexsort")
    shape = get_aval(keys[0]).shape
    if any(get_aval(k).shape != shape for k in keys):
        raise ValueError("all keys need to be the same shape")
    if not shape:
        return zeros((), dtypes.default_int())
    ax = canonicalize_axis(axis, len(shape))
    iota = st.broadcasted_iota(dtypes.default_int(), shape, ax)
    return so.sort(tuple(keys[::-1]) + (iota,), ax, num_keys=len(keys))[-1]


def partition(a: Any, kth: int, axis: int = -1) -> Any:
    """A partition around ``kth`` (this implementation returns the fully sorted array, a valid one)."""
    a = asarray_any(a)
    _check_kth(a, kth, axis)
    return sort(a, axis=axis)


def argpartition(a: Any, kth: int, axis: int = -1) -> Any:
    a = asarray_any(a)
    _check_kth(a, kth, axis)
    return argsort(a, axis=axis)


def _check_kth(a: Any, kth: int, axis: int) -> None:
    nd = get_aval(a).ndim
    n = get_aval(a).shape[canonicalize_axis(axis, nd)]
    if not -n <= int(kth) < n:
        raise ValueError(f"kth(={kth}) out of bounds ({n})")


__all__ = ["argpartition", "intersect1d", "isin", "lexsort", "partition", "setdiff1d", "setxor1d", "union1d",
           "unique", "unique_all", "unique_counts", "unique_inverse", "unique_values"]
