"""Scalar IR for every elementwise primitive, with the reference backend's semantics.

``RULES[primitive](b, eqn, *values) -> value | [values]`` works on compute values (see ``lltypes``); the
fused-loop emitter calls them once per element and LLVM vectorises the loop. Transcendentals come from
``mathlib`` (no libm calls, no branches). float16 results are rounded to half after every operation.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from llvmlite import ir

from portax.core.primitives import elementwise as ew, prng

from . import lltypes as T, mathlib

RULES: dict = {}


def rule(*prims):
    def register(fn: Callable) -> Callable:
        for p in prims:
            RULES[p] = fn
        return fn
    return register


def emit(b: ir.IRBuilder, eqn, args: list[ir.Value]) -> list[ir.Value]:
    """The compute values of ``eqn``'s outputs for the compute values ``args`` of its inputs."""
    fn = RULES.get(eqn.primitive)
    if fn is None:
        raise NotImplementedError(f"cpu_llvm backend: no elementwise lowering for {eqn.primitive.name}")
    out = fn(b, eqn, *args)
    outs = out if isinstance(out, list) else [out]
    return [T.round_f16(b, v, o.aval.dtype) for v, o in zip(outs, eqn.out_binders)]


def _dt(eqn, k: int = 0) -> np.dtype:
    return eqn.inputs[k].aval.dtype


def _c(dtype, v) -> ir.Constant:
    return T.const(dtype, v)


# --- math -----------------------------------------------------------------------------------------------------
MATHLIB_OPS = {ew.exp_p: "exp", ew.exp2_p: "exp2", ew.log_p: "log", ew.log1p_p: "log1p", ew.expm1_p: "expm1",
            ew.tanh_p: "tanh", ew.logistic_p: "logistic", ew.sin_p: "sin", ew.cos_p: "cos", ew.tan_p: "tan",
            ew.asin_p: "asin", ew.acos_p: "acos", ew.atan_p: "atan", ew.sinh_p: "sinh", ew.cosh_p: "cosh",
            ew.asinh_p: "asinh", ew.acosh_p: "acosh", ew.atanh_p: "atanh", ew.cbrt_p: "cbrt", ew.erf_p: "erf",
            ew.erfc_p: "erfc", ew.erf_inv_p: "erf_inv", ew.lgamma_p: "lgamma", ew.digamma_p: "digamma",
            ew.atan2_p: "atan2", ew.nextafter_p: "nextafter", ew.pow_p: "pow"}


def _mathlib_rule(name: str) -> Callable:
    def fn(b, eqn, *args):
        if _dt(eqn) == np.float16 and name == "nextafter":
            return _nextafter_f16(b, *args)
        out = mathlib.emit(b, name, list(args), args[0].type)
        fix = _REFERENCE_SPECIALS.get(name)
        return out if fix is None else fix(b, args[0], out)
    return fn


def _where_equal(at: float, value: float):
    """Replace the result where the argument equals ``at`` (mathlib follows scipy where the reference
    backend, like Python's math module, differs)."""
    def fix(b, x, out):
        ty = x.type
        return b.select(b.fcmp_ordered("==", x, ir.Constant(ty, at)), ir.Constant(ty, value), out)
    return fix


def _lgamma_poles(b, x, out):
    """+inf at every non-positive integer, -inf included (scipy's gammaln(-inf) is -inf)."""
    ty = x.type
    pole = b.and_(b.fcmp_ordered("<=", x, ir.Constant(ty, 0.0)),
                  b.fcmp_ordered("==", T.call_intrinsic(b, "floor", x), x))
    return b.select(pole, ir.Constant(ty, float("inf")), out)


# lgamma is +inf at its poles; digamma(0) is NaN like its other poles (scipy: -/+inf)
_REFERENCE_SPECIALS = {"lgamma": _lgamma_poles, "digamma": _where_equal(0.0, float("nan"))}


for _p, _name in MATHLIB_OPS.items():
    rule(_p)(_mathlib_rule(_name))


def _nextafter_f16(b, x, y):
    """nextafter in half precision: step the 16-bit pattern (values are computed in float)."""
    h = lambda v: b.bitcast(b.fptrunc(v, T.F16), T.I16)
    hx = h(x)
    one = ir.Constant(T.I16, 1)
    x_neg = b.icmp_signed("<", hx, ir.Constant(T.I16, 0))
    toward_bigger_mag = b.xor(b.fcmp_ordered("<", x, y), x_neg)
    stepped = b.select(toward_bigger_mag, b.add(hx, one), b.sub(hx, one))
    zero = b.fcmp_ordered("==", x, ir.Constant(T.F32, 0.0))
    tiny = b.select(b.fcmp_ordered("<", y, ir.Constant(T.F32, 0.0)), ir.Constant(T.I16, 0x8001), one)
    stepped = b.select(zero, tiny, stepped)
    res = b.fpext(b.bitcast(stepped, T.F16), T.F32)
    res = b.select(b.fcmp_ordered("==", x, y), y, res)
    nan = b.fcmp_unordered("uno", x, y)
    return b.select(nan, b.fadd(x, y), res)


