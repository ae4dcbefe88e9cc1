"""Complex numbers on backends without complex dtypes: ``lower`` rewrites a jaxpr whose values may be complex
into an equivalent jaxpr over real dtypes, each complex value becoming a (real, imaginary) pair.

Its inputs and outputs are flattened the same way (a complex input is two real inputs, in that order).
``COMPLEX_RULES`` holds one rule per primitive, ``rule(eqn, ins) -> outs``, where complex values are
``(re, im)`` tuples of traced real values; most primitives move data without arithmetic and act on each part
alike (``_componentwise``). Calls are inlined; cond, while and scan get lowered bodies. A primitive without a
rule raises NotImplementedError when the jaxpr is compiled.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import dtypes
from .ir import ClosedJaxpr, Jaxpr, Literal, ShapedArray, iter_eqns, subjaxprs
from .primitives import (call, callbacks, contractions as co, control_flow as cf, convolution as cv,
                         custom_derivatives as cd, elementwise as ew, indexing as ix, linalg as la, reductions as rd,
                         sorting as so, structural as st)
from .numpy._util import power_by_squaring
from .numpy.ufuncs import _complex_power, signbit
from .trace import Primitive, get_aval

Pair = tuple  # (re, im) of one complex value

COMPLEX_RULES: dict[Primitive, Callable[[Any, list], list]] = {}


def is_complex_aval(a: Any) -> bool:
    return isinstance(a, ShapedArray) and a.dtype.kind == "c"


def has_complex(jaxpr: Jaxpr) -> bool:
    """Whether any value of ``jaxpr`` (at any depth) is complex."""
    if any(is_complex_aval(v.aval) for v in jaxpr.in_binders + jaxpr.constvars + jaxpr.outs):
        return True
    return any(is_complex_aval(v.aval) for e in iter_eqns(jaxpr) for v in list(e.inputs) + list(e.out_binders))


def real_avals(avals: Sequence[ShapedArray]) -> list[ShapedArray]:
    """The avals of the flattened values: a complex aval becomes two of its part dtype."""
    out = []
    for a in avals:
        out += [a.update(dtype=dtypes.real_dtype(a.dtype))] * 2 if is_complex_aval(a) else [a]
    return out


def lower(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` over real dtypes only, inputs and outputs flattened (see module doc)."""
    from .interpreters.staging import trace_to_jaxpr
    jaxpr = closed.jaxpr

    def run(*flat):
        args = _unflatten(list(flat), [v.aval for v in jaxpr.in_binders])
        return _flatten(evaluate(jaxpr, [_split_const(c) for c in closed.consts], args))
    out, consts = trace_to_jaxpr(run, real_avals([v.aval for v in jaxpr.in_binders]))
    return ClosedJaxpr(out, consts)


