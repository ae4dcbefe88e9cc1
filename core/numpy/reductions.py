"""Reductions with axis/keepdims/where: sum, prod, mean, var, std, min, max, argmin, argmax, all, any,
cumulative ops, and the nan-variants."""
from __future__ import annotations

import builtins
import operator
from typing import Any

import numpy as np

from .. import dtypes
from ..primitives import elementwise as ew, reductions as red, structural as st
from ..trace import get_aval
from ._util import asarray_any, broadcast_to, canonicalize_axis, promote_to_inexact


def _axes(axis, nd: int) -> tuple:
    if axis is None:
        return tuple(range(nd))
    axes = (axis,) if isinstance(axis, int) or np.ndim(axis) == 0 else tuple(axis)
    out = tuple(canonicalize_axis(operator.index(a), nd) for a in axes)  # a float axis is a TypeError
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate value in 'axis': {axis}")
    return out


def _keep(x, axes, shape):
    return st.reshape(x, tuple(1 if i in axes else d for i, d in enumerate(shape)))


def _promote_integer(dt: np.dtype) -> np.dtype:
    """Booleans, and integers narrower than the default integer, as the default (unsigned) integer, as JAX."""
    if dt == dtypes.bool_:
        return dtypes.default_int()
    wide = dtypes.default_uint() if dtypes.kind(dt) == "u" else dtypes.default_int()
    return wide if dtypes.kind(dt) in "iu" and dt.itemsize < wide.itemsize else dt


def _no_out(name: str, out: Any, end: str = ".") -> None:
    """JAX's error for numpy's ``out`` argument (arrays are immutable)."""
    if out is not None:
        raise NotImplementedError(f"The 'out' argument to jnp.{name} is not supported{end}")


def _check_where(name: str, where: Any) -> Any:
    """``where`` as an array; JAX's ValueError unless it is boolean."""
    if where is None:
        return None
    where = asarray_any(where)
    if get_aval(where).dtype != dtypes.bool_:
        dtype = get_aval(where).dtype
        raise ValueError(f"jnp.{name}: where must be None or a boolean array; got where.dtype={dtype!r}.")
    return where


def _reduction(name: str, lax_reduce, identity, numeric: bool = False, bool_op=None):
    """A jnp reduction; ``numeric`` (sum, prod): booleans count as the default integer, narrow integers are
    promoted (``promote_integers``) and float16/bfloat16 accumulate in float32 unless ``dtype`` is given, as JAX.
    Boolean accumulation uses ``bool_op``."""
    def fn(a: Any, axis: Any = None, dtype=None, out: None = None, keepdims: bool = False, initial: Any = None,
           where: Any = None, promote_integers: bool = True) -> Any:
        _no_out(name, out)
        a = asarray_any(a)
        where = _check_where(name, where)
        aval = get_aval(a)
        axes = _axes(axis, aval.ndim)
        dt = dtypes.default_int() if numeric and aval.dtype == dtypes.bool_ else aval.dtype
        if dtype is not None:
            dt = dtypes.canonicalize(dtype)
        elif numeric and promote_integers:
            dt = _promote_integer(dt)
        cdt = _upcast_f16(dt) if numeric and dtype is None else dt
        if cdt != aval.dtype:
            a = ew.convert_element_type(a, cdt)
        if where is not None:
            if identity is None and initial is None:
                raise ValueError(f"reduction operation {name} does not have an identity, so to use a where mask one "
                                 "has to specify 'initial'")
            fill = initial if identity is None else identity(cdt)  # ``initial`` is combined once, below
            a = ew.select(broadcast_to(asarray_any(where), aval.shape), a, st.full(aval.shape, fill, cdt))
        if bool_op is not None and cdt == dtypes.bool_:
            r = bool_op(a, axes)
        else:
            if identity is None and initial is None and builtins.any(aval.shape[i] == 0 for i in axes):
                raise ValueError(f"zero-size array to reduction operation {name} which has no identity")
            r = lax_reduce(a, axes)
        if initial is not None:
            from .ufuncs import maximum, minimum, add, multiply
            comb = {"max": maximum, "min": minimum, "sum": add, "prod": multiply}[name]
            initial = ew.convert_element_type(initial, cdt)
            if get_aval(initial).shape != ():
                raise ValueError(f"initial value must be a scalar. Got array of shape {get_aval(initial).shape}")
            r = comb(r, initial)
        if keepdims:
            r = _keep(r, axes, aval.shape)
        return ew.convert_element_type(r, dt) if cdt != dt else r
    fn.__name__ = name
    fn.__doc__ = f"``jnp.{name}`` over ``axis`` (None: all axes), with keepdims, where and initial."
    return fn