@rule(ew.sqrt_p)
def _sqrt(b, eqn, x):
    return T.call_intrinsic(b, "sqrt", x)


@rule(ew.rsqrt_p)
def _rsqrt(b, eqn, x):
    s = T.round_f16(b, T.call_intrinsic(b, "sqrt", x), _dt(eqn))
    return b.fdiv(ir.Constant(x.type, 1.0), s)


@rule(ew.floor_p)
def _floor(b, eqn, x):
    return T.call_intrinsic(b, "floor", x)


@rule(ew.ceil_p)
def _ceil(b, eqn, x):
    return T.call_intrinsic(b, "ceil", x)


@rule(ew.round_p)
def _round(b, eqn, x):
    if eqn.params["rounding_method"] == ew.RoundingMethod.TO_NEAREST_EVEN:
        return T.call_intrinsic(b, "roundeven", x)
    return T.call_intrinsic(b, "round", x)


@rule(ew.is_finite_p)
def _is_finite(b, eqn, x):
    return b.fcmp_ordered("<", T.call_intrinsic(b, "fabs", x), ir.Constant(x.type, float("inf")))


@rule(ew.square_p)
def _square(b, eqn, x):
    return b.fmul(x, x) if T.is_float(_dt(eqn)) else b.mul(x, x)


@rule(ew.stop_gradient_p)
def _identity(b, eqn, x):
    return x


@rule(ew.neg_p)
def _neg(b, eqn, x):
    return b.fneg(x) if T.is_float(_dt(eqn)) else b.sub(ir.Constant(x.type, 0), x)


@rule(ew.abs_p)
def _abs(b, eqn, x):
    dt = _dt(eqn)
    if T.is_float(dt):
        return T.call_intrinsic(b, "fabs", x)
    if not T.is_signed(dt):
        return x
    return b.select(b.icmp_signed("<", x, ir.Constant(x.type, 0)), b.sub(ir.Constant(x.type, 0), x), x)


@rule(ew.sign_p)
def _sign(b, eqn, x):
    dt = _dt(eqn)
    ty = x.type
    if T.is_float(dt):
        one, zero = ir.Constant(ty, 1.0), ir.Constant(ty, 0.0)
        s = b.select(b.fcmp_ordered(">", x, zero), one, b.select(b.fcmp_ordered("<", x, zero), b.fneg(one), x))
        return s
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    if not T.is_signed(dt):
        return b.select(b.icmp_unsigned("!=", x, zero), one, zero)
    pos = b.select(b.icmp_signed(">", x, zero), one, zero)
    return b.select(b.icmp_signed("<", x, zero), ir.Constant(ty, -1), pos)


@rule(ew.integer_pow_p)
def _integer_pow(b, eqn, x):
    y = eqn.params["y"]
    dt = _dt(eqn)
    fl = T.is_float(dt)
    mul = b.fmul if fl else b.mul
    if y == 0:
        return _c(dt, 1)
    if y > 0:
        acc = x
        for _ in range(y - 1):
            acc = T.round_f16(b, mul(acc, x), dt)
        return acc
    if fl:
        p = mathlib.emit(b, "pow", [x, ir.Constant(x.type, float(-y))], x.type)
        return b.fdiv(ir.Constant(x.type, 1.0), T.round_f16(b, p, dt))
    xf = b.sitofp(x, T.F64) if T.is_signed(dt) else b.uitofp(x, T.F64)
    p = mathlib.emit(b, "pow", [xf, ir.Constant(T.F64, float(y))], T.F64)
    return _float_to_int(b, p, dt)


# --- bitwise ---------------------------------------------------------------------------------------------------
@rule(ew.not_p)
def _not(b, eqn, x):
    return b.xor(x, ir.Constant(x.type, -1 if x.type.width > 1 else 1))


@rule(ew.population_count_p)
def _popcount(b, eqn, x):
    return T.call_intrinsic(b, "ctpop", x)


@rule(ew.clz_p)
def _clz(b, eqn, x):
    fn = T.intrinsic(b.module, f"llvm.ctlz.{T.mangle(x.type)}", x.type, [x.type, T.I1])
    return b.call(fn, [x, ir.Constant(T.I1, 0)])


