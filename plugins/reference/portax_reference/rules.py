"""numpy implementations of every core primitive: the semantics other backends are checked against."""
from __future__ import annotations

import math

import numpy as np

from portax.core import dtypes
from portax.core.primitives import (call, callbacks as cb, contractions as ct, control_flow as cf,
                                    custom_derivatives as cd, elementwise as ew, indexing as ix, prng,
                                    reductions as rd, solves, sorting as so, structural as st)

from . import special

RULES: dict = {}


def _errstate(fn):
    def wrapped(*args, **kw):
        with np.errstate(all="ignore"):
            return fn(*args, **kw)
    wrapped.__name__ = getattr(fn, "__name__", "rule")
    return wrapped


def rule(*prims):
    def register(fn):
        for p in prims:
            RULES[p] = _errstate(fn)
        return fn
    return register


def _f64(fn):
    """Evaluate a scalar math function in float64 elementwise and cast back."""
    vec = np.vectorize(fn, otypes=[np.float64])

    def apply(x):
        return vec(x.astype(np.float64)).astype(x.dtype) if x.size else x.copy()
    return apply


# --- elementwise ---------------------------------------------------------------------------------------------
_SIMPLE_UNARY = {
    ew.neg_p: np.negative, ew.floor_p: np.floor, ew.ceil_p: np.ceil, ew.is_finite_p: np.isfinite, ew.abs_p: np.abs,
    ew.exp_p: np.exp, ew.exp2_p: np.exp2, ew.log_p: np.log, ew.log1p_p: np.log1p, ew.expm1_p: np.expm1,
    ew.tanh_p: np.tanh, ew.sin_p: np.sin, ew.cos_p: np.cos, ew.tan_p: np.tan, ew.asin_p: np.arcsin,
    ew.acos_p: np.arccos, ew.atan_p: np.arctan, ew.sinh_p: np.sinh, ew.cosh_p: np.cosh, ew.asinh_p: np.arcsinh,
    ew.acosh_p: np.arccosh, ew.atanh_p: np.arctanh, ew.sqrt_p: np.sqrt, ew.cbrt_p: np.cbrt, ew.square_p: np.square,
    ew.stop_gradient_p: np.copy,
}
for _p, _fn in _SIMPLE_UNARY.items():
    rule(_p)(_fn)


@rule(ew.sign_p)
def _sign(x):
    if x.dtype.kind == "f":
        return np.where(x == 0, x, np.sign(x))  # sign(-0.0) is -0.0, as in JAX
    return np.sign(x) if x.dtype.kind != "b" else x.copy()


@rule(ew.rsqrt_p)
def _rsqrt(x):
    return (np.ones((), x.dtype) / np.sqrt(x)).astype(x.dtype)


@rule(ew.logistic_p)
def _logistic(x):
    w = x.astype(np.promote_types(x.dtype, np.float32))  # float16 rounded once, like the other functions
    e = np.exp(-np.abs(w))
    return np.where(w >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


@rule(ew.round_p)
def _round(x, *, rounding_method):
    if rounding_method == ew.RoundingMethod.TO_NEAREST_EVEN:
        return np.rint(x)
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.sign(x), t).astype(x.dtype)


rule(ew.erf_p)(_f64(math.erf))
rule(ew.erfc_p)(_f64(math.erfc))


def _lgamma(v: float) -> float:
    if -10 < v < 10 and not (v <= 0 and v == math.floor(v)):  # math.lgamma: 11 ulp at 3.0075 and -3.79
        return special.lgamma(v)
    try:
        return math.lgamma(v)
    except (ValueError, OverflowError):  # poles, and overflow to +inf
        return math.inf


rule(ew.lgamma_p)(_f64(_lgamma))