sum = _reduction("sum", red.reduce_sum, lambda d: 0, numeric=True, bool_op=red.reduce_or)
prod = _reduction("prod", red.reduce_prod, lambda d: 1, numeric=True, bool_op=red.reduce_and)
_max = _reduction("max", red.reduce_max, None, bool_op=red.reduce_or)
_min = _reduction("min", red.reduce_min, None, bool_op=red.reduce_and)


def max(a: Any, axis: Any = None, out: None = None, keepdims: bool = False, initial: Any = None,
        where: Any = None) -> Any:
    """``jnp.max`` over ``axis`` (None: all axes), with keepdims, where and initial."""
    return _max(a, axis, None, out, keepdims, initial, where)


def min(a: Any, axis: Any = None, out: None = None, keepdims: bool = False, initial: Any = None,
        where: Any = None) -> Any:
    """``jnp.min`` over ``axis`` (None: all axes), with keepdims, where and initial."""
    return _min(a, axis, None, out, keepdims, initial, where)


amax, amin = max, min


def all(a: Any, axis: Any = None, out: None = None, keepdims: bool = False, *, where: Any = None) -> Any:
    a = asarray_any(a)
    b = a if get_aval(a).dtype == dtypes.bool_ else ew.ne(a, ew._const(a, 0))
    return _reduction("all", red.reduce_and, lambda d: True)(b, axis, out=out, keepdims=keepdims, where=where)


def any(a: Any, axis: Any = None, out: None = None, keepdims: bool = False, *, where: Any = None) -> Any:
    a = asarray_any(a)
    b = a if get_aval(a).dtype == dtypes.bool_ else ew.ne(a, ew._const(a, 0))
    return _reduction("any", red.reduce_or, lambda d: False)(b, axis, out=out, keepdims=keepdims, where=where)


def _inexact_dtype(aval, dtype) -> np.dtype:
    """The dtype of a mean/variance: ``dtype`` if given, else the input's float type or the default float."""
    if dtype is not None:
        return dtypes.canonicalize(dtype)
    return aval.dtype if dtypes.kind(aval.dtype) in "fc" else dtypes.default_float()


def _upcast_f16(dt: np.dtype) -> np.dtype:
    """The dtype a sum, mean or variance is computed in: float32 for float16 and bfloat16 (whose sums lose
    precision and overflow early), as JAX."""
    return np.dtype(np.float32) if dt in (dtypes.float16, dtypes.bfloat16) else dt


def _count(aval, axes, where, dtype=None, keepdims: bool = False):
    """Entries per reduction: a Python int, or (with ``where``) an array of ``dtype``."""
    if where is None:
        return int(np.prod([aval.shape[i] for i in axes], dtype=np.int64))
    return sum(broadcast_to(asarray_any(where), aval.shape), axes, dtype=dtype, keepdims=keepdims)


def _mean(a: Any, axis: Any, dtype, keepdims: bool, where: Any) -> Any:
    """JAX's mean: the sum in the result dtype (float32 for float16/bfloat16 unless ``dtype`` is given) over the
    count, cast to the result dtype."""
    a = asarray_any(a)
    where = _check_where("mean", where)
    aval = get_aval(a)
    dt = _inexact_dtype(aval, dtype)
    cdt = _upcast_f16(dt) if dtype is None else dt
    s = sum(a, axis, dtype=cdt, keepdims=keepdims, where=where)
    n = _count(aval, _axes(axis, aval.ndim), where, cdt, keepdims)
    if isinstance(n, int):
        out = ew.div(s, ew._const(s, n)) if n else ew.mul(s, ew._const(s, np.nan))
    else:
        out = ew.div(s, n)
    return ew.convert_element_type(out, dt) if cdt != dt else out


def mean(a: Any, axis: Any = None, dtype=None, out: None = None, keepdims: bool = False, *, where: Any = None) -> Any:
    """The mean over ``axis`` of the ``where``-selected entries (nan where there are none)."""
    _no_out("mean", out)
    return _mean(a, axis, dtype, keepdims, where)