@rule(ew.and_p)
def _and(b, eqn, x, y):
    return b.and_(x, y)


@rule(ew.or_p)
def _or(b, eqn, x, y):
    return b.or_(x, y)


@rule(ew.xor_p)
def _xor(b, eqn, x, y):
    return b.xor(x, y)


def _shift(kind: str) -> Callable:
    def fn(b, eqn, x, y):
        dt = _dt(eqn)
        nbits = T.bits(dt)
        ty = x.type
        if T.is_signed(dt):
            ok = b.and_(b.icmp_signed(">=", y, ir.Constant(ty, 0)), b.icmp_signed("<", y, ir.Constant(ty, nbits)))
        else:
            ok = b.icmp_unsigned("<", y, ir.Constant(ty, nbits))
        s = b.select(ok, y, ir.Constant(ty, nbits - 1 if kind == "ashr" else 0))
        if kind == "ashr":
            return b.ashr(x, s)
        shifted = b.shl(x, s) if kind == "shl" else b.lshr(x, s)
        return b.select(ok, shifted, ir.Constant(ty, 0))
    return fn


rule(ew.shift_left_p)(_shift("shl"))
rule(ew.shift_right_logical_p)(_shift("lshr"))
rule(ew.shift_right_arithmetic_p)(_shift("ashr"))


# --- arithmetic ------------------------------------------------------------------------------------------------
def _arith(prim, bool_op: str, float_op: str, int_op: str) -> None:
    """add/sub/mul: one instruction per dtype class (bools as or/xor/and)."""
    def lower(b, eqn, x, y):
        dt = _dt(eqn)
        op = bool_op if dt.kind == "b" else float_op if T.is_float(dt) else int_op
        return getattr(b, op)(x, y)
    rule(prim)(lower)


_arith(ew.add_p, "or_", "fadd", "add")
_arith(ew.sub_p, "xor", "fsub", "sub")
_arith(ew.mul_p, "and_", "fmul", "mul")


@rule(ew.div_p)
def _div(b, eqn, x, y):
    dt = _dt(eqn)
    if T.is_float(dt):
        return b.fdiv(x, y)
    if dt.kind == "b":
        return x
    ty = x.type
    zero = ir.Constant(ty, 0)
    by_zero = b.icmp_unsigned("==", y, zero)
    safe = b.select(by_zero, ir.Constant(ty, 1), y)
    if T.is_signed(dt):
        minus_one = b.icmp_signed("==", safe, ir.Constant(ty, -1))
        safe = b.select(minus_one, ir.Constant(ty, 1), safe)
        q = b.sdiv(x, safe)
        q = b.select(minus_one, b.sub(zero, x), q)
        return b.select(by_zero, ir.Constant(ty, -1), q)
    return b.select(by_zero, ir.Constant(ty, -1), b.udiv(x, safe))


@rule(ew.rem_p)
def _rem(b, eqn, x, y):
    dt = _dt(eqn)
    if T.is_float(dt):
        return b.frem(x, y)
    ty = x.type
    zero = ir.Constant(ty, 0)
    by_zero = b.icmp_unsigned("==", y, zero)
    safe = b.select(by_zero, ir.Constant(ty, 1), y)
    if T.is_signed(dt):
        minus_one = b.icmp_signed("==", safe, ir.Constant(ty, -1))
        safe = b.select(minus_one, ir.Constant(ty, 1), safe)
        r = b.select(minus_one, zero, b.srem(x, safe))
    else:
        r = b.urem(x, safe)
    return b.select(by_zero, x, r)


def minmax(b, dt: np.dtype, x, y, take_max: bool):
    """numpy's maximum/minimum: NaN propagates (the first NaN operand), integer compare by signedness."""
    if T.is_float(dt):
        keep_x = b.or_(b.fcmp_ordered(">=" if take_max else "<=", x, y), b.fcmp_unordered("uno", x, x))
        return b.select(keep_x, x, y)
    if dt.kind == "b":
        return b.or_(x, y) if take_max else b.and_(x, y)
    cmp = b.icmp_signed if T.is_signed(dt) else b.icmp_unsigned
    return b.select(cmp(">=" if take_max else "<=", x, y), x, y)


@rule(ew.max_p)
def _max(b, eqn, x, y):
    return minmax(b, _dt(eqn), x, y, True)


@rule(ew.min_p)
def _min(b, eqn, x, y):
    return minmax(b, _dt(eqn), x, y, False)


@rule(ew.clamp_p)
def _clamp(b, eqn, lo, x, hi):
    dt = _dt(eqn, 1)
    return minmax(b, dt, minmax(b, dt, x, lo, True), hi, False)


