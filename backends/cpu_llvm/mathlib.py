"""Vectorisable transcendental functions emitted as LLVM IR.

``emit(builder, name, args, ty)`` calls ``portax.math.<name>.<type>``, an internal ``alwaysinline`` function
that ``declare`` adds to the module on first use. Bodies use only arithmetic, fma, bit casts, integer ops,
selects and the floor/rint/fabs/copysign/sqrt intrinsics (no libm, no branches, no tables), so LLVM's loop
vectoriser vectorises loops that call them. ``ty`` is float or double, or a vector of either; callers compute
f16 in f32. No fast-math flags: callers decide those per op.

Designs: Cody–Waite reduction plus minimax polynomials fitted for this module (``mathlib_coeffs``). Special
values (NaN, ±Inf, ±0, overflow, underflow, domain errors) follow numpy / scipy.special.

Accuracy, measured by tests/cpu_llvm/test_infra.py on dense sweeps plus special values (f32: ulp against
the correctly rounded result; f64: relative error, bound in the tests 1e-14):

* f32: <= 2.5 ulp for everything but tan (3.0) and erf_inv (3.3); erfc, lgamma, digamma and pow are
  computed in f64 and rounded once (0.5 ulp).
* f64: <= 7e-16 relative except pow (<= 3e-15: the error grows with |y log x|). lgamma and digamma are
  relative to 1e-15 on x > 0; on the negative axis, near their zeros the error is absolute (~1e-16 times
  the cancelled terms). Subnormal results carry the absolute error of the formula before underflow.
* sin, cos and tan reduce the argument in f64 (f32 too): Cody–Waite below 2**42, above it a Payne–Hanek
  style reduction with a table of the bits of 2/pi (exact fma products), so they hold over the whole range.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

from llvmlite import ir

from . import mathlib_coeffs as C

_INF = float("inf")
_NAN = float("nan")

# (hi, lo) splits; LN2 / LOG10_2 hi parts have enough trailing zero bits that k * hi is exact.
_SPLIT = {
    "f32": {
        "LN2": (0.69314575, 1.4286068e-06), "INV_LN2": (1.442695, 1.925963e-08),
        "LOG10E": (0.4342945, -1.010305e-08), "LOG10_2": (0.30103302, -3.0243555e-06),
        "PIO2": (1.5707964, -4.371139e-08), "PIO4": (0.7853982, -2.1855694e-08),
        "PI": (3.1415927, -8.742278e-08), "ROOT": (1.4616321, 1.243815e-08),
    },
    "f64": {
        "LN2": (0.6931471805598903, 5.497923018708371e-14),
        "INV_LN2": (1.4426950408889634, 2.0355273740931033e-17),
        "LOG10E": (0.4342944819032518, 1.098319650216765e-17),
        "LOG10_2": (0.30102999566395283, 2.8363394551044964e-14),
        "PIO2": (1.5707963267948966, 6.123233995736766e-17),
        "PIO4": (0.7853981633974483, 3.061616997868383e-17),
        "PI": (3.141592653589793, 1.2246467991473532e-16),
        "ROOT": (1.4616321449683622, 9.549995429965697e-17),
    },
}
# pi/2 as three doubles and 2/pi, for the trig reduction (done in f64 for both types)
_PIO2_1, _PIO2_2, _PIO2_3 = 1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33
_TWO_OVER_PI = 0.6366197723675814
_TRIG_LIMIT = 2.0 ** 42
_LOG_PI = 1.1447298858494002
_HALF_LOG_2PI = 0.9189385332046728
_EULER = 0.5772156649015329

# per-type parameters
_P = {
    "f32": dict(mbits=23, bias=127, ibits=32, min_normal=2.0 ** -126, sqrt_half_bits=0x3F3504F3,
                sub_scale=25, exp_range=(-104.0, 90.0), exp2_range=(-151.0, 130.0),
                em1_range=(-18.0, 89.0), tanh_clamp=9.5, big_log1p=2.0 ** 28,
                erfc_cut=10.1, cbrt_scale=24, newton=2),
    "f64": dict(mbits=52, bias=1023, ibits=64, min_normal=2.0 ** -1022, sqrt_half_bits=0x3FE6A09E667F3BCD,
                sub_scale=54, exp_range=(-746.0, 711.0), exp2_range=(-1076.0, 1026.0),
                em1_range=(-40.0, 710.0), tanh_clamp=20.0, big_log1p=2.0 ** 56, gamma_t=10,
                erfc_cut=27.3, tiny_reflect=2.0 ** -60, cbrt_scale=54, newton=3),
}


class _E:
    """Emission helpers for one float type (scalar or vector) on one builder."""

    def __init__(self, b: ir.IRBuilder, ty: ir.Type):
        self.b, self.ty = b, ty
        el = ty.element if isinstance(ty, ir.VectorType) else ty
        if not isinstance(el, (ir.FloatType, ir.DoubleType)):
            raise TypeError(f"mathlib supports float/double (or vectors of them), got {ty}")
        self.count = ty.count if isinstance(ty, ir.VectorType) else None
        self.key = "f64" if isinstance(el, ir.DoubleType) else "f32"
        self.p = _P[self.key]
        self.ity = self._shape(ir.IntType(self.p["ibits"]))
        self.i32 = self._shape(ir.IntType(32))

    def _shape(self, el: ir.Type) -> ir.Type:
        return el if self.count is None else ir.VectorType(el, self.count)

    def like(self, el: ir.Type) -> "_E":
        return _E(self.b, self._shape(el))

    # constants
    def c(self, v: float) -> ir.Constant:
        return self._splat(self.ty, v)

    def ci(self, v: int, ty: ir.Type | None = None) -> ir.Constant:
        return self._splat(ty or self.ity, v)

    def _splat(self, ty: ir.Type, v) -> ir.Constant:
        if isinstance(ty, ir.VectorType):
            return ir.Constant(ty, [ir.Constant(ty.element, v)] * ty.count)
        return ir.Constant(ty, v)

    def k(self, name: str) -> tuple[ir.Constant, ir.Constant]:
        hi, lo = _SPLIT[self.key][name]
        return self.c(hi), self.c(lo)

    def coeffs(self, table: dict) -> Sequence[float]:
        return table[self.key]

    def reduce_trig(self, x):
        """(r, q, ok) of ``_trig_reduce`` (an emitter without f64 arithmetic overrides it)."""
        return _trig_reduce(self, x)

    # float arithmetic
    def add(self, a, b): return self.b.fadd(a, b)
    def sub(self, a, b): return self.b.fsub(a, b)
    def mul(self, a, b): return self.b.fmul(a, b)
    def div(self, a, b): return self.b.fdiv(a, b)
    def neg(self, a): return self.b.fneg(a)
    def fma(self, a, b, c): return self._intr("fma", a, b, c)

    def fma_exact(self, a, b, c):
        """An fma whose product must not be rounded (error-free steps); emitters without a fused fma
        override it."""
        return self.fma(a, b, c)

    def fabs(self, a): return self._intr("fabs", a)
    def floor(self, a): return self._intr("floor", a)
    def rint(self, a): return self._intr("rint", a)
    def sqrt(self, a): return self._intr("sqrt", a)
    def copysign(self, a, b): return self._intr("copysign", a, b)

    def _intr(self, op: str, *args):
        module = self.b.module
        name = f"llvm.{op}.{_mangle(self.ty)}"
        fn = module.globals.get(name)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(self.ty, [self.ty] * len(args)), name)
        return self.b.call(fn, args)

    # comparisons (ordered: false on NaN) and selects
    def lt(self, a, b): return self.b.fcmp_ordered("<", a, b)
    def le(self, a, b): return self.b.fcmp_ordered("<=", a, b)
    def gt(self, a, b): return self.b.fcmp_ordered(">", a, b)
    def ge(self, a, b): return self.b.fcmp_ordered(">=", a, b)
    def eq(self, a, b): return self.b.fcmp_ordered("==", a, b)
    def uno(self, a): return self.b.fcmp_unordered("uno", a, a)
    def and_(self, a, b): return self.b.and_(a, b)
    def or_(self, a, b): return self.b.or_(a, b)
    def sel(self, cond, a, b): return self.b.select(cond, a, b)

    def clamp(self, x, lo: float, hi: float):
        """x limited to [lo, hi]; NaN becomes lo."""
        x = self.sel(self.gt(x, self.c(lo)), x, self.c(lo))
        return self.sel(self.lt(x, self.c(hi)), x, self.c(hi))

    def nan_through(self, res, *xs):
        """res, except NaN wherever an input is NaN (the input itself, keeping its payload)."""
        for x in reversed(xs):
            res = self.sel(self.uno(x), x, res)
        return res

    def poly(self, x, coeffs: Sequence) -> ir.Value:
        """Horner evaluation of sum coeffs[i] x^i; coefficients are floats or IR values."""
        cs = [self.c(v) if isinstance(v, float) else v for v in coeffs]
        acc = cs[-1]
        for cf in reversed(cs[:-1]):
            acc = self.fma(acc, x, cf)
        return acc

    def piecewise(self, conds: list, tables: list) -> list:
        """Equal-length coefficient tables chosen per lane: the first tables[i] whose conds[i] holds, else the last."""
        out = []
        for j, last in enumerate(tables[-1]):
            v = self.c(last)
            for cond, t in zip(reversed(conds), reversed(tables[:-1])):
                v = self.sel(cond, self.c(t[j]), v)
            out.append(v)
        return out

    # integer view
    def bits(self, x): return self.b.bitcast(x, self.ity)
    def from_bits(self, i): return self.b.bitcast(i, self.ty)
    def to_i32(self, x): return self.b.fptosi(x, self.i32)
    def from_i32(self, i): return self.b.sitofp(i, self.ty)

    def pow2(self, m):
        """2**m as a float, for an i32 m in the normal exponent range."""
        if self.key == "f64":
            m = self.b.sext(m, self.ity)
        m = self.b.add(m, self.ci(self.p["bias"]))
        return self.from_bits(self.b.shl(m, self.ci(self.p["mbits"])))

    def scale2(self, x, m):
        """x * 2**m with one rounding, for i32 m up to twice the exponent range (two normal factors)."""
        m1 = self.b.ashr(m, self.ci(1, self.i32))
        m2 = self.b.sub(m, m1)
        return self.mul(self.mul(x, self.pow2(m1)), self.pow2(m2))

    def sign_bit(self, x):
        return self.b.icmp_signed("<", self.bits(x), self.ci(0))

    def odd(self, q):
        """For an i32 quadrant count q: (q & 1) != 0."""
        return self.b.icmp_unsigned("!=", self.b.and_(q, self.ci(1, self.i32)), self.ci(0, self.i32))

    def bit2(self, q):
        return self.b.icmp_unsigned("!=", self.b.and_(q, self.ci(2, self.i32)), self.ci(0, self.i32))


def _mangle(ty: ir.Type) -> str:
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{_mangle(ty.element)}"
    return "f64" if isinstance(ty, ir.DoubleType) else "f32"


# ---------------------------------------------------------------- exp family

def _exp_core(e: _E, x, lo=None, k: int = 0):
    """e**(x + lo) * 2**k for non-NaN x (clamped to where the result is 0 or inf beyond)."""
    xc = e.clamp(x, *e.p["exp_range"])
    ln2_hi, ln2_lo = e.k("LN2")
    n = e.rint(e.mul(xc, e.k("INV_LN2")[0]))
    r = e.fma(e.neg(n), ln2_hi, xc)
    r = e.fma(e.neg(n), ln2_lo, r)
    if lo is not None:
        r = e.add(r, lo)
    return _exp_reduced(e, n, r, k)


def _exp_reduced(e: _E, n, r, k: int = 0):
    """2**(n + k) * e**r, n an integral float, |r| <= ln2/2."""
    p = e.add(e.fma(e.mul(r, r), e.poly(r, e.coeffs(C.EXP)), r), e.c(1.0))
    m = e.to_i32(n)
    if k:
        m = e.b.add(m, e.ci(k, e.i32))
    return e.scale2(p, m)


def _exp(e: _E, x):
    return e.nan_through(_exp_core(e, x), x)


def _exp2(e: _E, x):
    xc = e.clamp(x, *e.p["exp2_range"])
    n = e.rint(xc)
    r = e.sub(xc, n)
    ln2_hi, ln2_lo = e.k("LN2")
    t = e.fma(r, ln2_hi, e.mul(r, ln2_lo))
    return e.nan_through(_exp_reduced(e, n, t), x)


def _expm1_core(e: _E, x, clamp: bool = True):
    """e**x - 1 for non-NaN x; without ``clamp`` x must lie in em1_range and -0 may lose its sign."""
    xc = e.clamp(x, *e.p["em1_range"]) if clamp else x
    ln2_hi, ln2_lo = e.k("LN2")
    n = e.rint(e.mul(xc, e.k("INV_LN2")[0]))
    r = e.fma(e.neg(n), ln2_hi, xc)
    r = e.fma(e.neg(n), ln2_lo, r)
    em = e.fma(e.mul(r, r), e.poly(r, e.coeffs(C.EM1)), r)
    s = e.pow2(e.b.sub(e.to_i32(n), e.ci(1, e.i32)))  # 2**(n-1): no overflow at n = max exponent + 1
    res = e.mul(e.fma(s, em, e.sub(s, e.c(0.5))), e.c(2.0))
    return e.sel(e.eq(x, e.c(0.0)), x, res) if clamp else res


def _expm1(e: _E, x):
    return e.nan_through(_expm1_core(e, x), x)


def _sinh(e: _E, x):
    a = e.fabs(x)
    w = _exp_core(e, a, k=-1)  # e**a / 2, finite up to sinh's own overflow
    big = e.sub(w, e.div(e.c(0.25), w))
    a2 = e.mul(a, a)
    small = e.fma(e.mul(a, a2), e.poly(a2, e.coeffs(C.SINH)), a)
    res = e.copysign(e.sel(e.lt(a, e.c(1.0)), small, big), x)
    return e.nan_through(res, x)


def _cosh(e: _E, x):
    w = _exp_core(e, e.fabs(x), k=-1)
    return e.nan_through(e.add(w, e.div(e.c(0.25), w)), x)


def _tanh(e: _E, x):
    a = e.fabs(x)
    lim = e.c(e.p["tanh_clamp"])
    t = _expm1_core(e, e.mul(e.sel(e.lt(a, lim), a, lim), e.c(2.0)), clamp=False)
    res = e.copysign(e.div(t, e.add(t, e.c(2.0))), x)
    return e.nan_through(res, x)


def _logistic(e: _E, x):
    ex = _exp_core(e, e.neg(e.fabs(x)))
    num = e.sel(e.lt(x, e.c(0.0)), ex, e.c(1.0))
    return e.nan_through(e.div(num, e.add(e.c(1.0), ex)), x)


# ---------------------------------------------------------------- log family

def _decompose(e: _E, x):
    """x > 0 finite (subnormal ok) -> (k, f) as floats with x = 2**k (1 + f), 1 + f in [sqrt(1/2), sqrt(2))."""
    sub = e.lt(x, e.c(e.p["min_normal"]))
    xs = e.sel(sub, e.mul(x, e.c(2.0 ** e.p["sub_scale"])), x)
    kadj = e.sel(sub, e.c(-float(e.p["sub_scale"])), e.c(0.0))
    ix = e.bits(xs)
    kb = e.b.ashr(e.b.sub(ix, e.ci(e.p["sqrt_half_bits"])), e.ci(e.p["mbits"]))
    m = e.from_bits(e.b.sub(ix, e.b.shl(kb, e.ci(e.p["mbits"]))))
    if e.key == "f64":
        kb = e.b.trunc(kb, e.i32)
    return e.add(e.from_i32(kb), kadj), e.sub(m, e.c(1.0))


def _log1pf_parts(e: _E, f):
    """(hfsq, tail) with log(1 + f) = f - (hfsq - tail) for 1 + f in [sqrt(1/2), sqrt(2))."""
    s = e.div(f, e.add(e.c(2.0), f))
    z = e.mul(s, s)
    hfsq = e.mul(e.mul(f, f), e.c(0.5))
    r = e.mul(z, e.poly(z, e.coeffs(C.LOG)))
    return hfsq, e.mul(s, e.add(hfsq, r))


def _log_core(e: _E, x, kadd=None, corr=None):
    """log(x) for x > 0 finite; optional extra power of two ``kadd`` and additive correction ``corr``."""
    k, f = _decompose(e, x)
    if kadd is not None:
        k = e.add(k, kadd)
    hfsq, tail = _log1pf_parts(e, f)
    if corr is not None:
        tail = e.add(tail, corr)
    ln2_hi, ln2_lo = e.k("LN2")
    t = e.fma(k, ln2_lo, tail)
    return e.fma(k, ln2_hi, e.sub(f, e.sub(hfsq, t)))


def _log_specials(e: _E, x, res, zero_at: float = 0.0):
    """numpy's log-family edge cases for argument x with the pole at ``zero_at``."""
    res = e.sel(e.eq(x, e.c(zero_at)), e.c(-_INF), res)
    res = e.sel(e.lt(x, e.c(zero_at)), e.c(_NAN), res)
    res = e.sel(e.eq(x, e.c(_INF)), e.c(_INF), res)
    return e.nan_through(res, x)


