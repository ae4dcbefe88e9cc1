"""Small example inputs for every primitive, keyed by primitive: the data of the conformance tests.

A ``Case`` binds one primitive with fixed params on array arguments drawn by one generator per argument
(so batched inputs are several independent draws), and carries a numpy reference. ``diff`` lists the
arguments whose JVP is checked against finite differences (and whose VJP goes through the transpose
rules); a case with ``diff=()`` is checked to have zero (or float0) tangents.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
import scipy.linalg as sla
import scipy.special as sp
from numpy.lib.stride_tricks import sliding_window_view

from portax.core import dtypes
from portax.core.ir import ShapedArray
from portax.core.primitives import call, collectives, contractions as ct, control_flow as cf, custom_derivatives as cd
from portax.core.primitives import convolution as cv, fft as ff, linalg as la, windowed as wd
from portax.core.primitives import elementwise as ew, indexing as ix, prng, reductions as rd, sorting as so
from portax.core.primitives import callbacks, solves, structural as st

f32, f64, i32, u32 = np.float32, np.float64, np.int32, np.uint32


@dataclasses.dataclass
class Case:
    fn: Callable                 # binds the primitive on its array arguments
    gens: tuple                  # one generator per argument: RandomState -> numpy array
    ref: Callable | None         # numpy reference: same arguments -> output (list for multiple results)
    diff: tuple = ()             # argnums checked against finite differences and by transposition
    x64: bool = False            # the case needs enable_x64 (64-bit dtypes in params or inputs)
    upcast: bool = True          # run the derivative checks with float32 inputs promoted to float64
    tol: float = 1e-5            # evaluation tolerance against the reference
    check_derivatives: bool = True  # False: the derivative is checked by a dedicated test
    name: str = ""

    def args(self, rng: np.random.RandomState) -> tuple:
        return tuple(g(rng) for g in self.gens)


def bind(p, **params) -> Callable:
    fn = lambda *args: p.bind(*args, **params)
    fn.__name__ = p.name
    return fn


# --- generators ------------------------------------------------------------------------------------------------
def F(*shape, lo=-2.0, hi=2.0, dtype=f32):
    return lambda r: np.asarray(r.uniform(lo, hi, shape), dtype)


def FS(*shape, lo=0.5, hi=2.0, dtype=f32):
    """Away from zero: a random sign times |x| in [lo, hi)."""
    return lambda r: np.asarray(np.where(r.rand(*shape) < 0.5, -1, 1) * r.uniform(lo, hi, shape), dtype)


def Q(*shape, dtype=f32):
    """Coarsely quantised floats, so that ties are common (comparisons)."""
    return lambda r: np.asarray(r.randint(-2, 3, shape) / 2, dtype)


def I(*shape, lo=-5, hi=6, dtype=i32):
    return lambda r: np.asarray(r.randint(lo, hi, shape), dtype)


def NZ(*shape, dtype=i32):
    """Non-zero integers."""
    return lambda r: np.asarray(np.where(r.rand(*shape) < 0.5, -1, 1) * r.randint(1, 6, shape), dtype)


def C(*shape, dtype=np.complex64):
    return lambda r: np.asarray(r.uniform(-2, 2, shape) + 1j * r.uniform(-2, 2, shape), dtype)


def Bo(*shape):
    return lambda r: np.asarray(r.rand(*shape) < 0.5)


def U32(*shape):
    return lambda r: r.randint(0, 2 ** 32, shape, dtype=np.uint64).astype(u32)


def Perm(n, k):
    """k distinct row indices into an axis of size n, as a (k, 1) index array."""
    return lambda r: r.permutation(n)[:k].reshape(k, 1).astype(i32)


def WithSpecials(gen):
    def g(r):
        x = gen(r).copy()
        x.flat[:3] = [np.inf, -np.inf, np.nan]
        return x
    return g


def WithZero(gen):
    def g(r):
        x = gen(r).copy()
        x.flat[1] = 0
        return x
    return g


# --- references that numpy lacks -------------------------------------------------------------------------------
def ref_round_away(x):
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(x.dtype)


def ref_saturating_int32(x):
    """XLA's float to int conversion: truncate toward zero, saturate, NaN to 0."""
    x = np.where(np.isnan(x), 0, x).astype(f64)
    return np.trunc(np.clip(x, -2 ** 31, 2 ** 31 - 1)).astype(i32)


def ref_int_div(x, y):
    return np.trunc(x.astype(f64) / y.astype(f64)).astype(x.dtype)


def ref_popcount(x):
    u = x.view(np.dtype(f"u{x.dtype.itemsize}"))
    return np.vectorize(lambda v: bin(int(v)).count("1"))(u).astype(x.dtype)


def ref_clz(x):
    bits = x.dtype.itemsize * 8
    u = x.view(np.dtype(f"u{x.dtype.itemsize}"))
    return np.vectorize(lambda v: bits - int(v).bit_length())(u).astype(x.dtype)


def _shift_ok(y, bits):
    return (y >= 0) & (y < bits)


def ref_shift_left(x, y):
    ok = _shift_ok(y, 32)
    r = (x.astype(np.int64) << np.where(ok, y, 0)) & 0xFFFFFFFF
    return np.where(ok, r, 0).astype(np.uint32).view(i32)


def ref_shift_right_logical(x, y):
    ok = _shift_ok(y, 32)
    r = x.view(np.uint32).astype(np.int64) >> np.where(ok, y, 0)
    return np.where(ok, r, 0).astype(np.uint32).view(i32)


def ref_shift_right_arithmetic(x, y):
    s = np.where(_shift_ok(y, 32), y, 31)
    return (x.astype(np.int64) >> s).astype(i32)


def ref_pad(x, pv, config):
    """Place input element i of each dimension at lo + i * (interior + 1), dropping what falls outside."""
    shape = [lo + hi + n + max(n - 1, 0) * it for n, (lo, hi, it) in zip(x.shape, config)]
    out = np.full(shape, pv, x.dtype)
    src, dst = [], []
    for n, size, (lo, hi, it) in zip(x.shape, shape, config):
        pos = lo + np.arange(n) * (it + 1)
        keep = (pos >= 0) & (pos < size)
        src.append(np.arange(n)[keep])
        dst.append(pos[keep])
    out[np.ix_(*dst)] = x[np.ix_(*src)]
    return out


def ref_dynamic_slice(x, *idx, sizes):
    starts = [min(max(int(i), 0), n - s) for i, n, s in zip(idx, x.shape, sizes)]
    return x[tuple(slice(s, s + k) for s, k in zip(starts, sizes))]


def ref_dynamic_update_slice(x, u, *idx):
    starts = [min(max(int(i), 0), n - s) for i, n, s in zip(idx, x.shape, u.shape)]
    out = x.copy()
    out[tuple(slice(s, s + k) for s, k in zip(starts, u.shape))] = u
    return out


def ref_gather_rows(x, idx, fill=None):
    """Rows ``x[i]`` for the index column; out-of-range rows are clamped (clip) or filled."""
    i = idx[:, 0]
    if fill is None:
        return x[np.clip(i, 0, x.shape[0] - 1)]
    out = x[np.clip(i, 0, x.shape[0] - 1)].copy()
    out[(i < 0) | (i >= x.shape[0])] = fill
    return out


def ref_gather_windows(x, idx, sizes):
    out = []
    for start in idx:
        s = [min(max(int(v), 0), n - k) for v, n, k in zip(start, x.shape, sizes)]
        out.append(x[s[0]:s[0] + sizes[0], s[1]:s[1] + sizes[1]])
    return np.stack(out)


def ref_scatter_rows(combine):
    def ref(x, idx, u, drop_oob=False):
        out = x.copy()
        for i, row in zip(idx[:, 0], u):
            if drop_oob and not 0 <= i < x.shape[0]:
                continue
            out[i] = combine(out[i], row)
        return out
    return ref


def ref_stable_sort_by_key(keys, vals, axis):
    order = np.argsort(keys, axis=axis, kind="stable")
    return [np.take_along_axis(keys, order, axis), np.take_along_axis(vals, order, axis)]


