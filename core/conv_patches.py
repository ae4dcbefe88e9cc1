"""``lax.conv_general_dilated_patches`` (a grouped convolution with an identity kernel) and
``lax.conv_general_dilated_local`` (an unshared convolution: patches contracted per position), as JAX
builds them."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .primitives import contractions as ct, convolution as cv, elementwise as ew, structural as st
from .trace import get_aval


def _moveaxes(x: Any, src: Sequence[int], dst: Sequence[int]) -> Any:
    """``numpy.moveaxis`` with several axes."""
    ndim = get_aval(x).ndim
    src, dst = [s % ndim for s in src], [d % ndim for d in dst]
    order = [i for i in range(ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return st.transpose(x, tuple(order))


def conv_general_dilated_patches(lhs: Any, filter_shape: Sequence[int], window_strides: Sequence[int],
                                 padding: str | Sequence[tuple[int, int]], lhs_dilation: Sequence[int] | None = None,
                                 rhs_dilation: Sequence[int] | None = None, dimension_numbers: Any = None,
                                 precision: Any = None, preferred_element_type: Any = None) -> Any:
    """The patches a ``conv_general_dilated`` with these parameters would see, as channels: output feature
    ``c * prod(filter_shape) + k`` is input channel ``c`` at filter position ``k`` (row-major)."""
    lhs = ew.asarray(lhs)
    filter_shape = tuple(filter_shape)
    shape = get_aval(lhs).shape
    dn = cv.conv_dimension_numbers(shape, (1, 1) + filter_shape, dimension_numbers)
    lhs_spec, rhs_spec, _ = dn
    size, channels = math.prod(filter_shape), shape[lhs_spec[1]]
    eye = np.eye(size, dtype=get_aval(lhs).dtype)
    rhs = st.broadcast_in_dim(eye, (channels, size, size), (1, 2))
    rhs = _moveaxes(st.reshape(rhs, (channels * size, 1) + filter_shape), (0, 1), (rhs_spec[0], rhs_spec[1]))
    return cv.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dn,
                                   feature_group_count=channels,
                                   precision=None if precision is None else (precision, ct.Precision.DEFAULT),
                                   preferred_element_type=preferred_element_type)


def conv_general_dilated_local(lhs: Any, rhs: Any, window_strides: Sequence[int],
                               padding: str | Sequence[tuple[int, int]], filter_shape: Sequence[int],
                               lhs_dilation: Sequence[int] | None = None, rhs_dilation: Sequence[int] | None = None,
                               dimension_numbers: Any = None, precision: Any = None) -> Any:
    """A convolution whose kernel differs at every output position: ``rhs`` has the output's spatial
    dimensions and ``in_features * prod(filter_shape)`` input features."""
    lhs = ew.asarray(lhs)
    pair = ct.canonicalize_precision(precision)
    if pair is not None and not isinstance(pair, tuple):
        raise ValueError(f"Unsupported precision for conv_general_dilated_local: {precision}")
    patches = conv_general_dilated_patches(lhs, filter_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                                           dimension_numbers, None if pair is None else pair[0])
    _, rhs_spec, out_spec = cv.conv_dimension_numbers(get_aval(lhs).shape, (1, 1) + tuple(filter_shape),
                                                      dimension_numbers)
    lhs_b, rhs_b = list(out_spec[2:]), list(rhs_spec[2:])
    rhs_b = [rhs_b[i] for i in sorted(range(len(rhs_b)), key=lambda k: lhs_b[k])]
    dn = (([out_spec[1]], [rhs_spec[1]]), (sorted(lhs_b), rhs_b))
    out = ct.dot_general(patches, rhs, dn, precision=precision)
    return _moveaxes(out, (-2, -1), (out_spec[0], out_spec[1]))


__all__ = ["conv_general_dilated_local", "conv_general_dilated_patches"]
