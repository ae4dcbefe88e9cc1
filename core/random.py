"""``portax.random``: JAX's threefry2x32 PRNG (partitionable mode), keys as uint32[2] arrays.

Key derivation, ``bits`` and ``uniform`` are bit-identical to ``jax.random``; samplers follow JAX's
algorithms so that values agree to float rounding.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import dtypes
from .numpy import _util
from .primitives import elementwise as ew, prng, reductions as red, sorting as so, structural as st
from .trace import get_aval

_U32 = dtypes.uint32


def _check_key(name: str, key: Any) -> Any:
    key = _util.asarray_any(key)
    aval = get_aval(key)
    if aval.dtype != _U32 or not aval.shape or aval.shape[-1] != 2:
        raise TypeError(f"{name} requires a PRNG key: a uint32 array of shape (..., 2) as made by random.PRNGKey "
                        f"or random.key; got {aval.str_short()}")
    return key


def _key_parts(key):
    return st.index_in_dim(key, 0, -1, keepdims=False), st.index_in_dim(key, 1, -1, keepdims=False)


def PRNGKey(seed: Any) -> Any:
    """A key from an integer seed: ``[seed >> 32, seed & 0xFFFFFFFF]`` (uint32[2])."""
    from .trace import concrete_or_none
    c = concrete_or_none(seed) if not isinstance(seed, int) else seed
    if c is not None:
        s = int(np.asarray(c))
        if not dtypes.config.enable_x64 and not -2**63 <= s < 2**64:
            raise OverflowError(f"seed {s} does not fit in 64 bits")
        s64 = np.array(s).astype(np.int64) if s < 2**63 else np.array(s, dtype=np.uint64).astype(np.int64)
        if not dtypes.config.enable_x64:
            s64 = np.int64(np.int32(np.int64(s64) & 0xFFFFFFFF if s >= 2**31 or s < -2**31 else s64))
        hi = np.uint32((int(s64) >> 32) & 0xFFFFFFFF)
        lo = np.uint32(int(s64) & 0xFFFFFFFF)
        return _util.asarray_any(np.array([hi, lo], dtype=np.uint32))
    seed = _util.asarray_any(seed)
    if get_aval(seed).dtype.kind not in "iu":
        raise TypeError(f"PRNGKey seed must be an integer, got {get_aval(seed).dtype.name}")
    lo = ew.convert_element_type(seed, _U32)
    if get_aval(seed).dtype.itemsize == 8:
        hi = ew.convert_element_type(ew.shift_right_logical(seed, ew._const(seed, 32)), _U32)
    else:
        hi = ew.convert_element_type(ew.shift_right_arithmetic(seed, ew._const(seed, 31)), _U32) \
            if get_aval(seed).dtype.kind == "i" else st.full((), 0, _U32)
    return st.concatenate([st.reshape(hi, (1,)), st.reshape(lo, (1,))], 0)


def key(seed: Any, *, impl: Any = None) -> Any:
    """Like PRNGKey (portax keys are raw uint32[2] arrays; ``key_data`` is the identity)."""
    return PRNGKey(seed)


def key_data(keys: Any) -> Any:
    return _check_key("key_data", keys)


def wrap_key_data(key_data: Any, *, impl: Any = None) -> Any:
    return _check_key("wrap_key_data", key_data)


def _iota_2x32(shape: Sequence[int]):
    """The row-major linear index over ``shape`` as a 64-bit count split into (hi, lo) uint32 words."""
    if not shape:
        return st.full((), 0, _U32), st.full((), 0, _U32)
    strides = np.cumprod((1,) + tuple(shape[::-1]))[::-1][1:]
    lo = st.full(shape, 0, _U32)
    hi = st.full(shape, 0, _U32)
    for d, s in enumerate(strides):
        io = st.broadcasted_iota(_U32, shape, d)
        s_lo, s_hi = int(s) & 0xFFFFFFFF, int(s) >> 32
        term_lo = ew.mul(io, ew._const(io, s_lo))
        # high word of io * s_lo (io < 2**32): split into 16-bit halves to keep uint32 arithmetic exact
        io_l, io_h = ew.bitwise_and(io, ew._const(io, 0xFFFF)), ew.shift_right_logical(io, ew._const(io, 16))
        sl_l, sl_h = s_lo & 0xFFFF, s_lo >> 16
        mid = ew.add(ew.mul(io_h, ew._const(io, sl_l)), ew.shift_right_logical(ew.mul(io_l, ew._const(io, sl_l)), ew._const(io, 16)))
        mid2 = ew.add(ew.bitwise_and(mid, ew._const(io, 0xFFFF)), ew.mul(io_l, ew._const(io, sl_h)))
        carry_hi = ew.add(ew.add(ew.mul(io_h, ew._const(io, sl_h)), ew.shift_right_logical(mid, ew._const(io, 16))),
                          ew.shift_right_logical(mid2, ew._const(io, 16)))
        term_hi = ew.add(carry_hi, ew.mul(io, ew._const(io, s_hi)))
        new_lo = ew.add(lo, term_lo)
        overflow = ew.convert_element_type(ew.lt(new_lo, lo), _U32)
        hi = ew.add(ew.add(hi, term_hi), overflow)
        lo = new_lo
    return hi, lo


def _threefry_bits(key: Any, shape: tuple) -> tuple:
    k1, k2 = _key_parts(key)
    c_hi, c_lo = _iota_2x32(shape)
    return prng.threefry2x32(k1, k2, c_hi, c_lo)


def split(key: Any, num: int | tuple = 2) -> Any:
    """``num`` new keys (shape ``(num, 2)``), as JAX's partitionable threefry split."""
    key = _check_key("split", key)
    shape = (num,) if isinstance(num, int) else tuple(num)
    b1, b2 = _threefry_bits(key, shape)
    return st.concatenate([st.expand_dims(b1, (len(shape),)), st.expand_dims(b2, (len(shape),))], len(shape))


