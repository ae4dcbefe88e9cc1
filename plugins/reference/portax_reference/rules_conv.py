"""numpy rules for conv_general_dilated, the window reductions and top_k: loops over window offsets."""
from __future__ import annotations

import itertools

import numpy as np

from portax.core.primitives import convolution as cv, windowed as wd

from .rules import _pad, rule


def _window_views(xp: np.ndarray, axes, window_dimensions, window_strides, window_dilation):
    """Yield ``(offset, view)`` per window offset: ``view[..., j, ...] = xp[..., j*stride + offset*dilation, ...]``
    along ``axes``, for every window position j that fits in ``xp``."""
    out = [cv.stride_dim(xp.shape[a], cv.dilate_dim(w, d), s)
           for a, w, d, s in zip(axes, window_dimensions, window_dilation, window_strides)]
    for offset in itertools.product(*(range(w) for w in window_dimensions)):
        idx = [slice(None)] * xp.ndim
        for a, o, d, s, n in zip(axes, offset, window_dilation, window_strides, out):
            idx[a] = slice(o * d, o * d + (n - 1) * s + 1, s) if n else slice(0, 0)
        yield offset, xp[tuple(idx)]


def _dilate_and_pad(x: np.ndarray, fill, padding, dilation, first_axis: int) -> np.ndarray:
    """Interior-dilate then pad (negative pads crop) the axes from ``first_axis`` on, as lax.pad does."""
    config = ((0, 0, 0),) * first_axis + tuple((lo, hi, d - 1) for (lo, hi), d in zip(padding, dilation))
    return _pad(x, np.asarray(fill, x.dtype), padding_config=config)


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64 if dtype.kind == "f" else np.int64)


@rule(cv.conv_general_dilated_p)
def _conv(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count,
          batch_group_count, precision, preferred_element_type):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    compute = _compute_dtype(lhs.dtype)
    x = _dilate_and_pad(np.transpose(lhs, lhs_spec).astype(compute), 0, padding, lhs_dilation, 2)
    w = np.transpose(rhs, rhs_spec).astype(compute)
    b, g = batch_group_count, feature_group_count
    (n, c), (o, i), spatial = x.shape[:2], w.shape[:2], w.shape[2:]
    xg = x.reshape((b, n // b, g, c // g) + x.shape[2:])  # groups are the major part of the split dimension
    wg = w.reshape((b, g, o // (b * g), i) + spatial)
    out_sp = [cv.stride_dim(p, cv.dilate_dim(k, d), s) for p, k, d, s in zip(x.shape[2:], spatial, rhs_dilation,
                                                                             window_strides)]
    out = np.zeros((n // b, b, g, o // (b * g)) + tuple(out_sp), compute)
    for offset, view in _window_views(xg, range(4, xg.ndim), spatial, window_strides, rhs_dilation):
        out += np.einsum("bngc...,bgoc->nbgo...", view, wg[(slice(None),) * 4 + offset])
    out = np.transpose(out.reshape((n // b, o) + tuple(out_sp)), np.argsort(out_spec))
    out_dtype = preferred_element_type or lhs.dtype
    return (out != 0) if out_dtype == np.bool_ else out.astype(out_dtype)


def _reduce_window(name: str, combine):
    def r(x, *, window_dimensions, window_strides, padding, base_dilation, window_dilation):
        acc = _compute_dtype(x.dtype) if name == "sum" else x.dtype
        fill = wd.identity(name, x.dtype)
        xp = _dilate_and_pad(x, fill, padding, base_dilation, 0).astype(acc)
        out_shape = wd.reduce_window_shape_tuple(x.shape, window_dimensions, window_strides, padding, base_dilation,
                                                 window_dilation)
        out = np.full(out_shape, fill, acc)
        for _, view in _window_views(xp, range(x.ndim), window_dimensions, window_strides, window_dilation):
            out = combine(out, view)
        return out.astype(x.dtype)
    return r


rule(wd.reduce_window_sum_p)(_reduce_window("sum", np.add))
rule(wd.reduce_window_max_p)(_reduce_window("max", np.maximum))
rule(wd.reduce_window_min_p)(_reduce_window("min", np.minimum))


def _descending_key(x: np.ndarray) -> np.ndarray:
    """Integers whose ascending order is the descending total order of ``x`` (-NaN < -inf < -0 < 0 < inf < NaN)."""
    if x.dtype.kind == "f":
        bits = x.view(np.dtype(f"i{x.dtype.itemsize}"))
        key = np.where(bits < 0, bits ^ np.iinfo(bits.dtype).max, bits)
    else:
        key = x.astype(np.int8) if x.dtype.kind == "b" else x
    return ~key


@rule(wd.top_k_p)
def _top_k(x, *, k, axis, is_stable):
    order = np.argsort(_descending_key(x), axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, idx, axis=axis), idx.astype(np.int32)]
