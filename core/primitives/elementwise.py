"""Elementwise primitives: math, comparisons, bitwise ops, select_n, clamp, conversions.

Each primitive stands with all its rules; ``_unary``/``_nary`` build the common shape and dtype rule,
``defjvp``/``deflinear`` the derivative, ``defvectorized``/``defbroadcasting`` the batching rule.
"""
from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np

from .. import dtypes
from ..ad_util import Zero, instantiate
from ..interpreters import batching, jvp as ad
from ..interpreters.transpose import is_undefined
from ..ir import ShapedArray
from ..prng_key_ops import check_conversion, keys_lifted
from ..trace import (Primitive, abstract_eval_rules, batching_rules, constants_staged, find_top_trace, get_aval,
                     is_tracer, jvp_rules, transpose_rules)

# dtype classes accepted by an op, as JAX names them in its errors
_FLOAT = ("f", "floating")
_NUM = ("fiu", "number")
_INT = ("iu", "integer")
_INTB = ("iub", "integer or boolean")
_ANY = ("fiub", "any")
_SIGNED_NUM = ("fi", "signed number")
_NUMC = ("fiuc", "number")  # ops that also take complex operands (split into parts for backends without them)
_INEXACT = ("fc", "inexact")
_ANYC = ("fiubc", "any")


def _check_dtype(name: str, kinds: tuple, dtype: np.dtype) -> None:
    if dtypes.kind(dtype) not in kinds[0]:
        raise TypeError(f"{name} does not accept dtype {dtype.name}. Accepted dtypes are subtypes of {kinds[1]}.")


def _nary_abstract(name: str, kinds: tuple, out_dtype=None):
    def rule(*avals: ShapedArray, **params) -> ShapedArray:
        a0 = avals[0]
        for a in avals:
            _check_dtype(name, kinds, a.dtype)
        if any(a.dtype != a0.dtype for a in avals[1:]):
            raise TypeError(f"lax.{name} requires arguments to have the same dtypes, got "
                            f"{', '.join(a.dtype.name for a in avals)}. (Tip: jnp.{name} is a similar function "
                            "that does automatic type promotion on inputs).")
        if any(a.shape != a0.shape for a in avals[1:]):
            raise TypeError(f"{name} got incompatible shapes for broadcasting: "
                            f"{', '.join(str(a.shape) for a in avals)}.")
        weak = all(a.weak_type for a in avals)  # JAX's standard rule, also for a fixed (bool) result dtype
        return ShapedArray(a0.shape, a0.dtype if out_dtype is None else out_dtype, weak)
    return rule


def _unary(name: str, kinds: tuple = _FLOAT, out_dtype=None) -> Primitive:
    p = Primitive(name)
    abstract_eval_rules[p] = _nary_abstract(name, kinds, out_dtype)
    batching.defvectorized(p)
    return p


def _nary(name: str, kinds: tuple = _NUM, out_dtype=None) -> Primitive:
    p = Primitive(name)
    abstract_eval_rules[p] = _nary_abstract(name, kinds, out_dtype)
    batching.defbroadcasting(p)
    return p


# --- argument handling shared by the lax wrappers ------------------------------------------------------------
def asarray(x: Any) -> Any:
    """Arrays and tracers pass through; Python scalars and numpy values become (weak) portax arrays."""
    if is_tracer(x) or hasattr(x, "_buf"):
        return x
    from ..sharded import on_mesh
    if on_mesh(x):  # an array laid out over a mesh: operations on it run partitioned over the mesh
        return x
    return constant(x)


def constant(value: Any, weak_type: bool | None = None, dtype=None, device=None) -> Any:
    """A Python/numpy value as an operand (``make_array``'s types). While a jit/make_jaxpr trace stages
    constants it stays a constant of the jaxpr, placed on the device the computation runs on when that is
    compiled (the default backend may lack its dtype); otherwise it is an Array on ``device`` (default: the
    default device)."""
    from ..array import host_value, make_array
    if not constants_staged():
        return make_array(value, weak_type, device, dtype)
    host, weak = host_value(value, weak_type, dtype)
    t = find_top_trace(()).pure(host)
    return convert_element_type_p.bind(t, new_dtype=host.dtype, weak_type=True) if weak else t


def _const(like: Any, val: Any) -> Any:
    """A weakly typed scalar constant with the dtype of ``like`` (on its device, if it is an Array)."""
    return constant(np.asarray(val, dtype=get_aval(like).dtype), weak_type=True,
                    device=getattr(like, "_device", None))


