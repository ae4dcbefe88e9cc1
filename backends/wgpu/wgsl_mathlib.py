"""The transcendental functions of cpu_llvm's ``mathlib`` as WGSL helper functions ``pxm_<name>_<f32|f64>``.

WGSL bounds its builtins' error only loosely (``log`` absolutely near 1, ``sin``/``cos`` absolutely on
[-pi, pi] and not at all beyond), and drivers use it: lavapipe's ``log(1 - 6e-8)`` is off by 6e6 ulp. So the
same algorithms as cpu_llvm's run here: ``mathlib`` is written against llvmlite's ``IRBuilder``, and
``_Builder`` implements the part of that interface it uses by writing WGSL ``let`` statements. One source of
Cody-Waite reductions and minimax polynomials; the same accuracy (tests/accuracy/test_ulp.py).

Drivers optimise float arithmetic algebraically (Mesa's NIR turns ``(1 + x) - 1`` into ``x`` and ``(a + b) - a``
into ``b``: WGSL has no way to mark an operation exact), which breaks the error-free steps these algorithms
rely on. So every float result passes through an XOR of its bits with ``pz``, a zero the compiler cannot
prove zero (1 only for one NaN input, whose result is that NaN anyway). WGSL's ``fma`` need not be fused
(lavapipe's is not), so the steps that need an unrounded product use Dekker's product (``fma_exact``).

float32 stays in 32-bit arithmetic (many devices have no f64): where cpu_llvm computes a float32 function in
float64 (erfc, lgamma, digamma, pow) the float64 algorithm runs in float32, and the trigonometric reduction
is ``pxm_rem_pio2_f32`` (Payne-Hanek in u32 arithmetic).
"""
from __future__ import annotations

import functools
import re

import numpy as np
from llvmlite import ir

from portax.backends.cpu_llvm import mathlib as M

from .wgsl_types import literal, wtype

_TYPES = {"float": "f32", "double": "f64", "i32": "i32", "i64": "i64", "i1": "bool", "<2 x float>": "vec2<f32>"}
_LITERAL_TYPES = {"float": wtype(np.float32), "double": wtype(np.float64), "i32": wtype(np.int32),
                  "i64": wtype(np.int64)}
_INTRINSICS = {"fma": "fma", "fabs": "abs", "floor": "floor", "rint": "round", "sqrt": "sqrt"}
_OPAQUE_ZERO = {"f32": ("u32", "select(0u, 1u, bitcast<u32>(x0) == 0x7fbadbadu)"),
                "f64": ("u64", "select(0lu, 1lu, bitcast<u64>(x0) == 0x7ff4badbadbadbadlu)")}
_TABLE = "portax.math.two_over_pi"


def _wgsl_type(ty: ir.Type) -> str:
    return _TYPES[str(ty)]


class _Val:
    """A WGSL value: a ``let`` name (or expression) and its llvmlite type."""

    def __init__(self, text: str, type: ir.Type):
        self.text, self.type = text, type


