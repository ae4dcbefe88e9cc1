"""``jnp.pad``: every ``pad_width`` form numpy accepts, and all of numpy's modes (or a callable), as JAX."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import dtypes
from ..primitives import elementwise as ew, structural as st
from ..trace import concrete_or_error, get_aval
from ._util import asarray_any, broadcast_to
from .creation import linspace
from .index_tricks import apply_along_axis
from .reductions import max as amax, mean, min as amin
from .shape import flip, repeat
from .statistics import median
from .ufuncs import round as round_

_KWARGS = {"empty": [], "edge": [], "wrap": [], "constant": ["constant_values"], "linear_ramp": ["end_values"],
           "maximum": ["stat_length"], "mean": ["stat_length"], "median": ["stat_length"],
           "minimum": ["stat_length"], "reflect": ["reflect_type"], "symmetric": ["reflect_type"]}


def _broadcast_to_pairs(nvals: Any, nd: int, name: str) -> tuple:
    """``nvals`` as ``nd`` (before, after) pairs from shapes (nd, 2), (1, 2), (2,), (1,) or ()."""
    try:
        vals = np.asarray(concrete_or_error(nvals, f"{name} argument of jnp.pad"))
    except ValueError as e:
        if "inhomogeneous shape" in str(e):
            raise TypeError(f"`{name}` entries must be the same shape: {nvals}") from e
        raise
    if vals.dtype == object:
        raise TypeError(f"`{name}` entries must be the same shape: {nvals}")
    if vals.shape == (nd, 2):
        return tuple((v[0], v[1]) for v in vals)
    if vals.shape in ((1, 2), (2,)):
        pair = tuple(vals.reshape(2))
        return (pair,) * nd
    if vals.shape in ((1,), ()):
        v = vals.reshape(())[()]
        return ((v, v),) * nd
    raise ValueError(f"jnp.pad: {name} with nd={nd} has unsupported shape {vals.shape}. "
                     f"Valid shapes are ({nd}, 2), (1, 2), (2,), (1,), or ().")


def _pad_constant(a: Any, pw: tuple, constant_values: Any) -> Any:
    nd = get_aval(a).ndim
    cv = ew.convert_element_type(asarray_any(constant_values), get_aval(a).dtype)
    shape = get_aval(cv).shape
    if len(shape) == 0 or shape == (1,):
        return st.pad(a, st.reshape(cv, ()), [(lo, hi, 0) for lo, hi in pw])
    if len(shape) == 1 and shape[-1] != 2:
        raise ValueError(f"jnp.pad: constant_values has unsupported shape {shape}. If the shape is 1D or 2D, the "
                         "last dimension must be of size 1 or 2.")
    cv = broadcast_to(cv, (nd, 2))
    for i in range(nd):
        for side in (0, 1):
            if pw[i][side]:
                cfg = [(0, 0, 0)] * nd
                cfg[i] = (pw[i][0], 0, 0) if side == 0 else (0, pw[i][1], 0)
                a = st.pad(a, st.reshape(st.slice(cv, (i, side), (i + 1, side + 1)), ()), cfg)
    return a


def _concat(before: Any, a: Any, after: Any, axis: int) -> Any:
    return st.concatenate([p for p in (before, a, after) if get_aval(p).shape[axis] or p is a], axis)


def _repeat_slice(a: Any, start: int, stop: int, times: int, axis: int) -> Any:
    return repeat(st.slice_in_dim(a, start, stop, 1, axis), times, axis=axis)


def _pad_wrap(a: Any, pw: tuple) -> Any:
    for i, (lo, hi) in enumerate(pw):
        n = get_aval(a).shape[i]
        if lo == hi == 0:
            continue
        (lrep, lrem), (rrep, rrem) = divmod(lo, n), divmod(hi, n)
        parts = ([st.slice_in_dim(a, n - lrem, n, 1, i)] if lrem else []) + [a] * (lrep + rrep + 1)
        parts += [st.slice_in_dim(a, 0, rrem, 1, i)] if rrem else []
        a = st.concatenate(parts, i) if len(parts) > 1 else a
    return a


def _pad_reflect(a: Any, pw: tuple, mode: str, reflect_type: str) -> Any:
    """Mirror images appended one at a time (so pads longer than the axis reflect the padded array), with
    ``reflect_type='odd'`` taking each image as ``2 * edge - image``."""
    for i, (lo, hi) in enumerate(pw):
        n = get_aval(a).shape[i]
        if lo == hi == 0:
            continue
        offset = 1 if mode == "reflect" and n > 1 else 0
        for before, padding in ((True, lo), (False, hi)):
            m = get_aval(a).shape[i]
            edge = st.slice_in_dim(a, 0, 1, 1, i) if before else st.slice_in_dim(a, m - 1, m, 1, i)
            while padding > 0:
                cur = min(padding, n - offset)
                padding -= cur
                m = get_aval(a).shape[i]
                if before:
                    x = st.slice_in_dim(a, offset, offset + cur, 1, i)
                else:
                    stop = m if mode == "symmetric" or n == 1 else m - 1
                    x = st.slice_in_dim(a, stop - cur, stop, 1, i)
                x = flip(x, i)
                if reflect_type == "odd":
                    x = ew.sub(ew.mul(ew._const(edge, 2), broadcast_to(edge, get_aval(x).shape)), x)
                    if n > 1:
                        edge = st.slice_in_dim(x, 0, 1, 1, i) if before else st.slice_in_dim(x, cur - 1, cur, 1, i)
                a = st.concatenate([x, a] if before else [a, x], i)
    return a


def _pad_edge(a: Any, pw: tuple) -> Any:
    for i, (lo, hi) in enumerate(pw):
        n = get_aval(a).shape[i]
        if lo == hi == 0:
            continue
        a = _concat(_repeat_slice(a, 0, 1, lo, i), a, _repeat_slice(a, n - 1, n, hi, i), i)
    return a


def _pad_linear_ramp(a: Any, pw: tuple, end_values: tuple) -> Any:
    dt = get_aval(a).dtype
    for i, (lo, hi) in enumerate(pw):
        n = get_aval(a).shape[i]
        if lo == hi == 0:
            continue
        edges = (st.squeeze(st.slice_in_dim(a, 0, 1, 1, i), (i,)), st.squeeze(st.slice_in_dim(a, n - 1, n, 1, i), (i,)))
        before = linspace(broadcast_to(asarray_any(end_values[i][0]), get_aval(edges[0]).shape), edges[0], lo,
                          endpoint=False, dtype=dt, axis=i)
        after = linspace(broadcast_to(asarray_any(end_values[i][1]), get_aval(edges[1]).shape), edges[1], hi,
                         endpoint=False, dtype=dt, axis=i)
        a = _concat(before, a, flip(after, i), i)
    return a


def _pad_stats(a: Any, pw: tuple, stat_length: tuple | None, stat: Callable) -> Any:
    dt = get_aval(a).dtype
    for i, (lo, hi) in enumerate(pw):
        n = get_aval(a).shape[i]
        if lo == hi == 0:
            continue
        if stat_length is None:
            s_lo = s_hi = stat(a, axis=i, keepdims=True)
        else:
            l_lo, l_hi = (int(v) for v in stat_length[i])
            if l_lo == 0 or l_hi == 0:
                raise ValueError("stat_length of 0 yields no value for padding")
            l_lo, l_hi = min(l_lo, n), min(l_hi, n)
            s_lo = stat(st.slice_in_dim(a, 0, l_lo, 1, i), axis=i, keepdims=True)
            s_hi = stat(st.slice_in_dim(a, n - l_hi, n, 1, i), axis=i, keepdims=True)
        if dtypes.kind(dt) in "iu":
            s_lo, s_hi = round_(s_lo), round_(s_hi)
        s_lo, s_hi = ew.convert_element_type(s_lo, dt), ew.convert_element_type(s_hi, dt)
        a = _concat(repeat(s_lo, lo, axis=i), a, repeat(s_hi, hi, axis=i), i)
    return a


def _pad_func(a: Any, pw: tuple, func: Callable, **kwargs: Any) -> Any:
    """A user ``mode`` callable ``func(vector, (before, after), axis, kwargs)`` applied along each axis of the
    zero-padded array."""
    a = _pad_constant(a, pw, 0)
    for axis in range(get_aval(a).ndim):
        a = apply_along_axis(func, axis, a, pw[axis], axis, kwargs)
    return a


def pad(array: Any, pad_width: Any, mode: str | Callable[..., Any] = "constant", **kwargs: Any) -> Any:
    """``jnp.pad``: constant, edge, wrap, reflect/symmetric (even or odd), linear_ramp, maximum, minimum, mean,
    median, empty (zeros, as JAX) or a callable ``mode``."""
    a = asarray_any(array)
    nd = get_aval(a).ndim
    pw = _broadcast_to_pairs(pad_width, nd, "pad_width")
    if pw and not all(dtypes.kind(np.asarray(v).dtype) in "iu" for pair in pw for v in pair):
        raise TypeError("`pad_width` must be of integral type.")
    pw = tuple((int(lo), int(hi)) for lo, hi in pw)
    if callable(mode):
        return _pad_func(a, pw, mode, **kwargs)
    if mode not in _KWARGS:
        raise NotImplementedError(f"Unimplemented padding mode '{mode}' for np.pad.")
    unsupported = set(kwargs) - set(_KWARGS[mode])
    if unsupported:
        raise ValueError(f"unsupported keyword arguments for mode '{mode}': {unsupported}")
    if nd == 0:
        return a
    if any(lo < 0 or hi < 0 for lo, hi in pw):
        raise ValueError("index can't contain negative values")
    if mode not in ("constant", "empty") and any(n == 0 and (lo or hi) for n, (lo, hi) in zip(get_aval(a).shape, pw)):
        raise ValueError(f"Cannot apply '{mode}' padding to empty axis")
    if mode == "constant":
        return _pad_constant(a, pw, kwargs.get("constant_values", 0))
    if mode == "wrap":
        return _pad_wrap(a, pw)
    if mode in ("reflect", "symmetric"):
        return _pad_reflect(a, pw, mode, kwargs.get("reflect_type", "even"))
    if mode == "edge":
        return _pad_edge(a, pw)
    if mode == "linear_ramp":
        return _pad_linear_ramp(a, pw, _broadcast_to_pairs(kwargs.get("end_values", 0), nd, "end_values"))
    if mode == "empty":
        return _pad_constant(a, pw, 0)
    stat_length = kwargs.get("stat_length")
    stat_length = None if stat_length is None else _broadcast_to_pairs(stat_length, nd, "stat_length")
    stat = {"maximum": amax, "minimum": amin, "mean": mean, "median": median}[mode]
    return _pad_stats(a, pw, stat_length, stat)


__all__ = ["pad"]