def _binary_args(name: str, x: Any, y: Any, size1: bool = True) -> tuple:
    """lax accepts Python scalars (weakly typed) next to arrays: they take the array's dtype and shape; and
    (``size1``) operands of one rank whose sizes are equal or 1 per dimension, broadcast to the common shape (JAX's
    ``broadcasting_shape_rule``)."""
    ax, ay = get_aval(x), get_aval(y)
    scalar = (int, float, bool)
    if ax.dtype != ay.dtype and (type(x) in scalar) != (type(y) in scalar):  # two Python scalars keep their types
        if type(x) in scalar:
            x = convert_element_type(x, ay.dtype, weak_type=True)
        else:
            y = convert_element_type(y, ax.dtype, weak_type=True)
        ax, ay = get_aval(x), get_aval(y)
    if ax.shape != ay.shape:
        from .structural import broadcast_in_dim
        if ax.shape == ():
            x = broadcast_in_dim(x, ay.shape, ())
        elif ay.shape == ():
            y = broadcast_in_dim(y, ax.shape, ())
        elif size1 and len(ax.shape) == len(ay.shape):
            shape = tuple(b if a == 1 else a for a, b in zip(ax.shape, ay.shape))
            if all(d in (1, n) for v in (ax, ay) for d, n in zip(v.shape, shape)):
                dims = tuple(range(len(shape)))
                x, y = broadcast_in_dim(x, shape, dims), broadcast_in_dim(y, shape, dims)
    return x, y


def _bin(p: Primitive):
    def fn(x: Any, y: Any) -> Any:
        return p.bind(*_binary_args(p.name, x, y))
    fn.__name__ = p.name
    fn.__doc__ = f"Elementwise ``{p.name}`` (``lax.{p.name}``): operands of one dtype and shape."
    return fn


def _un(p: Primitive):
    def fn(x: Any) -> Any:
        return p.bind(x)
    fn.__name__ = p.name
    fn.__doc__ = f"Elementwise ``{p.name}`` (``lax.{p.name}``)."
    return fn


class AccuracyMode(enum.Enum):
    """``lax.AccuracyMode``: the accuracy a transcendental op's implementation is asked for."""
    HIGHEST = 1
    DEFAULT = 2


class Tolerance:
    """``lax.Tolerance``: the error bounds (atol and rtol, or atol and ulps) an op's implementation is asked for."""

    def __init__(self, atol: float = 0.0, rtol: float = 0.0, ulps: int = 0):
        if atol < 0.0 or rtol < 0.0 or ulps < 0.0:
            raise ValueError("Tolerances must be non-negative.")
        if atol == 0.0 and rtol == 0.0 and ulps == 0:
            raise ValueError("At least one of atol, rtol, or ulps must be set.")
        self.atol, self.rtol, self.ulps = atol, rtol, ulps


def _un_accuracy(p: Primitive):
    """A unary op taking JAX's ``accuracy`` hint, which XLA passes to a backend's implementation; portax has one
    implementation per op and backend (the most accurate it has), so the hint is checked but changes nothing."""
    def fn(x: Any, *, accuracy: Tolerance | AccuracyMode | None = None) -> Any:
        if accuracy is not None and not isinstance(accuracy, (Tolerance, AccuracyMode)):
            raise NotImplementedError(f"Accuracy {accuracy} not supported")
        return p.bind(x)
    fn.__name__ = p.name
    fn.__doc__ = f"Elementwise ``{p.name}`` (``lax.{p.name}``); ``accuracy`` is JAX's implementation hint."
    return fn


# --- arithmetic ------------------------------------------------------------------------------------------
neg_p = _unary("neg", _NUMC)
sign_p = _unary("sign", _NUMC)
floor_p = _unary("floor")
ceil_p = _unary("ceil")
round_p = _unary("round")
is_finite_p = _unary("is_finite", _FLOAT, out_dtype=dtypes.bool_)
abs_p = _unary("abs", _NUMC)
exp_p = _unary("exp", _INEXACT)
exp2_p = _unary("exp2", _INEXACT)
log_p = _unary("log", _INEXACT)
log1p_p = _unary("log1p", _INEXACT)
expm1_p = _unary("expm1", _INEXACT)
tanh_p = _unary("tanh", _INEXACT)
logistic_p = _unary("logistic", _INEXACT)
sin_p = _unary("sin", _INEXACT)
cos_p = _unary("cos", _INEXACT)
tan_p = _unary("tan", _INEXACT)
asin_p = _unary("asin", _INEXACT)
acos_p = _unary("acos", _INEXACT)
atan_p = _unary("atan", _INEXACT)
sinh_p = _unary("sinh", _INEXACT)
cosh_p = _unary("cosh", _INEXACT)
asinh_p = _unary("asinh", _INEXACT)
acosh_p = _unary("acosh", _INEXACT)
atanh_p = _unary("atanh", _INEXACT)
sqrt_p = _unary("sqrt", _INEXACT)
rsqrt_p = _unary("rsqrt", _INEXACT)
cbrt_p = _unary("cbrt")
erf_p = _unary("erf")
erfc_p = _unary("erfc")
erf_inv_p = _unary("erf_inv")
lgamma_p = _unary("lgamma")
digamma_p = _unary("digamma")
square_p = _unary("square", _NUMC)
integer_pow_p = _unary("integer_pow", _NUMC)
_integer_pow_abstract = abstract_eval_rules[integer_pow_p]


