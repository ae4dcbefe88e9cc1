"""The dtype table of the WGSL renderer: storage types, register types, loads, stores and literals.

A value lives in a buffer as its *storage* type (bool and 8/16-bit integers as one 32-bit word per
element, see ``buffers``) and in registers as its *register* type: ``f16`` is computed in ``f32`` and
rounded to ``f16`` after every operation (what numpy does for float16), 8/16-bit integers are computed
in ``i32``/``u32`` and wrapped to their width after every operation, ``bool`` is a WGSL ``bool``.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .runtime import WGSL_TYPES

NAN_BITS = {2: 0x7E00, 4: 0x7FC00000, 8: 0x7FF8000000000000}
INF_BITS = {2: 0x7C00, 4: 0x7F800000, 8: 0x7FF0000000000000}


@dataclasses.dataclass(frozen=True)
class WType:
    """How one numpy dtype is stored and computed in WGSL."""

    dtype: np.dtype
    storage: str  # element type of its buffers
    reg: str  # type of values in registers
    kind: str  # numpy kind: "f", "i", "u", "b"
    bits: int  # logical bit width

    @property
    def is_float(self) -> bool:
        return self.kind == "f"

    @property
    def is_64(self) -> bool:
        return self.bits == 64

    @property
    def is_narrow(self) -> bool:
        """An 8/16-bit integer kept in a 32-bit register."""
        return self.kind in "iu" and self.bits < 32

    @property
    def mask(self) -> str:
        """The u32 mask of a narrow integer's bits."""
        return f"{(1 << self.bits) - 1:#x}u"

    @property
    def uint(self) -> str:
        """The unsigned register type of the same width (for bit manipulation)."""
        return "u64" if self.is_64 else "u32"

    @property
    def sint(self) -> str:
        return "i64" if self.is_64 else "i32"


def wtype(dtype) -> WType:
    """The table entry of ``dtype``; ``NotImplementedError`` for dtypes WGSL has no type for."""
    dtype = np.dtype(dtype)
    if dtype not in WGSL_TYPES:
        raise NotImplementedError(f"wgpu backend: dtype {dtype.name} has no WGSL type (supported: "
                                  f"{', '.join(sorted(d.name for d in WGSL_TYPES))})")
    storage = WGSL_TYPES[dtype][0]
    reg = {"f16": "f32"}.get(storage, storage)
    if dtype.kind == "b":
        reg = "bool"
    return WType(dtype, storage, reg, dtype.kind, 1 if dtype.kind == "b" else dtype.itemsize * 8)


def load(t: WType, ref: str) -> str:
    """A register value from the storage element ``ref`` (e.g. ``b0[i]``)."""
    if t.kind == "b":
        return f"({ref} != 0u)"
    if t.storage == "f16":
        return f"f32({ref})"
    return ref


def store(t: WType, value: str) -> str:
    """The storage representation of a register value."""
    if t.kind == "b":
        return f"select(0u, 1u, {value})"
    if t.storage == "f16":
        return f"f16({value})"
    return value


def round_reg(t: WType, value: str) -> str:
    """Fit a freshly computed register value to the dtype: f16 values (computed in f32) are rounded,
    8/16-bit integers wrapped to their width (sign-extended for signed ones)."""
    if t.storage == "f16":
        return f"f32(f16({value}))"
    if t.is_narrow:
        if t.kind == "u":
            return f"(({value}) & {t.mask})"
        shift = f"{32 - t.bits}u"
        return f"((({value}) << {shift}) >> {shift})"
    return value


def bits_literal(bits: int, width: int) -> str:
    return f"{bits:#x}lu" if width == 64 else f"{bits:#x}u"


def literal(t: WType, value) -> str:
    """A WGSL expression for the scalar ``value`` of dtype ``t`` (exact; NaN/Inf through ``from_bits``)."""
    v = np.asarray(value).astype(t.dtype)[()]
    if t.kind == "b":
        return "true" if bool(v) else "false"
    if t.kind in "iu":
        iv = int(v)
        if t.is_64:
            if iv == -2 ** 63:
                return "(-9223372036854775807li - 1li)"
            return f"{iv}li" if t.kind == "i" else f"{iv}lu"
        if t.kind == "i":
            return f"i32({iv})" if iv != -2 ** 31 else "i32(-2147483647 - 1)"
        return f"{iv}u"
    fv = float(v)
    if not math.isfinite(fv) or (fv == 0 and math.copysign(1, fv) < 0):
        return special_float(t, fv)
    if t.is_64:
        return f"{fv!r}lf"
    text = repr(float(np.float32(v))) if t.storage != "f16" else repr(float(v))
    return f"f32({text})"


def special_float(t: WType, value: float) -> str:
    """NaN, +-Inf or -0.0 of float type ``t``, computed at run time (WGSL forbids them as constants)."""
    nbytes = 8 if t.is_64 else 4
    if math.isnan(value):
        bits = NAN_BITS[nbytes]
    elif math.isinf(value):
        bits = INF_BITS[nbytes] | ((1 << (nbytes * 8 - 1)) if value < 0 else 0)
    else:
        bits = 1 << (nbytes * 8 - 1)
    fn = "f64_from_bits" if t.is_64 else "f32_from_bits"
    return f"{fn}({bits_literal(bits, nbytes * 8)})"


def lowest(t: WType) -> str:
    """The identity of max: -inf for floats, the minimum for integers, false for bool."""
    if t.kind == "f":
        return special_float(t, -math.inf)
    if t.kind == "b":
        return "false"
    return literal(t, np.iinfo(t.dtype).min)


def highest(t: WType) -> str:
    if t.kind == "f":
        return special_float(t, math.inf)
    if t.kind == "b":
        return "true"
    return literal(t, np.iinfo(t.dtype).max)


def zero(t: WType) -> str:
    return literal(t, 0)


def one(t: WType) -> str:
    return literal(t, 1)


def is_nan(t: WType, x: str) -> str:
    """NaN test from the bit pattern (``x != x`` is folded to false by some drivers)."""
    if t.is_64:
        return f"((bitcast<u64>({x}) & 0x7ffffffffffffffflu) > 0x7ff0000000000000lu)"
    return f"((bitcast<u32>({x}) & 0x7fffffffu) > 0x7f800000u)"


def positive_zero(t: WType, x: str) -> str:
    """A float register value with -0.0 made +0.0, from the bits: a sum starts from +0.0 (so it is
    never -0.0), but drivers fold ``0.0 + x`` to ``x``; a float comparison could be folded the same way."""
    if t.kind != "f":
        return x
    u, sign, nought = ("u64", "0x8000000000000000lu", "0lu") if t.reg == "f64" else ("u32", "0x80000000u", "0u")
    return f"bitcast<{t.reg}>(select(bitcast<{u}>({x}), {nought}, bitcast<{u}>({x}) == {sign}))"


# Helper functions any kernel may call; the renderer includes the ones a kernel's source mentions.
BIT_HELPERS = {
    "f32_from_bits": "fn f32_from_bits(b: u32) -> f32 { return bitcast<f32>(b); }",
    "f64_from_bits": "fn f64_from_bits(b: u64) -> f64 { return bitcast<f64>(b); }",
}