def ref_threefry2x32(k1, k2, x1, x2):
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), written out with Python integers."""
    mask = 0xFFFFFFFF
    rot = lambda v, r: ((v << r) | (v >> (32 - r))) & mask
    out1, out2 = np.empty_like(x1), np.empty_like(x2)
    for pos in np.ndindex(x1.shape):
        a, b = int(k1[pos]), int(k2[pos])
        ks = (a, b, a ^ b ^ 0x1BD11BDA)
        v = [(int(x1[pos]) + ks[0]) & mask, (int(x2[pos]) + ks[1]) & mask]
        for block in range(5):
            for r in ((13, 15, 26, 6), (17, 29, 16, 24))[block % 2]:
                v[0] = (v[0] + v[1]) & mask
                v[1] = rot(v[1], r) ^ v[0]
            v[0] = (v[0] + ks[(block + 1) % 3]) & mask
            v[1] = (v[1] + ks[(block + 2) % 3] + block + 1) & mask
        out1[pos], out2[pos] = v
    return [out1, out2]


def ref_conv(lhs, rhs, strides, padding, lhs_dilation=None, rhs_dilation=None, groups=1):
    """N C spatial... / O I spatial... cross-correlation: dilate and pad, then contract every strided window."""
    nsp = lhs.ndim - 2
    lhs_dilation, rhs_dilation = lhs_dilation or (1,) * nsp, rhs_dilation or (1,) * nsp
    x = ref_pad(lhs, 0, [(0, 0, 0)] * 2 + [(lo, hi, d - 1) for (lo, hi), d in zip(padding, lhs_dilation)])
    w = ref_pad(rhs, 0, [(0, 0, 0)] * 2 + [(0, 0, d - 1) for d in rhs_dilation])
    win = sliding_window_view(x, w.shape[2:], axis=tuple(range(2, 2 + nsp)))
    win = win[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)]
    sp, ks = "abc"[:nsp], "xyz"[:nsp]
    o, cg = w.shape[0] // groups, w.shape[1]
    outs = [np.einsum(f"nc{sp}{ks},oc{ks}->no{sp}", win[:, g * cg:(g + 1) * cg], w[g * o:(g + 1) * o])
            for g in range(groups)]
    return np.concatenate(outs, 1).astype(lhs.dtype)


def ref_reduce_window(reducer, identity, x, window, strides, padding, base_dilation, window_dilation):
    x = ref_pad(x, identity, [(lo, hi, b - 1) for (lo, hi), b in zip(padding, base_dilation)])
    span = [(w - 1) * d + 1 for w, d in zip(window, window_dilation)]
    win = sliding_window_view(x, span)
    win = win[tuple(slice(None, None, s) for s in strides) + tuple(slice(None, None, d) for d in window_dilation)]
    return reducer(win, axis=tuple(range(x.ndim, 2 * x.ndim))).astype(x.dtype)


def _rw(p, reducer, identity, **params):
    return Case(bind(p, **params), (F(4, 5),),
                lambda x: ref_reduce_window(reducer, identity, x, params["window_dimensions"],
                                            params["window_strides"], params["padding"], params["base_dilation"],
                                            params["window_dilation"]), (0,))


def ref_top_k(x, k, axis):
    order = np.argsort(-x, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, idx, axis), idx.astype(i32)]


def _scale(x, s, axis):
    """``x`` times the vector ``s`` along ``axis`` (1: scale columns, 0: scale rows)."""
    return ew.mul(x, st.broadcast_in_dim(s, ew.asarray(x).shape, (axis,)))


def _first_row_signs(x):
    return ew.sign(st.index_in_dim(x, 0, 0, keepdims=False))


def qr_unique(a):
    """Reduced QR with diag(r) > 0 (unique, whatever sign convention the backend's factorisation has)."""
    q, r = la.qr(a, full_matrices=False)
    eye = ew.convert_element_type(ew.eq(st.broadcasted_iota(np.int32, r.shape, 0),
                                        st.broadcasted_iota(np.int32, r.shape, 1)), r.dtype)
    d = ew.sign(rd.reduce_sum(ew.mul(r, eye), (1,)))
    return [_scale(q, d, 1), _scale(r, d, 0)]


def svd_unique(a):
    u, s, vt = la.svd(a, full_matrices=False)
    sg = _first_row_signs(u)
    return [s, _scale(u, sg, 1), _scale(vt, sg, 0)]


def eigh_unique(a):
    v, w = la.eigh(a)
    return [_scale(v, _first_row_signs(v), 1), w]


def ref_qr(a):
    q, r = np.linalg.qr(a)
    s = np.sign(np.diag(r))
    return [q * s, r * s[:, None]]


def ref_svd(a):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    sg = np.sign(u[0])
    return [s, u * sg, vt * sg[:, None]]


def ref_eigh(a):
    w, v = np.linalg.eigh((a + a.T) / 2)
    return [v * np.sign(v[0]), w]


def eig_values(a):
    """The split eigenvalues of eig, sorted by (real, imaginary) part (eigenvector phases are not unique)."""
    w_re, w_im, _, _ = la.eig_p.bind(a)
    order = so.sort_p.bind(w_re, w_im, num_keys=2, dimension=w_re.ndim - 1, is_stable=True)
    return list(order)


def ref_eig(a):
    w = np.sort_complex(np.linalg.eigvals(a.astype(np.float64)).astype(np.complex128))
    return [w.real.astype(a.dtype), w.imag.astype(a.dtype)]


def ref_lu(a):
    lu, piv = sla.lu_factor(a)
    perm = np.arange(a.shape[0])
    for i, p in enumerate(piv):
        perm[[i, p]] = perm[[p, i]]
    return [lu.astype(a.dtype), piv.astype(i32), perm.astype(i32)]


def ref_fft(kind, lengths):
    axes = tuple(range(-len(lengths), 0))

    def ref(*parts):
        z = parts[0] + 1j * parts[1] if len(parts) == 2 else parts[0]
        out = {"FFT": lambda: np.fft.fftn(z, axes=axes), "IFFT": lambda: np.fft.ifftn(z, axes=axes),
               "RFFT": lambda: np.fft.rfftn(z, axes=axes),
               "IRFFT": lambda: np.fft.irfftn(z, lengths, axes=axes)}[kind]()
        dt = parts[0].dtype
        return [out.astype(dt)] if kind == "IRFFT" else [out.real.astype(dt), out.imag.astype(dt)]
    return ref


def SPD(n):
    def g(r):
        m = r.uniform(-1, 1, (n, n))
        return (m @ m.T + n * np.eye(n)).astype(f32)
    return g


def LowerTri(n):
    return lambda r: (np.tril(r.uniform(-1, 1, (n, n))) + 3 * np.eye(n) + np.triu(r.uniform(-1, 1, (n, n)), 1)).astype(f32)


# --- the table -------------------------------------------------------------------------------------------------
def _unary(p, gen, ref, diff=True, **kw) -> Case:
    return Case(bind(p), (gen,), ref, (0,) if diff else (), **kw)


def _binary(p, g1, g2, ref, diff=True, **kw) -> Case:
    return Case(bind(p), (g1, g2), ref, (0, 1) if diff else (), **kw)


X = (3, 4)
TABLE: dict[Any, list[Case]] = {
    # complex values and their parts (derivatives: tests/core/test_complex.py)
    ew.real_p: [Case(bind(ew.real_p), (C(*X),), np.real, check_derivatives=False)],
    ew.imag_p: [Case(bind(ew.imag_p), (C(*X),), np.imag, check_derivatives=False)],
    ew.conj_p: [Case(bind(ew.conj_p), (C(*X),), np.conj, check_derivatives=False)],
    ew.complex_p: [Case(bind(ew.complex_p), (F(*X), F(*X)), lambda x, y: (x + 1j * y).astype(np.complex64),
                        check_derivatives=False)],
    ew.neg_p: [_unary(ew.neg_p, F(*X), np.negative), _unary(ew.neg_p, I(*X), np.negative, diff=False)],
    ew.sign_p: [_unary(ew.sign_p, FS(*X), np.sign, diff=False), _unary(ew.sign_p, I(*X), np.sign, diff=False)],
    ew.floor_p: [_unary(ew.floor_p, F(*X), np.floor, diff=False)],
    ew.ceil_p: [_unary(ew.ceil_p, F(*X), np.ceil, diff=False)],
    ew.round_p: [Case(bind(ew.round_p, rounding_method=0), (Q(*X),), ref_round_away, name="away_from_zero"),
                 Case(bind(ew.round_p, rounding_method=1), (Q(*X),), np.rint, name="to_even")],
    ew.is_finite_p: [_unary(ew.is_finite_p, WithSpecials(F(*X)), np.isfinite, diff=False)],
    ew.abs_p: [_unary(ew.abs_p, FS(*X), np.abs), _unary(ew.abs_p, I(*X), np.abs, diff=False)],
    ew.exp_p: [_unary(ew.exp_p, F(*X), np.exp)],
    ew.exp2_p: [_unary(ew.exp2_p, F(*X), np.exp2)],
    ew.log_p: [_unary(ew.log_p, F(*X, lo=0.5, hi=3), np.log)],
    ew.log1p_p: [_unary(ew.log1p_p, F(*X, lo=-0.5, hi=2), np.log1p)],
    ew.expm1_p: [_unary(ew.expm1_p, F(*X), np.expm1)],
    ew.tanh_p: [_unary(ew.tanh_p, F(*X), np.tanh)],
    ew.logistic_p: [_unary(ew.logistic_p, F(*X), sp.expit)],
    ew.sin_p: [_unary(ew.sin_p, F(*X), np.sin)],
    ew.cos_p: [_unary(ew.cos_p, F(*X), np.cos)],
    ew.tan_p: [_unary(ew.tan_p, F(*X, lo=-1, hi=1), np.tan)],
    ew.asin_p: [_unary(ew.asin_p, F(*X, lo=-0.8, hi=0.8), np.arcsin)],
    ew.acos_p: [_unary(ew.acos_p, F(*X, lo=-0.8, hi=0.8), np.arccos)],
    ew.atan_p: [_unary(ew.atan_p, F(*X), np.arctan)],
    ew.sinh_p: [_unary(ew.sinh_p, F(*X), np.sinh)],
    ew.cosh_p: [_unary(ew.cosh_p, F(*X), np.cosh)],
    ew.asinh_p: [_unary(ew.asinh_p, F(*X), np.arcsinh)],
    ew.acosh_p: [_unary(ew.acosh_p, F(*X, lo=1.2, hi=3), np.arccosh)],
    ew.atanh_p: [_unary(ew.atanh_p, F(*X, lo=-0.8, hi=0.8), np.arctanh)],
    ew.sqrt_p: [_unary(ew.sqrt_p, F(*X, lo=0.5, hi=3), np.sqrt)],
    ew.rsqrt_p: [_unary(ew.rsqrt_p, F(*X, lo=0.5, hi=3), lambda x: (1 / np.sqrt(x)).astype(x.dtype))],
    ew.cbrt_p: [_unary(ew.cbrt_p, FS(*X), np.cbrt)],
    ew.erf_p: [_unary(ew.erf_p, F(*X), sp.erf)],
    ew.erfc_p: [_unary(ew.erfc_p, F(*X), sp.erfc)],
    ew.erf_inv_p: [_unary(ew.erf_inv_p, F(*X, lo=-0.8, hi=0.8), sp.erfinv, tol=1e-4)],
    ew.lgamma_p: [_unary(ew.lgamma_p, F(*X, lo=0.5, hi=4), sp.gammaln, tol=1e-4)],
    ew.digamma_p: [_unary(ew.digamma_p, F(*X, lo=0.5, hi=4), sp.psi, tol=1e-4)],
    ew.square_p: [_unary(ew.square_p, F(*X), np.square), _unary(ew.square_p, I(*X), np.square, diff=False)],
    ew.integer_pow_p: [Case(bind(ew.integer_pow_p, y=3), (F(*X),), lambda x: x ** 3, (0,), name="cube"),
                       Case(bind(ew.integer_pow_p, y=-2), (FS(*X),), lambda x: (1 / x ** 2).astype(x.dtype), (0,),
                            name="inverse_square"),
                       Case(bind(ew.integer_pow_p, y=0), (F(*X),), np.ones_like, (0,), name="zeroth"),
                       Case(bind(ew.integer_pow_p, y=2), (I(*X),), np.square, name="int")],
    ew.not_p: [_unary(ew.not_p, Bo(*X), np.logical_not, diff=False), _unary(ew.not_p, I(*X), np.invert, diff=False)],
    ew.population_count_p: [_unary(ew.population_count_p, I(*X, lo=-2 ** 31, hi=2 ** 31 - 1), ref_popcount, diff=False),
                            _unary(ew.population_count_p, I(*X, lo=0, hi=256, dtype=np.uint8), ref_popcount,
                                   diff=False)],
    ew.clz_p: [_unary(ew.clz_p, I(*X, lo=-2 ** 31, hi=2 ** 31 - 1), ref_clz, diff=False),
               _unary(ew.clz_p, I(*X, lo=0, hi=4, dtype=u32), ref_clz, diff=False)],
    ew.stop_gradient_p: [_unary(ew.stop_gradient_p, F(*X), np.copy, diff=False)],
    ew.convert_element_type_p: [
        Case(bind(ew.convert_element_type_p, new_dtype=dtypes.int32, weak_type=False), (F(*X, lo=-5, hi=5),),
             lambda x: np.trunc(x).astype(i32), name="f32_to_i32"),
        Case(bind(ew.convert_element_type_p, new_dtype=dtypes.int32, weak_type=False),
             (WithSpecials(F(*X, lo=-3e9, hi=3e9)),), ref_saturating_int32, name="f32_to_i32_saturating"),
        Case(bind(ew.convert_element_type_p, new_dtype=dtypes.float32, weak_type=False), (I(*X),),
             lambda x: x.astype(f32), name="i32_to_f32"),
        Case(bind(ew.convert_element_type_p, new_dtype=dtypes.bool_, weak_type=False), (Q(*X),),
             lambda x: x != 0, name="f32_to_bool"),
        Case(bind(ew.convert_element_type_p, new_dtype=dtypes.float64, weak_type=False), (F(*X),),
             lambda x: x.astype(f64), (0,), x64=True, upcast=False, name="f32_to_f64")],
    ew.bitcast_convert_type_p: [
        Case(bind(ew.bitcast_convert_type_p, new_dtype=dtypes.int32), (F(*X),), lambda x: x.view(i32), name="f32_i32"),
        Case(bind(ew.bitcast_convert_type_p, new_dtype=dtypes.uint16), (I(*X),),
             lambda x: x.view(np.uint16).reshape(x.shape + (2,)), name="narrow"),
        Case(bind(ew.bitcast_convert_type_p, new_dtype=dtypes.int32), (I(3, 2, dtype=np.uint16),),
             lambda x: np.ascontiguousarray(x).view(i32).reshape(x.shape[:-1]), name="widen")],

    ew.add_p: [_binary(ew.add_p, F(*X), F(*X), np.add), _binary(ew.add_p, I(*X), I(*X), np.add, diff=False)],
    ew.sub_p: [_binary(ew.sub_p, F(*X), F(*X), np.subtract)],
    ew.mul_p: [_binary(ew.mul_p, F(*X), F(*X), np.multiply), _binary(ew.mul_p, I(*X), I(*X), np.multiply, diff=False)],
    ew.div_p: [_binary(ew.div_p, F(*X), FS(*X), np.divide), _binary(ew.div_p, I(*X), NZ(*X), ref_int_div, diff=False)],
    ew.rem_p: [_binary(ew.rem_p, FS(*X, lo=2.2, hi=2.8), F(*X, lo=1.5, hi=2.0), np.fmod),
               _binary(ew.rem_p, I(*X, lo=-20, hi=20), NZ(*X), np.fmod, diff=False)],
    ew.pow_p: [_binary(ew.pow_p, F(*X, lo=0.5, hi=2), F(*X, lo=-1.5, hi=1.5), np.power, tol=2e-5)],
    ew.max_p: [_binary(ew.max_p, F(*X), F(*X), np.maximum), _binary(ew.max_p, I(*X), I(*X), np.maximum, diff=False)],
    ew.min_p: [_binary(ew.min_p, F(*X), F(*X), np.minimum), _binary(ew.min_p, Bo(*X), Bo(*X), np.minimum, diff=False)],
    ew.atan2_p: [_binary(ew.atan2_p, FS(*X), FS(*X), np.arctan2)],
    ew.nextafter_p: [_binary(ew.nextafter_p, Q(*X), Q(*X), np.nextafter, diff=False)],
    ew.and_p: [_binary(ew.and_p, I(*X), I(*X), np.bitwise_and, diff=False),
               _binary(ew.and_p, Bo(*X), Bo(*X), np.logical_and, diff=False)],
    ew.or_p: [_binary(ew.or_p, I(*X), I(*X), np.bitwise_or, diff=False),
              _binary(ew.or_p, Bo(*X), Bo(*X), np.logical_or, diff=False)],
    ew.xor_p: [_binary(ew.xor_p, I(*X, dtype=np.uint8, lo=0, hi=256), I(*X, dtype=np.uint8, lo=0, hi=256),
                       np.bitwise_xor, diff=False),
               _binary(ew.xor_p, Bo(*X), Bo(*X), np.logical_xor, diff=False)],
    ew.shift_left_p: [_binary(ew.shift_left_p, I(*X, lo=-1000, hi=1000), I(*X, lo=-2, hi=36), ref_shift_left,
                              diff=False)],
    ew.shift_right_logical_p: [_binary(ew.shift_right_logical_p, I(*X, lo=-1000, hi=1000), I(*X, lo=-2, hi=36),
                                       ref_shift_right_logical, diff=False)],
    ew.shift_right_arithmetic_p: [_binary(ew.shift_right_arithmetic_p, I(*X, lo=-1000, hi=1000), I(*X, lo=-2, hi=36),
                                          ref_shift_right_arithmetic, diff=False)],
    ew.eq_p: [_binary(ew.eq_p, Q(*X), Q(*X), np.equal, diff=False), _binary(ew.eq_p, I(*X), I(*X), np.equal, diff=False)],
    ew.ne_p: [_binary(ew.ne_p, Q(*X), Q(*X), np.not_equal, diff=False)],
    ew.lt_p: [_binary(ew.lt_p, Q(*X), Q(*X), np.less, diff=False), _binary(ew.lt_p, Bo(*X), Bo(*X), np.less, diff=False)],
    ew.le_p: [_binary(ew.le_p, Q(*X), Q(*X), np.less_equal, diff=False)],
    ew.gt_p: [_binary(ew.gt_p, Q(*X), Q(*X), np.greater, diff=False),
              _binary(ew.gt_p, I(*X, dtype=u32, lo=0, hi=9), I(*X, dtype=u32, lo=0, hi=9), np.greater, diff=False)],
    ew.ge_p: [_binary(ew.ge_p, Q(*X), Q(*X), np.greater_equal, diff=False)],
    ew.select_n_p: [
        Case(bind(ew.select_n_p), (Bo(*X), F(*X), F(*X)), lambda w, a, b: np.where(w, b, a), (1, 2), name="bool"),
        Case(bind(ew.select_n_p), (I(*X, lo=0, hi=3), F(*X), F(*X), F(*X)), lambda w, *c: np.choose(w, c), (1, 2, 3),
             name="int32_three_cases"),
        Case(bind(ew.select_n_p), (Bo(), F(*X), F(*X)), lambda w, a, b: b if w else a, (1, 2), name="scalar_which")],
    ew.clamp_p: [
        Case(bind(ew.clamp_p), (F(lo=-0.6, hi=-0.4), F(*X, lo=-1, hi=1), F(lo=0.4, hi=0.6)),
             lambda lo, x, hi: np.clip(x, lo, hi), (0, 1, 2), name="scalar_bounds"),
        Case(bind(ew.clamp_p), (F(*X, lo=-0.6, hi=-0.4), F(*X, lo=-1, hi=1), F(*X, lo=0.4, hi=0.6)),
             lambda lo, x, hi: np.clip(x, lo, hi), (0, 1, 2), name="array_bounds")],

    st.iota_p: [Case(bind(st.iota_p, dtype=dtypes.int32, shape=(3, 4), dimension=1), (),
                     lambda: np.broadcast_to(np.arange(4, dtype=i32), (3, 4)))],
    st.broadcast_in_dim_p: [
        Case(bind(st.broadcast_in_dim_p, shape=(2, 3, 4), broadcast_dimensions=(1, 2)), (F(3, 1),),
             lambda x: np.broadcast_to(x, (2, 3, 4)), (0,)),
        Case(bind(st.broadcast_in_dim_p, shape=(3,), broadcast_dimensions=()), (F(),),
             lambda x: np.broadcast_to(x, (3,)), (0,), name="scalar"),
        Case(bind(st.broadcast_in_dim_p, shape=(4, 3), broadcast_dimensions=(1,)), (F(3),),
             lambda x: np.broadcast_to(x, (4, 3)), (0,), name="leading")],
    st.reshape_p: [Case(bind(st.reshape_p, new_sizes=(2, 6)), (F(*X),), lambda x: x.reshape(2, 6), (0,)),
                   Case(bind(st.reshape_p, new_sizes=(12,)), (I(*X),), lambda x: x.reshape(12), name="int")],
    st.squeeze_p: [Case(bind(st.squeeze_p, dimensions=(1,)), (F(3, 1, 4),), lambda x: x[:, 0], (0,))],
    st.transpose_p: [Case(bind(st.transpose_p, permutation=(2, 0, 1)), (F(2, 3, 4),),
                          lambda x: np.transpose(x, (2, 0, 1)), (0,))],
    st.rev_p: [Case(bind(st.rev_p, dimensions=(0, 1)), (F(*X),), lambda x: x[::-1, ::-1], (0,)),
               Case(bind(st.rev_p, dimensions=(1,)), (F(*X),), lambda x: x[:, ::-1], (0,), name="one_dim")],
    st.pad_p: [
        Case(bind(st.pad_p, padding_config=((1, 2, 0), (0, -1, 1))), (F(*X), F()),
             lambda x, v: ref_pad(x, v, ((1, 2, 0), (0, -1, 1))), (0, 1), name="interior_and_crop"),
        Case(bind(st.pad_p, padding_config=((-1, 0, 2), (2, 2, 0))), (F(*X), F()),
             lambda x, v: ref_pad(x, v, ((-1, 0, 2), (2, 2, 0))), (0, 1), name="negative_low")],
    st.concatenate_p: [Case(bind(st.concatenate_p, dimension=1), (F(2, 3), F(2, 1), F(2, 2)),
                            lambda *xs: np.concatenate(xs, 1), (0, 1, 2)),
                       Case(bind(st.concatenate_p, dimension=0), (I(1, 3), I(2, 3)),
                            lambda *xs: np.concatenate(xs, 0), name="int")],
    st.slice_p: [Case(bind(st.slice_p, start_indices=(1, 0), limit_indices=(4, 6), strides=(2, 3)), (F(5, 6),),
                      lambda x: x[1:4:2, 0:6:3], (0,), name="strided"),
                 Case(bind(st.slice_p, start_indices=(1, 2), limit_indices=(4, 5), strides=None), (F(5, 6),),
                      lambda x: x[1:4, 2:5], (0,), name="unit")],
    st.dynamic_slice_p: [Case(bind(st.dynamic_slice_p, slice_sizes=(2, 3)), (F(5, 6), I(lo=-2, hi=7), I(lo=-2, hi=7)),
                              lambda x, i, j: ref_dynamic_slice(x, i, j, sizes=(2, 3)), (0,))],
    st.dynamic_update_slice_p: [Case(bind(st.dynamic_update_slice_p), (F(5, 6), F(2, 3), I(lo=-2, hi=7), I(lo=-2, hi=7)),
                                     ref_dynamic_update_slice, (0, 1))],

    rd.reduce_sum_p: [Case(bind(rd.reduce_sum_p, axes=(0, 2)), (F(3, 4, 5),), lambda x: x.sum((0, 2)), (0,)),
                      Case(bind(rd.reduce_sum_p, axes=(1,)), (I(*X),), lambda x: x.sum(1, dtype=i32), name="int")],
    rd.reduce_max_p: [Case(bind(rd.reduce_max_p, axes=(1,)), (F(*X),), lambda x: x.max(1), (0,)),
                      Case(bind(rd.reduce_max_p, axes=(0,)), (I(*X),), lambda x: x.max(0), name="int")],
    rd.reduce_min_p: [Case(bind(rd.reduce_min_p, axes=(0,)), (F(*X),), lambda x: x.min(0), (0,)),
                      Case(bind(rd.reduce_min_p, axes=(0, 1)), (Bo(*X),), lambda x: x.min((0, 1)), name="bool")],
    rd.reduce_prod_p: [Case(bind(rd.reduce_prod_p, axes=(1,)), (FS(*X, lo=0.5, hi=1.5),), lambda x: x.prod(1), (0,)),
                       Case(bind(rd.reduce_prod_p, axes=(0, 1)), (WithZero(FS(*X, lo=0.5, hi=1.5)),),
                            lambda x: x.prod((0, 1)), (0,), name="with_zero")],
    rd.reduce_and_p: [Case(bind(rd.reduce_and_p, axes=(1,)), (Bo(*X),), lambda x: x.all(1)),
                      Case(bind(rd.reduce_and_p, axes=(0,)), (I(*X),), lambda x: np.bitwise_and.reduce(x, 0), name="int")],
    rd.reduce_or_p: [Case(bind(rd.reduce_or_p, axes=(1,)), (Bo(*X),), lambda x: x.any(1)),
                     Case(bind(rd.reduce_or_p, axes=(0,)), (I(*X),), lambda x: np.bitwise_or.reduce(x, 0), name="int")],
    rd.reduce_xor_p: [Case(bind(rd.reduce_xor_p, axes=(1,)), (Bo(*X),), lambda x: np.logical_xor.reduce(x, 1)),
                      Case(bind(rd.reduce_xor_p, axes=(0,)), (I(*X),), lambda x: np.bitwise_xor.reduce(x, 0), name="int")],
    rd.argmax_p: [Case(bind(rd.argmax_p, axes=(1,), index_dtype=dtypes.int32), (F(*X),),
                       lambda x: x.argmax(1).astype(i32))],
    rd.argmin_p: [Case(bind(rd.argmin_p, axes=(0,), index_dtype=dtypes.int32), (Q(*X),),
                       lambda x: x.argmin(0).astype(i32))],
    rd.cumsum_p: [Case(bind(rd.cumsum_p, axis=1, reverse=False), (F(*X),), lambda x: x.cumsum(1), (0,)),
                  Case(bind(rd.cumsum_p, axis=0, reverse=True), (I(*X),), lambda x: x[::-1].cumsum(0, dtype=i32)[::-1],
                       name="int_reverse")],
    rd.cumprod_p: [Case(bind(rd.cumprod_p, axis=1, reverse=False), (FS(*X, lo=0.5, hi=1.5),), lambda x: x.cumprod(1), (0,)),
                   Case(bind(rd.cumprod_p, axis=0, reverse=True), (FS(*X, lo=0.5, hi=1.5),),
                        lambda x: x[::-1].cumprod(0)[::-1], (0,), name="reverse")],
    rd.cummax_p: [Case(bind(rd.cummax_p, axis=1, reverse=False), (F(*X),), lambda x: np.maximum.accumulate(x, 1), (0,)),
                  Case(bind(rd.cummax_p, axis=0, reverse=True), (F(*X),),
                       lambda x: np.maximum.accumulate(x[::-1], 0)[::-1], (0,), name="reverse")],
    rd.cummin_p: [Case(bind(rd.cummin_p, axis=0, reverse=False), (F(*X),), lambda x: np.minimum.accumulate(x, 0), (0,))],
    rd.cumlogsumexp_p: [Case(bind(rd.cumlogsumexp_p, axis=1, reverse=False), (F(*X),),
                             lambda x: np.logaddexp.accumulate(x, 1), (0,)),
                        Case(bind(rd.cumlogsumexp_p, axis=0, reverse=True), (F(*X),),
                             lambda x: np.logaddexp.accumulate(x[::-1], 0)[::-1], (0,), name="reverse")],

    ix.gather_p: [
        Case(bind(ix.gather_p, dimension_numbers=ix.GatherDimensionNumbers((1,), (0,), (0,)), slice_sizes=(1, 4),
                  mode="clip", fill_value=None), (F(5, 4), I(3, 1, lo=0, hi=5)), ref_gather_rows, (0,), name="rows"),
        Case(bind(ix.gather_p, dimension_numbers=ix.GatherDimensionNumbers((), (1,), (1,), (0,), (0,)),
                  slice_sizes=(1, 1), mode="clip", fill_value=None), (F(3, 5), I(3, 2, 1, lo=0, hi=5)),
             lambda x, i: np.take_along_axis(x, i[..., 0], 1), (0,), name="batching_dims"),
        Case(bind(ix.gather_p, dimension_numbers=ix.GatherDimensionNumbers((1, 2), (), (0, 1)), slice_sizes=(2, 3),
                  mode="clip", fill_value=None), (F(4, 5), I(2, 2, lo=-1, hi=5)),
             lambda x, i: ref_gather_windows(x, i, (2, 3)), (0,), name="clipped_windows"),
        Case(bind(ix.gather_p, dimension_numbers=ix.GatherDimensionNumbers((1,), (0,), (0,)), slice_sizes=(1, 4),
                  mode="fill", fill_value=None), (F(5, 4), I(3, 1, lo=-2, hi=7)),
             lambda x, i: ref_gather_rows(x, i, fill=np.nan), check_derivatives=False, name="fill_nan")],
    ix.scatter_p: [Case(bind(ix.scatter_p, dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)),
                             indices_are_sorted=False, unique_indices=True, mode="clip"),
                        (F(5, 4), Perm(5, 2), F(2, 4)), ref_scatter_rows(lambda a, b: b), (0, 2))],
    ix.scatter_add_p: [
        Case(bind(ix.scatter_add_p, dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)),
                  indices_are_sorted=False, unique_indices=False, mode="clip"),
             (F(5, 4), I(3, 1, lo=0, hi=5), F(3, 4)), ref_scatter_rows(np.add), (0, 2)),
        Case(bind(ix.scatter_add_p, dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)),
                  indices_are_sorted=False, unique_indices=False, mode="fill"),
             (F(5, 4), I(3, 1, lo=-2, hi=7), F(3, 4)), lambda x, i, u: ref_scatter_rows(np.add)(x, i, u, True), (0, 2),
             name="drop_out_of_bounds")],
    ix.scatter_mul_p: [Case(bind(ix.scatter_mul_p, dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)),
                                 indices_are_sorted=False, unique_indices=True, mode="clip"),
                            (F(5, 4), Perm(5, 2), FS(2, 4)), ref_scatter_rows(np.multiply), (0, 2))],
    ix.scatter_min_p: [Case(bind(ix.scatter_min_p, dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)),
                                 indices_are_sorted=False, unique_indices=True, mode="clip"),
                            (F(5, 4), Perm(5, 2), F(2, 4)), ref_scatter_rows(np.minimum), (0, 2))],
    ix.scatter_max_p: [Case(bind(ix.scatter_max_p, dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)),
                                 indices_are_sorted=False, unique_indices=True, mode="clip"),
                            (F(5, 4), Perm(5, 2), F(2, 4)), ref_scatter_rows(np.maximum), (0, 2))],

    ct.dot_general_p: [
        Case(bind(ct.dot_general_p, dimension_numbers=(((1,), (0,)), ((), ())), precision=None,
                  preferred_element_type=None), (F(3, 4), F(4, 5)), np.matmul, (0, 1), name="matmul"),
        Case(bind(ct.dot_general_p, dimension_numbers=(((2,), (1,)), ((0,), (0,))), precision=None,
                  preferred_element_type=None), (F(2, 3, 4), F(2, 4, 5)), np.matmul, (0, 1), name="batched"),
        Case(bind(ct.dot_general_p, dimension_numbers=(((0,), (1,)), ((), ())), precision=None,
                  preferred_element_type=None), (F(4, 3), F(5, 4)), lambda a, b: np.einsum("ka,bk->ab", a, b), (0, 1),
             name="permuted"),
        Case(bind(ct.dot_general_p, dimension_numbers=(((1,), (0,)), ((), ())), precision=None,
                  preferred_element_type=None), (I(3, 4), I(4, 2)), np.matmul, name="int"),
        Case(bind(ct.dot_general_p, dimension_numbers=(((1,), (0,)), ((), ())), precision=None,
                  preferred_element_type=dtypes.int32), (I(3, 4, dtype=np.int8), I(4, 2, dtype=np.int8)),
             lambda a, b: a.astype(i32) @ b.astype(i32), name="preferred_int32")],

    so.sort_p: [
        Case(bind(so.sort_p, dimension=1, is_stable=True, num_keys=1), (F(3, 5),), lambda x: [np.sort(x, 1)], (0,)),
        Case(bind(so.sort_p, dimension=0, is_stable=True, num_keys=1), (F(4, 3),), lambda x: [np.sort(x, 0)], (0,),
             name="dim0"),
        Case(bind(so.sort_p, dimension=1, is_stable=True, num_keys=1), (I(3, 5, lo=0, hi=3), F(3, 5)),
             lambda k, v: ref_stable_sort_by_key(k, v, 1), (1,), name="key_value_ties")],

    prng.threefry2x32_p: [Case(bind(prng.threefry2x32_p), (U32(4), U32(4), U32(4), U32(4)), ref_threefry2x32)],

    cv.conv_general_dilated_p: [
        Case(lambda x, w: cv.conv_general_dilated(x, w, (2,), ((1, 2),)), (F(2, 3, 7), F(4, 3, 3)),
             lambda x, w: ref_conv(x, w, (2,), ((1, 2),)), (0, 1), tol=1e-4, name="1d_strided_padded"),
        Case(lambda x, w: cv.conv_general_dilated(x, w, (1, 1), ((1, 0), (0, 1)), lhs_dilation=(2, 1),
                                                  rhs_dilation=(1, 2)),
             (F(1, 2, 4, 5), F(3, 2, 2, 2)),
             lambda x, w: ref_conv(x, w, (1, 1), ((1, 0), (0, 1)), (2, 1), (1, 2)), (0, 1), tol=1e-4,
             name="2d_dilated"),
        Case(lambda x, w: cv.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), feature_group_count=2),
             (F(1, 4, 4, 4), F(6, 2, 3, 3)),
             lambda x, w: ref_conv(x, w, (1, 1), ((1, 1), (1, 1)), groups=2), (0, 1), tol=1e-4, name="groups"),
        Case(lambda x, w: cv.conv_general_dilated(x, w, (1, 2), ((0, 0), (1, 1)),
                                                  dimension_numbers=("NHWC", "HWIO", "NHWC")),
             (F(2, 5, 4, 3), F(2, 3, 3, 2)),
             lambda x, w: np.transpose(ref_conv(np.transpose(x, (0, 3, 1, 2)), np.transpose(w, (3, 2, 0, 1)),
                                                (1, 2), ((0, 0), (1, 1))), (0, 2, 3, 1)), (0, 1), tol=1e-4,
             name="nhwc")],
    wd.reduce_window_sum_p: [_rw(wd.reduce_window_sum_p, np.sum, 0, window_dimensions=(2, 3), window_strides=(1, 2),
                                 padding=((1, 0), (0, 1)), base_dilation=(1, 1), window_dilation=(1, 1))],
    wd.reduce_window_max_p: [_rw(wd.reduce_window_max_p, np.max, -np.inf, window_dimensions=(2, 2),
                                 window_strides=(1, 1), padding=((0, 1), (1, 1)), base_dilation=(2, 1),
                                 window_dilation=(1, 2))],
    wd.reduce_window_min_p: [_rw(wd.reduce_window_min_p, np.min, np.inf, window_dimensions=(3, 2),
                                 window_strides=(2, 1), padding=((0, 0), (0, 0)), base_dilation=(1, 1),
                                 window_dilation=(1, 1))],
    wd.top_k_p: [Case(bind(wd.top_k_p, k=2, axis=1, is_stable=True), (F(3, 5),), lambda x: ref_top_k(x, 2, 1), (0,)),
                 Case(bind(wd.top_k_p, k=3, axis=0, is_stable=True), (Q(4, 3),), lambda x: ref_top_k(x, 3, 0),
                      check_derivatives=False, name="ties_axis0")],

    la.cholesky_p: [Case(la.cholesky, (SPD(3),), lambda a: np.linalg.cholesky((a + a.T) / 2), (0,), tol=1e-4)],
    la.triangular_solve_p: [
        Case(lambda a, b: la.triangular_solve(a, b, left_side=True, lower=True), (LowerTri(3), F(3, 2)),
             lambda a, b: sla.solve_triangular(a, b, lower=True).astype(b.dtype), (0, 1), tol=1e-4, name="left_lower"),
        Case(lambda a, b: la.triangular_solve(a, b, left_side=False, lower=False, transpose_a=True),
             (lambda r: LowerTri(3)(r).T.copy(), F(2, 3)),
             lambda a, b: (b @ np.linalg.inv(np.triu(a).T)).astype(b.dtype), (0, 1), tol=1e-4,
             name="right_upper_transposed")],
    la.qr_p: [Case(qr_unique, (F(4, 3),), ref_qr, (0,), tol=1e-4)],
    la.svd_p: [Case(svd_unique, (F(4, 3),), ref_svd, (0,), tol=1e-4)],
    la.eigh_p: [Case(eigh_unique, (F(3, 3),), ref_eigh, (0,), tol=1e-4)],
    la.lu_p: [Case(la.lu, (F(4, 4),), ref_lu, (0,), tol=1e-4)],
    la.eig_p: [Case(eig_values, (F(4, 4),), ref_eig, tol=1e-4, check_derivatives=False)],
    la.complex_linalg_p: [Case(
        lambda re, im: la.complex_linalg_p.bind(re, im, op="svd", params=(("compute_uv", False),
                                                                          ("full_matrices", False))),
        (F(4, 3), F(4, 3)), lambda re, im: [np.linalg.svd(re + 1j * im, compute_uv=False).astype(re.dtype)],
        (0, 1), tol=1e-4, name="svd_values")],

    ff.fft_p: [Case(lambda re, im: ff.fft_split((re, im), "FFT", (8,)), (F(3, 8), F(3, 8)), ref_fft("FFT", (8,)),
                    (0, 1), tol=1e-4, name="fft"),
               Case(lambda re, im: ff.fft_split((re, im), "IFFT", (8,)), (F(3, 8), F(3, 8)), ref_fft("IFFT", (8,)),
                    (0, 1), tol=1e-4, name="ifft"),
               Case(lambda x: ff.fft_split((x,), "RFFT", (4, 6)), (F(2, 4, 6),), ref_fft("RFFT", (4, 6)), (0,),
                    tol=1e-4, name="rfft2"),
               Case(lambda re, im: ff.fft_split((re, im), "IRFFT", (7,)), (F(3, 4), F(3, 4)), ref_fft("IRFFT", (7,)),
                    (0, 1), tol=1e-4, name="irfft_odd")],
}