def _checked_integer_pow(x: Any, *, y: int) -> Any:
    if y < 0 and dtypes.kind(x.dtype) in "iub":
        raise TypeError(f"Integers cannot be raised to negative powers, got integer_pow({x.str_short()}, {y})")
    return _integer_pow_abstract(x, y=y)


abstract_eval_rules[integer_pow_p] = _checked_integer_pow
not_p = _unary("not", _INTB)
population_count_p = _unary("population_count", _INT)
clz_p = _unary("clz", _INT)
stop_gradient_p = _unary("stop_gradient", _ANYC)

add_p = _nary("add", _NUMC)
sub_p = _nary("sub", _NUMC)
mul_p = _nary("mul", _NUMC)
div_p = _nary("div", _NUMC)
rem_p = _nary("rem")
pow_p = _nary("pow", _INEXACT)
max_p = _nary("max", _ANYC)
min_p = _nary("min", _ANYC)
atan2_p = _nary("atan2", _FLOAT)
nextafter_p = _nary("nextafter", _FLOAT)
and_p = _nary("and", _INTB)
or_p = _nary("or", _INTB)
xor_p = _nary("xor", _INTB)
shift_left_p = _nary("shift_left", _INT)
shift_right_logical_p = _nary("shift_right_logical", _INT)
shift_right_arithmetic_p = _nary("shift_right_arithmetic", _INT)

eq_p = _nary("eq", _ANYC, out_dtype=dtypes.bool_)
ne_p = _nary("ne", _ANYC, out_dtype=dtypes.bool_)
lt_p = _nary("lt", _ANY, out_dtype=dtypes.bool_)
le_p = _nary("le", _ANY, out_dtype=dtypes.bool_)
gt_p = _nary("gt", _ANY, out_dtype=dtypes.bool_)
ge_p = _nary("ge", _ANY, out_dtype=dtypes.bool_)

neg, sign, floor, ceil, is_finite, abs = map(_un, (neg_p, sign_p, floor_p, ceil_p, is_finite_p, abs_p))
exp, exp2, log, log1p, expm1, tanh, logistic = map(_un_accuracy, (exp_p, exp2_p, log_p, log1p_p, expm1_p, tanh_p,
                                                                 logistic_p))
sin, cos, tan = map(_un_accuracy, (sin_p, cos_p, tan_p))
asin, acos, atan = map(_un, (asin_p, acos_p, atan_p))
sinh, cosh, asinh, acosh, atanh = map(_un, (sinh_p, cosh_p, asinh_p, acosh_p, atanh_p))
sqrt, rsqrt, cbrt = map(_un_accuracy, (sqrt_p, rsqrt_p, cbrt_p))
erf, erfc, erf_inv, lgamma, digamma = map(_un, (erf_p, erfc_p, erf_inv_p, lgamma_p, digamma_p))
square, bitwise_not, population_count, clz = map(_un, (square_p, not_p, population_count_p, clz_p))
add, sub, _mul, div, rem, max, min, atan2, nextafter = map(_bin, (add_p, sub_p, mul_p, div_p, rem_p, max_p, min_p, atan2_p, nextafter_p))


def mul(x: Any, y: Any, *, out_dtype: Any = None) -> Any:
    """Elementwise ``mul`` (``lax.mul``); with ``out_dtype`` both operands are first cast to it (as JAX does)."""
    if out_dtype is not None:
        x, y = convert_element_type(x, out_dtype), convert_element_type(y, out_dtype)
    return _mul(x, y)


bitwise_and, bitwise_or, bitwise_xor = map(_bin, (and_p, or_p, xor_p))
shift_left, shift_right_logical, shift_right_arithmetic = map(_bin, (shift_left_p, shift_right_logical_p, shift_right_arithmetic_p))
eq, ne, lt, le, gt, ge = map(_bin, (eq_p, ne_p, lt_p, le_p, gt_p, ge_p))


class RoundingMethod:
    AWAY_FROM_ZERO = 0
    TO_NEAREST_EVEN = 1


def round(x: Any, rounding_method: int = RoundingMethod.AWAY_FROM_ZERO) -> Any:
    """``lax.round``: half away from zero by default, or to nearest even."""
    return round_p.bind(x, rounding_method=int(rounding_method))


def pow(x: Any, y: Any) -> Any:
    """``lax.pow``: ``x`` float or complex, ``y`` of its dtype or an integer array (converted to the dtype of ``x``, as
    JAX lowers it)."""
    dx, dy = (get_aval(asarray(v)).dtype for v in (x, y))
    if dtypes.kind(dx) in "fc" and dtypes.kind(dy) in "iu":
        return _pow_int_exponent(x, y, dx)
    if dx != dy and dtypes.kind(dx) in "fc" and dtypes.kind(dy) in "fc" and type(y) is not float and type(x) is not float:
        raise TypeError("the first argument to pow must have an inexact dtype (float or complex), and the second "
                        "argument must have an inexact or integer dtype, and two inexact dtypes must match, but got "
                        f"{dx} and {dy} respectively.")
    return pow_p.bind(*_binary_args("pow", x, y))


