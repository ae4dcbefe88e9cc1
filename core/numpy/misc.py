"""where/select/clip, diagonal helpers, sorting, and other numpy functions over lax."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..explicit_sharding import broadcasting, reshard
from ..primitives import elementwise as ew, reductions as red, sorting as so, structural as st
from ..prng_key_ops import keys_lifted
from ..sharding import PartitionSpec
from ..trace import get_aval
from ._util import (asarray_any, broadcast_to, canonicalize_axis, promote_args, promote_args_inexact, promote_dtypes,
                    promote_shapes)


@keys_lifted("x", "y")
def where(condition: Any, x: Any = None, y: Any = None, *, size: int | None = None, fill_value: Any = None) -> Any:
    """``jnp.where(c, x, y)`` elementwise; ``jnp.where(c)`` is ``nonzero(c)`` (needs ``size`` under jit)."""
    if x is None and y is None:
        return nonzero(condition, size=size, fill_value=fill_value)
    if x is None or y is None:
        raise ValueError("Either both or neither of the x and y arguments should be provided to jax.numpy.where")
    c = asarray_any(condition)
    if get_aval(c).dtype != dtypes.bool_:
        c = ew.ne(c, ew._const(c, 0))
    x, y = promote_dtypes(x, y)
    broadcast = len({get_aval(v).shape for v in (c, x, y)}) > 1
    c, x, y = promote_shapes(c, x, y, name="where")
    return ew.select(*(_laid_out_alike(c, x, y) if broadcast else (c, x, y)))


def _laid_out_alike(*args: Any) -> list:
    """Arguments broadcast to one shape, laid out by the broadcasting sharding of their types (JAX's
    ``_broadcast_arrays`` of arguments of different shapes): a created, replicated mask meets a sharded operand."""
    avals = [get_aval(a) for a in args]
    typed = [a.sharding for a in avals if a.sharding is not None]
    spec = broadcasting("broadcast_shardings", avals) if typed else ()
    if all(e is None for e in spec):
        return list(args)
    target = typed[0].with_spec(PartitionSpec(*spec))
    return [a if v.sharding == target else reshard(a, target) for a, v in zip(args, avals)]


def select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Any:
    if len(condlist) != len(choicelist):
        raise ValueError("condlist and choicelist must have the same length")
    out = asarray_any(default)
    for c, v in reversed(list(zip(condlist, choicelist))):
        out = where(c, v, out)
    return out


def clip(arr: Any = None, min: Any = None, max: Any = None, *, a: Any = None, a_min: Any = None,
         a_max: Any = None) -> Any:
    from .ufuncs import maximum, minimum
    x = arr if arr is not None else a
    lo = min if min is not None else a_min
    hi = max if max is not None else a_max
    x = asarray_any(x)
    if lo is not None:
        x = maximum(x, lo)
    if hi is not None:
        x = minimum(x, hi)
    return x


def nonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> tuple:
    from ..trace import concrete_or_none
    a = asarray_any(a)
    c = concrete_or_none(a)
    if size is None:
        if c is None:
            from ..errors import ConcretizationTypeError
            raise ConcretizationTypeError(a, "The size argument of jnp.nonzero must be statically specified to use "
                                             "jnp.nonzero within JAX transformations.")
        return tuple(asarray_any(i.astype(np.int32)) for i in np.nonzero(np.asarray(c)))
    shape = get_aval(a).shape
    mask = ew.ne(a, ew._const(a, 0)) if get_aval(a).dtype != dtypes.bool_ else a
    flat = st.reshape(mask, (get_aval(a).size,))
    n = get_aval(a).size
    # positions of true entries first (stable), padded with fill values
    key = ew.convert_element_type(ew.bitwise_not(flat), dtypes.int32)
    _, order = so.sort((key, st.iota(dtypes.int32, n)), num_keys=1)
    count = red.reduce_sum(ew.convert_element_type(flat, dtypes.int32), (0,))
    take = order[:size] if size <= n else st.concatenate([order, st.full((size - n,), 0, dtypes.int32)], 0)
    valid = ew.lt(st.iota(dtypes.int32, size), count)
    outs = []
    rem = take
    strides = np.cumprod((1,) + shape[::-1])[::-1][1:]
    if isinstance(fill_value, (tuple, list)):
        fills = fill_value
    else:
        fills = [0 if fill_value is None else fill_value] * len(shape)
    for s, f in zip(strides, fills):
        coord = ew.div(rem, ew._const(rem, int(s)))
        rem = ew.rem(rem, ew._const(rem, int(s)))
        outs.append(ew.select(valid, coord, st.full((size,), f, dtypes.int32)))
    return tuple(outs)


def argwhere(a: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    from .shape import stack
    nz = nonzero(a, size=size, fill_value=fill_value)
    return stack(nz, axis=1) if nz else st.full((0, 0), 0, dtypes.int32)


def flatnonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    return nonzero(st.reshape(asarray_any(a), (get_aval(asarray_any(a)).size,)), size=size, fill_value=fill_value)[0]


def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal over (axis1, axis2), as a trailing axis (a gather-free mask-and-sum)."""
    a = asarray_any(a)
    s = get_aval(a).shape
    nd = len(s)
    a1, a2 = canonicalize_axis(axis1, nd), canonicalize_axis(axis2, nd)
    perm = [i for i in range(nd) if i not in (a1, a2)] + [a1, a2]
    x = st.transpose(a, tuple(perm))
    n, m = s[a1], s[a2]
    k = max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m))
    rows = np.arange(k) + max(0, -offset)
    cols = np.arange(k) + max(0, offset)
    from .indexing import getitem
    lead = (slice(None),) * (nd - 2)
    return getitem(x, lead + (asarray_any(rows.astype(np.int32)), asarray_any(cols.astype(np.int32))))