# Primitives that carry jaxprs or user rules: tested through their wrappers under every transformation.
COVERED_ELSEWHERE = {
    cf.cond_p: "test_core_control_flow.py",
    cf.while_p: "test_core_control_flow.py",
    cf.scan_p: "test_core_control_flow.py",
    call.pjit_p: "test_core_transforms.py",
    call.checkpoint_p: "test_core_custom_derivatives.py",
    cd.custom_jvp_call_p: "test_core_custom_derivatives.py",
    cd.custom_vjp_call_p: "test_core_custom_derivatives.py",
    cd.custom_lin_p: "test_core_custom_derivatives.py",
    solves.linear_solve_p: "../api/test_solves.py",
    la.tridiagonal_solve_p: "../api/test_linalg_tridiagonal.py",
    **{p: "../multidevice/test_sharded_and_demo.py" for p in collectives.COLLECTIVES},
    **{p: "../api/test_callbacks.py" for p in callbacks.CALLBACKS},
}


def sds(shape, dtype):
    return ShapedArray(tuple(shape), dtypes.canonicalize(dtype))


_F34, _I34 = sds(X, f32), sds(X, i32)

# Inputs each abstract evaluation rule must reject: (input avals, params, exception type, message regex).
BAD_INPUTS: dict[Any, list] = {
    ew.add_p: [([_F34, _I34], {}, TypeError, "float32.*int32"), ([_F34, sds((4, 3), f32)], {}, TypeError, "shapes")],
    ew.mul_p: [([_F34, sds(X, np.float16)], {}, TypeError, "float32.*float16")],
    ew.sub_p: [([sds(X, bool), sds(X, bool)], {}, TypeError, "sub does not accept dtype bool")],
    ew.exp_p: [([_I34], {}, TypeError, "exp does not accept dtype int32")],
    ew.sin_p: [([_I34], {}, TypeError, "int32")],
    ew.neg_p: [([sds(X, bool)], {}, TypeError, "neg does not accept dtype bool")],
    ew.and_p: [([_F34, _F34], {}, TypeError, "and does not accept dtype float32")],
    ew.shift_left_p: [([sds(X, bool), sds(X, bool)], {}, TypeError, "bool")],
    ew.pow_p: [([_I34, _I34], {}, TypeError, "pow does not accept dtype int32")],
    ew.lt_p: [([_F34, _I34], {}, TypeError, "float32.*int32")],
    ew.population_count_p: [([_F34], {}, TypeError, "float32")],
    ew.select_n_p: [([sds(X, f32), _F34, _F34], {}, TypeError, "which"),
                    ([sds(X, bool), _F34, _I34], {}, TypeError, "same shapes and dtypes"),
                    ([sds((4,), bool), _F34, _F34], {}, TypeError, "shape")],
    ew.clamp_p: [([sds((), i32), _F34, sds((), f32)], {}, TypeError, "same dtype"),
                 ([sds((4,), f32), _F34, sds((), f32)], {}, TypeError, "shape")],
    ew.bitcast_convert_type_p: [([sds((3, 3), np.uint16)], dict(new_dtype=dtypes.int32), TypeError, "trailing axis")],
    st.broadcast_in_dim_p: [([sds((3,), f32)], dict(shape=(4, 5), broadcast_dimensions=(1,)), TypeError,
                             "broadcast_in_dim")],
    st.reshape_p: [([_F34], dict(new_sizes=(5, 2)), TypeError, r"reshape total size must be unchanged.*\(5, 2\).*\(3, 4\)")],
    st.squeeze_p: [([_F34], dict(dimensions=(0,)), ValueError, "squeeze")],
    st.transpose_p: [([_F34], dict(permutation=(0, 0)), TypeError, "permutation")],
    st.rev_p: [([_F34], dict(dimensions=(2,)), TypeError, "rev")],
    st.pad_p: [([_F34, sds((), i32)], dict(padding_config=((0, 0, 0), (0, 0, 0))), TypeError, "padding_value"),
               ([_F34, sds((), f32)], dict(padding_config=((0, 0, 0),)), ValueError, "padding_config")],
    st.concatenate_p: [([_F34, sds((3, 2), i32)], dict(dimension=1), TypeError, "dtypes"),
                       ([_F34, sds((2, 2), f32)], dict(dimension=1), TypeError, "shapes")],
    st.slice_p: [([_F34], dict(start_indices=(0, 0), limit_indices=(4, 4), strides=None), TypeError, "slice")],
    st.dynamic_slice_p: [([_F34, sds((), i32)], dict(slice_sizes=(1, 1)), TypeError, "start indices"),
                         ([_F34, sds((), f32), sds((), i32)], dict(slice_sizes=(1, 1)), TypeError, "integers")],
    st.dynamic_update_slice_p: [([_F34, sds((4, 4), f32), sds((), i32), sds((), i32)], {}, TypeError, "fit")],
    st.iota_p: [([], dict(dtype=dtypes.int32, shape=(3,), dimension=1), ValueError, "iota dimension")],
    rd.reduce_sum_p: [([_F34], dict(axes=(2,)), ValueError, "axes"), ([sds(X, bool)], dict(axes=(0,)), TypeError, "bool")],
    rd.reduce_max_p: [([_F34], dict(axes=(0, 0)), ValueError, "duplicate value in 'axes'")],
    rd.reduce_min_p: [([_F34], dict(axes=(5,)), ValueError, "out-of-bounds")],
    rd.reduce_prod_p: [([sds(X, bool)], dict(axes=(0,)), TypeError, "reduce_prod")],
    rd.reduce_and_p: [([_F34], dict(axes=(0,)), TypeError, "float32")],
    rd.reduce_or_p: [([_F34], dict(axes=(0,)), TypeError, "float32")],
    rd.reduce_xor_p: [([_F34], dict(axes=(0,)), TypeError, "float32")],
    rd.argmax_p: [([_F34], dict(axes=(0, 1), index_dtype=dtypes.int32), ValueError, "exactly one axis")],
    rd.argmin_p: [([_F34], dict(axes=(0,), index_dtype=dtypes.float32), TypeError, "index_dtype")],
    rd.cumsum_p: [([_F34], dict(axis=2, reverse=False), ValueError, "out of bounds")],
    rd.cumprod_p: [([sds(X, bool)], dict(axis=0, reverse=False), TypeError, "bool")],
    rd.cummax_p: [([sds((), f32)], dict(axis=0, reverse=False), ValueError, "out of bounds")],
    rd.cummin_p: [([sds(X, bool)], dict(axis=0, reverse=False), TypeError, "bool")],
    rd.cumlogsumexp_p: [([sds(X, i32)], dict(axis=0, reverse=False), TypeError, "int32")],
    ix.gather_p: [([sds((5, 4), f32), sds((3, 1), f32)], dict(dimension_numbers=ix.GatherDimensionNumbers((1,), (0,), (0,)),
                   slice_sizes=(1, 4), mode="clip", fill_value=None), ValueError, "indices must have an integer type"),
                  ([sds((5, 4), f32), sds((3, 1), i32)], dict(dimension_numbers=ix.GatherDimensionNumbers((1,), (0,), (0,)),
                   slice_sizes=(2, 4), mode="clip", fill_value=None), TypeError,
                   "Gather op can only collapse slice dims with bound 1, but bound is 2"),
                  ([sds((5, 4), f32), sds((5, 1), i32)],
                   dict(dimension_numbers=ix.GatherDimensionNumbers((1,), (), (1,), (0,), (1,)), slice_sizes=(1, 4),
                        mode="clip", fill_value=None), TypeError,
                   "Gather op cannot have the index vector dimension as a batching dimension; got \\(1,\\)")],
    ix.scatter_p: [([sds((5, 4), f32), sds((2, 1), i32), sds((2, 4), i32)],
                    dict(dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)), indices_are_sorted=False,
                         unique_indices=True, mode="clip"), TypeError,
                   "lax.scatter requires arguments to have the same dtypes, got float32, int32")],
    ix.scatter_mul_p: [([sds((5, 4), f32), sds((2, 1), i32), sds((2, 5), f32)],
                        dict(dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)), indices_are_sorted=False,
                             unique_indices=True, mode="clip"), TypeError,
                        "For dimension 1, updates bound is 5, operand bound is 4")],
    ix.scatter_min_p: [([sds((5, 4), f32), sds((2, 2), i32), sds((2, 4), f32)],
                        dict(dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)), indices_are_sorted=False,
                             unique_indices=True, mode="clip"), TypeError,
                        "Scatter op has 1 elements in scatter_dims_to_operand_dims and the bound of dimension "
                        "index_vector_dim=1 of indices is 2")],
    ix.scatter_max_p: [([sds((5, 4), f32), sds((2, 1), i32), sds((2, 4, 1), f32)],
                        dict(dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)), indices_are_sorted=False,
                             unique_indices=True, mode="clip"), TypeError,
                        "Updates tensor must be of rank 2; got 3")],
    ix.scatter_add_p: [([sds((5, 4), f32), sds((2, 1), i32), sds((3, 4), f32)],
                        dict(dimension_numbers=ix.ScatterDimensionNumbers((1,), (0,), (0,)), indices_are_sorted=False,
                             unique_indices=False, mode="clip"), TypeError,
                        "For scatter dimension 0, updates bound is 3, indices bound is 2")],
    ct.dot_general_p: [([sds((3, 4), f32), sds((5, 2), f32)], dict(dimension_numbers=(((1,), (0,)), ((), ())),
                        precision=None, preferred_element_type=None), TypeError,
                        r"contracting dimensions to have the same shape, got \(4,\) and \(5,\)\."),
                       ([sds((3, 4), f32), sds((4, 2), i32)], dict(dimension_numbers=(((1,), (0,)), ((), ())),
                        precision=None, preferred_element_type=None), TypeError, "float32 and int32")],
    so.sort_p: [([_F34, sds((3, 5), f32)], dict(dimension=0, is_stable=True, num_keys=1), TypeError, "same shape"),
                ([_F34], dict(dimension=0, is_stable=True, num_keys=2), ValueError, "num_keys")],
    prng.threefry2x32_p: [([sds((2,), u32)] * 3 + [sds((2,), i32)], {}, TypeError, "uint32")],
}