def _pow_int_exponent(x: Any, y: Any, dx: np.dtype) -> Any:
    """``x ** y`` for an integer ``y`` (cast to ``x``'s dtype): 1 where ``y == 0``, whose derivative in ``x`` is 0
    (JAX's rule for integer exponents; the pow there sees exponent 1, so no 0 * inf leaks into the gradient)."""
    x, y = _binary_args("pow", asarray(x), asarray(y))
    zero = eq(y, _const(y, 0))
    y_safe = convert_element_type(select(zero, _const(y, 1), y), dx)
    return select(zero, _const(x, 1), pow_p.bind(x, y_safe))


def integer_pow(x: Any, y: int) -> Any:
    """``x ** y`` for a static Python integer ``y``."""
    return integer_pow_p.bind(x, y=int(y))


def stop_gradient(x: Any) -> Any:
    """The identity whose derivative is zero; maps over pytrees as in JAX."""
    from ..pytree import tree_map
    return tree_map(lambda v: stop_gradient_p.bind(asarray(v)), x)


def reciprocal(x: Any) -> Any:
    return integer_pow(x, -1)


# --- derivatives -------------------------------------------------------------------------------------------
for _p in (sign_p, floor_p, ceil_p, round_p, is_finite_p, not_p, population_count_p, clz_p, stop_gradient_p,
           nextafter_p, and_p, or_p, xor_p, shift_left_p, shift_right_logical_p, shift_right_arithmetic_p,
           eq_p, ne_p, lt_p, le_p, gt_p, ge_p):
    ad.defjvp_zero(_p)

ad.deflinear(neg_p, lambda ct, x: [neg(ct)])
ad.deflinear(add_p, lambda ct, x, y: [ct if is_undefined(x) else None, ct if is_undefined(y) else None])
ad.deflinear(sub_p, lambda ct, x, y: [ct if is_undefined(x) else None, neg(ct) if is_undefined(y) else None])


def _mul_transpose(ct, x, y):
    if is_undefined(x) and is_undefined(y):
        raise TypeError("mul is not linear in both arguments at once: a transpose rule cannot apply")
    return [mul(ct, y), None] if is_undefined(x) else [None, mul(x, ct)]


ad.defjvp(mul_p, lambda g, x, y: mul(g, y), lambda g, x, y: mul(x, g))
transpose_rules[mul_p] = _mul_transpose
ad.defjvp2(div_p, lambda g, ans, x, y: div(g, y), lambda g, ans, x, y: neg(mul(g, div(ans, y))))
transpose_rules[div_p] = lambda ct, x, y: [div(ct, y), None]
ad.defjvp(rem_p, lambda g, x, y: g,
          lambda g, x, y: mul(neg(g), mul(sign(div(x, y)), floor(abs(div(x, y))))))


def _balanced_eq(x, ans, y):
    """1 where ``x`` is the result ``ans`` and ``y`` is not, 1/2 where both are (JAX's convention for max/min
    derivatives; it needs no ordering, so complex operands work too)."""
    dt = get_aval(x).dtype
    ties = convert_element_type(eq(y, ans), dt)
    return mul(convert_element_type(eq(x, ans), dt), sub(_const(x, 1), mul(ties, _const(x, 0.5))))


for _p in (max_p, min_p):
    ad.defjvp2(_p, lambda g, ans, x, y: mul(g, _balanced_eq(x, ans, y)),
               lambda g, ans, x, y: mul(g, _balanced_eq(y, ans, x)))


def _abs_jvp(g, ans, x):
    if dtypes.kind(get_aval(x).dtype) == "c":  # d|z| = Re(conj(z) dz) / |z|, and 0 at z = 0 (as JAX)
        return div(real(mul(conj(x), g)), select(eq(ans, _const(ans, 0)), _const(ans, 1), ans))
    return select(ge(x, _const(x, 0)), g, neg(g))


