"""Narrow floats (bfloat16, the float8 types, float16) on backends that do not compute in them: ``lower``
rewrites a jaxpr so that such values are stored as unsigned integers of their width (uint16, uint8) and
computed in float32, as XLA does on the CPU.

Equations that only move data (reshape, slice, gather, select_n, ...) act on the stored integers; any
other equation gets its narrow operands widened to float32 (integer and bit operations: exact), runs in
float32, and its narrow results rounded back to nearest even (NaN kept, overflow to inf, or to NaN for the
formats without inf, subnormals exact: bit for bit what ``ml_dtypes`` casts give). float64 values are
rounded to float32 by round-to-odd first, so that they round once. Calls are inlined; cond, while and
scan get lowered bodies. Arrays of those dtypes live on such a backend as their storage integers
(``core.array`` views host data as them), so executables take and return the same buffers.

The sub-byte integers (int2, uint2, int4, uint4) go the same way: stored as uint8 holding their bits (the host
layout of ``ml_dtypes``), computed in int32 (signed, sign-extended) or uint32, and wrapped to their width on
store; conversions from floats saturate, as to the other integers.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import numpy as np

from . import dtypes
from .ir import ClosedJaxpr, Jaxpr, Literal, ShapedArray, iter_eqns, subjaxprs
from .primitives import (call, callbacks, custom_derivatives as cd, elementwise as ew,
                         indexing as ix, structural as st)
from .trace import Primitive, get_aval

NARROW = (dtypes.float16,) + dtypes.CUSTOM_FLOATS + dtypes.INTN  # dtypes a backend may compute in, or not
_NARROW_SET = frozenset(NARROW)
_INTN = frozenset(dtypes.INTN)
_F32 = dtypes.float32
_U32 = dtypes.uint32
_I32 = dtypes.int32


@dataclasses.dataclass(frozen=True)
class Format:
    """The bit layout of a narrow float: ``flavor`` is "ieee" (inf and NaNs), "fn" (no inf, NaN all ones),
    "fnuz" (no inf, no -0, NaN is 0x80) or "e8m0" (exponent only, no sign, no zero, NaN 0xff)."""

    bits: int
    mant: int
    bias: int
    flavor: str

    @property
    def storage(self) -> np.dtype:
        return dtypes.uint16 if self.bits == 16 else dtypes.uint8

    @property
    def exp_mask(self) -> int:
        return (1 << (self.bits - 1 - self.mant)) - 1


@functools.lru_cache(None)
def fmt(dtype) -> Format:
    """The layout of a narrow float dtype."""
    d = np.dtype(dtype)
    if d == dtypes.float8_e8m0fnu:
        return Format(8, 0, 127, "e8m0")
    info = dtypes.finfo(d)
    flavor = "fnuz" if d.name.endswith("fnuz") else "fn" if d.name.endswith("fn") else "ieee"
    return Format(8 * d.itemsize, int(info.nmant), 1 - int(info.minexp), flavor)


def storage_dtype(dtype) -> np.dtype:
    """The unsigned integer dtype a narrow float or sub-byte integer is stored as."""
    return dtypes.uint8 if np.dtype(dtype) in _INTN else fmt(dtype).storage


def storage_bits(host: np.ndarray) -> np.ndarray:
    """A host array of a narrow dtype as its storage integers; a sub-byte integer's byte keeps only its low bits
    (``ml_dtypes`` ignores the others, which may hold anything in an array made by ``view``)."""
    bits = host.view(storage_dtype(host.dtype))
    return bits & np.uint8((1 << dtypes.iinfo(host.dtype).bits) - 1) if host.dtype in _INTN else bits


def compute_dtype(dtype) -> np.dtype:
    """The dtype a narrow value is computed in: float32, or int32/uint32 for the sub-byte integers."""
    d = np.dtype(dtype)
    return (dtypes.uint32 if dtypes.is_unsigned(d) else _I32) if d in _INTN else _F32


def emulated(backend: Any) -> frozenset:
    """The narrow float dtypes ``backend`` does not compute in (it does not list them among its dtypes)."""
    return frozenset(d for d in NARROW if d not in backend.capabilities.dtypes)


def has_narrow(jaxpr: Jaxpr, narrow: frozenset) -> bool:
    """Whether any value of ``jaxpr`` (at any depth) has a dtype in ``narrow``."""
    if any(v.aval.dtype in narrow for v in jaxpr.in_binders + jaxpr.constvars + jaxpr.outs):
        return True
    return any(v.aval.dtype in narrow for e in iter_eqns(jaxpr) for v in list(e.inputs) + list(e.out_binders))


def stored_aval(a: ShapedArray, narrow: frozenset) -> ShapedArray:
    return a.update(dtype=storage_dtype(a.dtype), weak_type=False) if a.dtype in narrow else a


# --- conversions, in lax operations ------------------------------------------------------------------------
def _c(like: Any, val: int) -> Any:
    """``val`` in the dtype and shape of ``like``."""
    return st.broadcast_in_dim(ew._const(like, val), get_aval(like).shape, ())


def _u32(x: Any) -> Any:
    return ew.convert_element_type(x, _U32)


def _bits(dtype) -> int:
    return int(dtypes.iinfo(dtype).bits)


def widen(x: Any, dtype) -> Any:
    """Stored bits ``x`` of a ``dtype`` value -> that value in ``compute_dtype(dtype)`` (exact)."""
    if np.dtype(dtype) in _INTN:
        w = ew.convert_element_type(x, compute_dtype(dtype))
        if dtypes.is_unsigned(dtype):
            return w
        sh = _c(w, 32 - _bits(dtype))  # sign-extend: the sign bit up to bit 31 and arithmetically back
        return ew.shift_right_arithmetic(ew.shift_left(w, sh), sh)
    f = fmt(dtype)
    b = _u32(x)
    if f.bits == 16 and f.mant == 7:  # bfloat16: the high half of a float32
        return ew.bitcast_convert_type(ew.shift_left(b, _c(b, 16)), _F32)
    if f.flavor == "e8m0":  # 2**(e - 127); e = 0 is 2**-127 (a float32 subnormal), 0xff NaN
        bits = ew.select(ew.eq(b, _c(b, 0)), _c(b, 0x400000), ew.shift_left(b, _c(b, 23)))
        return ew.bitcast_convert_type(ew.select(ew.eq(b, _c(b, 0xFF)), _c(b, 0x7FC00000), bits), _F32)
    sh = 23 - f.mant
    sign = ew.shift_right_logical(b, _c(b, f.bits - 1))
    e = ew.bitwise_and(ew.shift_right_logical(b, _c(b, f.mant)), _c(b, f.exp_mask))
    m = ew.bitwise_and(b, _c(b, (1 << f.mant) - 1))
    normal = ew.bitwise_or(ew.shift_left(ew.add(e, _c(e, 127 - f.bias)), _c(e, 23)), ew.shift_left(m, _c(m, sh)))
    mf = ew.convert_element_type(m, _F32)
    sub = ew.mul(mf, _c(mf, 2.0 ** (1 - f.bias - f.mant)))
    mag = ew.select(ew.eq(e, _c(e, 0)), ew.bitcast_convert_type(sub, _U32), normal)
    if f.flavor == "ieee":  # NaN payloads: kept by float16 (as numpy), not by ml_dtypes' float8 types
        nan = ew.shift_left(m, _c(m, sh)) if f.mant == 10 else _c(m, 0x400000)
        special = ew.select(ew.eq(m, _c(m, 0)), _c(m, 0x7F800000), ew.bitwise_or(_c(m, 0x7F800000), nan))
        mag = ew.select(ew.eq(e, _c(e, f.exp_mask)), special, mag)
    elif f.flavor == "fn":
        mag = ew.select(ew.eq(ew.bitwise_and(b, _c(b, 0x7F)), _c(b, 0x7F)), _c(b, 0x7FC00000), mag)
    else:  # fnuz: 0x80 is NaN (-NaN in float32, as ml_dtypes)
        mag = ew.select(ew.eq(b, _c(b, 0x80)), _c(b, 0x7FC00000), mag)
    return ew.bitcast_convert_type(ew.bitwise_or(mag, ew.shift_left(sign, _c(sign, 31))), _F32)


def _rne_shift(v: Any, s: Any) -> Any:
    """``v >> s`` rounded to nearest even (uint32 ``v``; ``1 <= s <= 25``, elementwise)."""
    one = _c(v, 1)
    q = ew.shift_right_logical(v, s)
    rem = ew.bitwise_and(v, ew.sub(ew.shift_left(one, s), one))
    half = ew.shift_left(one, ew.sub(s, one))
    up = ew.bitwise_or(ew.gt(rem, half), ew.bitwise_and(ew.eq(rem, half), ew.eq(ew.bitwise_and(q, one), one)))
    return ew.add(q, ew.convert_element_type(up, _U32))


def narrow(x: Any, dtype) -> Any:
    """float32 ``x`` -> the stored bits of ``x`` rounded to ``dtype`` (nearest even, as ``ml_dtypes``); for a
    sub-byte integer ``dtype``, int32/uint32 ``x`` wrapped to its width."""
    if np.dtype(dtype) in _INTN:
        u = _u32(x)
        return ew.convert_element_type(ew.bitwise_and(u, _c(u, (1 << _bits(dtype)) - 1)), dtypes.uint8)
    f = fmt(dtype)
    u = ew.bitcast_convert_type(x, _U32)
    a = ew.bitwise_and(u, _c(u, 0x7FFFFFFF))
    sign = ew.shift_right_logical(u, _c(u, 31))
    is_nan = ew.gt(a, _c(a, 0x7F800000))
    if f.flavor == "e8m0":
        return ew.convert_element_type(_narrow_e8m0(u, a, is_nan), f.storage)
    sh = 23 - f.mant
    # results that are normal: re-bias the exponent in place and round the low ``sh`` bits away
    t = ew.sub(a, _c(a, (127 - f.bias) << 23))
    r_normal = ew.shift_right_logical(
        ew.add(ew.add(t, _c(t, (1 << (sh - 1)) - 1)), ew.bitwise_and(ew.shift_right_logical(t, _c(t, sh)), _c(t, 1))),
        _c(t, sh))
    # subnormal results: the significand shifted right by how far the exponent is below the smallest normal
    e = ew.shift_right_logical(a, _c(a, 23))
    sig = ew.bitwise_or(ew.bitwise_and(a, _c(a, 0x7FFFFF)),
                        ew.select(ew.eq(e, _c(e, 0)), _c(a, 0), _c(a, 0x800000)))
    s = ew.clamp(_c(e, 1), ew.sub(_c(e, 151 - f.bias - f.mant), ew.max(e, _c(e, 1))), _c(e, 25))
    r_sub = _rne_shift(sig, s)
    r = ew.select(ew.ge(a, _c(a, (128 - f.bias) << 23)), r_normal, r_sub)
    inf_code = f.exp_mask << f.mant
    top = 1 << (f.bits - 1)
    if f.flavor == "ieee":
        r = ew.min(r, _c(r, inf_code))
        nan = _c(r, inf_code | (1 << (f.mant - 1)))
        if f.mant == 10:  # float16 keeps the payload's high bits, quiet (as the hardware conversion)
            nan = ew.bitwise_or(nan, ew.shift_right_logical(ew.bitwise_and(a, _c(a, 0x7FFFFF)), _c(a, sh)))
        r = ew.select(is_nan, nan, r)
        r = ew.bitwise_or(r, ew.shift_left(sign, _c(sign, f.bits - 1)))
    elif f.flavor == "fn":  # overflow and inf are NaN: all ones
        r = ew.select(ew.bitwise_or(is_nan, ew.ge(r, _c(r, top - 1))), _c(r, top - 1), r)
        r = ew.bitwise_or(r, ew.shift_left(sign, _c(sign, f.bits - 1)))
    else:  # fnuz: overflow, inf and NaN are 0x80; a zero result is +0
        bad = ew.bitwise_or(is_nan, ew.ge(r, _c(r, top)))
        r = ew.select(ew.eq(r, _c(r, 0)), r, ew.bitwise_or(r, ew.shift_left(sign, _c(sign, f.bits - 1))))
        r = ew.select(bad, _c(r, top), r)
    return ew.convert_element_type(r, f.storage)


def _narrow_e8m0(u: Any, a: Any, is_nan: Any) -> Any:
    """float8_e8m0fnu: the exponent rounded half up (below 2**-126, to 2**-127 or 2**-126); NaN for NaN, inf,
    zero and negative values."""
    r = ew.select(ew.lt(a, _c(a, 0x800000)), ew.convert_element_type(ew.ge(a, _c(a, 0x600000)), _U32),
                  ew.shift_right_logical(ew.add(a, _c(a, 1 << 22)), _c(a, 23)))
    r = ew.min(r, _c(r, 0xFF))
    bad = ew.bitwise_or(is_nan, ew.bitwise_or(ew.eq(a, _c(a, 0x7F800000)), ew.ne(u, a)))
    return ew.select(ew.bitwise_or(bad, ew.eq(a, _c(a, 0))), _c(r, 0xFF), r)


def _f64_to_f32_odd(x: Any) -> Any:
    """float64 -> float32 rounded to odd, so that a second rounding to a narrower float is exact."""
    y = ew.convert_element_type(x, _F32)
    back = ew.convert_element_type(y, dtypes.float64)
    yb = ew.bitcast_convert_type(y, _U32)
    over = ew.gt(ew.abs(back), ew.abs(x))
    yb = ew.select(over, ew.sub(yb, _c(yb, 1)), yb)
    inexact = ew.bitwise_and(ew.ne(back, x), ew.eq(x, x))
    return ew.bitcast_convert_type(ew.bitwise_or(yb, ew.convert_element_type(inexact, _U32)), _F32)


def _to_float32(x: Any, dtype, narrow_set: frozenset) -> Any:
    """A value of ``dtype`` (stored bits if it is in ``narrow_set``) as float32, for rounding once more."""
    d = np.dtype(dtype)
    if d in narrow_set:
        w = widen(x, d)
        return w if d not in _INTN else ew.convert_element_type(w, _F32)
    if d == dtypes.float64:
        return _f64_to_f32_odd(x)
    return ew.convert_element_type(x, _F32)


# --- the rewrite --------------------------------------------------------------------------------------------
def lower(closed: ClosedJaxpr, narrow_set: frozenset) -> ClosedJaxpr:
    """``closed`` with values of the dtypes in ``narrow_set`` stored as unsigned integers (module doc)."""
    from .interpreters.staging import trace_to_jaxpr
    jaxpr = closed.jaxpr
    consts = [_stored_const(c, narrow_set) for c in closed.consts]
    out, new_consts = trace_to_jaxpr(lambda *args: evaluate(jaxpr, consts, list(args), narrow_set),
                                     [stored_aval(v.aval, narrow_set) for v in jaxpr.in_binders])
    return ClosedJaxpr(out, new_consts)


def _stored_const(c: Any, narrow_set: frozenset) -> Any:
    """A constant with narrow floats as their stored bits (a device array stored so is not copied)."""
    from .array import Array
    if type(c) is Array and c.aval.dtype in narrow_set:
        if is_stored(c.aval.dtype, c._device.backend):
            return Array(c._buf, stored_aval(c.aval, narrow_set), c._device)
        c = c._value()
    v = np.asarray(c) if not hasattr(c, "aval") else None
    return storage_bits(v) if v is not None and v.dtype in narrow_set else c


MOVES: frozenset = frozenset(p for p in st.STRUCTURAL if p is not st.iota_p) | {ew.select_n_p, ix.gather_p,
                                                                                    ix.scatter_p}
_CALL_BODIES = {call.pjit_p: "jaxpr", call.checkpoint_p: "jaxpr", cd.custom_jvp_call_p: "call_jaxpr",
                cd.custom_vjp_call_p: "call_jaxpr"}


def evaluate(jaxpr: Jaxpr, consts: list, args: list, narrow_set: frozenset) -> list:
    """Interpret ``jaxpr`` with narrow values as their stored bits, binding primitives to the current trace."""
    env: dict = {}

    def read(x):
        if type(x) is Literal:
            return _stored_const(np.asarray(x.val, x.aval.dtype), narrow_set) if x.aval.dtype in narrow_set \
                else x.val
        return env[x]
    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.in_binders, args))
    for eqn in jaxpr.eqns:
        ins = [read(x) for x in eqn.inputs]
        values = list(eqn.inputs) + list(eqn.out_binders)
        touches = any(v.aval.dtype in narrow_set for v in values) or \
            any(has_narrow(j, narrow_set) for j in subjaxprs(eqn.params))
        if not touches:
            outs = eqn.primitive.bind(*ins, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
        else:
            outs = _rule(eqn.primitive)(eqn, ins, narrow_set)
        env.update(zip(eqn.out_binders, outs))
    return [read(x) for x in jaxpr.outs]


def _rule(p: Primitive) -> Callable:
    if p in MOVES:
        return _move
    if p in _CALL_BODIES:
        return _inline
    return _SPECIAL.get(p) or _compute


def _bind(eqn, ins: list, params: dict) -> list:
    outs = eqn.primitive.bind(*ins, **params)
    return outs if eqn.primitive.multiple_results else [outs]


def _move(eqn, ins: list, narrow_set: frozenset) -> list:
    """Data movement acts on the stored bits."""
    return _bind(eqn, ins, eqn.params)


def _wide_param(v: Any, narrow_set: frozenset) -> Any:
    return compute_dtype(v) if isinstance(v, np.dtype) and v in narrow_set else v


def _compute(eqn, ins: list, narrow_set: frozenset) -> list:
    """Widen narrow operands, compute in their compute dtype, round (or wrap) narrow results."""
    if any(True for _ in subjaxprs(eqn.params)):
        return _nested(eqn, ins, narrow_set)
    wide = [widen(x, v.aval.dtype) if v.aval.dtype in narrow_set else x for x, v in zip(ins, eqn.inputs)]
    outs = _bind(eqn, wide, {k: _wide_param(v, narrow_set) for k, v in eqn.params.items()})
    return [narrow(o, v.aval.dtype) if v.aval.dtype in narrow_set else o for o, v in zip(outs, eqn.out_binders)]


def _convert(eqn, ins: list, narrow_set: frozenset) -> list:
    """To a narrow float: rounded once from float32 (float64 through round-to-odd; integers through float32, as
    XLA); from one: widened, then converted."""
    (x,), (src, out) = ins, (eqn.inputs[0].aval.dtype, eqn.out_binders[0].aval.dtype)
    if out in _INTN:
        return [narrow(_to_int(x, src, out, narrow_set), out)]
    if out in narrow_set:
        return [narrow(_to_float32(x, src, narrow_set), out)]
    return [ew.convert_element_type(widen(x, src), out, weak_type=eqn.params["weak_type"])]


def _to_int(x: Any, src, out, narrow_set: frozenset) -> Any:
    """A ``src`` value in the compute dtype of the sub-byte integer ``out``: from floats saturated to ``out``'s
    range (as float to integer conversions), from integers wrapped later by ``narrow``."""
    v = ew.convert_element_type(widen(x, src) if src in narrow_set else x, compute_dtype(out))
    if dtypes.kind(src) != "f":
        return v
    info = dtypes.iinfo(out)
    return ew.clamp(_c(v, int(info.min)), v, _c(v, int(info.max)))


def _int_bits_op(eqn, ins: list, narrow_set: frozenset) -> list:
    """shift_right_logical, population_count, clz of sub-byte integers: on their bits zero-extended."""
    dt = eqn.inputs[0].aval.dtype
    if dt not in _INTN:
        return _compute(eqn, ins, narrow_set)
    wide = [ew.convert_element_type(x, compute_dtype(dt)) for x in ins]
    out = _bind(eqn, wide, eqn.params)[0]
    if eqn.primitive is ew.clz_p:
        out = ew.sub(out, _c(out, 32 - _bits(dt)))
    return [narrow(out, dt)]


def _bitcast(eqn, ins: list, narrow_set: frozenset) -> list:
    new = eqn.params["new_dtype"]
    return _bind(eqn, ins, {"new_dtype": storage_dtype(new) if new in narrow_set else new})


def _callback(eqn, ins: list, narrow_set: frozenset) -> list:
    """A host callback sees narrow values as themselves; they cross as the stored bits."""
    in_dtypes = [x.aval.dtype for x in eqn.inputs]
    avals = eqn.params.get("result_avals", ())
    decode = lambda args: [a.view(d) if d in narrow_set else a for a, d in zip(args, in_dtypes)]
    encode = lambda outs: [storage_bits(o) if o.dtype in narrow_set else o for o in outs]
    stored = [stored_aval(a, narrow_set) for a in avals]
    return _bind(eqn, ins, callbacks.repacked_params(eqn, decode, encode, stored))


def _nextafter(eqn, ins: list, narrow_set: frozenset) -> list:
    """The neighbour of ``x`` towards ``y`` in the narrow format: one step of its sign-magnitude bits."""
    x, y = ins
    dt = eqn.inputs[0].aval.dtype
    f = fmt(dt)
    xf, yf = widen(x, dt), widen(y, dt)
    b = _u32(x)
    one = _c(b, 1)
    if f.flavor == "e8m0":  # no sign: codes grow with the value
        r = ew.select(ew.lt(xf, yf), ew.add(b, one), ew.sub(b, one))
    else:
        away = ew.eq(ew.lt(xf, yf), ew.gt(xf, _c(xf, 0.0)))
        r = ew.select(away, ew.add(b, one), ew.sub(b, one))
        y_sign = ew.bitwise_and(_u32(y), _c(b, 1 << (f.bits - 1)))
        r = ew.select(ew.eq(xf, _c(xf, 0.0)), ew.bitwise_or(y_sign, one), r)
        if f.flavor == "fnuz":  # stepping from -smallest to zero gives +0 (0x80 is NaN)
            r = ew.select(ew.eq(r, _c(r, 1 << (f.bits - 1))), _c(r, 0), r)
    r = ew.select(ew.eq(xf, yf), _u32(y), r)
    nan = ew.bitwise_or(ew.ne(xf, xf), ew.ne(yf, yf))
    r = ew.select(nan, _u32(narrow(ew.add(xf, yf), dt)), r)
    return [ew.convert_element_type(r, f.storage)]


_SPECIAL = {ew.convert_element_type_p: _convert, ew.bitcast_convert_type_p: _bitcast, ew.nextafter_p: _nextafter,
            ew.shift_right_logical_p: _int_bits_op, ew.population_count_p: _int_bits_op, ew.clz_p: _int_bits_op,
            **{p: _callback for p in callbacks.CALLBACKS}}


def _inline(eqn, ins: list, narrow_set: frozenset) -> list:
    body = eqn.params[_CALL_BODIES[eqn.primitive]]
    if isinstance(body, ClosedJaxpr):
        return evaluate(body.jaxpr, [_stored_const(c, narrow_set) for c in body.consts], ins, narrow_set)
    return evaluate(body, [], ins, narrow_set)


def _lowered_param(v: Any, narrow_set: frozenset, name: str) -> Any:
    if isinstance(v, ClosedJaxpr):
        return lower(v, narrow_set)
    if isinstance(v, Jaxpr):
        raise NotImplementedError(f"{name} on narrow floats ({', '.join(sorted(d.name for d in narrow_set))}) is "
                                  "not supported on this backend yet")
    if isinstance(v, tuple) and any(isinstance(x, (ClosedJaxpr, Jaxpr)) for x in v):
        items = [_lowered_param(x, narrow_set, name) for x in v]
        return v._make(items) if hasattr(v, "_make") else tuple(items)
    return v


def _nested(eqn, ins: list, narrow_set: frozenset) -> list:
    """cond, while, scan, custom_linear_solve, ...: the same equation over the stored values, with lowered bodies."""
    name = eqn.primitive.name
    return _bind(eqn, ins, {k: _lowered_param(v, narrow_set, name) for k, v in eqn.params.items()})


def lower_for(closed: ClosedJaxpr, backend: Any) -> ClosedJaxpr:
    """``closed`` as ``backend`` computes it: lowered if it has narrow floats the backend does not list."""
    narrow_set = emulated(backend)
    return lower(closed, narrow_set) if narrow_set and has_narrow(closed.jaxpr, narrow_set) else closed


def is_stored(dtype: np.dtype, backend: Any) -> bool:
    """Whether arrays of ``dtype`` live on ``backend`` as their storage integers."""
    return dtype in _NARROW_SET and dtype not in backend.capabilities.dtypes


__all__ = ["NARROW", "Format", "compute_dtype", "emulated", "fmt", "has_narrow", "is_stored", "lower", "lower_for",
           "narrow", "storage_bits", "storage_dtype", "widen"]