def diag(v: Any, k: int = 0) -> Any:
    v = asarray_any(v)
    s = get_aval(v).shape
    if len(s) == 1:
        n = s[0] + abs(k)
        from .creation import eye
        e = eye(n, k=k, dtype=dtypes.bool_)
        padded = st.pad(v, ew._const(v, 0), [(0, abs(k), 0)])
        src = st.broadcast_in_dim(padded, (n, n), (0,) if k >= 0 else (1,))
        return ew.select(e, src, st.full((n, n), 0, get_aval(v).dtype))
    if len(s) == 2:
        return diagonal(v, k)
    raise ValueError("diag input must be 1d or 2d")


def diagflat(v: Any, k: int = 0) -> Any:
    v = asarray_any(v)
    return diag(st.reshape(v, (get_aval(v).size,)), k)


def tril(m: Any, k: int = 0) -> Any:
    m = asarray_any(m)
    s = get_aval(m).shape
    r = st.broadcasted_iota(dtypes.int32, s[-2:], 0)
    c = st.broadcasted_iota(dtypes.int32, s[-2:], 1)
    mask = broadcast_to(ew.le(c, ew.add(r, ew._const(r, k))), s)
    return ew.select(mask, m, st.full(s, 0, get_aval(m).dtype))


def triu(m: Any, k: int = 0) -> Any:
    m = asarray_any(m)
    s = get_aval(m).shape
    r = st.broadcasted_iota(dtypes.int32, s[-2:], 0)
    c = st.broadcasted_iota(dtypes.int32, s[-2:], 1)
    mask = broadcast_to(ew.ge(c, ew.add(r, ew._const(r, k))), s)
    return ew.select(mask, m, st.full(s, 0, get_aval(m).dtype))


def sort(a: Any, axis: int | None = -1, *, kind: str | None = None, order: None = None, stable: bool = True,
         descending: bool = False) -> Any:
    a = asarray_any(a)
    if axis is None:
        a, axis = st.reshape(a, (get_aval(a).size,)), 0
    ax = canonicalize_axis(axis, get_aval(a).ndim)
    out = so.sort(a, ax)
    return st.rev(out, (ax,)) if descending else out


def argsort(a: Any, axis: int | None = -1, *, kind: str | None = None, order: None = None, stable: bool = True,
            descending: bool = False, dtype=None) -> Any:
    """The indices that sort ``a`` along ``axis`` (stable), of ``dtype`` (default: the default integer)."""
    if kind is not None:
        raise TypeError("'kind' argument to argsort is not supported. Use stable=True or stable=False to specify "
                        "sort stability.")
    if order is not None:
        raise TypeError("'order' argument to argsort is not supported.")
    a = asarray_any(a)
    if axis is None:
        a, axis = st.reshape(a, (get_aval(a).size,)), 0
    s = get_aval(a).shape
    ax = canonicalize_axis(axis, len(s))
    io = st.broadcasted_iota(dtypes.default_int() if dtype is None else dtypes.canonicalize(dtype), s, ax)
    if not descending:
        return so.sort((a, io), ax, num_keys=1)[1]
    # as JAX: sort the reversed array and indices, then reverse (ties keep their order, NaNs come first)
    _, idx = so.sort((st.rev(a, (ax,)), st.rev(io, (ax,))), ax, num_keys=1)
    return st.rev(idx, (ax,))