def _log(e: _E, x):
    return _log_specials(e, x, _log_core(e, x))


def _log2(e: _E, x):
    k, f = _decompose(e, x)
    hfsq, tail = _log1pf_parts(e, f)
    lm = e.sub(f, e.sub(hfsq, tail))
    hi, lo = e.k("INV_LN2")
    return _log_specials(e, x, e.fma(lm, hi, e.fma(lm, lo, k)))


def _log10(e: _E, x):
    k, f = _decompose(e, x)
    hfsq, tail = _log1pf_parts(e, f)
    lm = e.sub(f, e.sub(hfsq, tail))
    (e_hi, e_lo), (t_hi, t_lo) = e.k("LOG10E"), e.k("LOG10_2")
    res = e.fma(k, t_hi, e.fma(lm, e_hi, e.fma(lm, e_lo, e.mul(k, t_lo))))
    return _log_specials(e, x, res)


def _log1p_core(e: _E, x, kadd=None):
    """log(1 + x) for x > -1 finite, as log(u) + (x - (u - 1)) / u with u = 1 + x rounded."""
    u = e.add(e.c(1.0), x)
    corr = e.div(e.sub(x, e.sub(u, e.c(1.0))), u)
    return _log_core(e, u, kadd, corr)


def _log1p(e: _E, x):
    res = _log_specials(e, x, _log1p_core(e, x), zero_at=-1.0)
    return e.sel(e.eq(x, e.c(0.0)), x, res)