def evaluate(jaxpr: Jaxpr, consts: list, args: list) -> list:
    """Interpret ``jaxpr`` on real values and (re, im) pairs, binding real primitives (to the current trace)."""
    env: dict = {}

    def read(x):
        if type(x) is Literal:
            return _split_const(np.asarray(x.val, x.aval.dtype)) if is_complex_aval(x.aval) else x.val
        return env[x]
    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.in_binders, args))
    for eqn in jaxpr.eqns:
        ins = [read(x) for x in eqn.inputs]
        if _touches_complex(eqn):
            rule = COMPLEX_RULES.get(eqn.primitive)
            if rule is None:
                dt = next((v.aval.dtype.name for v in list(eqn.inputs) + list(eqn.out_binders)
                           if is_complex_aval(v.aval)), "complex")
                raise NotImplementedError(f"{eqn.primitive.name} on {dt} values is not supported yet (portax "
                                          "splits complex numbers into real parts, and has no rule for this op)")
            outs = rule(eqn, ins)
        else:
            outs = eqn.primitive.bind(*ins, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
        env.update(zip(eqn.out_binders, outs))
    return [read(x) for x in jaxpr.outs]


def _touches_complex(eqn) -> bool:
    return any(is_complex_aval(v.aval) for v in list(eqn.inputs) + list(eqn.out_binders)) or \
        any(has_complex(j.jaxpr if isinstance(j, ClosedJaxpr) else j) for j in subjaxprs(eqn.params))


def _split_const(c: Any) -> Any:
    """A constant as a pair if it is complex (device arrays are split without a copy)."""
    from .array import Array
    if type(c) is Array and c.aval.dtype.kind == "c":
        part = c.aval.update(dtype=dtypes.real_dtype(c.aval.dtype))
        return Array(c._buf[0], part, c._device), Array(c._buf[1], part, c._device)
    v = np.asarray(c)
    if v.dtype.kind == "c":
        return np.array(v.real), np.array(v.imag)
    return c


def _flatten(values: list) -> list:
    out = []
    for v in values:
        out += list(v) if type(v) is tuple else [v]
    return out


def _unflatten(flat: list, avals: Sequence[ShapedArray]) -> list:
    it = iter(flat)
    return [(next(it), next(it)) if is_complex_aval(a) else next(it) for a in avals]


def _pair(x: Any) -> Pair:
    """A value as a pair (a real value gets a zero imaginary part)."""
    return x if type(x) is tuple else (x, st.zeros_like_array(x))


# --- rules ----------------------------------------------------------------------------------------------------
def _part(params: dict, k: int) -> dict:
    return {n: (v.real if k == 0 else v.imag) if isinstance(v, complex) else v for n, v in params.items()}


def _componentwise(eqn, ins: list) -> list:
    """Ops that move or add values act on the real and the imaginary parts alike (real operands such as
    indices and predicates are shared)."""
    p = eqn.primitive
    parts = [p.bind(*[x[k] if type(x) is tuple else x for x in ins], **_part(eqn.params, k)) for k in (0, 1)]
    if not p.multiple_results:
        return [tuple(parts)] if is_complex_aval(eqn.out_binders[0].aval) else [parts[0]]
    return [(r, i) if is_complex_aval(v.aval) else r for v, r, i in zip(eqn.out_binders, *parts)]


for _p in (*st.STRUCTURAL, ew.neg_p, ew.add_p, ew.sub_p, ew.select_n_p, ew.stop_gradient_p, rd.reduce_sum_p,
           rd.cumsum_p, ix.gather_p, ix.scatter_p, ix.scatter_add_p):
    COMPLEX_RULES[_p] = _componentwise


def _rule(*prims: Primitive):
    """Register ``fn(eqn, *ins) -> out`` (one output) as the rule of ``prims``."""
    def register(fn):
        for p in prims:
            COMPLEX_RULES[p] = lambda eqn, ins, fn=fn: [fn(eqn, *ins)]
        return fn
    return register


@_rule(st.iota_p)
def _iota(eqn):
    """A complex iota: the real iota and a zero imaginary part (``_componentwise`` would keep the complex dtype)."""
    re = st.iota_p.bind(**dict(eqn.params, dtype=dtypes.real_dtype(eqn.params["dtype"])))
    return re, st.zeros_like_array(re)


def _callback(eqn, ins: list) -> list:
    """A host callback sees complex values as themselves; they cross as (real, imaginary) pairs."""
    avals = eqn.params.get("result_avals", ())
    in_avals = [x.aval for x in eqn.inputs]
    decode = lambda args: [(v[0] + 1j * v[1]).astype(a.dtype) if type(v) is tuple else v
                           for v, a in zip(_unflatten(args, in_avals), in_avals)]
    encode = lambda outs: _flatten([(np.array(o.real), np.array(o.imag)) if o.dtype.kind == "c" else o
                                    for o in outs])
    outs = eqn.primitive.bind(*_flatten(ins), **callbacks.repacked_params(eqn, decode, encode, real_avals(avals)))
    return _unflatten(outs, avals)


for _p in callbacks.CALLBACKS:
    COMPLEX_RULES[_p] = _callback


# --- special values: C99 Annex G (as msun and numpy), without overflow in intermediate results ------------------
def _k(like: Any, val: Any) -> Any:
    return st.full_like(like, val)


def _isinf(x):
    return ew.eq(ew.abs(x), _k(x, np.inf))


def _not_finite(x):
    return ew.bitwise_not(ew.is_finite(x))


def _is_zero(x):
    return ew.eq(x, _k(x, 0))


def _has_nan(x: Pair):
    return ew.bitwise_or(ew.ne(x[0], x[0]), ew.ne(x[1], x[1]))


def _copysign(x, s):
    """|x| with the sign bit of ``s``."""
    ax = ew.abs(x)
    return ew.select(signbit(s), ew.neg(ax), ax)


def _zero_or_nan(x):
    """x - x without arithmetic on special values (backends without IEEE specials fold it to 0): +0 where x is
    finite, NaN elsewhere."""
    return ew.select(ew.is_finite(x), _k(x, 0), _k(x, np.nan))


def _over_zero(x):
    """x / +0 without dividing: inf with the sign of x, NaN for 0 and NaN."""
    return ew.select(ew.bitwise_or(_is_zero(x), ew.ne(x, x)), _k(x, np.nan), _copysign(_k(x, np.inf), x))


def _where(pred, a: Pair, b: Pair) -> Pair:
    return ew.select(pred, a[0], b[0]), ew.select(pred, a[1], b[1])


def _finfo(x) -> np.finfo:
    return np.finfo(get_aval(x).dtype)


def _log_max(x) -> float:
    """The largest argument of exp that does not overflow."""
    return float(np.log(_finfo(x).max))


def _mul_parts(a: Pair, b: Pair) -> Pair:
    (ar, ai), (br, bi) = a, b
    return ew.sub(ew.mul(ar, br), ew.mul(ai, bi)), ew.add(ew.mul(ar, bi), ew.mul(ai, br))


@_rule(ew.mul_p)
def _mul(eqn, x, y):
    return _mul_parts(_pair(x), _pair(y))


@_rule(ew.div_p)
def _div(eqn, x, y):
    """Smith's algorithm, as numpy: scaled by the larger part of ``y`` so that no square overflows or
    underflows; a zero divisor divides each part by +0."""
    (xr, xi), (yr, yi) = _pair(x), _pair(y)
    real_big = ew.ge(ew.abs(yr), ew.abs(yi))
    big, small = ew.select(real_big, yr, yi), ew.select(real_big, yi, yr)
    p, q = ew.select(real_big, xr, xi), ew.select(real_big, xi, xr)
    rat = ew.div(small, big)
    scl = ew.div(_k(rat, 1), ew.add(big, ew.mul(small, rat)))
    re = ew.mul(ew.add(p, ew.mul(q, rat)), scl)
    pr = ew.mul(p, rat)
    im = ew.mul(ew.select(real_big, ew.sub(q, pr), ew.sub(pr, q)), scl)
    zero = ew.bitwise_and(ew.eq(yr, _k(yr, 0)), ew.eq(yi, _k(yi, 0)))
    return ew.select(zero, _over_zero(xr), re), ew.select(zero, _over_zero(xi), im)


@_rule(ew.square_p)
def _square(eqn, x):
    return _mul_parts(x, x)


@_rule(ew.integer_pow_p)
def _integer_pow(eqn, x):
    y = eqn.params["y"]
    if y == 0:
        return st.full_like(x[0], 1), st.zeros_like_array(x[1])
    acc = power_by_squaring(x, abs(y), _mul_parts)
    return _div(eqn, (st.full_like(acc[0], 1), st.zeros_like_array(acc[1])), acc) if y < 0 else acc


@_rule(rd.reduce_prod_p)
def _prod(eqn, x):
    """Pairwise products over the reduced axes (moved last and merged), halving them log2(n) times."""
    axes = eqn.params["axes"]
    shape = eqn.inputs[0].aval.shape
    kept = [i for i in range(len(shape)) if i not in axes]
    n = int(np.prod([shape[i] for i in axes]))
    out_shape = tuple(shape[i] for i in kept)
    re, im = (st.reshape(st.transpose(p, kept + list(axes)), out_shape + (n,)) for p in x)
    if n == 0:
        dt = dtypes.real_dtype(eqn.inputs[0].aval.dtype)
        return st.full(out_shape, 1, dt), st.full(out_shape, 0, dt)
    while n > 1:
        if n % 2:
            cfg = [(0, 0, 0)] * len(out_shape) + [(0, 1, 0)]
            re, im = st.pad(re, ew._const(re, 1), cfg), st.pad(im, ew._const(im, 0), cfg)
            n += 1
        halves = [tuple(st.slice_in_dim(p, k, n, 2, len(out_shape)) for p in (re, im)) for k in (0, 1)]
        re, im = _mul_parts(*halves)
        n //= 2
    return st.reshape(re, out_shape), st.reshape(im, out_shape)


@_rule(co.dot_general_p, cv.conv_general_dilated_p)
def _bilinear(eqn, x, y):
    """A product bilinear over the reals (dot, convolution): (xr + i xi)(yr + i yi) from four real products."""
    params = dict(eqn.params)
    if params.get("preferred_element_type") is not None:
        params["preferred_element_type"] = dtypes.real_dtype(params["preferred_element_type"])
    dot = lambda a, b: eqn.primitive.bind(a, b, **params)
    (xr, xi), (yr, yi) = _pair(x), _pair(y)
    return ew.sub(dot(xr, yr), dot(xi, yi)), ew.add(dot(xr, yi), dot(xi, yr))


@_rule(ew.real_p)
def _real(eqn, x):
    return x[0]


@_rule(ew.imag_p)
def _imag(eqn, x):
    return x[1]


@_rule(ew.conj_p)
def _conj(eqn, x):
    return x[0], ew.neg(x[1])


@_rule(ew.complex_p)
def _complex(eqn, x, y):
    return x, y


@_rule(ew.convert_element_type_p)
def _convert(eqn, x):
    new = eqn.params["new_dtype"]
    part = dtypes.real_dtype(new)
    conv = lambda v: ew.convert_element_type_p.bind(v, new_dtype=part, weak_type=eqn.params["weak_type"])
    if new.kind != "c":  # complex -> real keeps the real part, as in JAX
        return conv(x[0])
    re, im = _pair(x)
    return conv(re), conv(im)


@_rule(ew.eq_p, ew.ne_p)
def _compare(eqn, x, y):
    (xr, xi), (yr, yi) = _pair(x), _pair(y)
    if eqn.primitive is ew.eq_p:
        return ew.bitwise_and(ew.eq(xr, yr), ew.eq(xi, yi))
    return ew.bitwise_or(ew.ne(xr, yr), ew.ne(xi, yi))


def _modulus(re, im):
    """|re + i im| without overflow or underflow in the squares; inf if a part is infinite (even with a NaN)."""
    a, b = ew.abs(re), ew.abs(im)
    big, small = ew.max(a, b), ew.min(a, b)
    safe = ew.select(_is_zero(big), _k(big, 1), big)
    ratio = ew.div(small, safe)
    r = ew.mul(big, ew.sqrt(ew.add(_k(big, 1), ew.mul(ratio, ratio))))
    either = ew.add(a, b)  # NaN iff a part is NaN
    r = ew.select(ew.ne(either, either), either, r)
    return ew.select(ew.bitwise_or(_isinf(re), _isinf(im)), _k(r, np.inf), r)


@_rule(ew.abs_p)
def _abs(eqn, x):
    return _modulus(*x)


@_rule(ew.sign_p)
def _sign(eqn, x):
    """z / |z| (+0 at 0); an infinite part gives its unit, NaN if both parts are infinite (as numpy)."""
    re, im = x
    r = _modulus(re, im)
    zero = _is_zero(r)
    safe = ew.select(zero, _k(r, 1), r)
    out = _where(zero, (_k(re, 0), _k(im, 0)), (ew.div(re, safe), ew.div(im, safe)))
    inf_re, inf_im = _isinf(re), _isinf(im)
    out = _where(inf_re, (_copysign(_k(re, 1), re), _k(im, 0)), out)
    out = _where(inf_im, (_k(re, 0), _copysign(_k(im, 1), im)), out)
    nan = _k(re, np.nan)
    return _where(ew.bitwise_and(inf_re, inf_im), (nan, nan), out)


def _exp_parts(re, im) -> Pair:
    """e^re (cos im + i sin im); where e^re alone overflows it is applied in two halves."""
    c, s = ew.cos(im), ew.sin(im)
    m = ew.exp(re)
    half = ew.exp(ew.mul(re, _k(re, 0.5)))
    out = _where(ew.gt(re, _k(re, _log_max(re))), (ew.mul(ew.mul(half, c), half), ew.mul(ew.mul(half, s), half)),
                 (ew.mul(m, c), ew.mul(m, s)))
    positive = ew.gt(re, _k(re, 0))
    out = _where(ew.bitwise_and(_isinf(re), _not_finite(im)),  # e^(+-inf + i inf|nan) = inf + i nan, 0 + 0 i
                 (ew.select(positive, re, _k(re, 0)), ew.select(positive, _k(im, np.nan), _k(im, 0))), out)
    return _where(_is_zero(im), (m, im), out)


@_rule(ew.exp_p)
def _exp(eqn, x):
    return _exp_parts(*x)


@_rule(ew.log_p)
def _log(eqn, x):
    """log |z| + i arg z; near |z| = 1, log |z| = log1p((a - 1)(a + 1) + b^2) / 2 for the larger part a and the
    smaller b (|z| - 1 would cancel)."""
    re, im = x
    ar, ai = ew.abs(re), ew.abs(im)
    two, half = _k(ar, 2), _k(ar, 0.5)
    near_one = ew.bitwise_and(ew.bitwise_and(ew.le(ar, two), ew.le(ai, two)),  # False for NaN parts
                              ew.bitwise_or(ew.ge(ar, half), ew.ge(ai, half)))
    a, b = ew.max(ar, ai), ew.min(ar, ai)
    one = _k(a, 1)
    small = ew.mul(half, ew.log1p(ew.add(ew.mul(ew.sub(a, one), ew.add(a, one)), ew.mul(b, b))))
    return ew.select(near_one, small, ew.log(_modulus(re, im))), ew.atan2(im, re)


@_rule(ew.sqrt_p)
def _sqrt(eqn, x):
    """The principal root by Algorithm 312 (CACM 10, 1967) as C's csqrt: the larger part is t = sqrt((|a| + |z|)
    / 2), the other b / 2t (no cancellation); parts scaled by powers of 2 near overflow and underflow."""
    re, im = x
    info = _finfo(re)
    k = info.nmant + 1
    big = ew.max(ew.abs(re), ew.abs(im))
    huge, low = ew.ge(big, _k(big, info.max / 4)), ew.lt(big, _k(big, info.tiny * 4))
    scale_in = ew.select(huge, _k(big, 0.25), ew.select(low, _k(big, 2.0 ** (2 * k)), _k(big, 1)))
    scale_out = ew.select(huge, _k(big, 2), ew.select(low, _k(big, 2.0 ** -k), _k(big, 1)))
    a, b = ew.mul(re, scale_in), ew.mul(im, scale_in)
    t = ew.sqrt(ew.mul(ew.add(ew.abs(a), _modulus(a, b)), _k(a, 0.5)))
    two_t = ew.add(t, t)
    nonneg = ew.ge(a, _k(a, 0))
    out = (ew.mul(ew.select(nonneg, t, ew.div(ew.abs(b), two_t)), scale_out),
           ew.mul(ew.select(nonneg, ew.div(b, two_t), _copysign(t, b)), scale_out))
    nan_im = _zero_or_nan(im)
    inf = _k(re, np.inf)
    out = _where(_isinf(re), _where(signbit(re), (ew.abs(nan_im), _copysign(inf, im)), (re, _copysign(nan_im, im))),
                 out)
    out = _where(ew.ne(re, re), (re, re), out)
    out = _where(_isinf(im), (inf, im), out)
    return _where(ew.bitwise_and(_is_zero(re), _is_zero(im)), (_k(re, 0), im), out)


def _hyperbolic_parts(re, im) -> tuple:
    """(cosh a cos b, sinh a sin b, sinh a cos b, cosh a sin b) for a = re, b = im; where cosh a overflows,
    e^|a| / 2 is applied in two halves."""
    c, s = ew.cos(im), ew.sin(im)
    half = ew.exp(ew.mul(ew.abs(re), _k(re, 0.5)))
    hc, hs = (ew.mul(ew.mul(ew.mul(half, _k(half, 0.5)), v), half) for v in (c, s))
    sh, ch = ew.sinh(re), ew.cosh(re)
    far, negative = ew.gt(ew.abs(re), _k(re, _log_max(re))), ew.lt(re, _k(re, 0))

    def pick(scaled, plain, signed=False):
        return ew.select(far, ew.select(negative, ew.neg(scaled), scaled) if signed else scaled, plain)
    return (pick(hc, ew.mul(ch, c)), pick(hs, ew.mul(sh, s), True), pick(hc, ew.mul(sh, c), True),
            pick(hs, ew.mul(ch, s)))


def _sinh_parts(re, im) -> Pair:
    """sinh a cos b + i cosh a sin b, with Annex G's special values."""
    _, _, sh_c, ch_s = _hyperbolic_parts(re, im)
    out = _where(ew.bitwise_and(ew.bitwise_or(_is_zero(re), _isinf(re)), _not_finite(im)), (re, _zero_or_nan(im)),
                 (sh_c, ch_s))
    return _where(_is_zero(im), (ew.sinh(re), im), out)


def _cosh_parts(re, im) -> Pair:
    """cosh a cos b + i sinh a sin b, with Annex G's special values."""
    out = _hyperbolic_parts(re, im)[:2]
    nan_im = _zero_or_nan(im)
    out = _where(ew.bitwise_and(_isinf(re), _not_finite(im)), (ew.abs(re), nan_im), out)
    out = _where(ew.bitwise_and(_is_zero(re), _not_finite(im)), (nan_im, ew.select(signbit(im), ew.neg(re), re)), out)
    return _where(_is_zero(im), (ew.cosh(re), ew.select(signbit(re), ew.neg(im), im)), out)


def _tanh_parts(re, im) -> Pair:
    """Kahan's algorithm (as msun's ctanh); +-1 + 4 i sin b cos b e^(-2|a|) where |a| is large."""
    one = _k(re, 1)
    t = ew.tan(im)
    beta = ew.add(one, ew.mul(t, t))
    s = ew.sinh(re)
    s2 = ew.mul(s, s)
    rho = ew.sqrt(ew.add(one, s2))
    denom = ew.add(one, ew.mul(beta, s2))
    out = ew.div(ew.mul(ew.mul(beta, rho), s), denom), ew.div(t, denom)
    sin_cos = ew.mul(ew.sin(im), ew.cos(im))
    e = ew.exp(ew.neg(ew.abs(re)))
    unit = _copysign(one, re)
    far = ew.ge(ew.abs(re), _k(re, 22 if _finfo(re).bits == 64 else 9))
    out = _where(far, (unit, ew.mul(ew.mul(ew.mul(_k(re, 4), sin_cos), e), e)), out)
    nan_im = _zero_or_nan(im)
    out = _where(_not_finite(im), (ew.select(_is_zero(re), re, nan_im), nan_im), out)
    out = _where(_isinf(re), (unit, _copysign(_k(im, 0), ew.select(_isinf(im), im, sin_cos))), out)
    return _where(ew.ne(re, re), (re, ew.select(_is_zero(im), im, re)), out)


@_rule(ew.sinh_p)
def _sinh(eqn, x):
    return _sinh_parts(*x)


@_rule(ew.cosh_p)
def _cosh(eqn, x):
    return _cosh_parts(*x)


@_rule(ew.tanh_p)
def _tanh(eqn, x):
    return _tanh_parts(*x)


@_rule(ew.cos_p)
def _cos(eqn, x):
    """cos z = cosh iz."""
    return _cosh_parts(ew.neg(x[1]), x[0])


def _minus_i_times(parts, x: Pair) -> Pair:
    """-i g(iz) for ``parts`` computing g (sin z = -i sinh iz, tan z = -i tanh iz)."""
    p, q = parts(ew.neg(x[1]), x[0])
    return q, ew.neg(p)


@_rule(ew.sin_p)
def _sin(eqn, x):
    return _minus_i_times(_sinh_parts, x)


@_rule(ew.tan_p)
def _tan(eqn, x):
    return _minus_i_times(_tanh_parts, x)


@_rule(ew.expm1_p)
def _expm1(eqn, x):
    """e^z - 1 = (expm1(a) cos b - 2 sin^2(b/2)) + i e^a sin b (no cancellation); e^z - 1 itself where e^a is 0,
    overflows or is NaN (C has no cexpm1; numpy's expm1 gives NaN for some of these, its exp does not)."""
    re, im = x
    half_sin = ew.sin(ew.mul(im, _k(im, 0.5)))
    out_re = ew.sub(ew.mul(ew.expm1(re), ew.cos(im)), ew.mul(_k(im, 2), ew.mul(half_sin, half_sin)))
    out_im = ew.select(_is_zero(im), im, ew.mul(ew.exp(re), ew.sin(im)))
    e_re, e_im = _exp_parts(re, im)
    far = ew.bitwise_not(ew.le(ew.abs(re), _k(re, _log_max(re))))
    return _where(far, (ew.sub(e_re, _k(re, 1)), e_im), (out_re, out_im))


@_rule(ew.log1p_p)
def _log1p(eqn, x):
    """log(1 + z): the modulus of 1 + z from log1p(2a + a^2 + b^2) / 2, exact for small z; from |1 + z| where that
    cancels (|1 + z| < 1/2), the squares could overflow or a part is not finite."""
    re, im = x
    one = _k(re, 1)
    m = _modulus(ew.add(re, one), im)
    limit = _k(re, np.sqrt(_finfo(re).max) / 4)
    near = ew.bitwise_and(ew.bitwise_and(ew.le(ew.abs(re), limit), ew.le(ew.abs(im), limit)), ew.ge(m, _k(m, 0.5)))
    small = ew.mul(_k(re, 0.5), ew.log1p(ew.add(ew.mul(re, ew.add(re, _k(re, 2))), ew.mul(im, im))))
    return ew.select(near, small, ew.log(m)), ew.atan2(im, ew.add(re, one))


@_rule(ew.rsqrt_p)
def _rsqrt(eqn, x):
    one = (st.full_like(x[0], 1), st.zeros_like_array(x[1]))
    return _div(eqn, one, _sqrt(eqn, x))


@_rule(ew.exp2_p)
def _exp2(eqn, x):
    """2^z = e^(z log 2), each part scaled alone (a complex product would make 0 * inf NaN)."""
    return _exp_parts(*(ew.mul(v, _k(v, np.log(2))) for v in x))


@_rule(ew.logistic_p)
def _logistic(eqn, x):
    """1 / (1 + e^-z), as JAX."""
    e_re, e_im = _exp_parts(ew.neg(x[0]), ew.neg(x[1]))
    return _div(eqn, _k(e_re, 1), (ew.add(_k(e_re, 1), e_re), e_im))


# --- inverse functions: Kahan's formulas ("Branch cuts for complex elementary functions", 1987) from square roots
# of 1 +- z, which keep the signs of zeros on the cuts; where |z| is so large that their terms would overflow or
# a part is not finite, the leading term of the expansion at infinity, log 2z (relative error below 1 / |z|^2).
def _far(re, im, limit: float):
    """|re| or |im| above ``limit``, or a part NaN."""
    lim = _k(re, limit)
    return ew.bitwise_not(ew.bitwise_and(ew.le(ew.abs(re), lim), ew.le(ew.abs(im), lim)))


def _far_inverse(re, im):
    return _far(re, im, 1 / np.sqrt(_finfo(re).eps))


def _log_twice_modulus(re, im):
    """log 2|z|, as log |z / 2| + log 4 (no overflow)."""
    half = _k(re, 0.5)
    return ew.add(ew.log(_modulus(ew.mul(re, half), ew.mul(im, half))), _k(re, np.log(4)))


def _roots(re, im) -> tuple:
    """sqrt(1 + z) and sqrt(1 - z)."""
    one = _k(re, 1)
    return _sqrt(None, (ew.add(one, re), im)), _sqrt(None, (ew.sub(one, re), ew.neg(im)))


def _asin_parts(re, im) -> Pair:
    """asin z = atan2(x, Re(sqrt(1 - z) sqrt(1 + z))) + i asinh(Im(conj(sqrt(1 - z)) sqrt(1 + z)))."""
    (pr, pi), (mr, mi) = _roots(re, im)
    out = (ew.atan2(re, ew.sub(ew.mul(mr, pr), ew.mul(mi, pi))), ew.asinh(ew.sub(ew.mul(mr, pi), ew.mul(mi, pr))))
    far = (_copysign(ew.atan2(ew.abs(re), ew.abs(im)), re), _copysign(_log_twice_modulus(re, im), im))
    out = _where(_far_inverse(re, im), far, out)
    return ew.select(_is_zero(re), re, out[0]), out[1]  # asin iy = i asinh y, also for y NaN


def _acos_parts(re, im) -> Pair:
    """acos z = 2 atan2(Re sqrt(1 - z), Re sqrt(1 + z)) + i asinh(Im(conj(sqrt(1 + z)) sqrt(1 - z)))."""
    (pr, pi), (mr, mi) = _roots(re, im)
    out = (ew.mul(_k(re, 2), ew.atan2(mr, pr)), ew.asinh(ew.sub(ew.mul(pr, mi), ew.mul(pi, mr))))
    far = (ew.atan2(ew.abs(im), re), ew.neg(_copysign(_log_twice_modulus(re, im), im)))
    out = _where(_far_inverse(re, im), far, out)
    return ew.select(_is_zero(re), _k(re, np.pi / 2), out[0]), out[1]  # acos iy = pi/2 - i asinh y, also for y NaN


def _acosh_parts(re, im) -> Pair:
    """acosh z = asinh(Re(conj(sqrt(z - 1)) sqrt(z + 1))) + 2 i atan2(Im sqrt(z - 1), Re sqrt(z + 1))."""
    one = _k(re, 1)
    pr, pi = _sqrt(None, (ew.add(re, one), im))
    mr, mi = _sqrt(None, (ew.sub(re, one), im))
    out = (ew.asinh(ew.add(ew.mul(mr, pr), ew.mul(mi, pi))), ew.mul(_k(re, 2), ew.atan2(mi, pr)))
    far = (_log_twice_modulus(re, im), ew.atan2(im, re))
    out = _where(_far_inverse(re, im), far, out)
    return out[0], ew.select(_is_zero(re), _copysign(_k(im, np.pi / 2), im), out[1])  # also for y NaN


def _atanh_parts(re, im) -> Pair:
    """atanh z = log1p(4a / ((1 - a)^2 + y^2)) / 4 + i atan2(2y, (1 - a)(1 + a) - y^2) / 2 for a = |x| (Kahan; the real
    part takes the sign of x, as atanh is odd); where |z| > 1 / eps, a / |z|^2 + i pi/2 (with the sign of y); at
    a = 1 and |y| < eps, (log 2 - log |y|) / 2 (as msun's catanh: the squares would underflow)."""
    one, quarter, half = _k(re, 1), _k(re, 0.25), _k(re, 0.5)
    a = ew.abs(re)
    da = ew.sub(one, a)
    ratio = ew.div(ew.mul(_k(a, 4), a), ew.add(ew.mul(da, da), ew.mul(im, im)))
    at_one = ew.bitwise_and(ew.eq(a, one), ew.lt(ew.abs(im), _k(im, _finfo(im).eps)))
    edge = ew.mul(half, ew.sub(_k(a, np.log(2)), ew.log(ew.abs(im))))
    out = (ew.select(at_one, edge, ew.mul(quarter, ew.log1p(ratio))),
           ew.mul(half, ew.atan2(ew.add(im, im), ew.sub(ew.mul(da, ew.add(one, a)), ew.mul(im, im)))))
    r = _modulus(re, im)
    far_re = ew.select(_isinf(r), _k(a, 0), ew.div(ew.div(a, r), r))
    far_im = ew.select(ew.bitwise_and(_has_nan((re, im)), ew.bitwise_not(_isinf(im))), _k(im, np.nan),
                       _copysign(_k(im, np.pi / 2), im))
    out = _where(_far(re, im, 1 / _finfo(re).eps), (far_re, far_im), out)
    return ew.select(_is_zero(re), re, _copysign(out[0], re)), out[1]


def _i_times_inverse(parts, x: Pair) -> Pair:
    """i g(-iz) for ``parts`` computing g (asinh z = i asin(-iz), the inverse of C's casin z = -i casinh(iz))."""
    p, q = parts(x[1], ew.neg(x[0]))
    return ew.neg(q), p


for _prim, _fn in ((ew.asin_p, lambda x: _asin_parts(*x)), (ew.acos_p, lambda x: _acos_parts(*x)),
                   (ew.acosh_p, lambda x: _acosh_parts(*x)), (ew.atanh_p, lambda x: _atanh_parts(*x)),
                   (ew.asinh_p, lambda x: _i_times_inverse(_asin_parts, x)),
                   (ew.atan_p, lambda x: _minus_i_times(_atanh_parts, x))):
    COMPLEX_RULES[_prim] = lambda eqn, ins, fn=_fn: [fn(ins[0])]


def _traced(fn: Callable) -> Callable:
    """A rule running ``fn`` (complex-valued code over other primitives) by tracing it and lowering it in place."""
    def rule(eqn, ins: list) -> list:
        from .interpreters.staging import trace_to_jaxpr
        jaxpr, consts = trace_to_jaxpr(lambda *xs: [fn(*xs)], [v.aval for v in eqn.inputs])
        return evaluate(jaxpr, [_split_const(c) for c in consts], ins)
    return rule


COMPLEX_RULES[ew.pow_p] = _traced(_complex_power)  # exp(y log x) with Annex G's recovery of infinities, as jnp.power


def _pick_first(x: Pair, y: Pair, cmp) -> Any:
    """Where ``x`` comes first in the order ``cmp`` on (real, imaginary) pairs (lexicographic, as JAX)."""
    return ew.select(ew.eq(x[0], y[0]), cmp(x[1], y[1]), cmp(x[0], y[0]))


def _chooser(cmp) -> Callable:
    """max (``cmp`` gt) or min (lt) of two pairs, as JAX: ``x`` where it comes first, else ``y``."""
    return lambda x, y: _where(_pick_first(x, y, cmp), x, y)


@_rule(ew.max_p, ew.min_p)
def _max_min(eqn, x, y):
    return _chooser(ew.gt if eqn.primitive is ew.max_p else ew.lt)(_pair(x), _pair(y))


def _keep_dims(v, shape: tuple, axes: tuple):
    """A reduction's result broadcast back over the reduced ``axes`` of ``shape``."""
    return st.broadcast_in_dim(v, shape, tuple(i for i in range(len(shape)) if i not in axes))


def _lexicographic_extreme(x: Pair, axes: tuple, largest: bool) -> tuple:
    """The lexicographic largest (smallest) pair over ``axes`` and whether a reduced value has a NaN part."""
    re, im = x
    shape = get_aval(re).shape
    p, fill = (rd.reduce_max_p, -np.inf) if largest else (rd.reduce_min_p, np.inf)
    best_re = p.bind(re, axes=axes)
    best_im = p.bind(ew.select(ew.eq(re, _keep_dims(best_re, shape, axes)), im, _k(im, fill)), axes=axes)
    return best_re, best_im, rd.reduce_or_p.bind(_has_nan(x), axes=axes)


@_rule(rd.reduce_max_p, rd.reduce_min_p)
def _reduce_max_min(eqn, x):
    """Lexicographic, as JAX; NaN where a reduced value has a NaN part (as numpy)."""
    best_re, best_im, any_nan = _lexicographic_extreme(x, eqn.params["axes"], eqn.primitive is rd.reduce_max_p)
    nan = _k(best_re, np.nan)
    return ew.select(any_nan, nan, best_re), ew.select(any_nan, nan, best_im)


@_rule(rd.argmax_p, rd.argmin_p)
def _argmax_min(eqn, x):
    """The first index of the lexicographic extreme, or of the first value with a NaN part (as numpy)."""
    axes, shape = eqn.params["axes"], get_aval(x[0]).shape
    best = _lexicographic_extreme(x, axes, eqn.primitive is rd.argmax_p)
    best_re, best_im, any_nan = (_keep_dims(v, shape, axes) for v in best)
    hit = ew.select(any_nan, _has_nan(x), ew.bitwise_and(ew.eq(x[0], best_re), ew.eq(x[1], best_im)))
    return rd.argmax_p.bind(ew.convert_element_type(hit, dtypes.int32), **eqn.params)


@_rule(rd.cumprod_p, rd.cummax_p, rd.cummin_p)
def _cumulative(eqn, x):
    fn = {rd.cumprod_p: _mul_parts, rd.cummax_p: _chooser(ew.gt), rd.cummin_p: _chooser(ew.lt)}[eqn.primitive]
    return rd.associative_scan(fn, x, reverse=eqn.params["reverse"], axis=eqn.params["axis"])


def _sort(eqn, ins: list) -> list:
    """Complex keys sort lexicographically, by real then imaginary part (as in JAX): each is two keys."""
    num_keys = eqn.params["num_keys"]
    outs = so.sort_p.bind(*_flatten(ins), **{**eqn.params, "num_keys": _count(ins[:num_keys])})
    return _unflatten(list(outs), [v.aval for v in eqn.out_binders])


COMPLEX_RULES[so.sort_p] = _sort


def _linalg(eqn, ins: list) -> list:
    """A decomposition of complex matrices: ``complex_linalg`` on their parts (backends implement it)."""
    outs = la.complex_linalg_p.bind(*_flatten([_pair(x) for x in ins]), op=eqn.primitive.name,
                                    params=tuple(sorted(eqn.params.items())))
    return _unflatten(list(outs), [v.aval for v in eqn.out_binders])


for _p in la.DECOMPOSITIONS:
    COMPLEX_RULES[_p] = _linalg


# --- calls and control flow --------------------------------------------------------------------------------
_CALL_BODIES = {call.pjit_p: "jaxpr", call.checkpoint_p: "jaxpr", cd.custom_jvp_call_p: "call_jaxpr",
                cd.custom_vjp_call_p: "call_jaxpr"}


def _inline(eqn, ins: list) -> list:
    body = eqn.params[_CALL_BODIES[eqn.primitive]]
    if isinstance(body, ClosedJaxpr):
        return evaluate(body.jaxpr, [_split_const(c) for c in body.consts], ins)
    return evaluate(body, [], ins)


for _p in _CALL_BODIES:
    COMPLEX_RULES[_p] = _inline


def _count(values: Sequence) -> int:
    return sum(2 if type(v) is tuple else 1 for v in values)


def _cond(eqn, ins: list) -> list:
    index, *ops = ins
    branches = tuple(lower(b) for b in eqn.params["branches"])
    outs = cf.cond_p.bind(index, *_flatten(ops), branches=branches)
    return _unflatten(outs, [v.aval for v in eqn.out_binders])


def _while(eqn, ins: list) -> list:
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, carry = ins[:nc], ins[nc:nc + nb], ins[nc + nb:]
    outs = cf.while_p.bind(*_flatten(cconsts), *_flatten(bconsts), *_flatten(carry), cond_jaxpr=lower(p["cond_jaxpr"]),
                           body_jaxpr=lower(p["body_jaxpr"]), cond_nconsts=_count(cconsts),
                           body_nconsts=_count(bconsts))
    return _unflatten(outs, [v.aval for v in eqn.out_binders])


def _scan(eqn, ins: list) -> list:
    p = dict(eqn.params)
    nc, nk = p["num_consts"], p["num_carry"]
    p.update(jaxpr=lower(p["jaxpr"]), num_consts=_count(ins[:nc]), num_carry=_count(ins[nc:nc + nk]))
    outs = cf.scan_p.bind(*_flatten(ins), **p)
    return _unflatten(outs, [v.aval for v in eqn.out_binders])


COMPLEX_RULES.update({cf.cond_p: _cond, cf.while_p: _while, cf.scan_p: _scan})



def native_complex(backend: Any) -> bool:
    """Whether ``backend`` computes in complex dtypes itself (it lists them among its dtypes)."""
    return dtypes.complex64 in backend.capabilities.dtypes


def split_executable(exe: Callable, out_avals: Sequence[ShapedArray]) -> Callable:
    """An executable of a lowered jaxpr taking and returning complex values as (real, imaginary) buffer pairs."""
    widths = [2 if is_complex_aval(a) else 1 for a in out_avals]

    def run(*buffers):
        flat = []
        for b in buffers:
            flat += b if type(b) is tuple else [b]
        outs, k = exe(*flat), 0
        grouped = []
        for w in widths:
            grouped.append(tuple(outs[k:k + w]) if w == 2 else outs[k])
            k += w
        return grouped
    return run