def astype(x: Any, dtype, /, *, copy: bool = False, device: Any = None) -> Any:
    return ew.convert_element_type(asarray_any(x), dtypes.canonicalize(dtype))


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Any:
    """``|a - b| <= atol + rtol * |b|`` in the inexact promoted type (integers and complex values too), or equal;
    key arrays compare for equality, as JAX."""
    from ..prng_keys import is_key_array
    from .ufuncs import isfinite, isnan, logical_and, logical_or
    if is_key_array(a) or is_key_array(b):
        return a == b
    a, b = promote_args("isclose", a, b)
    a, b = promote_args_inexact("isclose", a, b)
    dt = dtypes.real_dtype(get_aval(a).dtype)
    rtol, atol = (ew.convert_element_type(asarray_any(t), dt) for t in (rtol, atol))
    in_range = ew.le(ew.abs(ew.sub(a, b)), ew.add(atol, ew.mul(rtol, ew.abs(b))))
    out = logical_or(ew.eq(a, b), logical_and(isfinite(b), in_range))
    return logical_or(out, logical_and(isnan(a), isnan(b))) if equal_nan else out


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Any:
    from .reductions import all
    return all(isclose(a, b, rtol, atol, equal_nan))


def array_equal(a1: Any, a2: Any, equal_nan: bool = False) -> Any:
    from .reductions import all
    a1, a2 = asarray_any(a1), asarray_any(a2)
    if get_aval(a1).shape != get_aval(a2).shape:
        return asarray_any(False)
    a1, a2 = promote_dtypes(a1, a2)
    eq = ew.eq(a1, a2)
    if equal_nan and dtypes.kind(get_aval(a1).dtype) == "f":
        eq = ew.bitwise_or(eq, ew.bitwise_and(ew.ne(a1, a1), ew.ne(a2, a2)))
    return all(eq)


def array_equiv(a1: Any, a2: Any) -> Any:
    from .reductions import all
    try:
        a1, a2 = promote_args("array_equiv", a1, a2)
    except ValueError:  # shapes that do not broadcast are not equivalent, as in JAX
        return asarray_any(False)
    return all(ew.eq(a1, a2))


def nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Any:
    x = asarray_any(x)
    dt = get_aval(x).dtype
    if dtypes.kind(dt) != "f":
        return x
    info = np.finfo(dt)
    x = ew.select(ew.ne(x, x), st.full_like(x, nan), x)
    x = ew.select(ew.eq(x, ew._const(x, np.inf)), st.full_like(x, info.max if posinf is None else posinf), x)
    return ew.select(ew.eq(x, ew._const(x, -np.inf)), st.full_like(x, info.min if neginf is None else neginf), x)


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None, *, method: str = "scan") -> Any:
    """Insertion points by comparison counting (exact for sorted ``a``; O(len(a)·len(v)))."""
    from .reductions import sum
    a, v = promote_dtypes(a, v)
    if sorter is not None:
        from .indexing import take
        a = take(a, sorter)
    va = get_aval(v)
    n = get_aval(a).shape[0]
    a_b = st.broadcast_in_dim(a, va.shape + (n,), (va.ndim,))
    v_b = st.broadcast_in_dim(v, va.shape + (n,), tuple(range(va.ndim)))
    before = ew.le(a_b, v_b) if side == "right" else ew.lt(a_b, v_b)
    if dtypes.is_float(va.dtype):  # NaNs sort last (numpy's and JAX's order): every number is before a NaN
        v_nan = ew.ne(v_b, v_b)
        before = ew.or_p.bind(before, v_nan if side == "right" else ew.and_p.bind(v_nan, ew.eq(a_b, a_b)))
    return sum(ew.convert_element_type(before, dtypes.int32), -1, dtype=dtypes.default_int())


