"""The op table of the WGSL renderer: each elementwise primitive as a WGSL expression.

``OPS[primitive](ctx, *args) -> str`` builds the expression from the operands' register
expressions; ``ctx`` carries the operand and result types and the equation's params. Math that WGSL
lacks (erf, lgamma, log1p, NaN-propagating max...) is a helper function from ``HELPERS``; the renderer
includes the helpers a kernel mentions. Semantics follow the numpy reference backend (integer division
by zero, shifts past the bit width, float->int clamping, NaN detection from the bits).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable

import numpy as np

from portax.core.primitives import elementwise as ew, prng

from .wgsl_types import BIT_HELPERS, WType, is_nan, literal, round_reg, special_float

# The drivers compute float64 transcendentals in 32 bits (SPIR-V's GLSL.std.450 exp/log/sin... are
# 16/32-bit only and naga emits them anyway), so float64 exp, log, sin, cos and atan are our own
# (``_F64_BASE``, <= 2 ulp) and the other functions are built on them; erf and its kin only have float32-
# accurate approximations here and are refused for float64.
F64_MISSING = frozenset({ew.erf_p, ew.erfc_p, ew.erf_inv_p})


@dataclasses.dataclass(frozen=True)
class OpContext:
    t: WType  # type of the (first) operand
    out: WType  # type of the result
    params: dict
    nan_comparisons: bool  # the device's x != x is reliable for NaN
    name: str  # primitive name, for errors


def _fsuffix(t: WType) -> str:
    return "f64" if t.is_64 else "f32"


def _helper(name: str, t: WType) -> str:
    """Name of the type-specialised helper ``name`` (f32 also serves f16, computed in f32)."""
    return f"{name}_{_fsuffix(t)}"


def _nan(t: WType) -> str:
    return special_float(t, float("nan"))


def _lit(t: WType, v) -> str:
    return literal(t, v)


def _unsupported_f64(ctx: OpContext) -> None:
    raise NotImplementedError(
        f"wgpu backend: {ctx.name} on float64 is unsupported: the adapter's shaders have no 64-bit "
        f"{ctx.name} (SPIR-V GLSL.std.450 transcendentals are 16/32-bit only); compute it in float32")


def _call(name: str) -> Callable:
    """An op that calls the float helper ``name``."""
    def op(ctx: OpContext, *args: str) -> str:
        return f"{_helper(name, ctx.t)}({', '.join(args)})"
    return op


def math_function(name: str) -> Callable:
    """``pick(t)``: the name of math builtin ``name`` for operand type ``t`` (for float64 the backend's
    own function, e.g. ``exp64``: see ``F64_MISSING``)."""
    def pick(t: WType) -> str:
        return _F64_NAMES.get(name, name) if t.is_64 and t.kind == "f" else name
    return pick


def _builtin(name: str) -> Callable:
    def op(ctx: OpContext, x: str) -> str:
        return f"{math_function(name)(ctx.t)}({x})"
    return op


# --- unary -------------------------------------------------------------------------------------------------
def _neg(ctx, x):
    return f"({_lit(ctx.t, 0)} - {x})" if ctx.t.kind == "u" else f"(-{x})"


def _sign(ctx, x):
    t = ctx.t
    if t.kind == "b":
        return x
    if t.kind == "u":
        return f"select({_lit(t, 0)}, {_lit(t, 1)}, {x} != {_lit(t, 0)})"
    if t.kind == "i":
        return f"select(select({_lit(t, 0)}, {_lit(t, -1)}, {x} < {_lit(t, 0)}), {_lit(t, 1)}, {x} > {_lit(t, 0)})"
    return f"select(sign({x}), {x}, {is_nan(t, x)})"


def _round(ctx, x):
    if ctx.params["rounding_method"] == ew.RoundingMethod.TO_NEAREST_EVEN:
        return f"round({x})"
    return f"{_helper('round_away', ctx.t)}({x})"


def _is_finite(ctx, x):
    if ctx.t.is_64:
        return f"((bitcast<u64>({x}) & 0x7ff0000000000000lu) != 0x7ff0000000000000lu)"
    return f"((bitcast<u32>({x}) & 0x7f800000u) != 0x7f800000u)"


def _abs(ctx, x):
    return x if ctx.t.kind in "ub" else f"abs({x})"


def _guarded(cond: str):
    """A builtin that is NaN where ``cond`` holds (drivers leave out-of-domain results undefined)."""
    def make(name):
        def op(ctx, x):
            fn = name(ctx.t) if callable(name) else name
            return f"select({fn}({x}), {_nan(ctx.t)}, {cond.format(x=x)})"
        return op
    return make


def _rsqrt(ctx, x):
    return f"({_lit(ctx.t, 1)} / {_guarded('{x} < 0.0')('sqrt')(ctx, x)})"


def _sqrt(ctx, x):
    return f"select(sqrt({x}), {_nan(ctx.t)}, {x} < 0.0)"


def _square(ctx, x):
    return f"({x} * {x})"


def _integer_pow(ctx, x):
    y = ctx.params["y"]
    t = ctx.t
    if y == 0:
        return _lit(t, 1)
    if y > 0:
        return f"ipow_{t.reg}_{y}({x})"
    if t.kind == "f":
        return f"({_lit(t, 1)} / ipow_{t.reg}_{-y}({x}))"
    # an integer to a negative power is 0 unless |x| == 1 (0 for x == 0, where the reference overflows)
    one = f"select({_lit(t, 0)}, {_lit(t, 1)}, {x} == {_lit(t, 1)})"
    if t.kind == "u":
        return one
    minus_one = _lit(t, -1 if -y % 2 else 1)
    return f"select({one}, {minus_one}, {x} == {_lit(t, -1)})"


def _not(ctx, x):
    return f"(!{x})" if ctx.t.kind == "b" else f"(~{x})"


def _bits(t: WType, x: str) -> str:
    """The u32 bit pattern of a narrow integer register value."""
    return f"(bitcast<u32>({x}) & {t.mask})"


def _popcount(ctx, x):
    t = ctx.t
    if t.is_narrow:
        return f"{t.reg}(countOneBits({_bits(t, x)}))"
    return f"countOneBits({x})"


def _clz(ctx, x):
    t = ctx.t
    if t.is_64:
        return f"clz64_{t.reg}({x})"
    if t.is_narrow:
        return f"{t.reg}(countLeadingZeros({_bits(t, x)}) - {32 - t.bits}u)"
    return f"countLeadingZeros({x})"


def _identity(ctx, x):
    return x


def _f64_checked(op: Callable, prim) -> Callable:
    def checked(ctx, *args):
        if ctx.t.is_64 and ctx.t.kind == "f" and prim in F64_MISSING:
            _unsupported_f64(ctx)
        return op(ctx, *args)
    return checked


# --- conversions -------------------------------------------------------------------------------------------
def convert(src: WType, dst: WType, x: str) -> str:
    """``x`` (a register value of ``src``) as a register value of ``dst``, numpy's astype semantics with
    float->int clamping and NaN -> 0 (the reference's)."""
    if src.dtype == dst.dtype:
        return x
    if dst.kind == "b":
        if src.kind == "f":
            mask = "0x7fffffffffffffff" + "lu" if src.is_64 else "0x7fffffffu"
            return f"((bitcast<{src.uint}>({x}) & {mask}) != {'0lu' if src.is_64 else '0u'})"
        return f"({x} != {_lit(src, 0)})"
    if src.kind == "b":
        return f"select({_lit(dst, 0)}, {_lit(dst, 1)}, {x})"
    if dst.kind == "f":
        return f"{dst.reg}({x})"
    if src.kind == "f":
        value = f"{_helper('to_' + dst.reg, src)}({x})"
        if dst.is_narrow:  # saturate to the narrow range (then nothing is left to wrap)
            info = np.iinfo(dst.dtype)
            return f"clamp({value}, {_lit(dst, info.min)}, {_lit(dst, info.max)})"
        return value
    if dst.is_64 == src.is_64:
        return f"bitcast<{dst.reg}>({x})"
    if dst.is_64:  # widen: sign-extend signed sources, zero-extend unsigned ones (numpy's astype)
        wide = f"i64({x})" if src.kind == "i" else f"u64({x})"
        return wide if wide.startswith(dst.reg) else f"bitcast<{dst.reg}>({wide})"
    return f"bitcast<{dst.reg}>(u32(bitcast<u64>({x}) & 0xfffffffflu))"  # narrow: keep the low 32 bits


def _convert(ctx, x):
    return convert(ctx.t, ctx.out, x)


def to_bits(t: WType, v: str) -> str:
    """The bit pattern of a register value: u64 for 64-bit types, else u32 (high bits zero)."""
    if t.storage == "f16":
        return f"(pack2x16float(vec2<f32>({v}, 0.0)) & 0xffffu)"
    if t.is_narrow:
        return _bits(t, v)
    return f"bitcast<{t.uint}>({v})"


def from_bits(t: WType, bits: str) -> str:
    """The register value whose bit pattern is ``bits`` (u32 or u64, as ``to_bits`` gives)."""
    if t.storage == "f16":
        return f"unpack2x16float({bits}).x"
    if t.is_narrow:
        return round_reg(t, f"bitcast<{t.reg}>({bits})")
    return f"bitcast<{t.reg}>({bits})"


def _bitcast(ctx, x):
    """Same-width bitcasts (width-changing ones are not fused: see ``lowering.can_fuse``)."""
    if ctx.t.kind == "b" or ctx.out.kind == "b":
        raise NotImplementedError(f"wgpu backend: bitcast_convert_type of {ctx.t.dtype.name} to "
                                  f"{ctx.out.dtype.name}: bool has no bit pattern to reinterpret")
    return from_bits(ctx.out, to_bits(ctx.t, x))


# --- binary ------------------------------------------------------------------------------------------------
def _infix(sym: str) -> Callable:
    def op(ctx, a, b):
        return f"({a} {sym} {b})"
    return op


def _div(ctx, a, b):
    t = ctx.t
    if t.kind == "f":
        return f"({a} / {b})"
    if t.kind == "b":
        return a
    zero = _lit(t, 0)
    on_zero = _lit(t, -1) if t.kind == "i" else _lit(t, np.iinfo(t.dtype).max)
    safe = f"select({b}, {_lit(t, 1)}, {b} == {zero})"
    quotient = f"sdiv_{t.reg}({a}, {safe})" if t.kind == "i" else f"({a} / {safe})"
    return f"select({quotient}, {on_zero}, {b} == {zero})"


def _rem(ctx, a, b):
    t = ctx.t
    if t.kind == "f":
        return f"{_helper('fmod', t)}({a}, {b})"
    zero = _lit(t, 0)
    safe = f"select({b}, {_lit(t, 1)}, {b} == {zero})"
    remainder = f"srem_{t.reg}({a}, {safe})" if t.kind == "i" else f"({a} % {safe})"
    return f"select({remainder}, {a}, {b} == {zero})"


def _minmax(which: str) -> Callable:
    def op(ctx, a, b):
        t = ctx.t
        if t.kind == "b":
            return f"({a} {'||' if which == 'max' else '&&'} {b})"
        if t.kind == "f":
            return f"{_helper('f' + which, t)}({a}, {b})"
        return f"{which}({a}, {b})"
    return op


def _bitwise(sym: str, bool_sym: str) -> Callable:
    def op(ctx, a, b):
        return f"({a} {bool_sym if ctx.t.kind == 'b' else sym} {b})"
    return op


def _shift_ok(t: WType, b: str) -> str:
    in_range = f"{b} < {_lit(t, t.bits)}"
    return f"({b} >= {_lit(t, 0)} && {in_range})" if t.kind == "i" else f"({in_range})"


def _amount(t: WType, b: str) -> str:
    """A shift amount as u32 (64-bit amounts through a function: naga cannot fold u32(<i64 literal>))."""
    return f"shift_amount_{t.reg}({b})" if t.is_64 else f"u32({b})"


def _shift_left(ctx, a, b):
    t = ctx.t
    return f"select({_lit(t, 0)}, {a} << {_amount(t, b)}, {_shift_ok(t, b)})"


def _shift_right_logical(ctx, a, b):
    t = ctx.t
    n = _amount(t, b)
    if t.kind == "u":
        shifted = f"({a} >> {n})"
    else:
        bits = _bits(t, a) if t.is_narrow else f"bitcast<{t.uint}>({a})"
        shifted = f"bitcast<{t.reg}>({bits} >> {n})"
    return f"select({_lit(t, 0)}, {shifted}, {_shift_ok(t, b)})"


def _shift_right_arithmetic(ctx, a, b):
    t = ctx.t
    amount = f"select({t.bits - 1}u, {_amount(t, b)}, {_shift_ok(t, b)})"
    if t.kind == "i":
        return f"({a} >> {amount})"
    signed = f"bitcast<{t.sint}>({a})"
    if t.is_narrow:  # sign-extend the narrow pattern first
        signed = f"((bitcast<i32>({a}) << {32 - t.bits}u) >> {32 - t.bits}u)"
    return f"bitcast<{t.reg}>({signed} >> {amount})"


_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_BOOL_CMP = {"eq": "({a} == {b})", "ne": "({a} != {b})", "lt": "(!{a} && {b})", "le": "(!{a} || {b})",
             "gt": "({a} && !{b})", "ge": "({a} || !{b})"}


def _compare(name: str) -> Callable:
    def op(ctx, a, b):
        t = ctx.t
        if t.kind == "b":
            return _BOOL_CMP[name].format(a=a, b=b)
        plain = f"({a} {_CMP[name]} {b})"
        if t.kind != "f" or ctx.nan_comparisons:
            return plain
        ordered = f"!({is_nan(t, a)} || {is_nan(t, b)})"
        if name == "ne":
            return f"(!(({a} == {b}) && {ordered}))"
        return f"({plain} && {ordered})"
    return op


def _select_n(ctx, which, *cases):
    """``ctx.t`` is the type of ``which`` (bool, or an integer: out-of-range picks the nearest case)."""
    if len(cases) == 1:
        return cases[0]
    if ctx.t.kind == "b":
        return f"select({cases[0]}, {cases[1]}, {which})"
    out = cases[0]
    for i, c in enumerate(cases[1:], 1):
        out = f"select({out}, {c}, {which} >= {_lit(ctx.t, i)})"
    return out


def _clamp(ctx, lo, x, hi):
    mx, mn = _minmax("max"), _minmax("min")
    return mn(ctx, mx(ctx, x, lo), hi)


def _nextafter(ctx, a, b):
    if ctx.t.storage == "f16":  # step in float16's bit pattern, not float32's
        return f"nextafter_f16({a}, {b})"
    return f"{_helper('nextafter', ctx.t)}({a}, {b})"


def _threefry(ctx, k1, k2, x1, x2):
    return f"threefry2x32({k1}, {k2}, {x1}, {x2})"


_FLOAT_CALLS = {
    ew.log1p_p: "log1p", ew.expm1_p: "expm1", ew.tanh_p: "tanh_", ew.logistic_p: "logistic", ew.sinh_p: "sinh_",
    ew.asinh_p: "asinh_", ew.acosh_p: "acosh_", ew.atanh_p: "atanh_", ew.cbrt_p: "cbrt", ew.erf_p: "erf",
    ew.erfc_p: "erfc", ew.erf_inv_p: "erf_inv", ew.lgamma_p: "lgamma", ew.digamma_p: "digamma",
    ew.pow_p: "pow_", ew.tan_p: "tan_", ew.asin_p: "asin_", ew.acos_p: "acos_", ew.atan_p: "atan_",
    ew.atan2_p: "atan2_",
}

OPS: dict = {
    ew.neg_p: _neg, ew.sign_p: _sign, ew.floor_p: _builtin("floor"), ew.ceil_p: _builtin("ceil"), ew.round_p: _round,
    ew.is_finite_p: _is_finite, ew.abs_p: _abs, ew.exp_p: _builtin("exp"), ew.exp2_p: _builtin("exp2"),
    ew.log_p: _guarded("{x} < 0.0")(math_function("log")), ew.sin_p: _builtin("sin"), ew.cos_p: _builtin("cos"),

    ew.cosh_p: _builtin("cosh"), ew.sqrt_p: _sqrt, ew.rsqrt_p: _rsqrt,
    ew.square_p: _square, ew.integer_pow_p: _integer_pow, ew.not_p: _not, ew.population_count_p: _popcount,
    ew.clz_p: _clz, ew.stop_gradient_p: _identity, ew.convert_element_type_p: _convert,
    ew.bitcast_convert_type_p: _bitcast,
    ew.add_p: _infix("+"), ew.sub_p: _infix("-"), ew.mul_p: _infix("*"), ew.div_p: _div, ew.rem_p: _rem,
    ew.max_p: _minmax("max"), ew.min_p: _minmax("min"),
    ew.and_p: _bitwise("&", "&&"), ew.or_p: _bitwise("|", "||"), ew.xor_p: _bitwise("^", "!="),
    ew.shift_left_p: _shift_left, ew.shift_right_logical_p: _shift_right_logical,
    ew.shift_right_arithmetic_p: _shift_right_arithmetic,
    ew.eq_p: _compare("eq"), ew.ne_p: _compare("ne"), ew.lt_p: _compare("lt"), ew.le_p: _compare("le"),
    ew.gt_p: _compare("gt"), ew.ge_p: _compare("ge"), ew.select_n_p: _select_n, ew.clamp_p: _clamp,
    ew.nextafter_p: _nextafter, prng.threefry2x32_p: _threefry,
}
OPS.update({p: _call(name) for p, name in _FLOAT_CALLS.items()})
OPS = {p: _f64_checked(op, p) for p, op in OPS.items()}

# ---- helper functions (templates over T = f32 | f64; U = the unsigned type of the same width) ----------------
_FLOAT_HELPERS = {
    "round_away": """fn round_away_T(x: T) -> T {
  let t = trunc(x);
  return select(t, t + sign(x), abs(x - t) >= T(0.5));
}""",
    "fmax": """fn fmax_T(a: T, b: T) -> T {
  return select(max(a, b), select(b, a, ISNAN_A), ISNAN_A || ISNAN_B);
}""",
    "fmin": """fn fmin_T(a: T, b: T) -> T {
  return select(min(a, b), select(b, a, ISNAN_A), ISNAN_A || ISNAN_B);
}""",
    "fmod": """fn fmod_T(x: T, y: T) -> T {
  let ax = abs(x);
  let ay = abs(y);
  if (ISNAN_X || ISNAN_Y || ay == T(0.0) || !FINITE_X) { return NAN; }
  if (!FINITE_Y || ax < ay) { return x; }
  // exact: subtract the largest ay * 2^k <= r until r < ay (each subtraction is exact)
  var r = ax;
  for (var i = 0; i < 2100 && r >= ay; i = i + 1) {
    var s = ldexp(frexp(ay).fract, i32(frexp(r).exp));
    if (s > r) { s = ldexp(frexp(ay).fract, i32(frexp(r).exp) - 1); }
    r = r - s;
  }
  return select(r, -r, x < T(0.0));
}""",
    "to_i32": """fn to_i32_T(x: T) -> i32 {
  if (ISNAN_X) { return 0; }
  if (x >= T(2147483648.0)) { return 2147483647; }
  if (x <= T(-2147483648.0)) { return i32(-2147483647 - 1); }
  return i32(x);
}""",
    "to_u32": """fn to_u32_T(x: T) -> u32 {
  if (ISNAN_X || x <= T(0.0)) { return 0u; }
  if (x >= T(4294967296.0)) { return 4294967295u; }
  return u32(x);
}""",
    "to_i64": """fn to_i64_T(x: T) -> i64 {
  if (ISNAN_X) { return 0li; }
  if (x >= T(9223372036854775808.0)) { return 9223372036854775807li; }
  if (x <= T(-9223372036854775808.0)) { return -9223372036854775807li - 1li; }
  return i64(x);
}""",
    "to_u64": """fn to_u64_T(x: T) -> u64 {
  if (ISNAN_X || x <= T(0.0)) { return 0lu; }
  if (x >= T(18446744073709551616.0)) { return 18446744073709551615lu; }
  return u64(x);
}""",
    "nextafter": """fn nextafter_T(x: T, y: T) -> T {
  if (ISNAN_X || ISNAN_Y) { return NAN; }
  if (x == y) { return y; }
  let bits = bitcast<U>(x);
  if ((bits & ~SIGN) == ZERO_U) {
    return bitcast<T>((bitcast<U>(y) & SIGN) | ONE_U);
  }
  let away = (x < y) == (x > T(0.0));
  return bitcast<T>(select(bits - ONE_U, bits + ONE_U, away));
}""",
    "log1p": """fn log1p_T(x: T) -> T {
  if (x < T(-1.0)) { return NAN; }
  let u = T(1.0) + x;
  if (u == T(1.0)) { return x; }
  return log(u) * x / (u - T(1.0));
}""",
    "expm1": """fn expm1_T(x: T) -> T {
  if (abs(x) < T(EXPM1_SMALL)) { return x + T(0.5) * x * x; }
  if (x > T(88.0)) { return exp(x); }
  let u = exp(x);
  if (u == T(1.0)) { return x; }
  let um1 = u - T(1.0);
  if (um1 == T(-1.0)) { return T(-1.0); }
  return um1 * x / log(u);
}""",
    "tanh_": """fn tanh__T(x: T) -> T {
  if (ISNAN_X) { return x; }
  if (abs(x) > T(TANH_BIG)) { return sign(x); }
  if (abs(x) < T(TANH_SMALL)) { return x; }
  let e = expm1_T(T(2.0) * abs(x));
  return sign(x) * e / (e + T(2.0));
}""",
    "tan_": """fn tan__T(x: T) -> T { return sin(x) / cos(x); }""",
    "atan_": """fn atan__T(x0: T) -> T {
  // Cephes atanf: two range reductions and a degree-9 odd polynomial (2 ulp)
  var x = abs(x0);
  var y = T(0.0);
  if (x > T(2.414213562373095)) {
    y = T(1.5707963267948966);
    x = T(-1.0) / x;
  } else if (x > T(0.41421356237309503)) {
    y = T(0.7853981633974483);
    x = (x - T(1.0)) / (x + T(1.0));
  }
  let z = x * x;
  y = y + ((((T(8.05374449538e-2) * z - T(1.38776856032e-1)) * z + T(1.99777106478e-1)) * z -
      T(3.33329491539e-1)) * z * x + x);
  return select(y, -y, x0 < T(0.0));
}""",
    "atan2_": """fn atan2__T(y: T, x: T) -> T {
  if (ISNAN_X || ISNAN_Y) { return NAN; }
  if (x == T(0.0)) {
    if (y == T(0.0)) {
      return select(select(T(0.0), T(3.141592653589793), SIGNBIT_X),
                    select(T(0.0), T(-3.141592653589793), SIGNBIT_X), SIGNBIT_Y);
    }
    return select(T(1.5707963267948966), T(-1.5707963267948966), y < T(0.0));
  }
  if (y == T(0.0)) {
    return select(select(T(0.0), T(3.141592653589793), x < T(0.0)),
                  select(T(-0.0), T(-3.141592653589793), x < T(0.0)), SIGNBIT_Y);
  }
  var w = T(0.0);
  if (x < T(0.0)) { w = select(T(3.141592653589793), T(-3.141592653589793), y < T(0.0)); }
  return w + atan__T(y / x);
}""",
    "asin_": """fn asin_core_T(a: T) -> T {
  // Cephes asinf on [0, 1] (2 ulp): the drivers' asin can be off by 4e-4
  var z: T;
  var s: T;
  let big = a > T(0.5);
  if (big) { z = T(0.5) * (T(1.0) - a); s = sqrt(z); } else { z = a * a; s = a; }
  let p = ((((T(4.2163199048e-2) * z + T(2.4181311049e-2)) * z + T(4.5470025998e-2)) * z +
      T(7.4953002686e-2)) * z + T(1.6666752422e-1)) * z * s + s;
  return select(p, T(1.5707963267948966) - (p + p), big);
}
fn asin__T(x: T) -> T {
  if (ISNAN_X || abs(x) > T(1.0)) { return NAN; }
  let r = asin_core_T(abs(x));
  return select(r, -r, x < T(0.0));
}""",
    "acos_": """fn acos__T(x: T) -> T {
  if (ISNAN_X || abs(x) > T(1.0)) { return NAN; }
  if (x < T(-0.5)) { return T(3.141592653589793) - T(2.0) * asin_core_T(sqrt(T(0.5) * (T(1.0) + x))); }
  if (x > T(0.5)) { return T(2.0) * asin_core_T(sqrt(T(0.5) * (T(1.0) - x))); }
  return T(1.5707963267948966) - asin__T(x);
}""",
    "logistic": """fn logistic_T(x: T) -> T {
  let e = exp(-abs(x));
  return select(e / (T(1.0) + e), T(1.0) / (T(1.0) + e), x >= T(0.0));
}""",
    "sinh_": """fn sinh__T(x: T) -> T {
  if (abs(x) < T(1.0)) { return T(0.5) * (expm1_T(x) - expm1_T(-x)); }
  return sinh(x);
}""",
    "asinh_": """fn asinh__T(x: T) -> T {
  let a = abs(x);
  if (a > T(1e18)) { return sign(x) * (log(a) + T(0.6931471805599453)); }
  return sign(x) * log1p_T(a + a * a / (T(1.0) + sqrt(T(1.0) + a * a)));
}""",
    "acosh_": """fn acosh__T(x: T) -> T {
  if (x < T(1.0)) { return NAN; }
  if (x > T(1e18)) { return log(x) + T(0.6931471805599453); }
  let t = x - T(1.0);
  return log1p_T(t + sqrt(T(2.0) * t + t * t));
}""",
    "atanh_": """fn atanh__T(x: T) -> T {
  let a = abs(x);
  if (a > T(1.0)) { return NAN; }
  return sign(x) * T(0.5) * log1p_T(T(2.0) * a / (T(1.0) - a));
}""",
    "cbrt": """fn cbrt_T(x: T) -> T {
  let a = abs(x);
  if (a == T(0.0) || !FINITE_X) { return x; }
  var y = exp2(log2(a) / T(3.0));
  y = y - (y * y * y - a) / (T(3.0) * y * y);
  return select(y, -y, x < T(0.0));
}""",
    "erf": """fn erf_T(x0: T) -> T {
  // rational approximation (Eigen's float erf): |error| < 1e-7
  let x = clamp(x0, T(-4.0), T(4.0));
  let x2 = x * x;
  var p = T(-2.72614225801306e-10);
  p = p * x2 + T(2.77068142495902e-08);
  p = p * x2 + T(-2.10102402082508e-06);
  p = p * x2 + T(-5.69250639462346e-05);
  p = p * x2 + T(-7.34990630326855e-04);
  p = p * x2 + T(-2.95459980854025e-03);
  p = p * x2 + T(-1.60960333262415e-02);
  var q = T(-1.45660718464996e-05);
  q = q * x2 + T(-2.13374055278905e-04);
  q = q * x2 + T(-1.68282697438203e-03);
  q = q * x2 + T(-7.37332916720468e-03);
  q = q * x2 + T(-1.42647390514189e-02);
  return select(x * p / q, x0, ISNAN_X0);
}""",
    "erfc": """fn erfc_T(x: T) -> T {
  // Chebyshev fit (Numerical Recipes erfcc): relative error < 1.2e-7 everywhere
  if (ISNAN_X) { return x; }
  let z = abs(x);
  let t = T(1.0) / (T(1.0) + T(0.5) * z);
  let r = t * exp(-z * z - T(1.26551223) + t * (T(1.00002368) + t * (T(0.37409196) + t * (T(0.09678418) +
      t * (T(-0.18628806) + t * (T(0.27886807) + t * (T(-1.13520398) + t * (T(1.48851587) +
      t * (T(-0.82215223) + t * T(0.17087277))))))))));
  return select(T(2.0) - r, r, x >= T(0.0));
}""",
    "erf_inv": """fn erf_inv_T(x: T) -> T {
  // Giles' single-precision approximation
  let a = abs(x);
  if (ISNAN_X || a > T(1.0)) { return NAN; }
  if (a == T(1.0)) { return x * INF; }
  var w = -log((T(1.0) - x) * (T(1.0) + x));
  var p: T;
  if (w < T(5.0)) {
    w = w - T(2.5);
    p = T(2.81022636e-08);
    p = T(3.43273939e-07) + p * w;
    p = T(-3.5233877e-06) + p * w;
    p = T(-4.39150654e-06) + p * w;
    p = T(0.00021858087) + p * w;
    p = T(-0.00125372503) + p * w;
    p = T(-0.00417768164) + p * w;
    p = T(0.246640727) + p * w;
    p = T(1.50140941) + p * w;
  } else {
    w = sqrt(w) - T(3.0);
    p = T(-0.000200214257);
    p = T(0.000100950558) + p * w;
    p = T(0.00134934322) + p * w;
    p = T(-0.00367342844) + p * w;
    p = T(0.00573950773) + p * w;
    p = T(-0.0076224613) + p * w;
    p = T(0.00943887047) + p * w;
    p = T(1.00167406) + p * w;
    p = T(2.83297682) + p * w;
  }
  return p * x;
}""",
    "lgamma": """fn lgamma_pos_T(x0: T) -> T {
  // Lanczos approximation (g = 7, n = 9) for x >= 0.5
  let x = x0 - T(1.0);
  var a = T(0.99999999999980993);
  a = a + T(676.5203681218851) / (x + T(1.0));
  a = a + T(-1259.1392167224028) / (x + T(2.0));
  a = a + T(771.32342877765313) / (x + T(3.0));
  a = a + T(-176.61502916214059) / (x + T(4.0));
  a = a + T(12.507343278686905) / (x + T(5.0));
  a = a + T(-0.13857109526572012) / (x + T(6.0));
  a = a + T(9.9843695780195716e-6) / (x + T(7.0));
  a = a + T(1.5056327351493116e-7) / (x + T(8.0));
  let t = x + T(7.5);
  return T(0.91893853320467274) + (x + T(0.5)) * log(t) - t + log(a);
}
fn lgamma_T(x: T) -> T {
  if (ISNAN_X) { return x; }
  if (!FINITE_X) { return INF; }
  if (x >= T(0.5)) { return lgamma_pos_T(x); }
  if (x == floor(x)) { return INF; }
  let s = abs(sin(T(3.141592653589793) * (x - T(2.0) * floor(x * T(0.5)))));
  return log(T(3.141592653589793) / s) - lgamma_pos_T(T(1.0) - x);
}""",
    "digamma": """fn digamma_pos_T(x0: T) -> T {
  var x = x0;
  var acc = T(0.0);
  for (var i = 0; i < 24 && x < T(DIGAMMA_SHIFT); i = i + 1) { acc = acc - T(1.0) / x; x = x + T(1.0); }
  let inv2 = T(1.0) / (x * x);
  let series = inv2 * (T(1.0) / T(12.0) - inv2 * (T(1.0) / T(120.0) - inv2 * (T(1.0) / T(252.0) -
      inv2 * (T(1.0) / T(240.0) - inv2 / T(132.0)))));
  return acc + log(x) - T(0.5) / x - series;
}
fn digamma_T(x: T) -> T {
  if (ISNAN_X) { return x; }
  if (!FINITE_X) { return select(NAN, INF, x > T(0.0)); }
  if (x <= T(0.0) && x == floor(x)) { return NAN; }
  if (x > T(0.0)) { return digamma_pos_T(x); }
  let r = x - T(2.0) * floor(x * T(0.5));
  return digamma_pos_T(T(1.0) - x) - T(3.141592653589793) / tan(T(3.141592653589793) * r);
}""",
    "pow_": """fn pow__T(x: T, y: T) -> T {
  if (y == T(0.0) || x == T(1.0)) { return T(1.0); }
  if (ISNAN_X || ISNAN_Y) { return NAN; }
  let ax = abs(x);
  if (ax == T(0.0)) {
    let odd = y == floor(y) && abs(y - T(2.0) * floor(y * T(0.5))) == T(1.0);
    let mag = select(T(0.0), INF, y < T(0.0));
    return select(mag, -mag, odd && SIGNBIT_X);
  }
  let r = exp2(y * log2(ax));
  if (x > T(0.0)) { return r; }
  if (y != floor(y)) { return NAN; }
  let odd = abs(y - T(2.0) * floor(y * T(0.5))) == T(1.0);
  return select(r, -r, odd);
}""",
}

# Signed division and remainder through unsigned magnitudes: GLSL leaves / and % of negative operands
# undefined (the OpenGL path shows it), WGSL truncates toward zero; INT_MIN / -1 wraps like numpy's.
_SIGNED_DIV = """fn sdiv_I(a: I, b: I) -> I {
  let q = bitcast<I>(bitcast<U>(select(a, -a, a < ZERO)) / bitcast<U>(select(b, -b, b < ZERO)));
  return select(q, -q, (a < ZERO) != (b < ZERO));
}
fn srem_I(a: I, b: I) -> I {
  let r = bitcast<I>(bitcast<U>(select(a, -a, a < ZERO)) % bitcast<U>(select(b, -b, b < ZERO)));
  return select(r, -r, a < ZERO);
}"""

_SPECIAL_HELPERS = {
    "sdiv_i32": _SIGNED_DIV.replace("I", "i32").replace("U", "u32").replace("ZERO", "0"),
    "sdiv_i64": _SIGNED_DIV.replace("I", "i64").replace("U", "u64").replace("ZERO", "0li"),
    "nextafter_f16": """fn nextafter_f16(x: f32, y: f32) -> f32 {
  if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u || (bitcast<u32>(y) & 0x7fffffffu) > 0x7f800000u) {
    return f32_from_bits(0x7fc00000u);
  }
  if (x == y) { return y; }
  let bits = pack2x16float(vec2<f32>(x, 0.0)) & 0xffffu;
  if ((bits & 0x7fffu) == 0u) {
    return unpack2x16float((pack2x16float(vec2<f32>(y, 0.0)) & 0x8000u) | 1u).x;
  }
  let away = (x < y) == (x > 0.0);
  return unpack2x16float(select(bits - 1u, bits + 1u, away)).x;
}""",
    "clz64_u64": """fn clz64_u64(x: u64) -> u64 {
  let hi = u32(x >> 32u);
  return select(u64(countLeadingZeros(hi)), 32lu + u64(countLeadingZeros(u32(x & 0xfffffffflu))), hi == 0u);
}""",
    "shift_amount_i64": "fn shift_amount_i64(b: i64) -> u32 { return u32(b & 63li); }",
    "shift_amount_u64": "fn shift_amount_u64(b: u64) -> u32 { return u32(b & 63lu); }",
    "clz64_i64": """fn clz64_i64(x: i64) -> i64 { return bitcast<i64>(clz64_u64(bitcast<u64>(x))); }""",
    "threefry2x32": """fn rotl32(v: u32, r: u32) -> u32 { return (v << r) | (v >> (32u - r)); }
fn threefry2x32(k1: u32, k2: u32, c1: u32, c2: u32) -> vec2<u32> {
  let ks = array<u32, 3>(k1, k2, k1 ^ k2 ^ 0x1BD11BDAu);
  let rot = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
  var x0 = c1 + ks[0];
  var x1 = c2 + ks[1];
  for (var i = 0u; i < 5u; i = i + 1u) {
    for (var j = 0u; j < 4u; j = j + 1u) {
      x0 = x0 + x1;
      x1 = rotl32(x1, rot[(i % 2u) * 4u + j]);
      x1 = x0 ^ x1;
    }
    x0 = x0 + ks[(i + 1u) % 3u];
    x1 = x1 + ks[(i + 2u) % 3u] + i + 1u;
  }
  return vec2<u32>(x0, x1);
}""",
}


def _instantiate(template: str, ftype: str) -> str:
    is64 = ftype == "f64"
    u = "u64" if is64 else "u32"
    sign = "0x8000000000000000lu" if is64 else "0x80000000u"
    one_u, zero_u = ("1lu", "0lu") if is64 else ("1u", "0u")
    t = WType(np.dtype(np.float64 if is64 else np.float32), ftype, ftype, "f", 64 if is64 else 32)
    text = template
    for var in ("X0", "X", "Y", "A", "B"):
        name = var.lower()
        text = text.replace(f"ISNAN_{var}", is_nan(t, name))
        text = text.replace(f"FINITE_{var}", f"((bitcast<{u}>({name}) & {special_bits_mask(is64)}) != "
                                             f"{special_bits_mask(is64)})")
        text = text.replace(f"SIGNBIT_{var}", f"((bitcast<{u}>({name}) & {sign}) != {zero_u})")
    for key, (v32, v64) in _THRESHOLDS.items():
        text = text.replace(key, v64 if is64 else v32)
    if is64:
        for name, repl in _F64_NAMES.items():
            text = re.sub(rf"\b{name}\(", repl + "(", text)
    text = text.replace("NAN", special_float(t, float("nan"))).replace("INF", special_float(t, float("inf")))
    text = text.replace("SIGN", sign).replace("ONE_U", one_u).replace("ZERO_U", zero_u)
    text = re.sub(r"\bU\b", u, text)
    text = re.sub(r"_T\b", "_" + ftype, text)
    text = re.sub(r"\bT\(", f"{ftype}(", text)
    return re.sub(r"\bT\b", ftype, text)


_THRESHOLDS = {"EXPM1_SMALL": ("1e-5", "1e-9"), "TANH_BIG": ("9.0", "19.1"), "TANH_SMALL": ("0.0004", "1e-8"),
               "DIGAMMA_SHIFT": ("10.0", "20.0")}  # f64 shifts further: the series is truncated at 1/x^10
_F64_NAMES = {"exp": "exp64", "exp2": "exp2_64", "log": "log64", "log2": "log2_64", "sin": "sin64", "cos": "cos64",
              "sinh": "sinh64", "cosh": "cosh64"}

# float64 exp, log, sin, cos (Cody-Waite reduction + Taylor/atanh series) and atan (Cephes' rational):
# checked against the C library to 1-2 ulp (sin/cos for |x| < 1e5; larger arguments lose accuracy).
_F64_BASE = {
    "exp64": """fn exp_core64(r: f64, k: f64) -> f64 {
  var p = 1.0lf / 6227020800.0lf;
  p = p * r + 1.0lf / 479001600.0lf;
  p = p * r + 1.0lf / 39916800.0lf;
  p = p * r + 1.0lf / 3628800.0lf;
  p = p * r + 1.0lf / 362880.0lf;
  p = p * r + 1.0lf / 40320.0lf;
  p = p * r + 1.0lf / 5040.0lf;
  p = p * r + 1.0lf / 720.0lf;
  p = p * r + 1.0lf / 120.0lf;
  p = p * r + 1.0lf / 24.0lf;
  p = p * r + 1.0lf / 6.0lf;
  p = p * r + 0.5lf;
  p = p * r + 1.0lf;
  p = p * r + 1.0lf;
  // two ldexp steps: 2^k alone may not be representable where the result still is
  let h = i32(k) / 2;
  return ldexp(ldexp(p, h), i32(k) - h);
}
fn exp64(x: f64) -> f64 {
  if (ISNAN_X) { return x; }
  if (x > 709.8lf) { return INF; }
  if (x < -745.2lf) { return 0.0lf; }
  let k = round(x * 1.4426950408889634lf);
  let r = (x - k * 6.93147180369123816490e-01lf) - k * 1.90821492927058770002e-10lf;
  return exp_core64(r, k);
}
fn exp2_64(x: f64) -> f64 {
  if (ISNAN_X) { return x; }
  if (x > 1024.0lf) { return INF; }
  if (x < -1075.0lf) { return 0.0lf; }
  let k = round(x);
  return exp_core64((x - k) * 0.6931471805599453lf, k);
}
fn sinh64(x: f64) -> f64 { let e = exp64(abs(x) - 0.6931471805599453lf); return sign(x) * (e - 0.25lf / e); }
fn cosh64(x: f64) -> f64 { let e = exp64(abs(x) - 0.6931471805599453lf); return e + 0.25lf / e; }""",
    "log64": """fn log64(x: f64) -> f64 {
  if (ISNAN_X || x < 0.0lf) { return NAN; }
  if (x == 0.0lf) { return -INF; }
  if (!FINITE_X) { return x; }
  let fr = frexp(x);
  var m = fr.fract;
  var e = f64(fr.exp);
  if (m < 0.7071067811865476lf) { m = m * 2.0lf; e = e - 1.0lf; }
  let f = m - 1.0lf;
  let s = f / (2.0lf + f);
  let z = s * s;
  var p = 1.0lf / 21.0lf;
  p = p * z + 1.0lf / 19.0lf;
  p = p * z + 1.0lf / 17.0lf;
  p = p * z + 1.0lf / 15.0lf;
  p = p * z + 1.0lf / 13.0lf;
  p = p * z + 1.0lf / 11.0lf;
  p = p * z + 1.0lf / 9.0lf;
  p = p * z + 1.0lf / 7.0lf;
  p = p * z + 1.0lf / 5.0lf;
  p = p * z + 1.0lf / 3.0lf;
  p = p * z + 1.0lf;
  return e * 6.93147180369123816490e-01lf + (2.0lf * s * p + e * 1.90821492927058770002e-10lf);
}
fn log2_64(x: f64) -> f64 { return log64(x) * 1.4426950408889634lf; }""",
    "sin64": """fn sin_poly64(r: f64) -> f64 {
  let z = r * r;
  var p = 1.0lf / 51090942171709440000.0lf;
  p = p * z - 1.0lf / 121645100408832000.0lf;
  p = p * z + 1.0lf / 355687428096000.0lf;
  p = p * z - 1.0lf / 1307674368000.0lf;
  p = p * z + 1.0lf / 6227020800.0lf;
  p = p * z - 1.0lf / 39916800.0lf;
  p = p * z + 1.0lf / 362880.0lf;
  p = p * z - 1.0lf / 5040.0lf;
  p = p * z + 1.0lf / 120.0lf;
  p = p * z - 1.0lf / 6.0lf;
  return r + r * z * p;
}
fn cos_poly64(r: f64) -> f64 {
  let z = r * r;
  var p = 1.0lf / 2432902008176640000.0lf;
  p = p * z - 1.0lf / 6402373705728000.0lf;
  p = p * z + 1.0lf / 20922789888000.0lf;
  p = p * z - 1.0lf / 87178291200.0lf;
  p = p * z + 1.0lf / 479001600.0lf;
  p = p * z - 1.0lf / 3628800.0lf;
  p = p * z + 1.0lf / 40320.0lf;
  p = p * z - 1.0lf / 720.0lf;
  p = p * z + 1.0lf / 24.0lf;
  p = p * z - 0.5lf;
  return 1.0lf + z * p;
}
fn quadrant64(x: f64) -> vec2<f64> {
  // x = k * pi/2 + r, |r| <= pi/4 (pi/2 split in a 33-bit head and its tail: k * head is exact)
  let k = round(x * 0.6366197723675814lf);
  return vec2<f64>((x - k * 1.57079632673412561417lf) - k * 6.07710050650619224932e-11lf, k);
}
fn sin64(x: f64) -> f64 {
  if (!FINITE_X) { return NAN; }
  let q = quadrant64(x);
  let k = i32(q.y - 4.0lf * floor(q.y * 0.25lf));
  let v = select(sin_poly64(q.x), cos_poly64(q.x), k % 2 == 1);
  return select(v, -v, k >= 2);
}
fn cos64(x: f64) -> f64 {
  if (!FINITE_X) { return NAN; }
  let q = quadrant64(x);
  let k = i32(q.y - 4.0lf * floor(q.y * 0.25lf));
  let v = select(cos_poly64(q.x), sin_poly64(q.x), k % 2 == 1);
  return select(v, -v, k == 1 || k == 2);
}""",
    "atan__f64": """fn atan__f64(x0: f64) -> f64 {
  // Cephes atan: 3 range reductions and a rational function (1 ulp)
  var x = abs(x0);
  var y = 0.0lf;
  var extra = 0.0lf;
  if (x > 2.41421356237309504880lf) {
    y = 1.5707963267948966lf;
    extra = 6.123233995736765886130e-17lf;
    x = -1.0lf / x;
  } else if (x > 0.66lf) {
    y = 0.7853981633974483lf;
    extra = 3.061616997868382943065e-17lf;
    x = (x - 1.0lf) / (x + 1.0lf);
  }
  let z = x * x;
  var p = -8.750608600031904122785e-1lf;
  p = p * z - 1.615753718733365076637e1lf;
  p = p * z - 7.500855792314704667340e1lf;
  p = p * z - 1.228866684490136173410e2lf;
  p = p * z - 6.485021904942025371773e1lf;
  var q = z + 2.485846490142306297962e1lf;
  q = q * z + 1.650270098316988542046e2lf;
  q = q * z + 4.328810604912902668951e2lf;
  q = q * z + 4.853903996359136964868e2lf;
  q = q * z + 1.945506571482613964425e2lf;
  y = y + (x * (z * p / q) + x + extra);
  return select(y, -y, x0 < 0.0lf);
}""",
}


def special_bits_mask(is64: bool) -> str:
    return "0x7ff0000000000000lu" if is64 else "0x7f800000u"


HELPERS: dict[str, str] = dict(BIT_HELPERS)
for _name, _template in _FLOAT_HELPERS.items():
    for _ft in ("f32", "f64"):
        HELPERS[f"{_name}_{_ft}"] = _instantiate(_template, _ft)
for _name, _template in _F64_BASE.items():
    HELPERS[_name] = _instantiate(_template, "f64")
HELPERS["asin__f64"] = _instantiate("""fn asin__T(x: T) -> T {
  if (ISNAN_X || abs(x) > T(1.0)) { return NAN; }
  return atan2__T(x, sqrt((T(1.0) - x) * (T(1.0) + x)));
}""", "f64")
HELPERS["acos__f64"] = _instantiate("""fn acos__T(x: T) -> T {
  if (ISNAN_X || abs(x) > T(1.0)) { return NAN; }
  return atan2__T(sqrt((T(1.0) - x) * (T(1.0) + x)), x);
}""", "f64")
HELPERS.update(_SPECIAL_HELPERS)


def ipow_helper(reg: str, y: int) -> str:
    """``x ** y`` by repeated multiplication in order (bit-identical with the reference's loop)."""
    return (f"fn ipow_{reg}_{y}(x: {reg}) -> {reg} {{\n  var acc = x;\n"
            f"  for (var i = 1; i < {y}; i = i + 1) {{ acc = acc * x; }}\n  return acc;\n}}")


_CALL_RE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_IPOW_RE = re.compile(r"^ipow_(\w+?)_(\d+)$")


_FN_RE = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_BLOCK_OF = {fn: key for key, code in HELPERS.items() for fn in _FN_RE.findall(code)}


def helpers_for(source: str) -> str:
    """The helper blocks ``source`` calls (transitively); WGSL declarations may come in any order."""
    blocks: dict[str, str] = {}

    def visit(text: str) -> None:
        for name in _CALL_RE.findall(text):
            key = _BLOCK_OF.get(name, name)
            if key in blocks:
                continue
            code = HELPERS.get(key)
            if code is None:
                m = _IPOW_RE.match(name)
                if m is None:
                    continue
                code = ipow_helper(m.group(1), int(m.group(2)))
            blocks[key] = code
            visit(code)

    visit(source)
    return "\n".join(blocks.values())