def _digamma(v: float) -> float:
    if math.isnan(v) or v == -math.inf:
        return math.nan
    if v == math.inf:
        return math.inf
    if v <= 0 and v == math.floor(v):
        return math.nan
    if 1 < v < 2:  # around the root at 1.4616
        return special.digamma(v)
    if v < 0:  # reflection: psi(1-x) - psi(x) = pi cot(pi x)
        return _digamma(1 - v) - math.pi / math.tan(math.pi * v)
    shifts = []
    while v < 20:  # recurrence up to where the asymptotic series' truncation error is below 1e-17
        shifts.append(-1 / v)
        v += 1
    acc = math.fsum(shifts)
    inv2 = 1 / (v * v)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    return acc + math.log(v) - 0.5 / v - series


rule(ew.digamma_p)(_f64(_digamma))


def _erf_inv(y: float) -> float:
    if math.isnan(y) or abs(y) > 1:
        return math.nan
    if abs(y) == 1:
        return math.copysign(math.inf, y)
    # initial guess (Giles' single-precision approximation) refined by Newton steps on erf in float64
    w = -math.log((1 - y) * (1 + y))
    if w < 5:
        w -= 2.5
        p = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
                  0.246640727, 1.50140941):
            p = c + p * w
    else:
        w = math.sqrt(w) - 3
        p = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
                  1.00167406, 2.83297682):
            p = c + p * w
    x = p * y
    if abs(y) <= 0.5:
        for _ in range(3):
            x -= (math.erf(x) - y) / (2 / math.sqrt(math.pi) * math.exp(-x * x))
        return x
    # near +-1: Newton on log(erfc(|x|)) = log(1 - |y|) (1 - |y| is exact; log erfc is nearly quadratic)
    q, a = 1 - abs(y), abs(x)
    for _ in range(30):
        c = math.erfc(a)
        step = (math.log(c) - math.log(q)) * c / (2 / math.sqrt(math.pi) * math.exp(-a * a))
        a += step
        if abs(step) <= 1e-17 * a:
            break
    return math.copysign(a, y)


rule(ew.erf_inv_p)(_f64(_erf_inv))


@rule(ew.integer_pow_p)
def _integer_pow(x, *, y):
    if y == 0:
        return np.ones_like(x)
    if y < 0:
        return (np.ones((), x.dtype) / np.power(x, -y)).astype(x.dtype) if x.dtype.kind == "f" else \
            np.power(x.astype(np.float64), y).astype(x.dtype)
    out = x.copy()
    for _ in range(y - 1):
        out = out * x
    return out


@rule(ew.not_p)
def _not(x):
    return np.logical_not(x) if x.dtype.kind == "b" else np.invert(x)


@rule(ew.population_count_p)
def _popcount(x):
    """Bits set in the two's-complement representation (numpy's bitwise_count counts |x|)."""
    return np.bitwise_count(x.view(np.dtype(f"u{x.dtype.itemsize}"))).astype(x.dtype)


@rule(ew.clz_p)
def _clz(x):
    bits = x.dtype.itemsize * 8
    u = x.view(np.dtype(f"u{x.dtype.itemsize}")).astype(np.uint64)
    out = np.full(x.shape, bits, dtype=np.int64)
    for b in range(bits):
        out = np.where((u >> np.uint64(b)) & np.uint64(1), bits - 1 - b, out)
    return out.astype(x.dtype)


_SIMPLE_BINARY = {
    ew.add_p: np.add, ew.sub_p: np.subtract, ew.mul_p: np.multiply, ew.max_p: np.maximum, ew.min_p: np.minimum,
    ew.atan2_p: np.arctan2, ew.nextafter_p: np.nextafter, ew.eq_p: np.equal, ew.ne_p: np.not_equal,
    ew.lt_p: np.less, ew.le_p: np.less_equal, ew.gt_p: np.greater, ew.ge_p: np.greater_equal,
}
for _p, _fn in _SIMPLE_BINARY.items():
    rule(_p)(_fn)