def _asinh(e: _E, x):
    a = e.fabs(x)
    big = e.gt(a, e.c(e.p["big_log1p"]))
    a2 = e.mul(a, a)
    y = e.sel(big, a, e.add(a, e.div(a2, e.add(e.c(1.0), e.sqrt(e.add(e.c(1.0), a2))))))
    res = _log1p_core(e, y, kadd=e.sel(big, e.c(1.0), e.c(0.0)))
    res = e.copysign(e.sel(e.eq(a, e.c(_INF)), a, res), x)
    return e.nan_through(res, x)


def _acosh(e: _E, x):
    t = e.sub(x, e.c(1.0))
    big = e.gt(x, e.c(e.p["big_log1p"]))
    y = e.sel(big, x, e.add(t, e.sqrt(e.mul(t, e.add(t, e.c(2.0))))))
    res = _log1p_core(e, y, kadd=e.sel(big, e.c(1.0), e.c(0.0)))
    res = e.sel(e.lt(x, e.c(1.0)), e.c(_NAN), res)
    res = e.sel(e.eq(x, e.c(_INF)), x, res)
    return e.nan_through(res, x)


def _atanh(e: _E, x):
    a = e.fabs(x)
    two_a = e.add(a, a)
    y = e.fma(two_a, e.div(a, e.sub(e.c(1.0), a)), two_a)
    res = e.mul(_log1p_core(e, y), e.c(0.5))
    res = e.sel(e.eq(a, e.c(1.0)), e.c(_INF), res)
    res = e.sel(e.gt(a, e.c(1.0)), e.c(_NAN), res)
    return e.nan_through(e.copysign(res, x), x)


