"""The op table of the WGSL renderer: each elementwise primitive as a WGSL expression.

``OPS[primitive](ctx, *args) -> str`` builds the expression from the operands' register
expressions; ``ctx`` carries the operand and result types and the equation's params. Helper functions
(NaN-propagating max, fmod...) come from ``HELPERS``, transcendental functions from ``wgsl_mathlib``; the
renderer includes the helpers a kernel mentions. Semantics follow the numpy reference backend (integer division
by zero, shifts past the bit width, float->int clamping, NaN detection from the bits).
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Callable

import numpy as np

from portax.core.primitives import elementwise as ew, prng

from . import wgsl_mathlib
from .wgsl_types import BIT_HELPERS, WType, is_nan, literal, round_reg, special_float

# Transcendental functions are cpu_llvm's algorithms (``wgsl_mathlib``): the drivers' builtins are accurate
# only in WGSL's loose (often absolute) bounds, and compute float64 in 32 bits.
MATHLIB_OPS = {
    ew.exp_p: "exp", ew.exp2_p: "exp2", ew.log_p: "log", ew.log1p_p: "log1p", ew.expm1_p: "expm1",
    ew.tanh_p: "tanh", ew.logistic_p: "logistic", ew.sin_p: "sin", ew.cos_p: "cos", ew.tan_p: "tan",
    ew.asin_p: "asin", ew.acos_p: "acos", ew.atan_p: "atan", ew.sinh_p: "sinh", ew.cosh_p: "cosh",
    ew.asinh_p: "asinh", ew.acosh_p: "acosh", ew.atanh_p: "atanh", ew.cbrt_p: "cbrt", ew.erf_p: "erf",
    ew.erfc_p: "erfc", ew.erf_inv_p: "erf_inv", ew.lgamma_p: "lgamma", ew.digamma_p: "digamma",
    ew.atan2_p: "atan2", ew.pow_p: "pow",
}


@dataclasses.dataclass(frozen=True)
class OpContext:
    t: WType  # type of the (first) operand
    out: WType  # type of the result
    params: dict
    nan_comparisons: bool  # the device's x != x is reliable for NaN
    name: str  # primitive name, for errors
    has_f64: bool = False  # the device computes f64: float32 functions cpu_llvm widens run in f64 here too


def _fsuffix(t: WType) -> str:
    return "f64" if t.is_64 else "f32"


def _helper(name: str, t: WType) -> str:
    """Name of the type-specialised helper ``name`` (f32 also serves f16, computed in f32)."""
    return f"{name}_{_fsuffix(t)}"


def _nan(t: WType) -> str:
    return special_float(t, float("nan"))


def _lit(t: WType, v) -> str:
    return literal(t, v)


def math_function(name: str) -> Callable:
    """``pick(t)``: the name of mathlib function ``name`` (``wgsl_mathlib``) for float operand type ``t``."""
    def pick(t: WType) -> str:
        return f"pxm_{name}_{_fsuffix(t)}"
    return pick


def _mathlib_call(name: str) -> Callable:
    widened = name in wgsl_mathlib.M.WIDENED
    def op(ctx: OpContext, *args: str) -> str:
        if widened and ctx.has_f64 and not ctx.t.is_64:
            value = f"{ctx.t.reg}(pxm_{name}_f64({', '.join(f'f64({a})' for a in args)}))"
        else:
            value = f"{math_function(name)(ctx.t)}({', '.join(args)})"
        x = args[0]
        if name == "lgamma":  # +inf at every pole, -inf included (as cpu_llvm and the reference)
            return f"select({value}, {special_float(ctx.t, math.inf)}, {x} <= 0.0 && floor({x}) == {x})"
        if name == "digamma":  # NaN at 0 like at the other poles
            return f"select({value}, {_nan(ctx.t)}, {x} == 0.0)"
        return value
    return op


def _builtin(name: str) -> Callable:
    def op(ctx: OpContext, x: str) -> str:
        return f"{name}({x})"
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
    return f"select(sign({x}), {x}, {is_nan(t, x)} || {x} == {_lit(t, 0)})"  # NaN and -0.0 stay as they are


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


def _sqrt(ctx, x):
    """NaN below 0 (drivers leave out-of-domain results undefined)."""
    return f"select(sqrt({x}), {_nan(ctx.t)}, {x} < 0.0)"


def _rsqrt(ctx, x):
    return f"({_lit(ctx.t, 1)} / {_sqrt(ctx, x)})"


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
        # the sign extension by shifts: lavapipe compares ``i64(x)`` of a negative i32 as if zero-extended
        wide = f"((i64(bitcast<u32>({x})) << 32u) >> 32u)" if src.kind == "i" else f"u64({x})"
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


OPS: dict = {
    ew.neg_p: _neg, ew.sign_p: _sign, ew.floor_p: _builtin("floor"), ew.ceil_p: _builtin("ceil"), ew.round_p: _round,
    ew.is_finite_p: _is_finite, ew.abs_p: _abs, ew.sqrt_p: _sqrt, ew.rsqrt_p: _rsqrt,
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
OPS.update({p: _mathlib_call(name) for p, name in MATHLIB_OPS.items()})

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
    text = text.replace("NAN", special_float(t, float("nan"))).replace("INF", special_float(t, float("inf")))
    text = text.replace("SIGN", sign).replace("ONE_U", one_u).replace("ZERO_U", zero_u)
    text = re.sub(r"\bU\b", u, text)
    text = re.sub(r"_T\b", "_" + ftype, text)
    text = re.sub(r"\bT\(", f"{ftype}(", text)
    return re.sub(r"\bT\b", ftype, text)


def special_bits_mask(is64: bool) -> str:
    return "0x7ff0000000000000lu" if is64 else "0x7f800000u"


HELPERS: dict[str, str] = dict(BIT_HELPERS)
for _name, _template in _FLOAT_HELPERS.items():
    for _ft in ("f32", "f64"):
        HELPERS[f"{_name}_{_ft}"] = _instantiate(_template, _ft)
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
                key, code = (key, ipow_helper(m.group(1), int(m.group(2)))) if m else wgsl_mathlib.block(name)
                if code is None or key in blocks:
                    continue
            blocks[key] = code
            visit(code)

    visit(source)
    return "\n".join(blocks.values())
