"""The ``fused_softmax`` primitive: a numerically stable softmax over the last axis as one operation.

Semantics (every backend's lowering follows them): with ``c`` the compute dtype (float64 for float64
operands, float32 for float16 and float32), each row ``x`` of the last axis becomes

    m = max(x)             (NaN propagates)
    e = exp(x - m)         (computed in c)
    y = e / sum(e)         (in c, rounded once to the operand's dtype)

so a row holding NaN, or whose maximum is +-inf, is all NaN (as ``jax.nn.softmax``). The primitive has
its abstract evaluation, its JVP (the tangent ``y * (t - sum(y * t))`` is built from core primitives, so
reverse mode follows by the core's transposition), its batching rule and its decomposition into core
primitives (the fallback for backends it has no lowering for); it is not linear, so it has no transpose rule. ``fused_softmax(x, axis)`` is the user-facing wrapper (``jax.nn.softmax``'s ``axis``).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from portax import lax
from portax.core.decompositions import register_decomposition
from portax.core.interpreters import batching, jvp as ad
from portax.core.ir import ShapedArray
from portax.core.numpy._util import promote_to_inexact
from portax.core.primitives.structural import canonicalize_axis
from portax.core.trace import Primitive, abstract_eval_rules, batching_rules, get_aval

fused_softmax_p = Primitive("fused_softmax")


def compute_dtype(dtype: Any) -> np.dtype:
    """The dtype a row is computed in: float64 for float64 operands, float32 otherwise."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def _abstract_eval(x: ShapedArray) -> ShapedArray:
    if x.dtype.kind != "f":
        raise TypeError(f"fused_softmax does not accept dtype {x.dtype.name}. Accepted dtypes are subtypes of "
                        "floating.")
    if x.ndim == 0:
        raise TypeError(f"fused_softmax requires an operand of rank >= 1 (it normalizes the last axis), got "
                        f"{x.str_short()}.")
    return x


abstract_eval_rules[fused_softmax_p] = _abstract_eval


def _softmax_jvp(t: Any, y: Any, x: Any) -> Any:
    """y * (t - sum(y * t)) over the last axis."""
    shape = get_aval(y).shape
    last = len(shape) - 1
    dot = lax.reduce_sum(lax.mul(y, t), (last,))
    return lax.mul(y, lax.sub(t, lax.broadcast_in_dim(dot, shape, tuple(range(last)))))


ad.defjvp2(fused_softmax_p, _softmax_jvp)


def _softmax_batch(axis_data: batching.AxisData, vals: list, dims: list) -> tuple:
    """Rows stay rows: a batch axis in last position is moved to the front, any other stays put."""
    (x,), (d,) = vals, dims
    if d is batching.not_mapped:
        return fused_softmax_p.bind(x), d
    if d == get_aval(x).ndim - 1:
        x, d = batching.moveaxis(x, d, 0), 0
    return fused_softmax_p.bind(x), d


batching_rules[fused_softmax_p] = _softmax_batch


def _softmax_decomposition(x: Any) -> Any:
    """The semantics above with core primitives: what a backend without a lowering of its own runs (the
    native lowerings of reference, cpu_llvm and wgpu are one kernel instead of several)."""
    aval = get_aval(x)
    last, c = aval.ndim - 1, compute_dtype(aval.dtype)
    rows = lambda v: lax.broadcast_in_dim(v, aval.shape, tuple(range(last)))
    xc = lax.convert_element_type(x, c)
    e = lax.exp(lax.sub(xc, rows(lax.reduce_max(xc, (last,)))))
    return lax.convert_element_type(lax.div(e, rows(lax.reduce_sum(e, (last,)))), aval.dtype)


register_decomposition(fused_softmax_p, _softmax_decomposition)


def _normalize_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = tuple(canonicalize_axis(a, ndim) for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate value in 'axis': {axes}")
    return out


def fused_softmax(x: Any, axis: int | Sequence[int] | None = -1) -> Any:
    """``jax.nn.softmax(x, axis)`` as one fused operation: ``exp(x - max) / sum(exp(x - max))``.

    Integer and boolean operands are promoted to the default float dtype. Several axes (or ``None``: all)
    are normalized together: they are moved last and merged into one axis around the primitive.
    """
    (x,) = promote_to_inexact(x)
    aval = get_aval(x)
    axes = _normalize_axes(axis, aval.ndim)
    if axes == (aval.ndim - 1,):
        return fused_softmax_p.bind(x)
    kept = [d for d in range(aval.ndim) if d not in axes]
    perm = kept + sorted(axes)
    moved_shape = tuple(aval.shape[d] for d in perm)
    rows_shape = moved_shape[:len(kept)] + (math.prod(moved_shape[len(kept):]),)
    y = fused_softmax_p.bind(lax.reshape(lax.transpose(x, perm), rows_shape))
    return lax.transpose(lax.reshape(y, moved_shape), tuple(np.argsort(perm)))