ad.defjvp2(abs_p, _abs_jvp)
ad.defjvp2(exp_p, lambda g, ans, x: mul(g, ans))
ad.defjvp2(exp2_p, lambda g, ans, x: mul(g, mul(ans, _const(x, math.log(2)))))
ad.defjvp(log_p, lambda g, x: div(g, x))
ad.defjvp(log1p_p, lambda g, x: div(g, add(x, _const(x, 1))))
ad.defjvp2(expm1_p, lambda g, ans, x: mul(g, add(ans, _const(x, 1))))
ad.defjvp2(tanh_p, lambda g, ans, x: mul(g, sub(_const(x, 1), square(ans))))
ad.defjvp2(logistic_p, lambda g, ans, x: mul(g, mul(ans, sub(_const(x, 1), ans))))
ad.defjvp(sin_p, lambda g, x: mul(g, cos(x)))
ad.defjvp(cos_p, lambda g, x: neg(mul(g, sin(x))))
ad.defjvp2(tan_p, lambda g, ans, x: mul(g, add(_const(x, 1), square(ans))))
ad.defjvp(asin_p, lambda g, x: mul(g, rsqrt(sub(_const(x, 1), square(x)))))
ad.defjvp(acos_p, lambda g, x: neg(mul(g, rsqrt(sub(_const(x, 1), square(x))))))
ad.defjvp(atan_p, lambda g, x: div(g, add(_const(x, 1), square(x))))
ad.defjvp(sinh_p, lambda g, x: mul(g, cosh(x)))
ad.defjvp(cosh_p, lambda g, x: mul(g, sinh(x)))
ad.defjvp(asinh_p, lambda g, x: mul(g, rsqrt(add(square(x), _const(x, 1)))))
# 1 / (sqrt(x - 1) sqrt(x + 1)): JAX's rsqrt(x^2 - 1) has the wrong sign for complex x with Re x < 0
ad.defjvp(acosh_p, lambda g, x: mul(g, mul(rsqrt(sub(x, _const(x, 1))), rsqrt(add(x, _const(x, 1))))))
ad.defjvp(atanh_p, lambda g, x: div(g, sub(_const(x, 1), square(x))))
ad.defjvp2(sqrt_p, lambda g, ans, x: div(g, mul(_const(x, 2), ans)))
ad.defjvp2(rsqrt_p, lambda g, ans, x: mul(g, mul(_const(x, -0.5), div(ans, x))))
ad.defjvp2(cbrt_p, lambda g, ans, x: mul(g, mul(_const(x, 1 / 3), integer_pow(ans, -2))))
ad.defjvp(erf_p, lambda g, x: mul(g, mul(_const(x, 2 / math.sqrt(math.pi)), exp(neg(square(x))))))
ad.defjvp(erfc_p, lambda g, x: mul(g, mul(_const(x, -2 / math.sqrt(math.pi)), exp(neg(square(x))))))
ad.defjvp2(erf_inv_p, lambda g, ans, x: mul(g, mul(_const(x, math.sqrt(math.pi) / 2), exp(square(ans)))))
ad.defjvp(lgamma_p, lambda g, x: mul(g, digamma(x)))
ad.defjvp(square_p, lambda g, x: mul(g, mul(_const(x, 2), x)))
ad.defjvp(atan2_p, lambda g, x, y: mul(g, div(y, add(square(x), square(y)))),
          lambda g, x, y: mul(g, div(neg(x), add(square(x), square(y)))))


def _trigamma(x):
    """psi_1(x) for x > 0: shift to x + 6 by the recurrence, then the asymptotic series."""
    acc = _const(x, 0)
    for k in range(6):
        acc = add(acc, integer_pow(add(x, _const(x, k)), -2))
    z = add(x, _const(x, 6))
    iz = integer_pow(z, -1)
    iz2 = square(iz)
    series = mul(iz, add(_const(x, 1), mul(iz, add(_const(x, 0.5), mul(iz, add(_const(x, 1 / 6), mul(iz2, add(
        _const(x, -1 / 30), mul(iz2, add(_const(x, 1 / 42), mul(iz2, _const(x, -1 / 30))))))))))))
    return add(acc, series)


ad.defjvp(digamma_p, lambda g, x: mul(g, _trigamma(x)))


def _pow_jvp_x(g, x, y):  # y x^(y-1), as JAX for an inexact y (an integer y never reaches pow_p: see pow)
    return mul(g, mul(y, pow(x, sub(y, _const(y, 1)))))


def _pow_jvp_y(g, ans, x, y):
    safe_x = select(eq(x, _const(x, 0)), _const(x, 1), x)
    return mul(g, select(eq(x, _const(x, 0)), _const(x, 0), mul(ans, log(safe_x))))


ad.defjvp2(pow_p, lambda g, ans, x, y: _pow_jvp_x(g, x, y), _pow_jvp_y)


def _integer_pow_jvp(g, x, *, y):
    if y == 0:
        return Zero(get_aval(g))
    return mul(g, mul(_const(x, y), x if y == 2 else integer_pow(x, y - 1)))


ad.defjvp(integer_pow_p, _integer_pow_jvp)


# --- select_n and clamp -----------------------------------------------------------------------------------
select_n_p = Primitive("select_n")