# --- comparisons -----------------------------------------------------------------------------------------------
_CMP = {ew.eq_p: "==", ew.ne_p: "!=", ew.lt_p: "<", ew.le_p: "<=", ew.gt_p: ">", ew.ge_p: ">="}


def compare(b, dt: np.dtype, op: str, x, y):
    """numpy comparison of two compute values of ``dt`` (``!=`` is true when either float is NaN)."""
    if T.is_float(dt):
        return b.fcmp_unordered(op, x, y) if op == "!=" else b.fcmp_ordered(op, x, y)
    return (b.icmp_signed if T.is_signed(dt) else b.icmp_unsigned)(op, x, y)


def _cmp_rule(op: str) -> Callable:
    return lambda b, eqn, x, y: compare(b, _dt(eqn), op, x, y)


for _p, _op in _CMP.items():
    rule(_p)(_cmp_rule(_op))


@rule(ew.select_n_p)
def _select_n(b, eqn, which, *cases):
    if len(cases) == 1:
        return cases[0]
    wdt = _dt(eqn)
    if wdt.kind == "b":
        return b.select(which, cases[1], cases[0])
    out = cases[-1]
    for k in range(len(cases) - 2, -1, -1):
        out = b.select(b.icmp_unsigned("==", which, ir.Constant(which.type, k)), cases[k], out)
    return out


# --- conversions -----------------------------------------------------------------------------------------------
def _float_to_int(b, x, dst: np.dtype):
    """Truncate toward zero, NaN -> 0, saturating at the integer range."""
    return T.call_intrinsic(b, "fptosi.sat" if T.is_signed(dst) else "fptoui.sat", x, ret=T.compute_type(dst))


def convert(b, x, src: np.dtype, dst: np.dtype):
    """A compute value of ``src`` as a compute value of ``dst`` (the reference's convert_element_type)."""
    src, dst = np.dtype(src), np.dtype(dst)
    if src == dst:
        return x
    sty, dty = x.type, T.compute_type(dst)
    if dst.kind == "b":
        if src.kind == "f":
            return b.fcmp_unordered("!=", x, ir.Constant(sty, 0.0))
        return b.icmp_unsigned("!=", x, ir.Constant(sty, 0))
    if dst.kind == "f":
        target = T.F16 if dst == np.float16 else dty
        if src.kind == "f" and sty == T.F64 and target == T.F16:
            v = T.double_to_half(b, x)
        elif src.kind == "f":
            v = x if sty == target else (b.fptrunc(x, target) if _width(sty) > _width(target) else b.fpext(x, target))
        elif src.kind == "i":
            v = b.sitofp(x, target)
        else:
            v = b.uitofp(x, target)
        return b.fpext(v, T.F32) if dst == np.float16 else v
    if src.kind == "f":
        return _float_to_int(b, x, dst)
    sw, dw = sty.width, dty.width
    if sw == dw:
        return x
    if sw > dw:
        return b.trunc(x, dty)
    return b.sext(x, dty) if src.kind == "i" else b.zext(x, dty)


def _width(ty: ir.Type) -> int:
    return {T.F16: 16, T.F32: 32, T.F64: 64}[ty]


@rule(ew.convert_element_type_p)
def _convert(b, eqn, x):
    return convert(b, x, _dt(eqn), eqn.params["new_dtype"])


@rule(ew.bitcast_convert_type_p)
def _bitcast(b, eqn, x):
    src, dst = _dt(eqn), np.dtype(eqn.params["new_dtype"])
    if src.itemsize != dst.itemsize:
        raise NotImplementedError("cpu_llvm backend: bitcast_convert_type between sizes is not elementwise")
    raw = T.to_memory(b, x, src)
    mty = T.memory_type(dst)
    return T.from_memory(b, b.bitcast(raw, mty) if raw.type != mty else raw, dst)


# --- PRNG ------------------------------------------------------------------------------------------------------
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


@rule(prng.threefry2x32_p)
def _threefry2x32(b, eqn, k1, k2, x1, x2):
    u = lambda v: ir.Constant(T.I32, v)

    def rotl(v, r):
        return b.or_(b.shl(v, u(r)), b.lshr(v, u(32 - r)))

    ks = [k1, k2, b.xor(b.xor(k1, k2), u(0x1BD11BDA))]
    x = [b.add(x1, ks[0]), b.add(x2, ks[1])]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x[0] = b.add(x[0], x[1])
            x[1] = rotl(x[1], r)
            x[1] = b.xor(x[0], x[1])
        x[0] = b.add(x[0], ks[(i + 1) % 3])
        x[1] = b.add(b.add(x[1], ks[(i + 2) % 3]), u(i + 1))
    return [x[0], x[1]]