# ---------------------------------------------------------------- trigonometric

def _trig_reduce(e: _E, x):
    """x -> (r, q, ok): x = q pi/2 + r with |r| <= ~pi/4, q an i32; ok is x finite (else r is junk).
    Below 2**42 three-part Cody-Waite in f64; above, the table-driven reduction of ``_reduce_big``."""
    ok = e.lt(e.fabs(x), e.c(_INF))
    small = e.lt(e.fabs(x), e.c(_TRIG_LIMIT))
    xc = e.sel(small, x, e.c(0.0))
    d = e if e.key == "f64" else e.like(ir.DoubleType())
    xd = xc if d is e else e.b.fpext(xc, d.ty)
    n = d.rint(d.mul(xd, d.c(_TWO_OVER_PI)))
    nn = d.neg(n)
    r = d.fma_exact(nn, d.c(_PIO2_2), d.fma_exact(nn, d.c(_PIO2_1), xd))
    if d is e:
        r = e.fma(nn, e.c(_PIO2_3), r)
    big_x = e.sel(e.and_(ok, e.b.not_(small)), x, e.c(_TRIG_LIMIT))
    r_big, n_big = _reduce_big(d, big_x if d is e else e.b.fpext(big_x, d.ty))
    big = e.b.not_(small)  # the same lanes for the f64 helper
    r, n = d.sel(big, r_big, r), d.sel(big, n_big, n)
    if d is not e:
        r = e.b.fptrunc(r, e.ty)
    q = d.to_i32(d.sub(n, d.mul(d.c(4.0), d.floor(d.mul(n, d.c(0.25))))))
    return r, q, ok


def _two_over_pi_table() -> list[float]:
    """For E = _BIG_E0 .. 971: four doubles g0 + .. + g3 = sum of the bits b_i of 2/pi (i >= E - 1) times
    2**(E - i), i.e. 2**E * (2/pi) with the bits worth multiples of 4 (for an integer times 2**E) dropped."""
    bits = 1400
    pi = _pi_fixed(bits + 64)  # pi * 2**(bits + 64)
    t = (1 << (2 * bits + 65)) // pi  # 2/pi * 2**bits
    out = []
    for big_e in range(_BIG_E0, 972):
        s = max(big_e - 1, 1)
        for k in range(_CHUNKS):
            first = s + 53 * k
            chunk = (t >> (bits - (first + 52))) & ((1 << 53) - 1)
            out.append(math.ldexp(float(chunk), big_e - (first + 52)))
    return out


@functools.cache
def _two_over_pi_initializer() -> ir.FormattedConstant:
    """The table as module text, formatted once (3928 doubles: formatting them per kernel dominated
    building the IR of a kernel with sin/cos/tan)."""
    tab = _two_over_pi_table()
    ty = ir.ArrayType(ir.DoubleType(), len(tab))
    return ir.FormattedConstant(ty, ir.Constant(ty, tab).get_reference())


