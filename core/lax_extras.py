"""More of ``jax.lax``: ``conj`` as JAX defines it (real operands too), ``index_take`` over ``gather``, and
``reduce_precision``: a primitive (linear, as in JAX) whose every backend runs its bit-level decomposition."""
from __future__ import annotations

import operator
from typing import Any, Sequence

import numpy as np

from . import dtypes
from .axis_types import on_mesh
from .decompositions import register_decomposition
from .interpreters import batching, jvp as ad
from .ir import ShapedArray
from .primitives import elementwise as ew, indexing as ix, structural as st
from .trace import Primitive, abstract_eval_rules, get_aval


def conj(x: Any) -> Any:
    """``lax.conj``: the complex conjugate; a float32/float64 operand becomes complex with zero imaginary part."""
    x = ew.asarray(x)
    aval = get_aval(x)
    if aval.dtype in (dtypes.float32, dtypes.float64):
        return ew.complex(x, ew.convert_element_type(st.full_like(x, 0), aval.dtype, weak_type=aval.weak_type))
    return ew.conj(x)


def index_take(src: Any, idxs: Sequence[Any], axes: Sequence[int]) -> Any:
    """``src`` gathered at ``idxs[i]`` along ``axes[i]`` (indices wrap modulo the axis size), as ``jax.lax``."""
    src = ew.asarray(src)
    shape = get_aval(src).shape
    indices = st.concatenate([st.expand_dims(ew.asarray(i), (1,)) for i in idxs], 1)
    ia = get_aval(indices)
    sizes = np.array([shape[ax] for ax in axes], dtype=ia.dtype).reshape((1,) * (ia.ndim - 1) + (len(axes),))
    indices = indices % sizes
    slice_sizes = tuple(1 if d in axes else n for d, n in enumerate(shape))
    dnums = ix.GatherDimensionNumbers(offset_dims=tuple(range(1, len(shape) - ia.shape[1] + 1)),
                                      collapsed_slice_dims=tuple(axes), start_index_map=tuple(axes))
    return ix.gather(src, indices, dnums, slice_sizes)


# --- reduce_precision ------------------------------------------------------------------------------------------
reduce_precision_p = Primitive("reduce_precision")
_FORMATS = {16: (5, 10), 32: (8, 23), 64: (11, 52)}  # (exponent bits, mantissa bits) of f16, f32, f64


def _reduce_precision_abstract(x: ShapedArray, *, exponent_bits: int, mantissa_bits: int) -> ShapedArray:
    if dtypes.kind(x.dtype) != "f":
        raise TypeError(f"reduce_precision does not accept dtype {x.dtype.name}. Accepted dtypes are subtypes "
                        "of floating.")
    if exponent_bits < 1:
        raise ValueError(f"reduce_precision: exponent_bits must be positive; got {exponent_bits}")
    if mantissa_bits < 0:
        raise ValueError(f"reduce_precision: mantissa_bits must be non-negative; got {mantissa_bits}")
    return ShapedArray(x.shape, x.dtype, x.weak_type)


abstract_eval_rules[reduce_precision_p] = _reduce_precision_abstract
batching.defvectorized(reduce_precision_p)
ad.deflinear(reduce_precision_p, lambda ct, x, **params: [reduce_precision_p.bind(ct, **params)])


def _reduce_precision_decomposition(x: Any, *, exponent_bits: int, mantissa_bits: int) -> Any:
    """XLA's ReducePrecision on the bits: round the mantissa to nearest even, then overflow to a signed
    infinity and flush values below the reduced normal range (denormals included) to a signed zero; NaN stays
    NaN (becomes infinity when no mantissa bits remain). 16-bit words are worked on in 32-bit integers."""
    dt = get_aval(x).dtype
    if dtypes.is_custom_float(dt):  # bfloat16, float8: their values are exact in float32
        f32 = _reduce_precision_decomposition(ew.convert_element_type(x, dtypes.float32), exponent_bits=exponent_bits,
                                              mantissa_bits=mantissa_bits)
        return ew.convert_element_type(f32, dt)
    nbits = 8 * dt.itemsize
    src_e, src_m = _FORMATS[nbits]
    word = np.dtype(f"uint{nbits}")
    work = np.dtype(np.uint32) if nbits == 16 else word
    c = lambda v: np.asarray(v, work)
    bits = ew.convert_element_type(ew.bitcast_convert_type(x, word), work)
    if mantissa_bits < src_m:
        shift = src_m - mantissa_bits
        last = 1 << shift
        bias = ew.add(ew.shift_right_logical(ew.bitwise_and(bits, c(last)), c(shift)), c((last >> 1) - 1))
        bits = ew.bitwise_and(ew.add(bits, bias), c(((1 << nbits) - 1) & ~(last - 1)))
    if exponent_bits < src_e:
        bias, reduced_bias = (1 << (src_e - 1)) - 1, (1 << (exponent_bits - 1)) - 1
        exp_mask = ((1 << src_e) - 1) << src_m
        exponent = ew.bitwise_and(bits, c(exp_mask))
        signed_zero = ew.bitwise_and(bits, c(1 << (nbits - 1)))
        bits = ew.select(ew.gt(exponent, c((bias + reduced_bias) << src_m)), ew.bitwise_or(signed_zero, c(exp_mask)),
                         ew.select(ew.le(exponent, c((bias - reduced_bias) << src_m)), signed_zero, bits))
    out = ew.bitcast_convert_type(ew.convert_element_type(bits, word), dt)
    nan_out = x if mantissa_bits > 0 else st.full_like(x, np.inf)
    return ew.select(ew.ne(x, x), nan_out, out)


