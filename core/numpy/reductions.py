"""Reductions with axis/keepdims/where: sum, prod, mean, var, std, min, max, argmin, argmax, all, any,
cumulative ops, and the nan-variants."""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from .. import dtypes
from ..primitives import elementwise as ew, reductions as red, structural as st
from ..trace import get_aval
from ._util import asarray_any, broadcast_to, canonicalize_axis


def _axes(axis, nd: int) -> tuple:
    if axis is None:
        return tuple(range(nd))
    axes = (axis,) if isinstance(axis, int) or np.ndim(axis) == 0 else tuple(axis)
    out = tuple(canonicalize_axis(int(a), nd) for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate value in 'axis': {axis}")
    return out


def _keep(x, axes, shape):
    return st.reshape(x, tuple(1 if i in axes else d for i, d in enumerate(shape)))


def _reduction(name: str, lax_reduce, identity, upcast_bool_int: bool = False, bool_op=None):
    def fn(a: Any, axis: Any = None, dtype=None, out: None = None, keepdims: bool = False, initial: Any = None,
           where: Any = None, promote_integers: bool = True) -> Any:
        a = asarray_any(a)
        aval = get_aval(a)
        axes = _axes(axis, aval.ndim)
        dt = aval.dtype
        if dtype is not None:
            dt = dtypes.canonicalize(dtype)
        elif upcast_bool_int and dt.kind in "bui" and promote_integers:
            dt = dtypes.default_uint() if dt.kind == "u" else dtypes.default_int()
            if dt.itemsize < aval.dtype.itemsize:
                dt = aval.dtype
        if dt != aval.dtype:
            a = ew.convert_element_type(a, dt)
        if where is not None:
            init = identity(dt) if initial is None else initial
            a = ew.select(broadcast_to(asarray_any(where), aval.shape), a,
                          st.full(aval.shape, init, dt))
        if bool_op is not None and dt == dtypes.bool_:
            r = bool_op(a, axes)
        else:
            if identity is None and initial is None and builtins.any(aval.shape[i] == 0 for i in axes):
                raise ValueError(f"zero-size array to reduction operation {name} which has no identity")
            r = lax_reduce(a, axes)
        if initial is not None:
            from .ufuncs import maximum, minimum, add, multiply
            comb = {"max": maximum, "min": minimum, "sum": add, "prod": multiply}[name]
            r = comb(r, ew.convert_element_type(initial, dt))
        if keepdims:
            r = _keep(r, axes, aval.shape)
        return r
    fn.__name__ = name
    fn.__doc__ = f"``jnp.{name}`` over ``axis`` (None: all axes), with keepdims, where and initial."
    return fn


sum = _reduction("sum", red.reduce_sum, lambda d: 0, upcast_bool_int=True)
prod = _reduction("prod", red.reduce_prod, lambda d: 1, upcast_bool_int=True)
max = _reduction("max", red.reduce_max, None, bool_op=red.reduce_or)
min = _reduction("min", red.reduce_min, None, bool_op=red.reduce_and)
amax, amin = max, min


def all(a: Any, axis: Any = None, out: None = None, keepdims: bool = False, *, where: Any = None) -> Any:
    a = asarray_any(a)
    b = a if get_aval(a).dtype == dtypes.bool_ else ew.ne(a, ew._const(a, 0))
    return _reduction("all", red.reduce_and, lambda d: True)(b, axis, keepdims=keepdims, where=where)


def any(a: Any, axis: Any = None, out: None = None, keepdims: bool = False, *, where: Any = None) -> Any:
    a = asarray_any(a)
    b = a if get_aval(a).dtype == dtypes.bool_ else ew.ne(a, ew._const(a, 0))
    return _reduction("any", red.reduce_or, lambda d: False)(b, axis, keepdims=keepdims, where=where)


def _inexact_dtype(aval, dtype) -> np.dtype:
    """The dtype of a mean/variance: ``dtype`` if given, else the input's float type or the default float."""
    if dtype is not None:
        return dtypes.canonicalize(dtype)
    return aval.dtype if aval.dtype.kind in "fc" else dtypes.default_float()


def _count(aval, axes, where):
    if where is None:
        return int(np.prod([aval.shape[i] for i in axes], dtype=np.int64))
    w = broadcast_to(asarray_any(where), aval.shape)
    return red.reduce_sum(ew.convert_element_type(w, dtypes.default_float()), axes)


def mean(a: Any, axis: Any = None, dtype=None, out: None = None, keepdims: bool = False, *, where: Any = None) -> Any:
    a = asarray_any(a)
    aval = get_aval(a)
    axes = _axes(axis, aval.ndim)
    dt = _inexact_dtype(aval, dtype)
    s = sum(ew.convert_element_type(a, dt) if aval.dtype != dt else a, axis, keepdims=keepdims, where=where)
    n = _count(aval, axes, where)
    if isinstance(n, int):
        return ew.div(s, ew._const(s, n)) if n else ew.mul(s, ew._const(s, np.nan))
    n = ew.convert_element_type(n, dt)
    return ew.div(s, _keep(n, axes, aval.shape) if keepdims else n)


def var(a: Any, axis: Any = None, dtype=None, out: None = None, ddof: int = 0, keepdims: bool = False, *,
        where: Any = None, correction: Any = None) -> Any:
    if correction is not None:
        ddof = correction
    a = asarray_any(a)
    aval = get_aval(a)
    dt = _inexact_dtype(aval, dtype)
    a = ew.convert_element_type(a, dt) if aval.dtype != dt else a
    axes = _axes(axis, aval.ndim)
    m = mean(a, axis, keepdims=True, where=where)
    centered = ew.sub(a, broadcast_to(m, aval.shape))
    ss = sum(ew.square(centered), axis, keepdims=keepdims, where=where)
    n = _count(aval, axes, where)
    if isinstance(n, int):
        return ew.div(ss, ew._const(ss, n - ddof))
    n = ew.sub(ew.convert_element_type(n, dt), ew._const(ss, ddof))
    return ew.div(ss, _keep(n, axes, aval.shape) if keepdims else n)


def std(a: Any, axis: Any = None, dtype=None, out: None = None, ddof: int = 0, keepdims: bool = False, *,
        where: Any = None, correction: Any = None) -> Any:
    return ew.sqrt(var(a, axis, dtype, out, ddof, keepdims, where=where, correction=correction))


def _arg(lax_fn, name):
    def fn(a: Any, axis: int | None = None, out: None = None, keepdims: bool = False) -> Any:
        a = asarray_any(a)
        aval = get_aval(a)
        if axis is None:
            flat = st.reshape(a, (aval.size,))
            r = lax_fn(flat, 0, dtypes.default_int())
            return st.reshape(r, (1,) * aval.ndim) if keepdims else r
        ax = canonicalize_axis(axis, aval.ndim)
        if aval.shape[ax] == 0:
            raise ValueError(f"attempt to get {name} of an empty sequence")
        r = lax_fn(a, ax, dtypes.default_int())
        return _keep(r, (ax,), aval.shape) if keepdims else r
    fn.__name__ = name
    return fn


argmax = _arg(red.argmax, "argmax")
argmin = _arg(red.argmin, "argmin")


def _cumulative(lax_fn, name, upcast: bool):
    def fn(a: Any, axis: int | None = None, dtype=None, out: None = None) -> Any:
        a = asarray_any(a)
        if axis is None:
            a, axis = st.reshape(a, (get_aval(a).size,)), 0
        aval = get_aval(a)
        if dtype is not None:
            dt = dtypes.canonicalize(dtype)
        elif upcast and aval.dtype.kind in "bi" and aval.dtype.itemsize <= dtypes.default_int().itemsize:
            dt = dtypes.default_int()
        elif upcast and aval.dtype.kind == "u" and aval.dtype.itemsize <= 4:
            dt = dtypes.default_uint()
        else:
            dt = aval.dtype
        if dt != aval.dtype:
            a = ew.convert_element_type(a, dt)
        if aval.ndim == 0:
            return a
        return lax_fn(a, canonicalize_axis(axis, aval.ndim))
    fn.__name__ = name
    return fn


cumsum = _cumulative(red.cumsum, "cumsum", True)
cumprod = _cumulative(red.cumprod, "cumprod", True)


def _array_api_cumulative(x: Any, axis: int | None, dtype, include_initial: bool, fn, initial: int, what: str):
    x = asarray_any(x)
    nd = get_aval(x).ndim
    if nd == 0:
        raise ValueError(f"The input must be non-scalar to take a cumulative {what}, however a scalar value or "
                         "scalar array was given.")
    if axis is None:
        if nd > 1:
            raise ValueError(f"The input array has rank {nd}, however axis was not set to an explicit value. The "
                             "axis argument is only optional for one-dimensional arrays.")
        axis = 0
    axis = canonicalize_axis(axis, nd)
    out = fn(x, axis, dtype)
    if include_initial:
        aval = get_aval(out)
        first = st.full(aval.shape[:axis] + (1,) + aval.shape[axis + 1:], initial, aval.dtype)
        out = st.concatenate([first, out], axis)
    return out


def cumulative_sum(x: Any, /, *, axis: int | None = None, dtype=None, include_initial: bool = False) -> Any:
    """Array API cumulative sum: ``axis`` is required above one dimension; ``include_initial`` prepends 0."""
    return _array_api_cumulative(x, axis, dtype, include_initial, cumsum, 0, "sum")


def cumulative_prod(x: Any, /, *, axis: int | None = None, dtype=None, include_initial: bool = False) -> Any:
    """Array API cumulative product: ``axis`` is required above one dimension; ``include_initial`` prepends 1."""
    return _array_api_cumulative(x, axis, dtype, include_initial, cumprod, 1, "product")


def _nan_to(a, val):
    a = asarray_any(a)
    if get_aval(a).dtype.kind != "f":
        return a
    return ew.select(ew.ne(a, a), st.full_like(a, val), a)


def nansum(a: Any, axis: Any = None, dtype=None, out: None = None, keepdims: bool = False, **kw) -> Any:
    return sum(_nan_to(a, 0), axis, dtype, keepdims=keepdims, **kw)


def nanprod(a: Any, axis: Any = None, dtype=None, out: None = None, keepdims: bool = False, **kw) -> Any:
    return prod(_nan_to(a, 1), axis, dtype, keepdims=keepdims, **kw)


def nanmax(a: Any, axis: Any = None, out: None = None, keepdims: bool = False, **kw) -> Any:
    a = asarray_any(a)
    r = max(_nan_to(a, -np.inf), axis, keepdims=keepdims, **kw)
    allnan = all(ew.ne(a, a), axis, keepdims=keepdims) if get_aval(a).dtype.kind == "f" else None
    return r if allnan is None else ew.select(allnan, st.full_like(r, np.nan), r)


def nanmin(a: Any, axis: Any = None, out: None = None, keepdims: bool = False, **kw) -> Any:
    a = asarray_any(a)
    r = min(_nan_to(a, np.inf), axis, keepdims=keepdims, **kw)
    allnan = all(ew.ne(a, a), axis, keepdims=keepdims) if get_aval(a).dtype.kind == "f" else None
    return r if allnan is None else ew.select(allnan, st.full_like(r, np.nan), r)


def nanmean(a: Any, axis: Any = None, dtype=None, out: None = None, keepdims: bool = False, **kw) -> Any:
    a = asarray_any(a)
    if get_aval(a).dtype.kind != "f":
        return mean(a, axis, dtype, keepdims=keepdims)
    notnan = ew.eq(a, a)
    return mean(a, axis, dtype, keepdims=keepdims, where=notnan)


def nanvar(a: Any, axis: Any = None, dtype=None, out: None = None, ddof: int = 0, keepdims: bool = False, **kw) -> Any:
    a = asarray_any(a)
    return var(a, axis, dtype, ddof=ddof, keepdims=keepdims, where=ew.eq(a, a))


def nanstd(a: Any, axis: Any = None, dtype=None, out: None = None, ddof: int = 0, keepdims: bool = False, **kw) -> Any:
    return ew.sqrt(nanvar(a, axis, dtype, ddof=ddof, keepdims=keepdims))


def nanargmax(a: Any, axis: int | None = None, out: None = None, keepdims: bool = False) -> Any:
    return argmax(_nan_to(a, -np.inf), axis, keepdims=keepdims)


def nanargmin(a: Any, axis: int | None = None, out: None = None, keepdims: bool = False) -> Any:
    return argmin(_nan_to(a, np.inf), axis, keepdims=keepdims)


def nancumsum(a: Any, axis: int | None = None, dtype=None, out: None = None) -> Any:
    return cumsum(_nan_to(a, 0), axis, dtype)


def nancumprod(a: Any, axis: int | None = None, dtype=None, out: None = None) -> Any:
    return cumprod(_nan_to(a, 1), axis, dtype)


def ptp(a: Any, axis: Any = None, out: None = None, keepdims: bool = False) -> Any:
    return ew.sub(max(a, axis, keepdims=keepdims), min(a, axis, keepdims=keepdims))


def count_nonzero(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    a = asarray_any(a)
    return sum(ew.ne(a, ew._const(a, 0)), axis, dtype=dtypes.default_int(), keepdims=keepdims)


def average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False, keepdims: bool = False) -> Any:
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        aval = get_aval(asarray_any(a))
        n = _count(aval, _axes(axis, aval.ndim), None)
        return (avg, st.full_like(avg, n)) if returned else avg
    from .ufuncs import multiply, divide
    a, w = asarray_any(a), asarray_any(weights)
    aval, wav = get_aval(a), get_aval(w)
    if wav.shape != aval.shape:
        if axis is None or wav.ndim != 1:
            raise ValueError("Axis must be specified when shapes of a and weights differ.")
        ax = canonicalize_axis(axis, aval.ndim)
        w = st.broadcast_in_dim(w, aval.shape, (ax,))
    wsum = sum(w, axis, keepdims=keepdims)
    avg = divide(sum(multiply(a, w), axis, keepdims=keepdims), wsum)
    return (avg, broadcast_to(wsum, get_aval(avg).shape)) if returned else avg


__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "Any", "builtins", "np", "st", "ew", "red", "dtypes", "annotations", "asarray_any", "broadcast_to",
    "canonicalize_axis", "get_aval")]