def cross(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None) -> Any:
    """Cross product of 2- or 3-vectors along the given axes (2-vectors have an implicit zero z)."""
    from .shape import moveaxis, stack
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = promote_dtypes(a, b)
    a = moveaxis(a, axisa, -1)
    b = moveaxis(b, axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError("Dimension must be either 2 or 3 for cross product")
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    a0, a1 = a[..., 0], a[..., 1]
    a2 = a[..., 2] if a.shape[-1] == 3 else a0 * 0
    b0, b1 = b[..., 0], b[..., 1]
    b2 = b[..., 2] if b.shape[-1] == 3 else b0 * 0
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(c, -1, axisc)


def unwrap(p: Any, discont: Any = None, axis: int = -1, period: Any = 2 * np.pi) -> Any:
    """Unwrap phases by adding multiples of ``period`` where consecutive values jump by more than ``discont``; in
    the promoted type of ``p`` and ``period`` (integers stay integers with an integer period), as JAX."""
    from .reductions import cumsum
    from .shape import concatenate
    from .statistics import diff
    from .ufuncs import absolute, remainder
    p, period = promote_dtypes(asarray_any(p), period)
    if dtypes.is_complex(p.dtype):
        raise ValueError("jnp.unwrap does not support complex inputs.")
    if p.shape[axis] == 0:
        return p
    if discont is None:
        discont = period / 2
    interval = period // 2 if dtypes.is_int(p.dtype) else period / 2
    dd = diff(p, axis=axis)
    ddmod = remainder(dd + interval, period) - interval
    ddmod = where((ddmod == -interval) & (dd > 0), interval, ddmod)
    correction = where(absolute(dd) < discont, 0, ddmod - dd)
    return concatenate((st.slice_in_dim(p, 0, 1, axis=axis),
                        st.slice_in_dim(p, 1, None, axis=axis) + cumsum(correction, axis=axis)), axis=axis)


def packbits(a: Any, axis: int | None = None, bitorder: str = "big") -> Any:
    """Pack booleans (nonzero values) into uint8 bytes along ``axis`` (flattened if None), zero-padded."""
    from .shape import concatenate, moveaxis, ravel, reshape
    from .reductions import sum as _sum
    if bitorder not in ("big", "little"):
        raise ValueError("'order' must be either 'little' or 'big'")
    a = asarray_any(a)
    if dtypes.kind(a.dtype) not in "iub":
        raise TypeError(f"Expected an input array of integer or boolean data type, got {a.dtype.name}")
    bits = (a != 0).astype(dtypes.uint8)
    if axis is None:
        bits, axis = ravel(bits), 0
    bits = moveaxis(bits, axis, -1)
    n = bits.shape[-1]
    pad = (-n) % 8
    if pad:
        bits = concatenate([bits, st.full(bits.shape[:-1] + (pad,), 0, dtypes.uint8)], axis=-1)
    bits = reshape(bits, bits.shape[:-1] + (-1, 8))
    shifts = np.arange(8)[::-1] if bitorder == "big" else np.arange(8)
    weights = asarray_any((1 << shifts).astype(np.uint8))
    packed = _sum(bits * weights, axis=-1, dtype=dtypes.uint8)
    return moveaxis(packed, -1, axis)


def unpackbits(a: Any, axis: int | None = None, count: int | None = None, bitorder: str = "big") -> Any:
    """Unpack uint8 bytes into bits (0/1 as uint8) along ``axis`` (flattened if None)."""
    from .shape import moveaxis, ravel, reshape
    if bitorder not in ("big", "little"):
        raise ValueError("'order' must be either 'little' or 'big'")
    a = asarray_any(a)
    if a.dtype != dtypes.uint8:
        raise TypeError(f"Expected an input array of unsigned byte data type, got {a.dtype.name}")
    if axis is None:
        a, axis = ravel(a), 0
    a = moveaxis(a, axis, -1)
    shifts = np.arange(8)[::-1] if bitorder == "big" else np.arange(8)
    bits = (a[..., None] >> asarray_any(shifts.astype(np.uint8))) & np.uint8(1)
    bits = reshape(bits, a.shape[:-1] + (-1,))
    if count is not None:  # a count past the bits pads with zeros, as numpy and JAX
        n = bits.shape[-1]
        bits = bits[..., :count]
        if count > n:
            bits = st.pad(bits, np.uint8(0), [(0, 0, 0)] * (bits.ndim - 1) + [(0, count - n, 0)])
    return moveaxis(bits, -1, axis)