def _hash_count(key: Any, count: Any) -> Any:
    """threefry_2x32 of a flat uint32 count array (first half / second half as the two words)."""
    k1, k2 = _key_parts(key)
    n = get_aval(count).shape[0]
    if n % 2:
        count = st.concatenate([count, st.full((1,), 0, _U32)], 0)
    h = get_aval(count).shape[0] // 2
    y1, y2 = prng.threefry2x32(k1, k2, st.slice(count, (0,), (h,)), st.slice(count, (h,), (2 * h,)))
    return st.slice(st.concatenate([y1, y2], 0), (0,), (n,))


def fold_in(key: Any, data: Any) -> Any:
    """A new key derived from ``key`` and an integer ``data``."""
    key = _check_key("fold_in", key)
    seed = PRNGKey(data)
    return _hash_count(key, seed)


def bits(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Uniform random bits of an unsigned integer dtype (uint32 by default)."""
    key = _check_key("bits", key)
    dtype = dtypes.canonicalize(dtype or dtypes.uint32)
    if dtype.kind != "u":
        raise ValueError(f"dtype argument to `bits` must be an unsigned int dtype, got {dtype}")
    return _random_bits(key, dtype.itemsize * 8, tuple(shape))


def _random_bits(key: Any, bit_width: int, shape: tuple) -> Any:
    b1, b2 = _threefry_bits(key, shape)
    dt = np.dtype(f"uint{bit_width}")
    if bit_width == 64:
        hi = ew.convert_element_type(b1, dt)
        lo = ew.convert_element_type(b2, dt)
        return ew.bitwise_or(ew.shift_left(hi, ew._const(hi, 32)), lo)
    x = ew.bitwise_xor(b1, b2)
    return x if bit_width == 32 else ew.convert_element_type(x, dt)


def _float_dtype(name: str, dtype) -> np.dtype:
    dt = dtypes.canonicalize(dtype if dtype is not None else dtypes.default_float())
    if dt.kind != "f":
        raise ValueError(f"dtype argument to `{name}` must be a float dtype, got {dt}")
    return dt


def uniform(key: Any, shape: Sequence[int] = (), dtype: Any = None, minval: Any = 0.0, maxval: Any = 1.0) -> Any:
    """Uniform floats in [minval, maxval): mantissa bits from ``bits`` under the exponent of 1.0."""
    key = _check_key("uniform", key)
    dt = _float_dtype("uniform", dtype)
    shape = tuple(shape)
    nbits = dt.itemsize * 8
    nmant = np.finfo(dt).nmant
    minval = ew.convert_element_type(_util.asarray_any(minval), dt)
    maxval = ew.convert_element_type(_util.asarray_any(maxval), dt)
    minval = _util.broadcast_to(minval, shape) if get_aval(minval).shape != shape else minval
    maxval = _util.broadcast_to(maxval, shape) if get_aval(maxval).shape != shape else maxval
    b = _random_bits(key, nbits, shape)
    ut = b.dtype if hasattr(b, "dtype") else get_aval(b).dtype
    one_bits = np.array(1.0, dt).view(ut)
    fb = ew.bitwise_or(ew.shift_right_logical(b, ew._const(b, nbits - nmant)), ew._const(b, int(one_bits)))
    floats = ew.sub(ew.bitcast_convert_type(fb, dt), ew._const(minval, 1.0))
    out = ew.add(ew.mul(floats, ew.sub(maxval, minval)), minval)
    return ew.max(minval, out)


def normal(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Standard normal samples: ``sqrt(2) * erf_inv(u)`` for u uniform in (-1, 1)."""
    key = _check_key("normal", key)
    dt = _float_dtype("normal", dtype)
    lo = np.nextafter(np.array(-1.0, dt), np.array(0.0, dt))
    u = uniform(key, shape, dt, lo, 1.0)
    return ew.mul(ew._const(u, np.sqrt(2)), ew.erf_inv(u))


def truncated_normal(key: Any, lower: Any, upper: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    dt = _float_dtype("truncated_normal", dtype)
    lower, upper = (ew.convert_element_type(_util.asarray_any(v), dt) for v in (lower, upper))
    if shape is None:
        shape = _util.broadcast_shapes(get_aval(lower).shape, get_aval(upper).shape)
    shape = tuple(shape)
    sqrt2 = np.sqrt(2)
    a = ew.erf(ew.div(lower, ew._const(lower, sqrt2)))
    b = ew.erf(ew.div(upper, ew._const(upper, sqrt2)))
    u = uniform(key, shape, dt, a, b)
    out = ew.mul(ew._const(u, sqrt2), ew.erf_inv(u))
    from .numpy.ufuncs import nextafter
    lo_b = _util.broadcast_to(lower, shape)
    hi_b = _util.broadcast_to(upper, shape)
    return ew.clamp(nextafter(lo_b, st.full_like(lo_b, np.inf)), out, nextafter(hi_b, st.full_like(hi_b, -np.inf)))


def _convert_and_clip_integer(val: Any, dtype) -> Any:
    """Convert an integer array to ``dtype``, clipping values outside its range first."""
    val = _util.asarray_any(val)
    if get_aval(val).dtype.kind not in "iu":
        val = ew.convert_element_type(val, dtypes.default_int())
    info = np.iinfo(dtype)
    src = np.iinfo(get_aval(val).dtype)
    lo, hi = max(info.min, src.min), min(info.max, src.max)
    src_dt = get_aval(val).dtype
    val = ew.clamp(ew.convert_element_type(lo, src_dt), val, ew.convert_element_type(hi, src_dt))
    return ew.convert_element_type(val, dtype)


def randint(key: Any, shape: Sequence[int], minval: Any, maxval: Any, dtype: Any = None) -> Any:
    """Uniform integers in [minval, maxval), with JAX's two-draw method (bias below 2**-nbits)."""
    key = _check_key("randint", key)
    dt = dtypes.canonicalize(dtype or dtypes.default_int())
    if dt.kind not in "iu":
        raise TypeError(f"randint only accepts integer dtypes, got {dt}")
    shape = tuple(shape)
    nbits = dt.itemsize * 8
    udt = np.dtype(f"uint{nbits}")
    maxval = _util.asarray_any(maxval)
    if get_aval(maxval).dtype.kind not in "iu":
        maxval = ew.convert_element_type(maxval, dtypes.default_int())
    max_in = _convert_and_clip_integer(np.array(np.iinfo(dt).max, dt), get_aval(maxval).dtype)
    out_of_range = _util.broadcast_to(ew.gt(maxval, max_in), shape)
    minval = _util.broadcast_to(_convert_and_clip_integer(minval, dt), shape)
    maxval = _util.broadcast_to(_convert_and_clip_integer(maxval, dt), shape)
    keys = split(key, 2)
    k1, k2 = st.index_in_dim(keys, 0, 0, False), st.index_in_dim(keys, 1, 0, False)
    higher, lower = _random_bits(k1, nbits, shape), _random_bits(k2, nbits, shape)
    span = ew.convert_element_type(ew.sub(maxval, minval), udt)
    span = ew.select(ew.le(maxval, minval), st.full_like(span, 1), span)
    span = ew.select(ew.bitwise_and(out_of_range, ew.gt(maxval, minval)), ew.add(span, ew._const(span, 1)), span)
    multiplier = ew.rem(st.full_like(span, 2 ** (nbits // 2)), span)
    multiplier = ew.rem(ew.mul(multiplier, multiplier), span)
    offset = ew.add(ew.mul(ew.rem(higher, span), multiplier), ew.rem(lower, span))
    offset = ew.rem(offset, span)
    return ew.add(minval, ew.convert_element_type(offset, dt))


def bernoulli(key: Any, p: Any = 0.5, shape: Sequence[int] | None = None) -> Any:
    p = _util.asarray_any(p)
    if get_aval(p).dtype.kind != "f":
        p = ew.convert_element_type(p, dtypes.default_float())
    shape = get_aval(p).shape if shape is None else tuple(shape)
    u = uniform(key, shape, get_aval(p).dtype)
    return ew.lt(u, _util.broadcast_to(p, shape))


def _shuffle(key: Any, x: Any, axis: int) -> Any:
    """JAX's shuffle: ceil(3 * log(n) / log(2**32 - 1)) rounds of sorting by random 32-bit keys."""
    n = get_aval(x).shape[axis]
    exponent = 3
    uint32max = np.iinfo(np.uint32).max
    num_rounds = int(np.ceil(exponent * np.log(max(1, n)) / np.log(uint32max)))
    for _ in range(num_rounds):
        key, subkey = split(key)
        sort_keys = _random_bits(subkey, 32, get_aval(x).shape)
        _, x = so.sort((sort_keys, x), axis, num_keys=1)
    return x


def permutation(key: Any, x: Any, axis: int = 0, independent: bool = False) -> Any:
    key = _check_key("permutation", key)
    if isinstance(x, int) or (np.ndim(x) == 0 and not hasattr(x, "aval")):
        r = int(x)
        return _shuffle(key, st.iota(dtypes.default_int(), r), 0)
    x = _util.asarray_any(x)
    if get_aval(x).ndim == 0:
        r = int(x)
        return _shuffle(key, st.iota(dtypes.default_int(), r), 0)
    axis = _util.canonicalize_axis(axis, get_aval(x).ndim)
    if independent or get_aval(x).ndim == 1:
        return _shuffle(key, x, axis)
    ind = _shuffle(key, st.iota(dtypes.default_int(), get_aval(x).shape[axis]), 0)
    from .numpy.indexing import take
    return take(x, ind, axis=axis, mode="clip")


def choice(key: Any, a: Any, shape: Sequence[int] = (), replace: bool = True, p: Any = None, axis: int = 0) -> Any:
    key = _check_key("choice", key)
    shape = tuple(shape)
    if isinstance(a, int) or (np.ndim(a) == 0 and not hasattr(a, "aval")):
        n_inputs = int(a)
        arr = None
    else:
        arr = _util.asarray_any(a)
        n_inputs = get_aval(arr).shape[axis]
    n_draws = int(np.prod(shape, dtype=np.int64))
    if n_draws == 0:
        return st.full(shape, 0, dtypes.default_int()) if arr is None else st.full(shape, 0, get_aval(arr).dtype)
    if n_inputs <= 0:
        raise ValueError("a must be greater than 0 unless no samples are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(f"Cannot take a larger sample (size {n_draws}) than population (size {n_inputs}) when "
                         "'replace=False'")
    from .numpy.indexing import take
    if p is None:
        if replace:
            ind = randint(key, shape, 0, n_inputs)
        else:
            ind = st.reshape(st.slice(permutation(key, n_inputs), (0,), (n_draws,)), shape)
    else:
        p = _util.asarray_any(p)
        if replace:
            p_cuml = red.cumsum(p, 0)
            r = ew.mul(p_cuml[-1], ew.sub(ew._const(p_cuml, 1), uniform(key, shape, get_aval(p).dtype)))
            from .numpy.misc import searchsorted
            ind = searchsorted(p_cuml, r, side="right")
        else:
            g = ew.neg(gumbel(key, (n_inputs,), get_aval(p).dtype))
            g = ew.sub(g, ew.log(p))
            ind = st.reshape(st.slice(so.sort((g, st.iota(dtypes.default_int(), n_inputs)), 0, num_keys=1)[1],
                                      (0,), (n_draws,)), shape)
    if arr is None:
        return ind
    return take(arr, ind, axis=axis, mode="clip")


def gumbel(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    dt = _float_dtype("gumbel", dtype)
    tiny = np.finfo(dt).tiny
    u = uniform(key, shape, dt, tiny, 1.0)
    return ew.neg(ew.log(ew.neg(ew.log(u))))


def categorical(key: Any, logits: Any, axis: int = -1, shape: Sequence[int] | None = None) -> Any:
    logits = _util.asarray_any(logits)
    lshape = get_aval(logits).shape
    axis = _util.canonicalize_axis(axis, len(lshape))
    batch = lshape[:axis] + lshape[axis + 1:]
    shape = batch if shape is None else tuple(shape)
    shape_prefix = shape[:len(shape) - len(batch)]
    full = shape_prefix + lshape
    g = gumbel(key, full, get_aval(logits).dtype)
    x = ew.add(g, _util.broadcast_to(logits, full))
    return red.argmax(x, axis + len(shape_prefix), dtypes.default_int())


def exponential(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    dt = _float_dtype("exponential", dtype)
    u = uniform(key, shape, dt)
    return ew.neg(ew.log1p(ew.neg(u)))


def laplace(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    dt = _float_dtype("laplace", dtype)
    u = uniform(key, shape, dt, np.nextafter(np.array(-1.0, dt), np.array(0.0, dt)), 1.0)
    from .numpy.ufuncs import sign
    return ew.mul(sign(u), ew.neg(ew.log1p(ew.neg(ew.abs(u)))))


def logistic(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    dt = _float_dtype("logistic", dtype)
    u = uniform(key, shape, dt, np.finfo(dt).tiny, 1.0)
    return ew.sub(ew.log(u), ew.log1p(ew.neg(u)))


def gamma(key: Any, a: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Marsaglia–Tsang sampling with a boost for a < 1 (per-element while loop)."""
    dt = _float_dtype("gamma", dtype)
    a = ew.convert_element_type(_util.asarray_any(a), dt)
    shape = get_aval(a).shape if shape is None else tuple(shape)
    a = _util.broadcast_to(a, shape)
    n = int(np.prod(shape, dtype=np.int64))
    keys = split(key, max(n, 1))
    from .api import vmap
    flat_a = st.reshape(a, (n,))
    out = vmap(lambda k, av: _gamma_one(k, av, dt))(st.slice(keys, (0, 0), (n, 2)), flat_a)
    return st.reshape(out, shape)


def _gamma_one(key, alpha, dt):
    from .primitives.control_flow import while_loop
    one = ew._const(alpha, 1.0)
    boost_mask = ew.ge(alpha, one)
    alpha_orig = alpha
    alpha = ew.select(boost_mask, alpha, ew.add(alpha, one))
    d = ew.sub(alpha, ew._const(alpha, 1.0 / 3.0))
    c = ew.div(ew._const(alpha, 1.0 / 3.0), ew.sqrt(d))

    def cond(state):
        _, _, x, v, u = state
        xsq = ew.mul(x, x)
        accept1 = ew.lt(u, ew.sub(one, ew.mul(ew._const(u, 0.0331), ew.mul(xsq, xsq))))
        accept2 = ew.lt(ew.log(u), ew.add(ew.mul(ew._const(u, 0.5), xsq),
                                          ew.mul(d, ew.add(ew.sub(one, v), ew.log(v)))))
        return ew.bitwise_not(ew.bitwise_or(accept1, accept2))

    def body(state):
        k, _, _, _, _ = state
        k, xk, uk = split(k, 3)
        x = normal(xk, (), dt)
        v = ew.add(one, ew.mul(x, c))

        def inner_cond(s):
            return ew.le(s[2], ew._const(s[2], 0.0))

        def inner_body(s):
            kk, _, _ = s
            kk, sk = split(kk)
            xx = normal(sk, (), dt)
            return kk, xx, ew.add(one, ew.mul(xx, c))

        xk2, x, v = while_loop(inner_cond, inner_body, (xk, x, v))
        v = ew.mul(ew.mul(v, v), v)
        u = uniform(uk, (), dt)
        return k, xk2, x, v, u

    init = (key, key, ew._const(alpha, 0.0), ew._const(alpha, -1.0), ew._const(alpha, 2.0))
    k, _, _, v, _ = while_loop(cond, body, body(init))
    z = ew.mul(d, v)
    k, bk = split(k)
    boost = ew.select(boost_mask, one, ew.pow(uniform(bk, (), dt), ew.div(one, alpha_orig)))
    return ew.mul(z, boost)


def beta(key: Any, a: Any, b: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    dt = _float_dtype("beta", dtype)
    a, b = (ew.convert_element_type(_util.asarray_any(v), dt) for v in (a, b))
    if shape is None:
        shape = _util.broadcast_shapes(get_aval(a).shape, get_aval(b).shape)
    ka, kb = split(key)
    ga = gamma(ka, _util.broadcast_to(a, tuple(shape)), None, dt)
    gb = gamma(kb, _util.broadcast_to(b, tuple(shape)), None, dt)
    return ew.div(ga, ew.add(ga, gb))


def dirichlet(key: Any, alpha: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    dt = _float_dtype("dirichlet", dtype)
    alpha = ew.convert_element_type(_util.asarray_any(alpha), dt)
    ash = get_aval(alpha).shape
    shape = ash[:-1] if shape is None else tuple(shape)
    g = gamma(key, _util.broadcast_to(alpha, tuple(shape) + ash[-1:]), None, dt)
    s = red.reduce_sum(g, (len(shape),))
    return ew.div(g, st.broadcast_in_dim(s, get_aval(g).shape, tuple(range(len(shape)))))


def poisson(key: Any, lam: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Knuth's multiplication method per element (exact; cost grows with lam)."""
    from .api import vmap
    from .primitives.control_flow import while_loop
    dt = dtypes.canonicalize(dtype or dtypes.default_int())
    lam = ew.convert_element_type(_util.asarray_any(lam), dtypes.default_float())
    shape = get_aval(lam).shape if shape is None else tuple(shape)
    lam = _util.broadcast_to(lam, shape)
    n = int(np.prod(shape, dtype=np.int64))
    keys = split(key, max(n, 1))

    def one(k, l):
        limit = ew.exp(ew.neg(l))

        def cond(s):
            return ew.gt(s[2], limit)

        def body(s):
            kk, count, prod_ = s
            kk, sk = split(kk)
            return kk, ew.add(count, ew._const(count, 1)), ew.mul(prod_, uniform(sk, (), get_aval(l).dtype))

        k0, s0 = split(k)
        _, count, _ = while_loop(cond, body, (k0, st.full((), 0, dt), uniform(s0, (), get_aval(l).dtype)))
        return count

    out = vmap(one)(st.slice(keys, (0, 0), (n, 2)), st.reshape(lam, (n,)))
    return st.reshape(out, shape)


def multivariate_normal(key: Any, mean: Any, cov: Any, shape: Sequence[int] | None = None, dtype: Any = None,
                        method: str = "cholesky") -> Any:
    from .numpy.linalg_ops import matmul
    from .linalg import cholesky
    dt = _float_dtype("multivariate_normal", dtype)
    mean = ew.convert_element_type(_util.asarray_any(mean), dt)
    cov = ew.convert_element_type(_util.asarray_any(cov), dt)
    n = get_aval(mean).shape[-1]
    shape = get_aval(mean).shape[:-1] if shape is None else tuple(shape)
    factor = cholesky(cov)
    z = normal(key, shape + (n,), dt)
    return ew.add(matmul(z, st.transpose(factor, (1, 0))), _util.broadcast_to(mean, shape + (n,)))


def orthogonal(key: Any, n: int, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    from .linalg import qr
    dt = _float_dtype("orthogonal", dtype)
    z = normal(key, tuple(shape) + (n, n), dt)
    q, r = qr(z)
    from .numpy.misc import diagonal
    from .numpy.ufuncs import sign
    d = sign(diagonal(r, 0, -2, -1))
    return ew.mul(q, st.broadcast_in_dim(d, get_aval(q).shape, tuple(range(len(shape))) + (len(shape) + 1,)))


def rademacher(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    dt = dtypes.canonicalize(dtype or dtypes.default_int())
    b = bernoulli(key, 0.5, shape)
    return ew.convert_element_type(ew.sub(ew.mul(ew.convert_element_type(b, dt), ew._const(ew.convert_element_type(b, dt), 2)), ew._const(ew.convert_element_type(b, dt), 1)), dt)


__all__ = ["PRNGKey", "key", "key_data", "wrap_key_data", "split", "fold_in", "bits", "uniform", "normal",
           "truncated_normal", "randint", "bernoulli", "permutation", "choice", "gumbel", "categorical",
           "exponential", "laplace", "logistic", "gamma", "beta", "dirichlet", "poisson", "multivariate_normal",
           "orthogonal", "rademacher"]