rule(ew.and_p)(lambda x, y: np.logical_and(x, y) if x.dtype.kind == "b" else np.bitwise_and(x, y))
rule(ew.or_p)(lambda x, y: np.logical_or(x, y) if x.dtype.kind == "b" else np.bitwise_or(x, y))
rule(ew.xor_p)(lambda x, y: np.logical_xor(x, y) if x.dtype.kind == "b" else np.bitwise_xor(x, y))


@rule(ew.div_p)
def _div(x, y):
    """Integer division truncates toward zero; x/0 is -1 (signed) or the maximum (unsigned), as XLA."""
    if x.dtype.kind == "f":
        return np.divide(x, y)
    if x.dtype.kind == "b":
        return x.copy()
    safe = np.where(y == 0, 1, y).astype(x.dtype)
    q = np.floor_divide(x, safe)
    if x.dtype.kind == "i":
        inexact = np.remainder(x, safe) != 0
        q = np.where(inexact & ((x < 0) != (safe < 0)), q + 1, q)
        return np.where(y == 0, -1, q).astype(x.dtype)
    return np.where(y == 0, np.iinfo(x.dtype).max, q).astype(x.dtype)


@rule(ew.rem_p)
def _rem(x, y):
    if x.dtype.kind == "f":
        return np.fmod(x, y)
    safe = np.where(y == 0, 1, y)
    return np.where(y == 0, x, np.fmod(x, safe)).astype(x.dtype)


@rule(ew.pow_p)
def _pow(x, y):
    return np.power(x, y)


def _shift_amount(x, y):
    bits = x.dtype.itemsize * 8
    u = y.astype(np.int64)
    return u, bits


@rule(ew.shift_left_p)
def _shl(x, y):
    s, bits = _shift_amount(x, y)
    ok = (s >= 0) & (s < bits)
    return np.where(ok, np.left_shift(x, np.where(ok, s, 0).astype(x.dtype)), 0).astype(x.dtype)


@rule(ew.shift_right_logical_p)
def _shrl(x, y):
    s, bits = _shift_amount(x, y)
    ok = (s >= 0) & (s < bits)
    u = x.view(np.dtype(f"u{x.dtype.itemsize}"))
    r = np.right_shift(u, np.where(ok, s, 0).astype(u.dtype))
    return np.where(ok, r, 0).astype(u.dtype).view(x.dtype)


@rule(ew.shift_right_arithmetic_p)
def _shra(x, y):
    s, bits = _shift_amount(x, y)
    signed = x.view(np.dtype(f"i{x.dtype.itemsize}"))
    s = np.where((s < 0) | (s >= bits), bits - 1, s)
    return np.right_shift(signed, s.astype(signed.dtype)).view(x.dtype)


@rule(ew.select_n_p)
def _select_n(which, *cases):
    if len(cases) == 1:
        return cases[0].copy()
    w = np.broadcast_to(which.astype(np.int64), cases[0].shape)
    return np.choose(w, cases)


@rule(ew.clamp_p)
def _clamp(lo, x, hi):
    return np.minimum(np.maximum(x, lo), hi)


rule(ew.convert_element_type_p)(lambda x, *, new_dtype, weak_type: dtypes.convert_host(x, new_dtype))