def _selected(a: Any, where: Any, ignore_nan: bool) -> Any:
    """``where`` broadcast to ``a`` (None: every entry), less the NaN entries when ``ignore_nan``."""
    aval = get_aval(a)
    if where is not None:
        where = broadcast_to(asarray_any(where), aval.shape)
    if not ignore_nan or dtypes.kind(aval.dtype) not in "fc":
        return where
    return ew.eq(a, a) if where is None else ew.bitwise_and(ew.eq(a, a), where)


def _ddof(ddof: Any, correction: Any) -> Any:
    if correction is None:
        return ddof
    if not isinstance(ddof, int) or ddof != 0:
        raise ValueError("ddof and correction can't be provided simultaneously.")
    return correction


def _var(a: Any, axis: Any, dtype, ddof: Any, keepdims: bool, where: Any, a_mean: Any, ignore_nan: bool) -> Any:
    """Mean squared magnitude of the deviations over ``n - ddof`` (nan where that is <= 0), as JAX; real for
    complex input unless a complex ``dtype`` is asked for. ``ignore_nan`` leaves NaN entries out."""
    a = asarray_any(a)
    aval = get_aval(a)
    dt = _inexact_dtype(aval, dtype)
    if dtypes.kind(aval.dtype) == "c" and dtypes.kind(dt) != "c":
        raise ValueError("jax.numpy.var does not yet support real dtype parameters when computing the variance of "
                         "an array of complex values. The semantics of numpy.var seem unclear in this case. Please "
                         "comment on https://github.com/jax-ml/jax/issues/2283 if this behavior is important to you.")
    cdt = _upcast_f16(dt)
    a = ew.convert_element_type(a, cdt) if aval.dtype != cdt else a
    axes = _axes(axis, aval.ndim)
    where = _selected(a, _check_where("nanvar" if ignore_nan else "var", where), ignore_nan)
    m = _mean(a, axis, None, True, where) if a_mean is None else ew.convert_element_type(asarray_any(a_mean), cdt)
    centered = ew.sub(a, broadcast_to(m, aval.shape))
    if where is not None:  # excluded entries (NaN, inf) must not reach the gradient through the square
        centered = ew.select(where, centered, st.full_like(centered, 0))
    if dtypes.kind(dt) == "c":
        centered = ew.real(ew.mul(centered, ew.conj(centered)))
    else:
        centered = ew.square(centered)
    rdt = get_aval(centered).dtype
    ss = sum(centered, axes, keepdims=keepdims, where=where)
    n = _count(aval, axes, where, rdt, keepdims)
    if isinstance(n, int):
        out = ew.div(ss, ew._const(ss, n - ddof)) if n - ddof > 0 else st.full_like(ss, np.nan)
    else:
        n = ew.sub(n, ew._const(n, ddof))
        positive = ew.gt(n, ew._const(n, 0))
        out = ew.select(positive, ew.div(ss, ew.select(positive, n, ew._const(n, 1))), st.full_like(ss, np.nan))
    out_dt = dt if dtype is not None else dtypes.real_dtype(dt)
    return ew.convert_element_type(out, out_dt) if out_dt != rdt else out


def var(a: Any, axis: Any = None, dtype=None, out: None = None, ddof: int = 0, keepdims: bool = False, *,
        where: Any = None, mean: Any = None, correction: Any = None) -> Any:
    """The variance over ``axis``: ``sum(|a - mean|**2) / (n - ddof)``, nan when ``n <= ddof``."""
    _no_out("var", out)
    return _var(a, axis, dtype, _ddof(ddof, correction), keepdims, where, mean, False)


def std(a: Any, axis: Any = None, dtype=None, out: None = None, ddof: int = 0, keepdims: bool = False, *,
        where: Any = None, mean: Any = None, correction: Any = None) -> Any:
    """The square root of ``var``."""
    _no_out("std", out)
    where = _check_where("std", where)
    return ew.sqrt(var(a, axis, dtype, out, ddof, keepdims, where=where, correction=correction, mean=mean))


def _arg(lax_fn, name):
    def fn(a: Any, axis: int | None = None, out: None = None, keepdims: bool = False) -> Any:
        _no_out(name, out)
        a = asarray_any(a)
        aval = get_aval(a)
        if axis is None:
            if aval.size == 0:
                raise ValueError(f"attempt to get {name} of an empty sequence")
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