_CONV = dict(window_strides=(1,), padding=((0, 0),), lhs_dilation=(1,), rhs_dilation=(1,),
             dimension_numbers=cv.conv_dimension_numbers((1, 3, 5), (4, 3, 2), None), feature_group_count=1,
             batch_group_count=1, precision=None, preferred_element_type=None)
_WINDOW = dict(window_dimensions=(2,), window_strides=(1,), padding=((0, 0),), base_dilation=(1,), window_dilation=(1,))
_TS = dict(left_side=True, lower=True, transpose_a=False, conjugate_a=False, unit_diagonal=False)
BAD_INPUTS.update({
    cv.conv_general_dilated_p: [([sds((1, 3, 5), f32), sds((4, 3, 2), i32)], _CONV, TypeError, "float32, int32"),
                                ([sds((1, 2, 5), f32), sds((4, 3, 2), f32)], _CONV, ValueError, "feature")],
    wd.reduce_window_sum_p: [([_F34], _WINDOW, TypeError, "window_dimensions")],
    wd.reduce_window_max_p: [([sds((5,), np.float16), ], dict(_WINDOW, window_strides=(0,)), TypeError, "positive")],
    wd.reduce_window_min_p: [([sds((5,), np.float16), ], dict(_WINDOW, padding=((0, 0), (0, 0))), TypeError,
                              "inconsistent padding")],
    wd.top_k_p: [([_F34], dict(k=5, axis=1, is_stable=True), ValueError, "no larger than size")],
    la.cholesky_p: [([_F34], {}, ValueError, "square"), ([sds((3, 3), i32)], {}, TypeError, "int32")],
    la.triangular_solve_p: [([sds((3, 3), f32), sds((4, 2), f32)], _TS, ValueError, "must equal a.shape")],
    la.qr_p: [([sds((3,), f32)], dict(full_matrices=False), ValueError, "at least 2 dimensions")],
    la.svd_p: [([sds((3, 3), np.float16)], dict(full_matrices=False, compute_uv=True), NotImplementedError,
                "Unsupported dtype float16")],
    la.eigh_p: [([_F34], dict(lower=True), ValueError, "square")],
    la.lu_p: [([sds((3,), f32)], {}, ValueError, "at least 2 dimensions")],
    la.eig_p: [([_F34], {}, ValueError, "square"), ([sds((3, 3), i32)], {}, TypeError, "int32")],
    la.complex_linalg_p: [([_F34], dict(op="svd", params=(("compute_uv", False), ("full_matrices", False))),
                           TypeError, "part pairs"),
                          ([sds((3, 3), i32), sds((3, 3), i32)], dict(op="lu", params=()), TypeError, "float32 or float64")],
    ew.real_p: [([_F34], {}, TypeError, "real requires a complex operand")],
    ew.imag_p: [([_F34], {}, TypeError, "imag requires a complex operand")],
    ew.conj_p: [([_I34], {}, TypeError, "conj requires a complex operand")],
    ew.complex_p: [([_I34, _I34], {}, TypeError, "two float32 or float64"), ([_F34, sds((4, 3), f32)], {}, TypeError,
                                                                          "one shape and dtype")],
    ff.fft_p: [([_I34, _I34], dict(fft_type=ff.FftType.FFT, fft_lengths=(4,)), TypeError, "float32 or float64"),
               ([_F34, _F34], dict(fft_type=ff.FftType.FFT, fft_lengths=(3,)), ValueError, "fft_lengths")],
})