register_decomposition(reduce_precision_p, _reduce_precision_decomposition)


def reduce_precision(operand: Any, exponent_bits: int, mantissa_bits: int) -> Any:
    """``lax.reduce_precision``: round a float array to the precision and range of a narrower float format
    (e.g. ``finfo(float16).nexp, finfo(float16).nmant``), keeping its dtype."""
    return reduce_precision_p.bind(ew.asarray(operand), exponent_bits=operator.index(exponent_bits),
                                   mantissa_bits=operator.index(mantissa_bits))


def mulhi(x: Any, y: Any, /) -> Any:
    """``lax.mulhi``: the high N bits of the 2N-bit product of two N-bit integers, from N/2-bit limbs in N-bit
    unsigned arithmetic (Hacker's Delight 8-2), corrected for signed operands."""
    x, y = ew._binary_args("mulhi", ew.asarray(x), ew.asarray(y))
    dt, ydt = get_aval(x).dtype, get_aval(y).dtype
    if dtypes.kind(dt) not in "iu" or dtypes.kind(ydt) not in "iu":
        raise TypeError(f"mulhi requires integer inputs, got {dt if dtypes.kind(dt) not in 'iu' else ydt}")
    if dt != ydt:
        raise TypeError(f"lax.mulhi requires arguments to have the same dtypes, got {dt}, {ydt}.")
    bits = dtypes.iinfo(dt).bits
    if bits < 8:
        raise NotImplementedError(f"lax.mulhi of {dt} (sub-byte integers) is not implemented")
    udt, h = np.dtype(f"uint{bits}"), bits // 2
    c = lambda v: np.asarray(v, udt)
    xu, yu = (v if dt == udt else ew.bitcast_convert_type(v, udt) for v in (x, y))
    lo_half = lambda v: ew.bitwise_and(v, c((1 << h) - 1))
    hi_half = lambda v: ew.shift_right_logical(v, c(h))
    x0, x1, y0, y1 = lo_half(xu), hi_half(xu), lo_half(yu), hi_half(yu)
    mid1, mid2 = ew.mul(x1, y0), ew.mul(x0, y1)
    carry = ew.add(ew.add(hi_half(ew.mul(x0, y0)), lo_half(mid1)), lo_half(mid2))
    out = ew.add(ew.add(ew.mul(x1, y1), ew.add(hi_half(mid1), hi_half(mid2))), hi_half(carry))
    if dt == udt:
        return out
    zero, uzero = st.full_like(x, 0), st.full_like(xu, 0)
    out = ew.sub(ew.sub(out, ew.select(ew.lt(x, zero), yu, uzero)), ew.select(ew.lt(y, zero), xu, uzero))
    return ew.bitcast_convert_type(out, dt)


def full(shape: Sequence[int], fill_value: Any, dtype=None) -> Any:
    """``lax.full`` (typed replicated over the mesh set by ``set_mesh`` if that has Explicit axes, as in JAX)."""
    return on_mesh(st.full(shape, fill_value, dtype))


def full_like(x: Any, fill_value: Any, dtype=None, shape=None, sharding: Any = None) -> Any:
    """``lax.full_like``: laid out by ``sharding``, else where a committed, strongly typed ``x`` of the same shape is
    (its device or sharding: ``jnp.full_like``'s rule, which is JAX's), else typed as ``full``."""
    st.check_scalar_fill(fill_value)
    from .numpy.creation import full_like as made_like
    return on_mesh(made_like(x, fill_value, dtype, shape, out_sharding=sharding))


def iota(dtype: Any, size: int) -> Any:
    """``lax.iota`` (typed as ``full``)."""
    return on_mesh(st.iota(dtype, size))


def broadcasted_iota(dtype: Any, shape: Sequence[int], dimension: int) -> Any:
    """``lax.broadcasted_iota`` (typed as ``full``)."""
    return on_mesh(st.broadcasted_iota(dtype, shape, dimension))


def empty(shape: Any, dtype: Any, *, out_sharding: Any = None) -> Any:
    """``lax.empty``: an array whose contents are unspecified (portax fills it with zeros), laid out by
    ``out_sharding`` (checked as JAX's ``canonicalize_sharding``), else typed as ``full``."""
    from .explicit_sharding import canonicalize_sharding, reshard
    sharding = canonicalize_sharding(out_sharding, "lax.empty")
    out = full(st.canonicalize_shape(shape if isinstance(shape, (tuple, list)) else (shape,)), 0,
               dtypes.canonicalize_explicit(dtype, "empty"))
    return out if sharding is None else reshard(out, sharding)


__all__ = ["broadcasted_iota", "conj", "empty", "full", "full_like", "index_take", "iota", "mulhi", "reduce_precision",
           "reduce_precision_p"]