def _cumulative(lax_fn, name, promote_integers: bool = False):
    """JAX's cumulative reductions: booleans (and, with ``promote_integers``, narrow integers) accumulate in
    the default integer; ``dtype=bool`` accumulates ``a != 0`` and reports whether any was so far."""
    def fn(a: Any, axis: int | None = None, dtype=None, out: None = None) -> Any:
        _no_out(name, out, "")
        a = asarray_any(a)
        if axis is None:
            a, axis = st.reshape(a, (get_aval(a).size,)), 0
        aval = get_aval(a)
        if dtype is None:
            rt = _promote_integer(aval.dtype) if promote_integers or aval.dtype == dtypes.bool_ else aval.dtype
            ct = rt
        elif np.dtype(dtype) == dtypes.bool_:
            rt, ct = dtypes.bool_, _promote_integer(dtypes.bool_)
            a = a if aval.dtype == dtypes.bool_ else ew.ne(a, ew._const(a, 0))
        else:
            rt = ct = dtypes.canonicalize(dtype)
        a = ew.convert_element_type(a, ct) if get_aval(a).dtype != ct else a
        if aval.ndim:
            a = lax_fn(a, canonicalize_axis(axis, aval.ndim))
        return ew.convert_element_type(a, rt) if rt != ct else a
    fn.__name__ = name
    return fn


cumsum = _cumulative(red.cumsum, "cumsum")
cumprod = _cumulative(red.cumprod, "cumprod")
_cumsum_with_promotion = _cumulative(red.cumsum, "_cumsum_with_promotion", True)


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
    return _array_api_cumulative(x, axis, dtype, include_initial, _cumsum_with_promotion, 0, "sum")


def cumulative_prod(x: Any, /, *, axis: int | None = None, dtype=None, include_initial: bool = False) -> Any:
    """Array API cumulative product: ``axis`` is required above one dimension; ``include_initial`` prepends 1."""
    return _array_api_cumulative(x, axis, dtype, include_initial, cumprod, 1, "product")


def _nan_to(a, val):
    a = asarray_any(a)
    if dtypes.kind(get_aval(a).dtype) not in "fc":
        return a
    return ew.select(ew.ne(a, a), st.full_like(a, val), a)  # a complex value is NaN if a part is


def nansum(a: Any, axis: Any = None, dtype=None, out: None = None, keepdims: bool = False, initial: Any = None,
           where: Any = None) -> Any:
    _no_out("nansum", out)
    where = _check_where("nansum", where)
    return sum(_nan_to(a, 0), axis, dtype, keepdims=keepdims, initial=initial, where=where)


def nanprod(a: Any, axis: Any = None, dtype=None, out: None = None, keepdims: bool = False, initial: Any = None,
            where: Any = None) -> Any:
    _no_out("nanprod", out)
    where = _check_where("nanprod", where)
    return prod(_nan_to(a, 1), axis, dtype, keepdims=keepdims, initial=initial, where=where)


def nanmax(a: Any, axis: Any = None, out: None = None, keepdims: bool = False, initial: Any = None,
           where: Any = None) -> Any:
    _no_out("nanmax", out)
    a = asarray_any(a)
    where = _check_where("nanmax", where)
    r = max(_nan_to(a, -np.inf), axis, keepdims=keepdims, initial=initial, where=where)
    # all-NaN slices are NaN unless ``initial`` is given (as JAX)
    nan_slices = initial is None and dtypes.kind(get_aval(a).dtype) in "fc"
    allnan = all(ew.ne(a, a), axis, keepdims=keepdims) if nan_slices else None
    return r if allnan is None else ew.select(allnan, st.full_like(r, np.nan), r)


def nanmin(a: Any, axis: Any = None, out: None = None, keepdims: bool = False, initial: Any = None,
           where: Any = None) -> Any:
    _no_out("nanmin", out)
    a = asarray_any(a)
    where = _check_where("nanmin", where)
    r = min(_nan_to(a, np.inf), axis, keepdims=keepdims, initial=initial, where=where)
    # all-NaN slices are NaN unless ``initial`` is given (as JAX)
    nan_slices = initial is None and dtypes.kind(get_aval(a).dtype) in "fc"
    allnan = all(ew.ne(a, a), axis, keepdims=keepdims) if nan_slices else None
    return r if allnan is None else ew.select(allnan, st.full_like(r, np.nan), r)