class _Builder:
    """The IRBuilder methods ``mathlib`` calls, each appending one ``let`` to ``lines``."""

    def __init__(self):
        self.module = ir.Module()
        self.lines: list[str] = []

    def text(self, v) -> str:
        if isinstance(v, ir.Constant):
            return literal(_LITERAL_TYPES[str(v.type)], v.constant)
        return v.text

    def let(self, ty: ir.Type, expr: str) -> _Val:
        name = f"v{len(self.lines)}"
        self.lines.append(f"  let {name}: {_wgsl_type(ty)} = {expr};")
        return _Val(name, ty)

    def opaque(self, ty: ir.Type, expr: str) -> _Val:
        """A float result the compiler cannot combine algebraically with later operations."""
        t = _wgsl_type(ty)
        u, _ = _OPAQUE_ZERO[t]
        return self.let(ty, f"bitcast<{t}>(bitcast<{u}>({expr}) ^ pz)")

    def _binary(self, op: str, a, b) -> _Val:
        return self.let(a.type, f"({self.text(a)} {op} {self.text(b)})")

    # floats
    def fadd(self, a, b): return self.opaque(a.type, f"({self.text(a)} + {self.text(b)})")
    def fsub(self, a, b): return self.opaque(a.type, f"({self.text(a)} - {self.text(b)})")
    def fmul(self, a, b): return self.opaque(a.type, f"({self.text(a)} * {self.text(b)})")
    def fdiv(self, a, b): return self.opaque(a.type, f"({self.text(a)} / {self.text(b)})")
    def fneg(self, a): return self.let(a.type, f"(-{self.text(a)})")

    def call(self, fn: ir.Function, args) -> _Val:
        op = fn.name.split(".")[1]
        a = [self.text(x) for x in args]
        if op == "copysign":
            u, sign = ("u64", "0x8000000000000000lu") if str(args[0].type) == "double" else ("u32", "0x80000000u")
            t = _wgsl_type(args[0].type)
            return self.let(args[0].type, f"bitcast<{t}>((bitcast<{u}>({a[0]}) & ~{sign}) | "
                                          f"(bitcast<{u}>({a[1]}) & {sign}))")
        return self.opaque(args[0].type, f"{_INTRINSICS[op]}({', '.join(a)})")

    def fcmp_ordered(self, op: str, a, b) -> _Val:
        return self.let(ir.IntType(1), f"({self.text(a)} {op} {self.text(b)})")

    def fcmp_unordered(self, op: str, a, b) -> _Val:
        if op == "uno":  # NaN from the bits: drivers fold x != x
            u, mask, inf = (("u64", "0x7fffffffffffffffl" + "u", "0x7ff0000000000000lu") if str(a.type) == "double"
                            else ("u32", "0x7fffffffu", "0x7f800000u"))
            return self.let(ir.IntType(1), f"((bitcast<{u}>({self.text(a)}) & {mask}) > {inf})")
        return self.let(ir.IntType(1), f"!({self.text(a)} {'==' if op == '!=' else op} {self.text(b)})")

    def select(self, cond, a, b) -> _Val:
        return self.let(a.type, f"select({self.text(b)}, {self.text(a)}, {self.text(cond)})")

    # integers and bools (``&``/``|`` serve both in WGSL)
    def add(self, a, b): return self._binary("+", a, b)
    def sub(self, a, b): return self._binary("-", a, b)
    def mul(self, a, b): return self._binary("*", a, b)
    def and_(self, a, b): return self._binary("&", a, b)
    def or_(self, a, b): return self._binary("|", a, b)

    def not_(self, a) -> _Val:
        return self.let(a.type, f"({'!' if str(a.type) == 'i1' else '~'}{self.text(a)})")

    def _amount(self, b) -> str:
        return f"{b.constant}u" if isinstance(b, ir.Constant) else f"u32({self.text(b)})"

    def shl(self, a, b): return self.let(a.type, f"({self.text(a)} << {self._amount(b)})")
    def ashr(self, a, b): return self.let(a.type, f"({self.text(a)} >> {self._amount(b)})")

    def lshr(self, a, b) -> _Val:
        t = _wgsl_type(a.type)
        u = "u64" if t == "i64" else "u32"
        return self.let(a.type, f"bitcast<{t}>(bitcast<{u}>({self.text(a)}) >> {self._amount(b)})")

    def icmp_signed(self, op: str, a, b) -> _Val:
        return self.let(ir.IntType(1), f"({self.text(a)} {op} {self.text(b)})")

    def icmp_unsigned(self, op: str, a, b) -> _Val:
        if str(a.type) == "i1":
            return self.icmp_signed(op, a, b)
        u = "u64" if _wgsl_type(a.type) == "i64" else "u32"
        return self.let(ir.IntType(1), f"(bitcast<{u}>({self.text(a)}) {op} bitcast<{u}>({self.text(b)}))")

    # conversions
    def bitcast(self, a, ty): return self.let(ty, f"bitcast<{_wgsl_type(ty)}>({self.text(a)})")
    def fptosi(self, a, ty): return self.let(ty, f"{_wgsl_type(ty)}({self.text(a)})")
    def sitofp(self, a, ty): return self.let(ty, f"{_wgsl_type(ty)}({self.text(a)})")
    def fpext(self, a, ty): return self.let(ty, f"f64({self.text(a)})")
    def fptrunc(self, a, ty): return self.let(ty, f"f32({self.text(a)})")
    def sext(self, a, ty): return self.let(ty, f"i64({self.text(a)})")

    def trunc(self, a, ty) -> _Val:
        return self.let(ty, f"bitcast<i32>(u32(bitcast<u64>({self.text(a)}) & 0xfffffffflu))")

    # the 2/pi table of the float64 trig reduction: ``pxm_two_over_pi(i)`` (a helper block of its own)
    def gep(self, table, indices) -> tuple:
        assert table.name == _TABLE, table.name
        return indices[1]

    def load(self, index, typ) -> _Val:
        return self.let(typ, f"pxm_two_over_pi(u32({self.text(index)}))")