def _select_n_abstract(which: ShapedArray, *cases: ShapedArray) -> ShapedArray:
    if not cases:
        raise TypeError("select_n must have at least one case")
    if which.dtype not in (dtypes.bool_, dtypes.int32, dtypes.int64, dtypes.uint32) or \
            (which.dtype == dtypes.bool_ and len(cases) > 2):
        raise TypeError(f"select_n 'which' must be boolean (2 cases) or int32, got {which.dtype.name} "
                        f"with {len(cases)} cases")
    c0 = cases[0]
    if any(c.shape != c0.shape for c in cases) or any(c.dtype != c0.dtype for c in cases):
        raise TypeError(f"select_n cases must have the same shapes and dtypes, got "
                        f"{', '.join(c.str_short() for c in cases)}")
    if which.shape not in ((), c0.shape):
        raise TypeError(f"select_n 'which' must be scalar or have the shape of the cases: which "
                        f"{which.shape} vs cases {c0.shape}")
    return ShapedArray(c0.shape, c0.dtype, all(c.weak_type for c in cases))


def _select_n_jvp(primals, tangents):
    which, *cases = primals
    out = select_n_p.bind(which, *cases)
    ts = tangents[1:]
    if all(type(t) is Zero for t in ts):
        return out, Zero(get_aval(out).at_least_vspace())
    return out, select_n_p.bind(which, *[instantiate(t) for t in ts])


def _select_n_transpose(ct, which, *cases):
    zeros = _zeros_like(ct)
    if is_undefined(which):
        raise ValueError("select_n: the predicate cannot be linear")
    return [None] + [select_n_p.bind(which, *[ct if j == i else zeros for j in range(len(cases))])
                     if is_undefined(c) else None for i, c in enumerate(cases)]


def _select_n_batch(axis, vals, dims):
    which, *cases = vals
    if dims[0] is None and get_aval(which).shape == ():
        return select_n_p.bind(which, *[batching.bdim_at_front(c, d, axis.size) for c, d in zip(cases, dims[1:])]), 0
    which, *cases = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims)]
    case_shape = get_aval(cases[0]).shape
    if get_aval(which).shape != case_shape:  # a scalar predicate per batch element
        from .structural import broadcast_in_dim
        which = broadcast_in_dim(which, case_shape, (0,))
    return select_n_p.bind(which, *cases), 0


abstract_eval_rules[select_n_p] = _select_n_abstract
jvp_rules[select_n_p] = _select_n_jvp
transpose_rules[select_n_p] = _select_n_transpose
batching_rules[select_n_p] = _select_n_batch


@keys_lifted("cases")
def select_n(which: Any, *cases: Any) -> Any:
    """``cases[which]`` elementwise; ``which`` is bool (2 cases) or int32."""
    return select_n_p.bind(which, *cases)


@keys_lifted("on_true", "on_false")
def select(pred: Any, on_true: Any, on_false: Any) -> Any:
    """``lax.select``: ``on_true`` where ``pred`` else ``on_false``."""
    on_false, on_true = _binary_args("select", on_false, on_true, size1=False)
    return select_n_p.bind(pred, on_false, on_true)


clamp_p = Primitive("clamp")


def _clamp_abstract(lo: ShapedArray, x: ShapedArray, hi: ShapedArray) -> ShapedArray:
    for name, a in (("min", lo), ("max", hi)):
        if a.dtype != x.dtype:
            raise TypeError(f"clamp requires {name} and operand to have the same dtype, got "
                            f"{a.dtype.name} and {x.dtype.name}")
        if a.shape not in ((), x.shape):
            raise TypeError(f"clamp requires {name}.shape == operand.shape or {name}.shape == (), "
                            f"got {a.shape} and {x.shape}")
    return x


def _zeros_like(x):
    from ..ad_util import zeros_like_aval
    return zeros_like_aval(get_aval(x))


def _clamp_tangent(pick):
    """The tangent ``g`` of one clamp argument where ``pick(lo, x, hi)`` says it is the output, else 0
    (a scalar bound's tangent is broadcast to the operand's shape)."""
    def fn(g, lo, x, hi):
        shape = get_aval(x).shape
        if get_aval(g).shape != shape:
            from .structural import broadcast_in_dim
            g = broadcast_in_dim(g, shape, ())
        return select(pick(lo, x, hi), g, _zeros_like(g))
    return fn


ad.defjvp(clamp_p,  # JAX's rule: the lower bound's tangent only where lo < hi
          _clamp_tangent(lambda lo, x, hi: bitwise_and(gt(lo, x), lt(lo, hi))),
          _clamp_tangent(lambda lo, x, hi: bitwise_and(gt(x, lo), lt(x, hi))),
          _clamp_tangent(lambda lo, x, hi: lt(hi, x)))
abstract_eval_rules[clamp_p] = _clamp_abstract


def _clamp_batch(axis, vals, dims):
    """Batch the operand at the front; bounds stay scalar if unbatched scalars, else match the operand."""
    lo, x, hi = vals
    dlo, dx, dhi = dims
    if dlo is None and dhi is None and get_aval(lo).shape == () and get_aval(hi).shape == ():
        return clamp_p.bind(lo, x, hi), dx
    x = batching.bdim_at_front(x, dx, axis.size)
    shape = get_aval(x).shape
    from .structural import broadcast_in_dim

    def bound(v, d):
        if d is None:
            return v if get_aval(v).shape == () else batching.broadcast_batched(v, axis.size, 0)
        v = batching.moveaxis(v, d, 0)
        return v if get_aval(v).shape == shape else broadcast_in_dim(v, shape, (0,))
    return clamp_p.bind(bound(lo, dlo), x, bound(hi, dhi)), 0