def nanmean(a: Any, axis: Any = None, dtype=None, out: None = None, keepdims: bool = False,
            where: Any = None) -> Any:
    """``mean`` of the entries that are not NaN (and are selected by ``where``)."""
    _no_out("nanmean", out)
    a = asarray_any(a)
    where = _check_where("nanmean", where)
    return mean(a, axis, dtype, keepdims=keepdims, where=_selected(a, where, True))


def nanvar(a: Any, axis: Any = None, dtype=None, out: None = None, ddof: int = 0, keepdims: bool = False,
           where: Any = None, mean: Any = None) -> Any:
    """``var`` of the entries that are not NaN (and are selected by ``where``)."""
    _no_out("nanvar", out)
    return _var(a, axis, dtype, ddof, keepdims, where, mean, True)


def nanstd(a: Any, axis: Any = None, dtype=None, out: None = None, ddof: int = 0, keepdims: bool = False,
           where: Any = None, mean: Any = None) -> Any:
    """The square root of ``nanvar``."""
    _no_out("nanstd", out)
    where = _check_where("nanstd", where)
    return ew.sqrt(nanvar(a, axis, dtype, ddof=ddof, keepdims=keepdims, where=where, mean=mean))


def nanargmax(a: Any, axis: int | None = None, out: None = None, keepdims: bool = False) -> Any:
    _no_out("nanargmax", out)
    return argmax(_nan_to(a, -np.inf), axis, keepdims=keepdims)


def nanargmin(a: Any, axis: int | None = None, out: None = None, keepdims: bool = False) -> Any:
    _no_out("nanargmin", out)
    return argmin(_nan_to(a, np.inf), axis, keepdims=keepdims)


def nancumsum(a: Any, axis: int | None = None, dtype=None, out: None = None) -> Any:
    _no_out("nancumsum", out, "")
    return cumsum(_nan_to(a, 0), axis, dtype)


def nancumprod(a: Any, axis: int | None = None, dtype=None, out: None = None) -> Any:
    _no_out("nancumprod", out, "")
    return cumprod(_nan_to(a, 1), axis, dtype)


def ptp(a: Any, axis: Any = None, out: None = None, keepdims: bool = False) -> Any:
    _no_out("ptp", out)
    return ew.sub(max(a, axis, keepdims=keepdims), min(a, axis, keepdims=keepdims))


def count_nonzero(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    a = asarray_any(a)
    return sum(ew.ne(a, ew._const(a, 0)), axis, dtype=dtypes.default_int(), keepdims=keepdims)


def average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False, keepdims: bool = False) -> Any:
    """The ``weights``-weighted mean over ``axis`` (``weights`` shaped like ``a`` or like ``a``'s ``axis``
    dimensions), with the sum of weights if ``returned``; both inexact, as JAX."""
    if weights is None:
        (a,) = promote_to_inexact(asarray_any(a))
        avg = mean(a, axis, keepdims=keepdims)
        aval = get_aval(a)
        wsum = st.full((), _count(aval, _axes(axis, aval.ndim), None), get_aval(avg).dtype)
    else:
        from .ufuncs import multiply, divide
        a, w = promote_to_inexact(asarray_any(a), asarray_any(weights))
        aval, wav = get_aval(a), get_aval(w)
        if wav.shape != aval.shape:
            if axis is None:
                raise ValueError("Axis must be specified when shapes of a and weights differ.")
            axes = _axes(axis, aval.ndim)
            if wav.shape != tuple(aval.shape[ax] for ax in axes):
                raise ValueError("Shape of weights must be consistent with shape of a along specified axis.")
            w = st.broadcast_in_dim(st.transpose(w, tuple(int(i) for i in np.argsort(axes))), aval.shape,
                                    tuple(sorted(axes)))
        wsum = sum(w, axis, keepdims=keepdims)
        avg = divide(sum(multiply(a, w), axis, keepdims=keepdims), wsum)
    return (avg, broadcast_to(wsum, get_aval(avg).shape)) if returned else avg


__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "Any", "builtins", "np", "st", "ew", "red", "dtypes", "annotations", "asarray_any", "broadcast_to",
    "canonicalize_axis", "get_aval", "promote_to_inexact")]