# Abstract rules with nothing to reject for well-formed params (any dtype and shape is valid).
ACCEPTS_ANY_INPUT = {ew.stop_gradient_p, ew.convert_element_type_p}


def _elementwise_bad_inputs() -> dict:
    """Dtype and shape errors of the elementwise rules, from the dtype class each op accepts."""
    rejects = {
        np.bool_: (ew.neg_p, ew.sign_p, ew.abs_p, ew.square_p, ew.integer_pow_p, ew.add_p, ew.mul_p, ew.div_p, ew.rem_p),
        i32: (ew.floor_p, ew.ceil_p, ew.round_p, ew.is_finite_p, ew.exp_p, ew.exp2_p, ew.log_p, ew.log1p_p, ew.expm1_p,
              ew.tanh_p, ew.logistic_p, ew.sin_p, ew.cos_p, ew.tan_p, ew.asin_p, ew.acos_p, ew.atan_p, ew.sinh_p,
              ew.cosh_p, ew.asinh_p, ew.acosh_p, ew.atanh_p, ew.sqrt_p, ew.rsqrt_p, ew.cbrt_p, ew.erf_p, ew.erfc_p,
              ew.erf_inv_p, ew.lgamma_p, ew.digamma_p, ew.pow_p, ew.atan2_p, ew.nextafter_p),
        f32: (ew.not_p, ew.population_count_p, ew.clz_p, ew.and_p, ew.or_p, ew.xor_p, ew.shift_left_p,
              ew.shift_right_logical_p, ew.shift_right_arithmetic_p),
    }
    params = {ew.integer_pow_p: dict(y=2), ew.round_p: dict(rounding_method=0)}
    out: dict = {}
    for dtype, prims in rejects.items():
        for p in prims:
            n = len(TABLE[p][0].gens)
            name = np.dtype(dtype).name
            out.setdefault(p, []).append(([sds(X, dtype)] * n, params.get(p, {}), TypeError,
                                          f"{p.name} does not accept dtype {name}"))
    for p in ew.ELEMENTWISE_BINARY:
        a = TABLE[p][0].args(np.random.RandomState(0))[0]
        other = {"f": np.float16, "i": np.uint8}.get(a.dtype.kind, i32)
        out.setdefault(p, []).append(([sds(X, a.dtype), sds(X, other)], {}, TypeError,
                                      f"{p.name} requires arguments to have the same dtypes, got "
                                      f"{a.dtype.name}, {np.dtype(other).name}"))
        out[p].append(([sds(X, a.dtype), sds((4, 3), a.dtype)], {}, TypeError, "incompatible shapes"))
    return out


for _p, _bad in _elementwise_bad_inputs().items():
    BAD_INPUTS[_p] = BAD_INPUTS.get(_p, []) + _bad
