"""Elementwise functions of portax.numpy: numpy's promotion and broadcasting over lax primitives."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import dtypes
from ..primitives import elementwise as ew
from ..primitives.custom_derivatives import custom_jvp
from ..prng_key_ops import reject_keys
from ..trace import get_aval
from ._util import asarray_any, promote_args, promote_args_inexact, promote_shapes, promote_dtypes


def _unary_inexact(lax_fn, name: str):
    def fn(x: Any, /) -> Any:
        reject_keys(lax_fn.__name__, x)
        (x,) = promote_args_inexact(name, x)
        return lax_fn(x)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` (``numpy.{name}``); integers promote to the default float."
    return fn


def _unary_same(lax_fn, name: str):
    def fn(x: Any, /) -> Any:
        reject_keys(lax_fn.__name__, x)
        return lax_fn(asarray_any(x))
    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` (``numpy.{name}``)."
    return fn


def _binary(lax_fn, name: str, inexact: bool = False):
    promote = promote_args_inexact if inexact else promote_args

    def fn(x: Any, y: Any, /) -> Any:
        reject_keys(lax_fn.__name__, x, y)
        x, y = promote(name, x, y)
        return lax_fn(x, y)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` (``numpy.{name}``) with numpy broadcasting and JAX type promotion."
    return fn


exp = _unary_inexact(ew.exp, "exp")
exp2 = _unary_inexact(ew.exp2, "exp2")
log = _unary_inexact(ew.log, "log")
log1p = _unary_inexact(ew.log1p, "log1p")
expm1 = _unary_inexact(ew.expm1, "expm1")
tanh = _unary_inexact(ew.tanh, "tanh")
sin = _unary_inexact(ew.sin, "sin")
cos = _unary_inexact(ew.cos, "cos")
tan = _unary_inexact(ew.tan, "tan")
arcsin = _unary_inexact(ew.asin, "arcsin")
arccos = _unary_inexact(ew.acos, "arccos")
arctan = _unary_inexact(ew.atan, "arctan")
sinh = _unary_inexact(ew.sinh, "sinh")
cosh = _unary_inexact(ew.cosh, "cosh")
arcsinh = _unary_inexact(ew.asinh, "arcsinh")
arccosh = _unary_inexact(ew.acosh, "arccosh")
arctanh = _unary_inexact(ew.atanh, "arctanh")
sqrt = _unary_inexact(ew.sqrt, "sqrt")
cbrt = _unary_inexact(ew.cbrt, "cbrt")
asin, acos, atan, asinh, acosh, atanh = arcsin, arccos, arctan, arcsinh, arccosh, arctanh

negative = _unary_same(ew.neg, "negative")
sign = _unary_same(ew.sign, "sign")


def square(x: Any, /) -> Any:
    """Elementwise ``square`` (``numpy.square``); booleans promote to int32, as JAX."""
    x = asarray_any(x)
    return ew.square(ew.convert_element_type(x, dtypes.int32) if dtypes.is_bool(get_aval(x).dtype) else x)


absolute = _unary_same(lambda x: x if dtypes.kind(get_aval(x).dtype) in "ub" else ew.abs(x), "absolute")
abs = absolute


def positive(x: Any, /) -> Any:
    return asarray_any(x)


def floor(x: Any, /) -> Any:
    x = asarray_any(x)
    return x if dtypes.kind(get_aval(x).dtype) in "iub" else ew.floor(x)


def ceil(x: Any, /) -> Any:
    x = asarray_any(x)
    return x if dtypes.kind(get_aval(x).dtype) in "iub" else ew.ceil(x)


def trunc(x: Any, /) -> Any:
    x = asarray_any(x)
    if dtypes.kind(get_aval(x).dtype) in "iub":
        return x
    return ew.select(ew.lt(x, ew._const(x, 0)), ew.ceil(x), ew.floor(x))


def rint(x: Any, /) -> Any:
    """Round half to even; complex parts are rounded separately."""
    (x,) = promote_args_inexact("rint", x)
    if _is_complex(x):
        return ew.complex(rint(ew.real(x)), rint(ew.imag(x)))
    return ew.round(x, ew.RoundingMethod.TO_NEAREST_EVEN)


def round(a: Any, decimals: int = 0, out: None = None) -> Any:
    """Round half to even, as ``numpy.round``."""
    a = asarray_any(a)
    if dtypes.kind(get_aval(a).dtype) in "iub":
        return a
    if decimals == 0:
        return ew.round(a, ew.RoundingMethod.TO_NEAREST_EVEN)
    f = ew._const(a, 10.0 ** decimals)
    return ew.div(ew.round(ew.mul(a, f), ew.RoundingMethod.TO_NEAREST_EVEN), f)


around = round


def reciprocal(x: Any, /) -> Any:
    (x,) = promote_args_inexact("reciprocal", x)
    return ew.div(ew._const(x, 1), x)


def _bool_as(lax_fn, bool_fn):
    """``lax_fn``, or ``bool_fn`` on booleans (JAX's ``add``/``multiply`` of bools are ``or``/``and``)."""
    def fn(x: Any, y: Any) -> Any:
        return bool_fn(x, y) if get_aval(x).dtype == np.bool_ else lax_fn(x, y)
    fn.__name__ = lax_fn.__name__
    return fn


add = _binary(_bool_as(ew.add, ew.bitwise_or), "add")
subtract = _binary(ew.sub, "subtract")
multiply = _binary(_bool_as(ew.mul, ew.bitwise_and), "multiply")
maximum = _binary(ew.max, "maximum")
minimum = _binary(ew.min, "minimum")
arctan2 = _binary(ew.atan2, "arctan2", inexact=True)
atan2 = arctan2
nextafter = _binary(ew.nextafter, "nextafter", inexact=True)
equal = _binary(ew.eq, "equal")
not_equal = _binary(ew.ne, "not_equal")


def _lexicographic(lax_cmp):
    """``lax_cmp`` that compares complex operands by (real, imaginary) parts, as JAX's ``jnp`` comparisons."""
    def cmp(x: Any, y: Any) -> Any:
        if dtypes.kind(get_aval(x).dtype) != "c":
            return lax_cmp(x, y)
        (xr, xi), (yr, yi) = (ew.real(x), ew.imag(x)), (ew.real(y), ew.imag(y))
        return ew.select(ew.eq(xr, yr), lax_cmp(xi, yi), lax_cmp(xr, yr))
    return cmp


less = _binary(_lexicographic(ew.lt), "less")
less_equal = _binary(_lexicographic(ew.le), "less_equal")
greater = _binary(_lexicographic(ew.gt), "greater")
greater_equal = _binary(_lexicographic(ew.ge), "greater_equal")
bitwise_and = _binary(ew.bitwise_and, "bitwise_and")
bitwise_or = _binary(ew.bitwise_or, "bitwise_or")
bitwise_xor = _binary(ew.bitwise_xor, "bitwise_xor")
left_shift = _binary(ew.shift_left, "left_shift")


def right_shift(x: Any, y: Any, /) -> Any:
    x, y = promote_args("right_shift", x, y)
    return (ew.shift_right_logical if dtypes.kind(get_aval(x).dtype) == "u" else ew.shift_right_arithmetic)(x, y)


def invert(x: Any, /) -> Any:
    return ew.bitwise_not(asarray_any(x))


bitwise_not = bitwise_invert = invert
bitwise_left_shift, bitwise_right_shift = left_shift, right_shift


def logical_and(x: Any, y: Any, /) -> Any:
    return ew.bitwise_and(*promote_shapes(_as_bool(x), _as_bool(y), name="logical_and"))


def logical_or(x: Any, y: Any, /) -> Any:
    return ew.bitwise_or(*promote_shapes(_as_bool(x), _as_bool(y), name="logical_or"))


def logical_xor(x: Any, y: Any, /) -> Any:
    return ew.bitwise_xor(*promote_shapes(_as_bool(x), _as_bool(y), name="logical_xor"))


def logical_not(x: Any, /) -> Any:
    return ew.bitwise_not(_as_bool(x))


def _as_bool(x: Any) -> Any:
    x = asarray_any(x)
    return x if get_aval(x).dtype == dtypes.bool_ else ew.ne(x, ew._const(x, 0))


def true_divide(x: Any, y: Any, /) -> Any:
    reject_keys("div", x, y)
    x, y = promote_args_inexact("true_divide", x, y)
    return ew.div(x, y)


divide = true_divide


def floor_divide(x: Any, y: Any, /) -> Any:
    x, y = promote_args("floor_divide", x, y)
    dt = get_aval(x).dtype
    if dtypes.kind(dt) == "f":
        return _float_divmod(x, y)[0]
    if dtypes.kind(dt) == "b":
        return ew.bitwise_and(x, y)
    q = ew.div(x, y)
    if dtypes.kind(dt) == "u":
        return q
    # round toward -inf where signs differ and the division is inexact (as JAX: sign(y) = 0 differs from any
    # nonzero x's sign and x % 0 = x, so a positive x // 0 is -1 - 1 = -2, like a negative one)
    r = ew.rem(x, y)
    fix_ = ew.bitwise_and(ew.ne(r, ew._const(r, 0)), ew.ne(ew.sign(x), ew.sign(y)))
    return ew.select(fix_, ew.sub(q, ew._const(q, 1)), q)


def _float_divmod(x: Any, y: Any) -> tuple:
    """Floor division and modulo of floats as CPython's float_divmod (and JAX): the quotient from
    ``(x - x % y) / y``, rounded, so that it is exact where ``floor(x / y)`` is not (``1 // 0.1 == 9``)."""
    zero = ew._const(x, 0)
    mod = ew.rem(x, y)
    div = ew.div(ew.select(ew.eq(y, zero), x, ew.sub(x, mod)), y)
    ind = ew.bitwise_and(ew.ne(mod, zero), ew.ne(ew.sign(y), ew.sign(mod)))
    mod = ew.select(ind, ew.add(mod, y), mod)
    div = ew.select(ind, ew.sub(div, ew._const(div, 1)), div)
    return ew.round(div), mod


def remainder(x: Any, y: Any, /) -> Any:
    """numpy's ``%``: the result takes the sign of the divisor (an integer ``x % 0`` is 0, as JAX)."""
    x, y = promote_args("remainder", x, y)
    if dtypes.is_int(get_aval(y).dtype):
        y = ew.select(ew.eq(y, ew._const(y, 0)), ew._const(y, 1), y)
    r = ew.rem(x, y)
    if dtypes.kind(get_aval(x).dtype) == "u":
        return r
    zero = ew._const(r, 0)
    fix_ = ew.bitwise_and(ew.ne(r, zero), ew.ne(ew.lt(r, zero), ew.lt(y, zero)))
    return ew.select(fix_, ew.add(r, y), r)


mod = remainder


def fmod(x: Any, y: Any, /) -> Any:
    """C's ``fmod`` (the sign of ``x``); an integer remainder by zero is 0, as JAX."""
    x, y = promote_args("fmod", x, y)
    if dtypes.kind(get_aval(y).dtype) in "iu":
        y = ew.select(ew.eq(y, ew._const(y, 0)), _full_like(y, 1), y)
    return ew.rem(x, y)


def divmod(x: Any, y: Any, /) -> tuple:
    return floor_divide(x, y), remainder(x, y)


def power(x: Any, y: Any, /) -> Any:
    """``x ** y``: integer exponents that are Python ints use repeated multiplication (exact)."""
    if type(y) is int and not isinstance(y, bool):
        x = asarray_any(x)
        if dtypes.kind(get_aval(x).dtype) in "iu" and y < 0:
            raise ValueError("Integers to negative integer powers are not allowed.")
        return ew.integer_pow(x, y)
    xa, ya = asarray_any(x), asarray_any(y)
    if dtypes.kind(get_aval(xa).dtype) == "f" and dtypes.kind(get_aval(ya).dtype) in "iu":
        return ew.pow(*promote_shapes(xa, ya, name="power"))  # an integer exponent stays integer (as JAX)
    x, y = promote_args("power", x, y)
    if dtypes.kind(get_aval(x).dtype) in "iub":
        return _int_power(x, y)
    if dtypes.kind(get_aval(x).dtype) == "c":
        return _complex_power(x, y)
    return ew.pow(x, y)


def _complex_power(x: Any, y: Any) -> Any:
    """The principal branch, exp(y log x); x ** 0 is 1, 0 ** y is 0 where Re y > 0 and NaN elsewhere (as numpy)."""
    zero = ew.eq(x, ew._const(x, 0))
    out = ew.exp(_mul_keeping_inf(y, ew.log(ew.select(zero, ew._const(x, 1), x))))
    positive = ew.gt(ew.real(y), ew._const(ew.real(y), 0))
    out = ew.select(zero, ew.select(positive, _full_like(out, 0), _full_like(out, complex(np.nan, np.nan))), out)
    return ew.select(ew.eq(y, ew._const(y, 0)), _full_like(out, 1), out)


pow = power


def _mul_keeping_inf(z: Any, w: Any) -> Any:
    """Complex ``z * w`` with C99 Annex G's recovery of infinities (G.5.1, as C's cpow): where both parts are NaN
    but a factor is infinite or a product overflowed, NaN parts count as 0 and the result is infinite."""
    a, b, c, d = ew.real(z), ew.imag(z), ew.real(w), ew.imag(w)
    out = ew.mul(z, w)
    x, y = ew.real(out), ew.imag(out)
    inf = lambda v: ew.eq(ew.abs(v), _full_like(v, np.inf))
    unit = lambda v: copysign(ew.select(inf(v), _full_like(v, 1), _full_like(v, 0)), v)
    nan_to_zero = lambda v: ew.select(ew.ne(v, v), copysign(_full_like(v, 0), v), v)
    z_inf, w_inf = ew.bitwise_or(inf(a), inf(b)), ew.bitwise_or(inf(c), inf(d))
    overflow = inf(ew.mul(a, c))
    for p, q in ((b, d), (a, d), (b, c)):
        overflow = ew.bitwise_or(overflow, inf(ew.mul(p, q)))
    fix_z, fix_w = ew.bitwise_or(w_inf, overflow), ew.bitwise_or(z_inf, overflow)
    a, b = (ew.select(z_inf, unit(v), ew.select(fix_z, nan_to_zero(v), v)) for v in (a, b))
    c, d = (ew.select(w_inf, unit(v), ew.select(fix_w, nan_to_zero(v), v)) for v in (c, d))
    recalc = ew.bitwise_and(ew.bitwise_and(ew.ne(x, x), ew.ne(y, y)), ew.bitwise_or(fix_z, z_inf))
    big = _full_like(x, np.inf)  # the recovered infinities carry no derivative (0 * inf would make it NaN)
    return ew.complex(ew.select(recalc, ew.stop_gradient(ew.mul(big, ew.sub(ew.mul(a, c), ew.mul(b, d)))), x),
                      ew.select(recalc, ew.stop_gradient(ew.mul(big, ew.add(ew.mul(a, d), ew.mul(b, c)))), y))


def _int_power(x: Any, y: Any) -> Any:
    """Integer power by squaring over the bits of ``y`` (negative exponents give 0, as numpy's C loop)."""
    from ..primitives.control_flow import fori_loop
    from ..primitives.structural import full_like
    acc = full_like(x, 1)
    bits = get_aval(y).dtype.itemsize * 8

    def body(i, c):
        acc, base, e = c
        acc = ew.select(ew.ne(ew.bitwise_and(e, ew._const(e, 1)), ew._const(e, 0)), ew.mul(acc, base), acc)
        return acc, ew.mul(base, base), ew.shift_right_logical(e, ew._const(e, 1))

    acc, _, _ = fori_loop(0, bits, body, (acc, x, y))
    return ew.select(ew.lt(y, ew._const(y, 0)), ew.mul(acc, ew._const(acc, 0)), acc)


def float_power(x: Any, y: Any, /) -> Any:
    x, y = promote_args_inexact("float_power", x, y)
    return ew.pow(x, y)


def _logaddexp_base(base_exp, scale: float):
    """``log_b(b**x + b**y)`` without overflow, with JAX's derivative ``b**(x - out)`` (so ties split 1/2, 1/2);
    complex values as JAX: ``amax + log_b(1 + b**(x + y - 2 amax))``, the imaginary part wrapped to
    ``[-pi, pi]`` (over ``ln b``)."""
    @custom_jvp
    def fn(x: Any, y: Any) -> Any:
        amax = ew.max(x, y)
        if _is_complex(x):
            delta = ew.sub(ew.add(x, y), ew.mul(amax, ew._const(amax, 2)))
            out = ew.add(amax, ew.mul(ew._const(x, scale), ew.log1p(base_exp(delta))))
            return ew.complex(ew.real(out), _wrap_between(ew.imag(out), np.pi * scale))
        delta = ew.sub(x, y)
        tail = ew.mul(ew._const(x, scale), ew.log1p(base_exp(ew.neg(ew.abs(delta)))))
        return ew.select(ew.ne(delta, delta), ew.add(x, y), ew.add(amax, tail))

    @fn.defjvp
    def _jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        out = fn(x, y)
        weight = lambda v: base_exp(ew.sub(_replace_inf(v), _replace_inf(out)))  # noqa: E731
        return out, ew.add(ew.mul(tx, weight(x)), ew.mul(ty, weight(y)))
    return fn


def _replace_inf(x: Any) -> Any:
    re = ew.real(x) if _is_complex(x) else x
    return ew.select(ew.eq(re, ew._const(re, np.inf)), ew._const(x, 0), x)


def _wrap_between(x: Any, a: float) -> Any:
    """``x`` wrapped into ``[-a, a)``."""
    two_a = ew._const(x, 2 * a)
    r = ew.rem(ew.add(x, ew._const(x, a)), two_a)
    r = ew.select(ew.lt(r, ew._const(r, 0)), ew.add(r, two_a), r)
    return ew.sub(r, ew._const(x, a))


_logaddexp = _logaddexp_base(ew.exp, 1.0)
_logaddexp2 = _logaddexp_base(ew.exp2, 1 / np.log(2))


def logaddexp(x: Any, y: Any, /) -> Any:
    """``log(exp(x) + exp(y))`` without overflow."""
    return _logaddexp(*promote_args_inexact("logaddexp", x, y))


def logaddexp2(x: Any, y: Any, /) -> Any:
    """``log2(2**x + 2**y)`` without overflow."""
    return _logaddexp2(*promote_args_inexact("logaddexp2", x, y))


def _log_base(x: Any, base: float) -> Any:
    """log(x) / log(base); each part of a complex log is divided alone (a complex division makes inf parts NaN)."""
    out = ew.log(x)
    if _is_complex(out):
        re, im = ew.real(out), ew.imag(out)
        return ew.complex(ew.div(re, ew._const(re, np.log(base))), ew.div(im, ew._const(im, np.log(base))))
    return ew.div(out, ew._const(out, np.log(base)))


def log2(x: Any, /) -> Any:
    (x,) = promote_args_inexact("log2", x)
    return _log_base(x, 2)


def log10(x: Any, /) -> Any:
    (x,) = promote_args_inexact("log10", x)
    return _log_base(x, 10)


def deg2rad(x: Any, /) -> Any:
    (x,) = promote_args_inexact("deg2rad", x)
    return ew.mul(x, ew._const(x, np.pi / 180))


def rad2deg(x: Any, /) -> Any:
    (x,) = promote_args_inexact("rad2deg", x)
    return ew.mul(x, ew._const(x, 180 / np.pi))


radians, degrees = deg2rad, rad2deg


def hypot(x: Any, y: Any, /) -> Any:
    """``sqrt(x**2 + y**2)`` scaled by the larger magnitude, so it neither overflows nor underflows (as JAX)."""
    x, y = promote_args_inexact("hypot", x, y)
    if _is_complex(x):
        raise ValueError("jnp.hypot is not well defined for complex-valued inputs. "
                         "Please convert to real values first, such as by using abs(x)")
    x, y = ew.abs(x), ew.abs(y)
    any_inf = ew.bitwise_or(isposinf(x), isposinf(y))
    big, small = ew.max(x, y), ew.min(x, y)
    zero = ew.eq(big, ew._const(big, 0))
    ratio = ew.div(small, ew.select(zero, ew._const(big, 1), big))
    out = ew.select(zero, big, ew.mul(big, ew.sqrt(ew.add(ew._const(ratio, 1), ew.square(ratio)))))
    return ew.select(any_inf, ew._const(out, np.inf), out)


def copysign(x: Any, y: Any, /) -> Any:
    x, y = promote_args_inexact("copysign", x, y)
    neg = signbit(y)
    ax = ew.abs(x)
    return ew.select(neg, ew.neg(ax), ax)


def signbit(x: Any, /) -> Any:
    x = asarray_any(x)
    dt = get_aval(x).dtype
    if dtypes.kind(dt) == "f":
        ibits = np.dtype(f"i{dt.itemsize}")
        return ew.lt(ew.bitcast_convert_type(x, ibits), ew._const(ew.bitcast_convert_type(x, ibits), 0))
    if dtypes.kind(dt) == "i":
        return ew.lt(x, ew._const(x, 0))
    return ew.ne(x, x) if dtypes.kind(dt) != "b" else ew.bitwise_and(x, ew.bitwise_not(x))


def _either_part(test, x: Any) -> Any:
    """For complex ``x``: ``test`` holds for its real or its imaginary part."""
    return ew.bitwise_or(test(ew.real(x)), test(ew.imag(x)))


def isnan(x: Any, /) -> Any:
    x = asarray_any(x)
    if dtypes.kind(get_aval(x).dtype) == "c":
        return _either_part(isnan, x)
    return ew.ne(x, x) if dtypes.kind(get_aval(x).dtype) == "f" else _false_like(x)


def isinf(x: Any, /) -> Any:
    x = asarray_any(x)
    if dtypes.kind(get_aval(x).dtype) == "c":
        return _either_part(isinf, x)
    if dtypes.kind(get_aval(x).dtype) != "f":
        return _false_like(x)
    return ew.eq(ew.abs(x), ew._const(x, np.inf))


def _isposneginf(infinity: float, x: Any, out: None) -> Any:
    if out is not None:
        raise NotImplementedError("The 'out' argument to isneginf/isposinf is not supported.")
    x = asarray_any(x)
    if dtypes.is_complex(get_aval(x).dtype):
        raise ValueError("isposinf/isneginf are not well defined for complex types")
    return ew.eq(x, ew._const(x, infinity)) if dtypes.kind(get_aval(x).dtype) == "f" else _false_like(x)


def isposinf(x: Any, /, out: None = None) -> Any:
    return _isposneginf(np.inf, x, out)


def isneginf(x: Any, /, out: None = None) -> Any:
    return _isposneginf(-np.inf, x, out)


def isfinite(x: Any, /) -> Any:
    x = asarray_any(x)
    if dtypes.kind(get_aval(x).dtype) == "c":
        return ew.bitwise_not(_either_part(lambda v: ew.bitwise_not(ew.is_finite(v)), x))
    return ew.is_finite(x) if dtypes.kind(get_aval(x).dtype) == "f" else ew.eq(x, x)


def _false_like(x):
    return ew.ne(x, x) if dtypes.kind(get_aval(x).dtype) != "b" else ew.bitwise_and(x, ew.bitwise_not(x))


def heaviside(x1: Any, x2: Any, /) -> Any:
    x1, x2 = promote_args_inexact("heaviside", x1, x2)
    zero = ew._const(x1, 0)
    at_zero = ew.select(ew.ne(x1, x1), x1, x2)  # NaN stays NaN, as numpy
    return ew.select(ew.lt(x1, zero), zero, ew.select(ew.gt(x1, zero), ew._const(x1, 1), at_zero))


def sinc(x: Any, /) -> Any:
    """``sin(pi x) / (pi x)``, 1 at 0, with every derivative at 0 from the Maclaurin series (as JAX)."""
    (x,) = promote_args_inexact("sinc", x)
    pix = ew.mul(x, ew._const(x, np.pi))
    zero = ew.eq(x, ew._const(x, 0))
    safe = ew.select(zero, ew._const(x, 1), pix)
    return ew.select(zero, _sinc_maclaurin(0, pix), ew.div(ew.sin(safe), safe))


@functools.partial(custom_jvp, nondiff_argnums=(0,))
def _sinc_maclaurin(k: int, x: Any) -> Any:
    """The k-th derivative of sin(x)/x at 0, shaped like ``x``; its jvp is the next one."""
    zero = ew.mul(x, ew._const(x, 0))
    return zero if k % 2 else ew.add(zero, ew._const(x, (-1) ** (k // 2) / (k + 1)))


@_sinc_maclaurin.defjvp
def _sinc_maclaurin_jvp(k: int, primals, tangents):
    (x,), (t,) = primals, tangents
    return _sinc_maclaurin(k, x), ew.mul(_sinc_maclaurin(k + 1, x), t)


def _is_complex(x: Any) -> bool:
    return dtypes.kind(get_aval(x).dtype) == "c"


def conjugate(x: Any, /) -> Any:
    x = asarray_any(x)
    return ew.conj(x) if _is_complex(x) else x


conj = conjugate


def real(val: Any, /) -> Any:
    x = asarray_any(val)
    return ew.real(x) if _is_complex(x) else x


def imag(val: Any, /) -> Any:
    x = asarray_any(val)
    return ew.imag(x) if _is_complex(x) else _full_like(x, 0)  # 0 also for inf and nan (not x * 0)


def angle(z: Any, deg: bool = False) -> Any:
    """The argument of ``z`` (radians, or degrees if ``deg``)."""
    z = asarray_any(z)
    if _is_complex(z):
        out = ew.atan2(ew.imag(z), ew.real(z))
    else:
        (z,) = promote_args_inexact("angle", z)
        out = ew.atan2(_full_like(z, 0.0), z)
    return ew.mul(out, ew._const(out, 180 / np.pi)) if deg else out


def gcd(x1: Any, x2: Any, /) -> Any:
    from ..primitives.control_flow import while_loop
    x1, x2 = promote_args("gcd", x1, x2)
    a, b = ew.abs(x1) if dtypes.kind(get_aval(x1).dtype) == "i" else x1, ew.abs(x2) if dtypes.kind(get_aval(x2).dtype) == "i" else x2

    def cond(c):
        return ew_any(ew.ne(c[1], ew._const(c[1], 0)))

    def body(c):
        a, b = c
        nz = ew.ne(b, ew._const(b, 0))
        safe_b = ew.select(nz, b, ew._const(b, 1))
        return ew.select(nz, b, a), ew.select(nz, ew.rem(a, safe_b), b)

    return while_loop(cond, body, (a, b))[0]


def lcm(x1: Any, x2: Any, /) -> Any:
    """Least common multiple, as JAX: ``|x1| * (|x2| // gcd)`` (wrapping like it on overflow), 0 if gcd is 0."""
    x1, x2 = promote_args("lcm", x1, x2)
    if dtypes.kind(get_aval(x1).dtype) == "i":
        x1, x2 = ew.abs(x1), ew.abs(x2)
    g = gcd(x1, x2)
    zero = ew._const(g, 0)
    safe = ew.select(ew.eq(g, zero), ew._const(g, 1), g)
    return ew.select(ew.eq(g, zero), zero, ew.mul(x1, ew.div(x2, safe)))


def fabs(x: Any, /) -> Any:
    (x,) = promote_args_inexact("fabs", x)
    return ew.abs(x)


def fmax(x1: Any, x2: Any, /) -> Any:
    """Elementwise maximum that ignores NaNs (a NaN only when both are NaN); ties pick ``x2``, as JAX."""
    x1, x2 = promote_args("fmax", x1, x2)
    return _nan_ignoring(ew.gt, ew.max, x1, x2)


def fmin(x1: Any, x2: Any, /) -> Any:
    """Elementwise minimum that ignores NaNs (a NaN only when both are NaN); ties pick ``x2``, as JAX."""
    x1, x2 = promote_args("fmin", x1, x2)
    return _nan_ignoring(ew.lt, ew.min, x1, x2)


def _nan_ignoring(prefer, op, x1: Any, x2: Any) -> Any:
    """JAX's ``where(prefer(x1, x2) | isnan(x2), x1, x2)`` for floats (so the derivative follows one operand)."""
    if dtypes.kind(get_aval(x1).dtype) != "f":
        return op(x1, x2)
    return ew.select(ew.bitwise_or(prefer(x1, x2), isnan(x2)), x1, x2)


def modf(x: Any, /) -> tuple:
    """``(fractional part, integral part)``, both with the sign of ``x``."""
    (x,) = promote_args_inexact("modf", x)
    whole = trunc(x)
    return ew.sub(x, whole), whole


def ldexp(x1: Any, x2: Any, /) -> Any:
    """``x1 * 2**x2`` for integer ``x2``: ``x2`` clamped to the range where the result can still change (beyond it
    the result is 0 or inf already), then applied in three steps whose powers of 2 are finite (so ``0 * 2**300``
    is 0, not NaN)."""
    (x1,) = promote_args_inexact("ldexp", x1)
    x2 = asarray_any(x2)
    if dtypes.kind(get_aval(x2).dtype) not in "iub":
        raise ValueError(f"ldexp: exponent must be an integer, got {get_aval(x2).dtype.name}")
    x1, x2 = promote_shapes(x1, ew.convert_element_type(x2, dtypes.int32))
    dt = get_aval(x1).dtype
    info = dtypes.finfo(dt)
    lim = int(info.maxexp) - int(info.minexp) + int(info.nmant) + 2
    x2 = ew.clamp(ew._const(x2, -lim), x2, ew._const(x2, lim))
    third = floor_divide(x2, 3)
    out = x1
    for e in (third, third, ew.sub(x2, ew.mul(third, ew._const(third, 2)))):
        out = ew.mul(out, ew.exp2(ew.convert_element_type(e, dt)))
    return out


def _full_like(x: Any, v: float) -> Any:
    from ..primitives.structural import full_like
    return full_like(x, v)


def frexp(x: Any, /) -> tuple:
    """``(mantissa, exponent)`` with ``x = mantissa * 2**exponent`` and ``0.5 <= |mantissa| < 1`` (exact, by
    reading the exponent bits; subnormals are rescaled first)."""
    (x,) = promote_args_inexact("frexp", x)
    return _frexp(x)


@custom_jvp
def _frexp(x: Any) -> tuple:
    dt = get_aval(x).dtype
    info = np.finfo(dt)
    ibits = np.dtype(f"i{dt.itemsize}")
    nmant = info.nmant
    bias = -info.minexp + 1
    tiny = ew.lt(ew.abs(x), ew._const(x, info.tiny))
    scale_exp = nmant + 1
    xs = ew.select(tiny, ew.mul(x, ew._const(x, 2.0 ** scale_exp)), x)
    bits = ew.bitcast_convert_type(xs, ibits)
    exp_mask = ((1 << (dt.itemsize * 8 - 1 - nmant)) - 1) << nmant
    raw_exp = ew.shift_right_logical(ew.bitwise_and(bits, ew._const(bits, exp_mask)), ew._const(bits, nmant))
    e = ew.sub(raw_exp, ew._const(raw_exp, bias - 1))
    e = ew.select(tiny, ew.sub(e, ew._const(e, scale_exp)), e)
    mant_bits = ew.bitwise_or(ew.bitwise_and(bits, ew._const(bits, ~exp_mask)), ew._const(bits, (bias - 1) << nmant))
    m = ew.bitcast_convert_type(mant_bits, dt)
    special = ew.bitwise_or(ew.eq(x, ew._const(x, 0)), ew.bitwise_not(ew.is_finite(x)))
    m = ew.select(special, x, m)
    e = ew.select(special, ew.mul(e, ew._const(e, 0)), e)
    return m, ew.convert_element_type(e, dtypes.int32)


@_frexp.defjvp
def _frexp_jvp(primals, tangents):
    """As JAX: the mantissa's tangent is ``t * 2**-exponent`` (the exponent is piecewise constant)."""
    (x,), (t,) = primals, tangents
    m, e = _frexp(x)
    scale = ew.exp2(ew.neg(ew.convert_element_type(e, get_aval(t).dtype)))
    return (m, e), (ew.mul(t, scale), np.zeros(get_aval(e).shape, dtypes.float0))


def spacing(x: Any, /) -> Any:
    """Distance from ``x`` to the next representable value away from zero (towards +inf for float16, as numpy
    and JAX); the smallest subnormal (signed) where that distance flushes to zero."""
    (x,) = promote_args_inexact("spacing", x)
    if _is_complex(x):
        raise ValueError("jnp.spacing is not defined for complex inputs.")
    if get_aval(x).dtype == dtypes.float16:
        return ew.sub(ew.nextafter(x, _full_like(x, np.inf)), x)
    away = ew.select(signbit(x), _full_like(x, -np.inf), _full_like(x, np.inf))
    result = ew.sub(ew.nextafter(x, away), x)
    tiny = copysign(_full_like(x, dtypes.finfo(get_aval(x).dtype).smallest_subnormal), x)
    return ew.select(ew.eq(result, _full_like(x, 0)), tiny, result)


def bitwise_count(x: Any, /) -> Any:
    """Number of 1 bits in ``|x|`` (uint8, as numpy)."""
    x = asarray_any(x)
    dt = get_aval(x).dtype
    if dtypes.kind(dt) not in "iub":
        raise TypeError(f"bitwise_count requires integer or boolean input, got {dt.name}")
    if dtypes.kind(dt) == "b":
        return ew.convert_element_type(x, dtypes.uint8)
    v = ew.abs(x) if dtypes.kind(dt) == "i" else x
    return ew.convert_element_type(ew.population_count(v), dtypes.uint8)


def i0(x: Any, /) -> Any:
    """Modified Bessel function of the first kind of order 0."""
    from ..scipy.special import i0 as _i0
    return _i0(x)


def iscomplex(x: Any, /) -> Any:
    from ..primitives.structural import full
    x = asarray_any(x)
    if _is_complex(x):
        return ew.ne(ew.imag(x), ew._const(ew.imag(x), 0))
    return full(get_aval(x).shape, False)


def isreal(x: Any, /) -> Any:
    return ew.bitwise_not(iscomplex(x))


def ew_any(x):
    from ..primitives.reductions import reduce_or
    return reduce_or(x, tuple(range(get_aval(x).ndim)))


_HELPERS = ("Any", "np", "dtypes", "ew", "custom_jvp", "functools", "get_aval", "asarray_any", "promote_args",
            "promote_args_inexact", "promote_shapes", "promote_dtypes", "annotations", "ew_any")
__all__ = [n for n in dir() if not n.startswith("_") and n not in _HELPERS]
del promote_dtypes