batching_rules[clamp_p] = _clamp_batch


def clamp(min: Any, x: Any, max: Any) -> Any:
    """``lax.clamp(min, x, max)``; scalar bounds broadcast."""
    x = asarray(x)
    dt = get_aval(x).dtype
    lo = convert_element_type(min, dt) if type(min) in (int, float) else min
    hi = convert_element_type(max, dt) if type(max) in (int, float) else max
    return clamp_p.bind(lo, x, hi)


# --- conversions -------------------------------------------------------------------------------------------
convert_element_type_p = Primitive("convert_element_type")


def _convert_abstract(x: ShapedArray, *, new_dtype, weak_type) -> ShapedArray:
    return ShapedArray(x.shape, new_dtype, weak_type)


def _convert_jvp(primals, tangents, *, new_dtype, weak_type):
    (x,), (t,) = primals, tangents
    out = convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=weak_type)
    if type(t) is Zero or dtypes.kind(new_dtype) not in "fc" or dtypes.kind(get_aval(x).dtype) not in "fc":
        return out, Zero(get_aval(out).at_least_vspace())
    return out, convert_element_type_p.bind(t, new_dtype=new_dtype, weak_type=weak_type)


def _convert_transpose(ct, x, *, new_dtype, weak_type):
    a = x.aval
    return [convert_element_type_p.bind(ct, new_dtype=a.dtype, weak_type=a.weak_type)]


abstract_eval_rules[convert_element_type_p] = _convert_abstract
jvp_rules[convert_element_type_p] = _convert_jvp
transpose_rules[convert_element_type_p] = _convert_transpose
batching.defvectorized(convert_element_type_p)


def convert_element_type(x: Any, new_dtype, weak_type: bool = False) -> Any:
    """``lax.convert_element_type``; constant-folds on Python and numpy scalars."""
    check_conversion(x, new_dtype)
    new_dtype = dtypes.canonicalize(new_dtype)
    if not is_tracer(x) and not hasattr(x, "_buf"):
        from ..sharded import on_mesh
        if not on_mesh(x):
            return constant(dtypes.convert_host(x, new_dtype), weak_type=weak_type)
    aval = get_aval(x)
    if aval.dtype == new_dtype and aval.weak_type == weak_type:
        return x
    from ..array import Array
    if type(x) is Array and aval.dtype == new_dtype:  # only the weak type changes: the same (immutable) buffer
        return Array(x._buf, ShapedArray(aval.shape, new_dtype, bool(weak_type)), x._device)
    return convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=bool(weak_type))


bitcast_convert_type_p = Primitive("bitcast_convert_type")


def _changes_subbyte_width(old: np.dtype, new: np.dtype) -> bool:
    """Whether a bitcast from ``old`` to ``new`` changes the width of a sub-byte integer (int2/int4/...)."""
    sub_old, sub_new = old in dtypes.INTN, new in dtypes.INTN
    return sub_old != sub_new or sub_old and dtypes.iinfo(old).bits != dtypes.iinfo(new).bits