class _Emitter(M._E):
    """``mathlib``'s emitter on a ``_Builder``; float32 runs the float64-designed algorithms in float32."""

    def __init__(self, b: _Builder, ty: ir.Type):
        super().__init__(b, ty)
        if self.key == "f32":
            self.p = {**M._P["f64"], **M._P["f32"]}

    def coeffs(self, table: dict):
        return table.get(self.key) or table["f64"]

    def fma_exact(self, a, b, c):
        """a * b + c with the product's rounding error added back (Dekker's product, Veltkamp's split)."""
        p = self.mul(a, b)
        (ah, al), (bh, bl) = self._split(a), self._split(b)
        err = self.add(self.add(self.add(self.sub(self.mul(ah, bh), p), self.mul(ah, bl)), self.mul(al, bh)),
                       self.mul(al, bl))
        err = self.sel(self.lt(self.fabs(err), self.c(float("inf"))), err, self.c(0.0))  # split overflowed
        return self.add(self.add(p, c), err)

    def _split(self, a) -> tuple:
        t = self.mul(a, self.c(2.0 ** (self.p["mbits"] // 2 + 1) + 1))
        hi = self.sub(t, self.sub(t, a))
        return hi, self.sub(a, hi)

    def reduce_trig(self, x):
        if self.key == "f64":
            return super().reduce_trig(x)
        rq = self.b.let(ir.VectorType(self.ty, 2), f"pxm_rem_pio2_f32({self.b.text(x)})")
        r = _Val(f"{rq.text}.x", self.ty)
        q = self.b.let(self.i32, f"i32({rq.text}.y)")
        return r, q, self.lt(self.fabs(x), self.c(float("inf")))



def function(name: str, ftype: str) -> str:
    """WGSL source of ``pxm_<name>_<ftype>``, computing mathlib's ``name``."""
    arity, impl = M._IMPL[name]
    ty = ir.FloatType() if ftype == "f32" else ir.DoubleType()
    if ftype == "f32":
        impl = getattr(impl, "impl", impl)
    b = _Builder()
    b.lines.append(f"  let pz = {_OPAQUE_ZERO[ftype][1]};")
    params = [_Val(f"x{i}", ty) for i in range(arity)]
    out = impl(_Emitter(b, ty), *params)
    signature = ", ".join(f"x{i}: {ftype}" for i in range(arity))
    return "\n".join([f"fn pxm_{name}_{ftype}({signature}) -> {ftype} {{", *b.lines,
                      f"  return {b.text(out)};", "}"])


def _two_over_pi_words(count: int) -> list[int]:
    """32-bit words of the binary fraction of 2/pi after one zero word: word k holds bits 32(k-1)+1 .. 32k."""
    bits = 32 * count
    pi = M._pi_fixed(bits + 64)
    t = (1 << (2 * bits + 65)) // pi  # 2/pi * 2**bits
    return [0] + [(t >> (bits - 32 * k)) & 0xFFFFFFFF for k in range(1, count)]


# x = q pi/2 + r for float32 x, |r| <= pi/4: Payne-Hanek with a 96-bit window of 2/pi (x = m 2**e, m < 2**24;
# the bits of 2/pi worth 2**(e - i) >= 4 times m drop out mod 4), products in 16-bit halves.
REM_PIO2_F32 = """fn pxm_mul_wide(a: u32, b: u32) -> vec2<u32> {
  let ll = (a & 0xffffu) * (b & 0xffffu);
  let lh = (a & 0xffffu) * (b >> 16u);
  let hl = (a >> 16u) * (b & 0xffffu);
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return vec2<u32>((mid << 16u) | (ll & 0xffffu), (a >> 16u) * (b >> 16u) + (lh >> 16u) + (hl >> 16u) + (mid >> 16u));
}
fn pxm_window(w: u32, sh: u32) -> u32 {
  if (sh == 0u) { return pxm_two_over_pi_u32[w]; }
  return (pxm_two_over_pi_u32[w] << sh) | (pxm_two_over_pi_u32[w + 1u] >> (32u - sh));
}
fn pxm_rem_pio2_f32(x: f32) -> vec2<f32> {
  let a = abs(x);
  if (!(a >= 0.78539816f) || a > 3.4028235e38f) { return vec2<f32>(x, 0.0); }
  let bits = bitcast<u32>(a);
  let m = (bits & 0x7fffffu) | 0x800000u;
  let p = (bits >> 23u) - 150u + 30u;  // window start s = e - 1, as a bit offset past the zero word
  let w = p / 32u;
  let sh = p % 32u;
  let p0 = pxm_mul_wide(m, pxm_window(w + 2u, sh));
  let p1 = pxm_mul_wide(m, pxm_window(w + 1u, sh));
  let l1 = p1.x + p0.y;
  let l2 = pxm_window(w, sh) * m + p1.y + select(0u, 1u, l1 < p0.y);
  // v = (l2:l1:l0) / 2**94 mod 4: quadrant in the top two bits, the fraction below, rounded to nearest
  var f2 = (l2 << 2u) | (l1 >> 30u);
  var f1 = (l1 << 2u) | (p0.x >> 30u);
  var f0 = p0.x << 2u;
  var q = l2 >> 30u;
  let neg = f2 >= 0x80000000u;
  if (neg) {
    q = q + 1u;
    f0 = ~f0 + 1u;
    f1 = ~f1 + select(0u, 1u, f0 == 0u);
    f2 = ~f2 + select(0u, 1u, f0 == 0u && f1 == 0u);
  }
  // fraction = hi + lo (hi = f2 rounded, exactly; lo the rest): r = fraction * pi/2 with two-part pi/2
  let hi = f32(f2);
  let h = hi * 2.3283064365386963e-10;
  let lo = f32(i32(f2 - u32(hi))) * 2.3283064365386963e-10 + f32(f1) * 5.421010862427522e-20 +
      f32(f0) * 1.2621774483536189e-29;
  var r = fma(h, 1.5707964f, fma(h, -4.371139e-08f, lo * 1.5707964f));
  if (neg) { r = -r; }
  if (x < 0.0) { r = -r; q = 4u - (q & 3u); }
  return vec2<f32>(r, f32(q & 3u));
}"""


# Entry i of mathlib's float64 table (``_two_over_pi_table``), made from the bits of 2/pi: for E = e0 + i / chunks,
# the 53 bits of 2/pi from bit max(E - 1, 1) + 53 (i % chunks) on, times 2**(E - last bit).
TWO_OVER_PI_F64 = """fn pxm_two_over_pi(i: u32) -> f64 {{
  let big_e = i32(i / {chunks}u) + ({e0});
  let first = u32(max(big_e - 1, 1)) + 53u * (i % {chunks}u);
  let p = first - 1u;
  let w = p / 32u;
  let sh = p % 32u;
  var top = (u64(pxm_two_over_pi_bits[w]) << 32u) | u64(pxm_two_over_pi_bits[w + 1u]);
  if (sh != 0u) {{ top = (top << sh) | u64(pxm_two_over_pi_bits[w + 2u] >> (32u - sh)); }}
  return ldexp(f64(top >> 11u), big_e - i32(first + 52u));
}}"""


@functools.cache
def block(fn: str) -> tuple[str, str | None]:
    """(key, source) of the helper block defining WGSL function ``fn`` (source None if not ours), made on
    first use: the float64 reduction's table alone is 4000 constants."""
    if fn in ("pxm_rem_pio2_f32", "pxm_mul_wide", "pxm_window"):
        words = _two_over_pi_words(10)
        table = ", ".join(f"{w:#010x}u" for w in words)
        return "pxm_rem_pio2_f32", (f"var<private> pxm_two_over_pi_u32: array<u32, {len(words)}> = "
                                    f"array<u32, {len(words)}>({table});\n" + REM_PIO2_F32)
    if fn == "pxm_two_over_pi":
        words = _two_over_pi_words(40)[1:]
        table = ", ".join(f"{w:#010x}u" for w in words)
        return fn, (f"var<private> pxm_two_over_pi_bits: array<u32, {len(words)}> = "
                    f"array<u32, {len(words)}>({table});\n" + TWO_OVER_PI_F64.format(e0=M._BIG_E0, chunks=M._CHUNKS))
    m = re.fullmatch(r"pxm_(\w+)_(f32|f64)", fn)
    if m is None or m.group(1) not in M.FUNCTIONS:
        return fn, None
    return fn, function(m.group(1), m.group(2))