@rule(ew.bitcast_convert_type_p)
def _bitcast(x, *, new_dtype):
    old, new = x.dtype.itemsize, new_dtype.itemsize
    x = np.array(x, order="C", copy=True)
    if old == new:
        return x.view(new_dtype)
    if old > new:
        return x.view(new_dtype).reshape(x.shape + (old // new,))
    return x.view(new_dtype).reshape(x.shape[:-1])


# --- structural ------------------------------------------------------------------------------------------------
@rule(st.iota_p)
def _iota(*, dtype, shape, dimension):
    r = np.arange(shape[dimension], dtype=dtype)
    bshape = [1] * len(shape)
    bshape[dimension] = shape[dimension]
    return np.broadcast_to(r.reshape(bshape), shape).copy()


@rule(st.broadcast_in_dim_p)
def _bid(x, *, shape, broadcast_dimensions):
    bshape = [1] * len(shape)
    for i, d in enumerate(broadcast_dimensions):
        bshape[d] = x.shape[i]
    return np.broadcast_to(x.reshape(bshape), shape).copy()


rule(st.reshape_p)(lambda x, *, new_sizes: x.reshape(new_sizes).copy())
rule(st.squeeze_p)(lambda x, *, dimensions: np.squeeze(x, tuple(dimensions)) if dimensions else x.copy())
rule(st.transpose_p)(lambda x, *, permutation: np.array(np.transpose(x, permutation), order="C"))
rule(st.rev_p)(lambda x, *, dimensions: np.flip(x, tuple(dimensions)).copy() if dimensions else x.copy())
rule(st.concatenate_p)(lambda *xs, dimension: np.concatenate(xs, axis=dimension))


@rule(st.pad_p)
def _pad(x, pv, *, padding_config):
    out = x
    for d, (lo, hi, interior) in enumerate(padding_config):
        n = out.shape[d]
        if interior and n > 1:
            shape = list(out.shape)
            shape[d] = n + (n - 1) * interior
            tmp = np.full(shape, pv, dtype=x.dtype)
            idx = [slice(None)] * out.ndim
            idx[d] = slice(None, None, interior + 1)
            tmp[tuple(idx)] = out
            out = tmp
        for amount, at_end in ((lo, False), (hi, True)):
            if amount > 0:
                shape = list(out.shape)
                shape[d] = amount
                fill = np.full(shape, pv, dtype=x.dtype)
                out = np.concatenate([out, fill] if at_end else [fill, out], axis=d)
            elif amount < 0:
                idx = [slice(None)] * out.ndim
                idx[d] = slice(0, out.shape[d] + amount) if at_end else slice(-amount, None)
                out = out[tuple(idx)]
    return np.array(out, copy=True)


@rule(st.slice_p)
def _slice(x, *, start_indices, limit_indices, strides):
    strides = strides or (1,) * x.ndim
    return x[tuple(slice(s, l, k) for s, l, k in zip(start_indices, limit_indices, strides))].copy()


def _clamped_starts(shape, sizes, idx):
    return [int(min(max(int(i), 0), n - s)) for i, n, s in zip(idx, shape, sizes)]


@rule(st.dynamic_slice_p)
def _dynamic_slice(x, *idx, slice_sizes):
    starts = _clamped_starts(x.shape, slice_sizes, idx)
    return x[tuple(slice(s, s + k) for s, k in zip(starts, slice_sizes))].copy()


@rule(st.dynamic_update_slice_p)
def _dus(x, u, *idx):
    starts = _clamped_starts(x.shape, u.shape, idx)
    out = x.copy()
    out[tuple(slice(s, s + k) for s, k in zip(starts, u.shape))] = u
    return out


# --- reductions --------------------------------------------------------------------------------------------
def _reduce(fn_num, fn_bool=None):
    def r(x, *, axes):
        if x.dtype.kind == "b" and fn_bool is not None:
            return fn_bool(x, axis=tuple(axes))
        return fn_num(x, axis=tuple(axes)).astype(x.dtype)
    return r


rule(rd.reduce_sum_p)(_reduce(lambda x, axis: np.sum(x, axis=axis, dtype=x.dtype)))
rule(rd.reduce_prod_p)(_reduce(lambda x, axis: np.prod(x, axis=axis, dtype=x.dtype)))
rule(rd.reduce_max_p)(_reduce(lambda x, axis: np.max(x, axis=axis, initial=_lowest(x.dtype)), np.any))
rule(rd.reduce_min_p)(_reduce(lambda x, axis: np.min(x, axis=axis, initial=_highest(x.dtype)), np.all))
rule(rd.reduce_and_p)(_reduce(lambda x, axis: np.bitwise_and.reduce(x, axis=axis) if x.size else
                              np.full(np.delete(x.shape, axis), -1).astype(x.dtype), np.all))
rule(rd.reduce_or_p)(_reduce(lambda x, axis: np.bitwise_or.reduce(x, axis=axis), np.any))
rule(rd.reduce_xor_p)(_reduce(lambda x, axis: np.bitwise_xor.reduce(x, axis=axis),
                              lambda x, axis: np.logical_xor.reduce(x, axis=axis)))


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _highest(dtype):
    return np.inf if dtype.kind == "f" else np.iinfo(dtype).max


rule(rd.argmax_p)(lambda x, *, axes, index_dtype: np.argmax(x, axis=axes[0]).astype(index_dtype))
rule(rd.argmin_p)(lambda x, *, axes, index_dtype: np.argmin(x, axis=axes[0]).astype(index_dtype))


def _cumulative(fn):
    def r(x, *, axis, reverse):
        y = np.flip(x, axis) if reverse else x
        out = fn(y, axis)
        return np.flip(out, axis).copy() if reverse else out
    return r


rule(rd.cumsum_p)(_cumulative(lambda x, a: np.cumsum(x, axis=a, dtype=x.dtype)))
rule(rd.cumprod_p)(_cumulative(lambda x, a: np.cumprod(x, axis=a, dtype=x.dtype)))
rule(rd.cummax_p)(_cumulative(lambda x, a: np.maximum.accumulate(x, axis=a)))
rule(rd.cummin_p)(_cumulative(lambda x, a: np.minimum.accumulate(x, axis=a)))


# --- sort ------------------------------------------------------------------------------------------------
def _sort_total(*ops, dimension, is_stable, num_keys):
    moved = [np.moveaxis(o, dimension, -1) for o in ops]
    keys = []
    for k in moved[:num_keys]:
        if k.dtype.kind == "f":
            # lexsort is stable and its last key is the primary one: (value, -0 before +0, NaN last)
            keys.append((np.isnan(k), np.where(np.isnan(k), 0, k), ~(np.signbit(k) & (k == 0))))
        else:
            keys.append((k,))
    flat = []
    for group in reversed(keys):
        flat.extend(reversed(group))
    order = np.lexsort(flat, axis=-1) if flat else None
    return [np.moveaxis(np.take_along_axis(o, order, axis=-1), -1, dimension).copy() for o in moved]


rule(so.sort_p)(_sort_total)


# --- gather / scatter --------------------------------------------------------------------------------------------
def _starts(operand_shape, window, idx2d, batch_shape, index_map, op_batch_dims, idx_batch_dims):
    n = idx2d.shape[0]
    starts = np.zeros((n, len(operand_shape)), dtype=np.int64)
    for k, d in enumerate(index_map):
        starts[:, d] = idx2d[:, k]
    if op_batch_dims:
        pos = np.indices(batch_shape).reshape(len(batch_shape), -1).T if batch_shape else np.zeros((1, 0), np.int64)
        for od, bd in zip(op_batch_dims, idx_batch_dims):
            starts[:, od] = pos[:, bd]
    max_start = np.array(operand_shape, dtype=np.int64) - np.array(window, dtype=np.int64)
    valid = np.all((starts >= 0) & (starts <= max_start), axis=1)
    return np.clip(starts, 0, np.maximum(max_start, 0)), valid


def _index_rows(indices):
    """The index vectors as an (n, index_vector_size) array (reshape(-1, k) fails when n or k is 0)."""
    return indices.reshape(math.prod(indices.shape[:-1]), indices.shape[-1]).astype(np.int64)


def _fill_value(dtype, fill_value):
    if fill_value is not None:
        return fill_value
    if dtype.kind == "f":
        return np.nan
    if dtype.kind == "b":
        return True
    return np.iinfo(dtype).min if dtype.kind == "i" else np.iinfo(dtype).max


@rule(ix.gather_p)
def _gather(operand, indices, *, dimension_numbers, slice_sizes, mode, fill_value):
    dn = dimension_numbers
    batch_shape = indices.shape[:-1]
    idx2d = _index_rows(indices)
    starts, valid = _starts(operand.shape, slice_sizes, idx2d, batch_shape, dn.start_index_map,
                            dn.operand_batching_dims, dn.start_indices_batching_dims)
    win = np.indices(slice_sizes).reshape(operand.ndim, math.prod(slice_sizes))
    full = starts[:, :, None] + win[None]
    vals = operand[tuple(full[:, d, :] for d in range(operand.ndim))] if operand.ndim else \
        np.broadcast_to(operand, (idx2d.shape[0], 1))
    vals = np.array(vals)
    if mode == "fill" and not valid.all():
        vals[~valid] = _fill_value(operand.dtype, fill_value)
    keep = [d for d in range(operand.ndim) if d not in dn.collapsed_slice_dims and d not in dn.operand_batching_dims]
    vals = vals.reshape(tuple(batch_shape) + tuple(slice_sizes[d] for d in keep))
    nb = len(batch_shape)
    perm, b_it, w_it = [], iter(range(nb)), iter(range(nb, nb + len(keep)))
    for i in range(nb + len(keep)):
        perm.append(next(w_it) if i in dn.offset_dims else next(b_it))
    return np.array(np.transpose(vals, perm), order="C")


def _scatter_with(combine):
    def r(operand, indices, updates, *, dimension_numbers, indices_are_sorted, unique_indices, mode):
        dn = dimension_numbers
        out = operand.copy()
        batch_shape = indices.shape[:-1]
        scatter_dims = [d for d in range(updates.ndim) if d not in dn.update_window_dims]
        upd = np.transpose(updates, scatter_dims + list(dn.update_window_dims))
        upd = upd.reshape(math.prod(batch_shape), math.prod(updates.shape[d] for d in dn.update_window_dims))
        it = iter(updates.shape[d] for d in dn.update_window_dims)
        window = [1 if d in dn.inserted_window_dims or d in dn.operand_batching_dims else next(it)
                  for d in range(operand.ndim)]
        idx2d = _index_rows(indices)
        starts, valid = _starts(operand.shape, window, idx2d, batch_shape, dn.scatter_dims_to_operand_dims,
                                dn.operand_batching_dims, dn.scatter_indices_batching_dims)
        if mode != "clip":
            starts, upd = starts[valid], upd[valid]
        win = np.indices(window).reshape(operand.ndim, math.prod(window))
        full = starts[:, :, None] + win[None]
        strides = np.array([math.prod(operand.shape[d + 1:]) for d in range(operand.ndim)], np.int64)
        positions = (full * strides[None, :, None]).sum(axis=1)  # linear (also for a 0-d operand)
        combine(out.reshape(-1), positions.ravel(), upd.ravel())
        return out
    return r


def _set(out, idx, vals):
    out[idx] = vals


rule(ix.scatter_p)(_scatter_with(_set))
rule(ix.scatter_add_p)(_scatter_with(lambda o, i, v: np.add.at(o, i, v) if o.dtype.kind != "b" else np.logical_or.at(o, i, v)))
rule(ix.scatter_mul_p)(_scatter_with(lambda o, i, v: np.multiply.at(o, i, v) if o.dtype.kind != "b" else np.logical_and.at(o, i, v)))
rule(ix.scatter_min_p)(_scatter_with(lambda o, i, v: np.minimum.at(o, i, v)))
rule(ix.scatter_max_p)(_scatter_with(lambda o, i, v: np.maximum.at(o, i, v)))


# --- dot_general ------------------------------------------------------------------------------------------------
@rule(ct.dot_general_p)
def _dot_general(lhs, rhs, *, dimension_numbers, precision, preferred_element_type):
    (lc, rc), (lb, rb) = dimension_numbers
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    ls = [None] * lhs.ndim
    rs = [None] * rhs.ndim
    for a, b in zip(lb, rb):
        ls[a] = rs[b] = next(letters)
    for a, b in zip(lc, rc):
        ls[a] = rs[b] = next(letters)
    for i in range(lhs.ndim):
        ls[i] = ls[i] or next(letters)
    for i in range(rhs.ndim):
        rs[i] = rs[i] or next(letters)
    out = [ls[a] for a in lb] + [ls[i] for i in range(lhs.ndim) if i not in lc and i not in lb] + \
        [rs[i] for i in range(rhs.ndim) if i not in rc and i not in rb]
    out_dtype = preferred_element_type or lhs.dtype
    compute = {"b": np.int64, "f": np.float64 if lhs.dtype == np.float64 else np.float32}.get(lhs.dtype.kind, lhs.dtype)
    res = np.einsum(f"{''.join(ls)},{''.join(rs)}->{''.join(out)}", lhs.astype(compute), rhs.astype(compute))
    return (res != 0) if out_dtype == np.bool_ else np.asarray(res).astype(out_dtype)


# --- PRNG ------------------------------------------------------------------------------------------------------
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


@rule(prng.threefry2x32_p)
def _threefry2x32(k1, k2, x1, x2):
    rotl = lambda v, r: (v << np.uint32(r)) | (v >> np.uint32(32 - r))
    ks = [k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA)]
    x = [x1 + ks[0], x2 + ks[1]]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x[0] = x[0] + x[1]
            x[1] = rotl(x[1], r)
            x[1] = x[0] ^ x[1]
        x[0] = x[0] + ks[(i + 1) % 3]
        x[1] = x[1] + ks[(i + 2) % 3] + np.uint32(i + 1)
    return [x[0], x[1]]


# --- calls and control flow: run the bodies with this same interpreter -----------------------------------
def _run(closed, args):
    from .backend import run_jaxpr
    return run_jaxpr(closed, list(args))


rule(call.pjit_p)(lambda *args, jaxpr, **_: _run(jaxpr, args))
rule(call.checkpoint_p)(lambda *args, jaxpr, **_: _run(jaxpr, args))
rule(cd.custom_jvp_call_p)(lambda *args, call_jaxpr, **_: _run(call_jaxpr, args))
rule(cd.custom_vjp_call_p)(lambda *args, call_jaxpr, **_: _run(call_jaxpr, args))
rule(solves.linear_solve_p)(lambda *args, solve, **_: _run(solve, args))


@rule(cf.cond_p)
def _cond(index, *ops, branches):
    i = int(min(max(int(index), 0), len(branches) - 1))
    return _run(branches[i], ops)


@rule(cf.while_p)
def _while(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = args[:cond_nconsts], args[cond_nconsts:cond_nconsts + body_nconsts], list(args[cond_nconsts + body_nconsts:])
    while bool(_run(cond_jaxpr, list(cc) + carry)[0]):
        carry = _run(body_jaxpr, list(bc) + carry)
    return carry


@rule(cf.scan_p)
def _scan(*args, jaxpr, length, reverse, num_consts, num_carry, unroll):
    consts, carry, xs = list(args[:num_consts]), list(args[num_consts:num_consts + num_carry]), args[num_consts + num_carry:]
    ys_avals = jaxpr.out_avals[num_carry:]
    ys = [np.empty((length,) + a.shape, a.dtype) for a in ys_avals]
    for step in range(length):
        i = length - 1 - step if reverse else step
        outs = _run(jaxpr, consts + carry + [x[i] for x in xs])
        carry = outs[:num_carry]
        for y, v in zip(ys, outs[num_carry:]):
            y[i] = v
    return carry + ys


for _cb in cb.CALLBACKS:  # host callbacks: the Python function called with the operands
    RULES[_cb] = lambda *args, _p=_cb, **params: cb.call_host(_p, params, args)


from . import rules_conv  # noqa: E402,F401  (registers conv, window-reduction and top_k rules into RULES)
from . import rules_linalg  # noqa: E402,F401  (registers decomposition, triangular_solve and fft rules into RULES)