def _bitcast_abstract(x: ShapedArray, *, new_dtype) -> ShapedArray:
    old, new = x.dtype.itemsize, new_dtype.itemsize
    if _changes_subbyte_width(x.dtype, new_dtype):
        raise TypeError(f"bitcast_convert_type_p: {x.dtype.name} -> {new_dtype.name} changes the width of a sub-byte "
                        f"integer (lax.bitcast_convert_type packs such values into bytes first)")
    if old == new:
        return ShapedArray(x.shape, new_dtype)
    if old > new:
        if old % new:
            raise TypeError(f"bitcast_convert_type: {x.dtype.name} -> {new_dtype.name} sizes do not divide")
        return ShapedArray(x.shape + (old // new,), new_dtype)
    if not x.shape or x.shape[-1] != new // old:
        raise TypeError(f"bitcast_convert_type: converting {x.str_short()} to the wider {new_dtype.name} "
                        f"needs a trailing axis of size {new // old}")
    return ShapedArray(x.shape[:-1], new_dtype)


abstract_eval_rules[bitcast_convert_type_p] = _bitcast_abstract
ad.defjvp_zero(bitcast_convert_type_p)


def _bitcast_batch(axis, vals, dims, *, new_dtype):
    (x,), (d,) = vals, dims
    old = get_aval(x).dtype.itemsize
    if old != new_dtype.itemsize:
        x, d = batching.bdim_at_front(x, d, axis.size), 0
    return bitcast_convert_type_p.bind(x, new_dtype=new_dtype), d


batching_rules[bitcast_convert_type_p] = _bitcast_batch


def bitcast_convert_type(x: Any, new_dtype) -> Any:
    """Reinterpret the bits of ``x`` as ``new_dtype`` (adds/removes a trailing axis when widths differ)."""
    x, new_dtype = asarray(x), dtypes.canonicalize(new_dtype)
    if _changes_subbyte_width(get_aval(x).dtype, new_dtype):
        from ..bitcast_subbyte import bitcast_subbyte
        return bitcast_subbyte(x, new_dtype)
    return bitcast_convert_type_p.bind(x, new_dtype=new_dtype)


# --- complex numbers ------------------------------------------------------------------------------------------
def _part_abstract(name: str):
    def rule(x: ShapedArray) -> ShapedArray:
        if dtypes.kind(x.dtype) != "c":
            raise TypeError(f"{name} requires a complex operand, got {x.str_short()}")
        return ShapedArray(x.shape, dtypes.real_dtype(x.dtype), x.weak_type)
    return rule


def _complex_abstract(x: ShapedArray, y: ShapedArray) -> ShapedArray:
    if x.dtype != y.dtype or x.dtype not in (dtypes.float32, dtypes.float64) or x.shape != y.shape:
        raise TypeError(f"complex requires two float32 or float64 operands of one shape and dtype, got "
                        f"{x.str_short()} and {y.str_short()}")
    return ShapedArray(x.shape, dtypes.complex_dtype(x.dtype), x.weak_type and y.weak_type)


def _conj_abstract(x: ShapedArray) -> ShapedArray:
    if dtypes.kind(x.dtype) != "c":
        raise TypeError(f"conj requires a complex operand, got {x.str_short()}")
    return x


real_p, imag_p, conj_p, complex_p = (Primitive(n) for n in ("real", "imag", "conj", "complex"))
abstract_eval_rules[real_p] = _part_abstract("real")
abstract_eval_rules[imag_p] = _part_abstract("imag")
abstract_eval_rules[conj_p] = _conj_abstract
abstract_eval_rules[complex_p] = _complex_abstract
for _p in (real_p, imag_p, conj_p):
    batching.defvectorized(_p)
batching.defbroadcasting(complex_p)
real, imag, conj = map(_un, (real_p, imag_p, conj_p))


def complex(x: Any, y: Any) -> Any:
    """``lax.complex``: ``x + i y`` from two float arrays of one dtype."""
    return complex_p.bind(*_binary_args("complex", x, y))


# Transposes as JAX defines them (linear, not conjugate-linear): real^T(c) = c + 0i, imag^T(c) = -ci.
ad.deflinear(real_p, lambda ct, x: [complex(ct, _zeros_like(ct))])
ad.deflinear(imag_p, lambda ct, x: [complex(_zeros_like(ct), neg(ct))])
ad.deflinear(conj_p, lambda ct, x: [conj(ct)])
ad.deflinear(complex_p, lambda ct, x, y: [real(ct) if is_undefined(x) else None,
                                          neg(imag(ct)) if is_undefined(y) else None])
_real_abs = abstract_eval_rules[abs_p]


def _abs_abstract(x: ShapedArray) -> ShapedArray:
    if x.dtype in dtypes.INTN:  # JAX's supports_narrow_ints=False
        raise TypeError(f"abs does not accept dtype {x.dtype.name}. Support for narrow-width integers is "
                        "platform-dependent and limited to a few specific operations, e.g. basic arithmetic and "
                        "type casting.")
    return _real_abs(x).update(dtype=dtypes.real_dtype(x.dtype))


abstract_eval_rules[abs_p] = _abs_abstract

ELEMENTWISE_UNARY = (neg_p, sign_p, floor_p, ceil_p, round_p, is_finite_p, abs_p, exp_p, exp2_p, log_p, log1p_p,
                     expm1_p, tanh_p, logistic_p, sin_p, cos_p, tan_p, asin_p, acos_p, atan_p, sinh_p, cosh_p,
                     asinh_p, acosh_p, atanh_p, sqrt_p, rsqrt_p, cbrt_p, erf_p, erfc_p, erf_inv_p, lgamma_p,
                     digamma_p, square_p, integer_pow_p, not_p, population_count_p, clz_p, stop_gradient_p,
                     convert_element_type_p)
ELEMENTWISE_BINARY = (add_p, sub_p, mul_p, div_p, rem_p, pow_p, max_p, min_p, atan2_p, nextafter_p, and_p, or_p,
                      xor_p, shift_left_p, shift_right_logical_p, shift_right_arithmetic_p, eq_p, ne_p, lt_p, le_p,
                      gt_p, ge_p)
ELEMENTWISE = ELEMENTWISE_UNARY + ELEMENTWISE_BINARY + (select_n_p, clamp_p, bitcast_convert_type_p, real_p, imag_p,
                                                       conj_p, complex_p)