def _pi_fixed(bits: int) -> int:
    """floor(pi * 2**bits) by Machin's formula in integer arithmetic."""
    def atan_inv(n: int) -> int:
        total, term, k, sign = 0, (1 << (bits + 16)) // n, 1, 1
        while term:
            total += sign * (term // k)
            term //= n * n
            k += 2
            sign = -sign
        return total
    return (16 * atan_inv(5) - 4 * atan_inv(239)) >> 16


_BIG_E0 = -10  # exponent (of the 53-bit integer mantissa) of 2**42
_CHUNKS = 4  # 53-bit pieces of 2/pi per exponent: 2**-210 relative, enough for the worst cases


def _table_load(e: _E, table: ir.GlobalVariable, idx):
    """table[idx] for an i64 index (or a vector of them): a gather lane by lane."""
    b = e.b
    ety = e.ty.element if e.count else e.ty
    if e.count is None:
        return b.load(b.gep(table, [ir.Constant(ir.IntType(64), 0), idx]), typ=ety)
    out = ir.Constant(e.ty, ir.Undefined)
    for lane in range(e.count):
        i = b.extract_element(idx, ir.Constant(ir.IntType(32), lane))
        v = b.load(b.gep(table, [ir.Constant(ir.IntType(64), 0), i]), typ=ety)
        out = b.insert_element(out, v, ir.Constant(ir.IntType(32), lane))
    return out


def _two_sum(d: _E, a, b):
    """(s, t): s = fl(a + b) and its exact error t."""
    s = d.add(a, b)
    bb = d.sub(s, a)
    return s, d.add(d.sub(a, d.sub(s, bb)), d.sub(b, bb))


def _reduce_big(d: _E, x):
    """(r, n) with x = n pi/2 + r (mod 2 pi), |r| <= ~pi/4, n an integral float, for f64 |x| >= 2**42 finite:
    x = M 2**E with a 53-bit integer M, so x 2/pi mod 4 = M (g0 + g1 + g2 + g3) mod 4, computed with exact
    products (fma) and one rounding of the small remainder."""
    b = d.b
    module = b.module
    table = module.globals.get("portax.math.two_over_pi")
    if table is None:
        init = _two_over_pi_initializer()
        table = ir.GlobalVariable(module, init.type, "portax.math.two_over_pi")
        table.global_constant = True
        table.linkage = "internal"
        table.initializer = init
    a = d.fabs(x)
    i64 = d.ity
    bits = b.bitcast(a, i64)
    expo = b.lshr(bits, d.ci(52, i64))
    big_e = b.sub(expo, d.ci(1075, i64))
    mant = b.or_(b.and_(bits, d.ci((1 << 52) - 1, i64)), d.ci(1 << 52, i64))
    m = b.sitofp(mant, d.ty)
    slot = b.mul(b.sub(big_e, d.ci(_BIG_E0, i64)), d.ci(_CHUNKS, i64))
    g0, g1, g2, g3 = (_table_load(d, table, b.add(slot, d.ci(k, i64))) for k in range(_CHUNKS))
    p0 = d.mul(m, g0)
    e0 = d.fma_exact(m, g0, d.neg(p0))  # exact; |e0| <= 2 since p0 < 2**55
    p0 = d.sub(p0, d.mul(d.c(4.0), d.floor(d.mul(p0, d.c(0.25)))))
    p1 = d.mul(m, g1)
    e1 = d.fma_exact(m, g1, d.neg(p1))
    s1, t1 = _two_sum(d, p0, p1)
    s2, t2 = _two_sum(d, s1, e0)
    n = d.rint(s2)
    h = d.sub(s2, n)
    p2 = d.mul(m, g2)
    tail = d.add(d.fma_exact(m, g2, d.neg(p2)), d.mul(m, g3))
    acc, err = h, d.c(0.0)
    for v in (t1, t2, e1, p2):  # exact partial sums: h and these cancel when x is near a multiple of pi/2
        acc, e = _two_sum(d, acc, v)
        err = d.add(err, e)
    err = d.add(err, tail)
    frac = d.add(acc, err)
    frac_lo = d.sub(err, d.sub(frac, acc))
    n2 = d.rint(frac)  # the small terms may carry past +-1/2
    n = d.add(n, n2)
    frac = d.sub(frac, n2)
    r = d.fma(frac, d.c(_PIO2_1), d.fma(frac, d.c(_PIO2_2), d.mul(frac_lo, d.c(_PIO2_1))))
    neg = d.lt(x, d.c(0.0))
    return d.sel(neg, d.neg(r), r), d.sel(neg, d.neg(n), n)


def _sincos_poly(e: _E, r):
    r2 = e.mul(r, r)
    s = e.fma(e.mul(r, r2), e.poly(r2, e.coeffs(C.SIN)), r)
    c = e.fma(r2, e.poly(r2, e.coeffs(C.COS)), e.c(1.0))
    return s, c


def _sin(e: _E, x):
    r, q, ok = e.reduce_trig(x)
    s, c = _sincos_poly(e, r)
    v = e.sel(e.odd(q), c, s)
    v = e.sel(e.bit2(q), e.neg(v), v)
    v = e.sel(ok, v, e.c(_NAN))
    return e.nan_through(e.sel(e.eq(x, e.c(0.0)), x, v), x)


def _cos(e: _E, x):
    r, q, ok = e.reduce_trig(x)
    s, c = _sincos_poly(e, r)
    v = e.sel(e.odd(q), s, c)
    v = e.sel(e.bit2(e.b.add(q, e.ci(1, e.i32))), e.neg(v), v)
    return e.nan_through(e.sel(ok, v, e.c(_NAN)), x)


def _tan(e: _E, x):
    r, q, ok = e.reduce_trig(x)
    s, c = _sincos_poly(e, r)
    odd = e.odd(q)
    v = e.div(e.sel(odd, e.neg(c), s), e.sel(odd, s, c))
    v = e.sel(ok, v, e.c(_NAN))
    return e.nan_through(e.sel(e.eq(x, e.c(0.0)), x, v), x)


def _sincospi(e: _E, a):
    """For a >= 0: (sin(pi r), cos(pi r), q) with a = q/2 + r, |r| <= 1/4; a >= 2**mbits counts as 0."""
    a = e.sel(e.lt(a, e.c(2.0 ** e.p["mbits"])), a, e.c(0.0))
    n2 = e.rint(e.add(a, a))
    r = e.fma(n2, e.c(-0.5), a)
    pi_hi, pi_lo = e.k("PI")
    s, c = _sincos_poly(e, e.fma(r, pi_hi, e.mul(r, pi_lo)))
    q = e.to_i32(e.sub(n2, e.mul(e.c(4.0), e.floor(e.mul(n2, e.c(0.25))))))
    return s, c, q


def _atan_pos(e: _E, a):
    """atan(a) for a >= 0 (inf ok); three-range reduction to |z| <= tan(pi/8)."""
    big = e.gt(a, e.c(2.414213562373095))
    mid = e.gt(a, e.c(0.41421356237309503))
    one = e.c(1.0)
    num = e.sel(big, e.c(-1.0), e.sel(mid, e.sub(a, one), a))
    den = e.sel(big, a, e.sel(mid, e.add(a, one), one))
    z = e.div(num, den)
    z2 = e.mul(z, z)
    p = e.fma(e.mul(z, z2), e.poly(z2, e.coeffs(C.ATAN)), z)
    (h2, l2), (h4, l4), zero = e.k("PIO2"), e.k("PIO4"), e.c(0.0)
    hi = e.sel(big, h2, e.sel(mid, h4, zero))
    lo = e.sel(big, l2, e.sel(mid, l4, zero))
    return e.add(hi, e.add(p, lo))


def _atan(e: _E, x):
    return e.copysign(_atan_pos(e, e.fabs(x)), x)


def _atan2(e: _E, y, x):
    ax, ay = e.fabs(x), e.fabs(y)
    swap = e.gt(ay, ax)
    num, den = e.sel(swap, ax, ay), e.sel(swap, ay, ax)
    inf = e.c(_INF)
    both_inf = e.and_(e.eq(ax, inf), e.eq(ay, inf))
    num = e.sel(both_inf, e.c(1.0), num)
    den = e.sel(e.or_(both_inf, e.eq(den, e.c(0.0))), e.c(1.0), den)
    t = _atan_pos(e, e.div(num, den))
    (h2, l2), (hp, lp) = e.k("PIO2"), e.k("PI")
    neg_x = e.sign_bit(x)
    # |y| > |x|: pi/2 -+ t (no fold from pi, which would lose the last bit at x = -0)
    near_axis = e.add(e.sel(neg_x, e.add(h2, t), e.sub(h2, t)), l2)
    t = e.sel(swap, near_axis, e.sel(neg_x, e.add(e.sub(hp, t), lp), t))
    return e.nan_through(e.copysign(t, y), y, x)


def _asin_parts(e: _E, x):
    """(a <= 1/2, p) with p = asin(a) for a = |x| <= 1/2, else p = asin(sqrt((1 - a) / 2))."""
    a = e.fabs(x)
    small = e.le(a, e.c(0.5))
    z = e.sel(small, e.mul(a, a), e.mul(e.sub(e.c(1.0), a), e.c(0.5)))
    s = e.sel(small, a, e.sqrt(z))
    return small, e.fma(e.mul(s, z), e.poly(z, e.coeffs(C.ASIN)), s)


def _asin(e: _E, x):
    small, p = _asin_parts(e, x)
    h2, l2 = e.k("PIO2")
    big = e.sub(h2, e.sub(e.add(p, p), l2))
    return e.nan_through(e.copysign(e.sel(small, p, big), x), x)


def _acos(e: _E, x):
    small, p = _asin_parts(e, x)
    (h2, l2), (hp, lp) = e.k("PIO2"), e.k("PI")
    two_p = e.add(p, p)
    mid = e.sub(h2, e.sub(e.copysign(p, x), l2))
    big = e.sel(e.lt(x, e.c(0.0)), e.sub(hp, e.sub(two_p, lp)), two_p)
    return e.nan_through(e.sel(small, mid, big), x)


# ---------------------------------------------------------------- error function family

def _erfc_big(e: _E, a):
    """erfc(a) for a >= 1/2 (clamped to where it underflows): exp(-a^2) * piecewise erfcx(a)."""
    ac = e.clamp(a, 0.5, e.p["erfc_cut"])
    inv = e.div(e.c(1.0), ac)
    pieces = e.coeffs(C.ERFCX)
    conds = [e.lt(ac, e.c(ub)) for ub, _, _, _ in pieces[:-1]]
    vs = [e.sub(ac if var == "x" else inv, e.c(cen)) for _, var, cen, _ in pieces]
    v = vs[-1]
    for cond, vi in zip(reversed(conds), reversed(vs[:-1])):
        v = e.sel(cond, vi, v)
    f = e.poly(v, e.piecewise(conds, [cs for _, _, _, cs in pieces]))
    h = e.mul(ac, ac)
    lo = e.fma_exact(ac, ac, e.neg(h))
    return e.mul(_exp_core(e, e.neg(h), e.neg(lo)), f)


def _erf_small(e: _E, x):
    return e.mul(x, e.poly(e.mul(x, x), e.coeffs(C.ERF)))


def _erf(e: _E, x):
    a = e.fabs(x)
    big = e.sub(e.c(1.0), _erfc_big(e, a))
    res = e.sel(e.lt(a, e.c(0.75)), _erf_small(e, a), big)
    return e.nan_through(e.copysign(res, x), x)


def _erfc(e: _E, x):
    a = e.fabs(x)
    eb = _erfc_big(e, a)
    big = e.sel(e.lt(x, e.c(0.0)), e.sub(e.c(2.0), eb), eb)
    res = e.sel(e.lt(a, e.c(0.5)), e.sub(e.c(1.0), _erf_small(e, x)), big)
    return e.nan_through(res, x)


def _erf_inv(e: _E, x):
    a = e.fabs(x)
    one = e.c(1.0)
    w = e.neg(_log_core(e, e.mul(e.sub(one, a), e.add(one, a))))
    sw = e.sqrt(w)
    pieces = e.coeffs(C.ERFINV)
    conds = [e.lt(w, e.c(ub)) for ub, _, _, _ in pieces[:-1]]
    vs = [e.sub(w if var == "w" else sw, e.c(cen)) for _, var, cen, _ in pieces]
    v = vs[-1]
    for cond, vi in zip(reversed(conds), reversed(vs[:-1])):
        v = e.sel(cond, vi, v)
    res = e.mul(x, e.poly(v, e.piecewise(conds, [cs for _, _, _, cs in pieces])))
    res = e.sel(e.eq(a, one), e.copysign(e.c(_INF), x), res)
    res = e.sel(e.gt(a, one), e.c(_NAN), res)
    return e.nan_through(res, x)


# ---------------------------------------------------------------- gamma family

def _lgamma_pos(e: _E, a):
    """lgamma(a) for a >= 0: shift into [1.5, 2.5) below T (one log of the product), Stirling above."""
    t_hi = e.p["gamma_t"]
    n = e.floor(e.sub(a, e.c(1.5)))  # -2 .. T-2 below T
    t = e.sub(a, e.add(n, e.c(2.0)))
    u = e.c(1.0)
    for j in range(1, t_hi - 1):
        u = e.mul(u, e.sel(e.le(e.c(float(j)), n), e.sub(a, e.c(float(j))), e.c(1.0)))
    down = e.lt(n, e.c(-0.5))
    d = e.mul(a, e.sel(e.lt(n, e.c(-1.5)), e.add(a, e.c(1.0)), e.c(1.0)))
    big = e.ge(a, e.c(float(t_hi)))
    lg = _log_core(e, e.sel(big, a, e.sel(down, d, u)))
    small = e.fma(t, e.poly(t, e.coeffs(C.LGAMMA)), e.sel(down, e.neg(lg), lg))
    inv = e.div(e.c(1.0), a)
    corr = e.fma(inv, e.poly(e.mul(inv, inv), e.coeffs(C.STIRLING)), e.c(_HALF_LOG_2PI - 0.5))
    stirling = e.fma(e.sub(a, e.c(0.5)), e.sub(lg, e.c(1.0)), corr)
    res = e.sel(big, stirling, small)
    return e.sel(e.or_(e.eq(a, e.c(0.0)), e.eq(a, e.c(_INF))), e.c(_INF), res)


def _lgamma(e: _E, x):
    a = e.fabs(x)
    pos = _lgamma_pos(e, a)
    s, c, q = _sincospi(e, a)
    sp = e.fabs(e.sel(e.odd(q), c, s))
    refl = e.sub(e.sub(e.c(_LOG_PI), _log_specials(e, e.mul(a, sp), _log_core(e, e.mul(a, sp)))), pos)
    use = e.and_(e.lt(x, e.c(0.0)), e.gt(a, e.c(e.p["tiny_reflect"])))
    res = e.sel(use, refl, pos)
    return e.nan_through(e.sel(e.eq(x, e.c(-_INF)), x, res), x)  # scipy: gammaln(-inf) = -inf


def _digamma_pos(e: _E, a):
    """digamma(a) for a > 0: root-centred polynomial on [1, 2], else recurrence up to T + asymptotic."""
    t_hi = e.c(float(e.p["gamma_t"]))
    y, num, den = a, e.c(0.0), e.c(1.0)
    for _ in range(e.p["gamma_t"]):  # sum of 1/(a + i) kept as one fraction num/den
        m = e.lt(y, t_hi)
        num = e.sel(m, e.fma(num, y, den), num)
        den = e.sel(m, e.mul(den, y), den)
        y = e.sel(m, e.add(y, e.c(1.0)), y)
    inv = e.div(e.c(1.0), y)
    u = e.mul(inv, inv)
    asym = e.sub(_log_core(e, y), e.fma(inv, e.c(0.5), e.mul(u, e.poly(u, e.coeffs(C.PSIASYM)))))
    rec = e.sub(asym, e.div(num, den))
    res = e.sel(e.and_(e.ge(a, e.c(1.0)), e.le(a, e.c(2.0))), _digamma_root(e, a), rec)
    if e.key == "f32":  # in float32 arithmetic the upward sum cancels against asym: recur down to [1, 2]
        below = e.lt(a, e.c(1.0))
        n = e.sub(e.floor(a), e.c(1.0))
        y = e.sel(below, e.add(a, e.c(1.0)), e.sub(a, n))
        acc = _digamma_root(e, y)
        for k in range(e.p["gamma_t"] - 2):
            acc = e.add(acc, e.sel(e.lt(e.c(float(k)), n), e.div(e.c(1.0), e.add(y, e.c(float(k)))), e.c(0.0)))
        res = e.sel(e.lt(a, t_hi), e.sel(below, e.sub(acc, e.div(e.c(1.0), a)), acc), rec)
    return e.sel(e.eq(a, e.c(_INF)), a, res)


def _digamma_root(e: _E, a):
    """digamma(a) for a in [1, 2]: a polynomial times the distance to the root, relatively accurate there."""
    r_hi, r_lo = e.k("ROOT")
    return e.mul(e.sub(e.sub(a, r_hi), r_lo), e.poly(e.sub(a, e.c(1.5)), e.coeffs(C.DIGAMMA)))


def _digamma(e: _E, x):
    a = e.fabs(x)
    pos = _digamma_pos(e, a)
    s, c, q = _sincospi(e, a)
    cot = e.sel(e.odd(q), e.neg(e.div(s, c)), e.div(c, s))
    refl = e.add(e.add(pos, e.div(e.c(1.0), a)), e.mul(e.c(_SPLIT[e.key]["PI"][0]), cot))
    tiny = e.lt(a, e.c(e.p["tiny_reflect"]))  # digamma(-a) = 1/a - euler (the terms above overflow)
    refl = e.sel(tiny, e.sub(e.div(e.c(1.0), a), e.c(_EULER)), refl)
    res = e.sel(e.lt(x, e.c(0.0)), refl, pos)
    res = e.sel(e.eq(x, e.c(0.0)), e.copysign(e.c(_INF), e.neg(x)), res)
    pole = e.and_(e.lt(x, e.c(0.0)), e.eq(e.floor(x), x))  # negative integers and -inf, as scipy
    return e.nan_through(e.sel(pole, e.c(_NAN), res), x)


# ---------------------------------------------------------------- algebraic

def _cbrt(e: _E, x):
    a = e.fabs(x)
    sub = e.lt(a, e.c(e.p["min_normal"]))
    sc = e.p["cbrt_scale"]
    a_s = e.sel(sub, e.mul(a, e.c(2.0 ** sc)), a)
    ix = e.bits(a_s)
    mb = e.ci(e.p["mbits"])
    ex = e.b.lshr(ix, mb)
    if e.key == "f64":
        ex = e.b.trunc(ex, e.i32)
    ef = e.sub(e.from_i32(ex), e.c(float(e.p["bias"])))
    m = e.from_bits(e.b.or_(e.b.and_(ix, e.ci((1 << e.p["mbits"]) - 1)), e.ci(e.p["bias"] << e.p["mbits"])))
    q = e.floor(e.mul(e.add(ef, e.c(0.5)), e.c(1.0 / 3.0)))
    rem = e.sub(ef, e.mul(q, e.c(3.0)))  # 0, 1 or 2
    m = e.mul(m, e.sel(e.lt(rem, e.c(0.5)), e.c(1.0), e.sel(e.lt(rem, e.c(1.5)), e.c(2.0), e.c(4.0))))
    y = e.poly(m, e.coeffs(C.CBRT))
    for _ in range(e.p["newton"]):
        y2 = e.mul(y, y)
        y = e.add(y, e.div(e.fma(e.neg(y2), y, m), e.mul(y2, e.c(3.0))))
    q = e.sub(q, e.sel(sub, e.c(sc / 3), e.c(0.0)))
    res = e.copysign(e.mul(y, e.pow2(e.to_i32(q))), x)
    finite_nonzero = e.and_(e.gt(a, e.c(0.0)), e.lt(a, e.c(_INF)))
    return e.sel(finite_nonzero, res, x)


def _nextafter(e: _E, x, y):
    ix = e.bits(x)
    up = e.b.icmp_unsigned("==", e.lt(x, y), e.gt(x, e.c(0.0)))
    res = e.from_bits(e.b.add(ix, e.sel(up, e.ci(1), e.ci(-1))))
    tiny = e.from_bits(e.ci(1))
    res = e.sel(e.eq(x, e.c(0.0)), e.copysign(tiny, y), res)
    res = e.sel(e.eq(x, y), y, res)
    return e.nan_through(res, x, y)


def _log_dd(e: _E, a):
    """log(a) as hi + lo (about 2**-100 relative) for f64 a > 0 finite."""
    k, f = _decompose(e, a)
    two = e.c(2.0)
    t = e.add(two, f)
    tl = e.sub(f, e.sub(t, two))
    sh = e.div(f, t)
    sl = e.div(e.sub(e.fma_exact(e.neg(sh), t, f), e.mul(sh, tl)), t)
    z = e.mul(sh, sh)
    tail = e.mul(e.mul(sh, z), e.poly(z, e.coeffs(C.LOGDD)))
    hi = e.add(sh, sh)
    lo = e.add(e.add(sl, sl), tail)
    h = e.add(hi, lo)
    lo = e.sub(lo, e.sub(h, hi))
    ln2_hi, ln2_lo = e.k("LN2")
    kh = e.mul(k, ln2_hi)  # exact
    s = e.add(kh, h)
    bb = e.sub(s, kh)
    err = e.add(e.sub(kh, e.sub(s, bb)), e.sub(h, bb))  # two-sum
    lo = e.add(e.add(err, lo), e.mul(k, ln2_lo))
    hi = e.add(s, lo)
    return hi, e.sub(lo, e.sub(hi, s))


def _pow_abs(e: _E, a, y):
    """|x|**y (f64) for a = |x| (0 and inf ok, NaN not): double-double log times y, then exp."""
    inf, zero = e.c(_INF), e.c(0.0)
    finite = e.and_(e.gt(a, zero), e.lt(a, inf))
    lh, ll = _log_dd(e, e.sel(finite, a, e.c(1.0)))
    lh = e.sel(finite, lh, e.sel(e.eq(a, zero), e.c(-_INF), inf))
    ll = e.sel(finite, ll, zero)
    ph = e.mul(y, lh)
    pl = e.fma(y, ll, e.fma_exact(y, lh, e.neg(ph)))
    pl = e.sel(e.lt(e.fabs(ph), e.c(2048.0)), pl, zero)  # beyond, exp over/underflows anyway
    return e.nan_through(_exp_core(e, ph, pl), ph)


def _pow(e: _E, x, y):
    one, zero = e.c(1.0), e.c(0.0)
    y_int = e.eq(e.floor(y), y)
    half = e.mul(y, e.c(0.5))
    y_odd = e.and_(y_int, e.b.fcmp_unordered("!=", e.floor(half), half))
    res = _pow_abs(e, e.fabs(x), y)
    res = e.sel(e.and_(e.sign_bit(x), y_odd), e.neg(res), res)
    neg_finite = e.and_(e.lt(x, zero), e.gt(x, e.c(-_INF)))
    res = e.sel(e.and_(neg_finite, e.b.not_(y_int)), e.c(_NAN), res)
    res = e.sel(e.and_(e.eq(e.fabs(x), one), e.eq(e.fabs(y), e.c(_INF))), one, res)
    res = e.nan_through(res, x, y)
    return e.sel(e.or_(e.eq(y, zero), e.eq(x, one)), one, res)


def _in_f64(impl: Callable) -> Callable:
    """Run ``impl`` in f64 for f32 arguments and round once at the end."""
    def run(e: _E, *xs):
        if e.key == "f64":
            return impl(e, *xs)
        d = e.like(ir.DoubleType())
        return e.b.fptrunc(impl(d, *[e.b.fpext(x, d.ty) for x in xs]), e.ty)
    run.impl = impl  # the algorithm itself, for emitters that compute f32 without f64
    return run


_IMPL: dict[str, tuple[int, Callable]] = {
    "exp": (1, _exp), "exp2": (1, _exp2), "expm1": (1, _expm1),
    "log": (1, _log), "log2": (1, _log2), "log10": (1, _log10), "log1p": (1, _log1p),
    "sin": (1, _sin), "cos": (1, _cos), "tan": (1, _tan),
    "asin": (1, _asin), "acos": (1, _acos), "atan": (1, _atan), "atan2": (2, _atan2),
    "sinh": (1, _sinh), "cosh": (1, _cosh), "tanh": (1, _tanh),
    "asinh": (1, _asinh), "acosh": (1, _acosh), "atanh": (1, _atanh),
    "logistic": (1, _logistic), "erf": (1, _erf), "erfc": (1, _in_f64(_erfc)), "erf_inv": (1, _erf_inv),
    "lgamma": (1, _in_f64(_lgamma)), "digamma": (1, _in_f64(_digamma)),
    "pow": (2, _in_f64(_pow)), "cbrt": (1, _cbrt), "nextafter": (2, _nextafter),
}

FUNCTIONS: dict[str, int] = {name: arity for name, (arity, _) in _IMPL.items()}
"""Every function ``emit`` knows, with its number of arguments (atan2(y, x), pow(x, y), nextafter(x, y))."""

WIDENED: frozenset[str] = frozenset(name for name, (_, impl) in _IMPL.items() if hasattr(impl, "impl"))
"""The functions whose float32 is computed in float64 (their algorithms need the extra precision)."""


def declare(module: ir.Module, name: str, ty: ir.Type) -> ir.Function:
    """The internal alwaysinline function computing ``name`` on ``ty``, added to ``module`` if missing."""
    fname = f"portax.math.{name}.{_mangle(ty)}"
    fn = module.globals.get(fname)
    if fn is None:
        arity, impl = _IMPL[name]
        fn = ir.Function(module, ir.FunctionType(ty, [ty] * arity), fname)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        builder = ir.IRBuilder(fn.append_basic_block("entry"))
        builder.ret(impl(_E(builder, ty), *fn.args))
    return fn


def emit(builder: ir.IRBuilder, name: str, args: list[ir.Value], ty: ir.Type) -> ir.Value:
    """Emit ``name(*args)`` on values of type ``ty`` (float/double or a vector of them) at ``builder``."""
    if len(args) != FUNCTIONS[name]:
        raise TypeError(f"{name} takes {FUNCTIONS[name]} argument(s), got {len(args)}")
    return builder.call(declare(builder.module, name, ty), args)
