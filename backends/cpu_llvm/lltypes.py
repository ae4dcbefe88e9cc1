"""numpy dtypes as LLVM types: how an element is stored in memory and the type it is computed in.

Memory: bool is an i8 holding 0/1, integers are iN (signedness lives in the dtype, not the type), float16 is
half. Compute: bool is i1, float16 is float (rounded back to half after every operation, as numpy does).
"""
from __future__ import annotations

import functools

import numpy as np
from llvmlite import ir

I1, I8, I16, I32, I64 = (ir.IntType(n) for n in (1, 8, 16, 32, 64))
F16, F32, F64 = ir.HalfType(), ir.FloatType(), ir.DoubleType()
PTR = ir.PointerType()
VOID = ir.VoidType()

_MEMORY = {"b": {1: I8}, "i": {1: I8, 2: I16, 4: I32, 8: I64}, "u": {1: I8, 2: I16, 4: I32, 8: I64},
           "f": {2: F16, 4: F32, 8: F64}}


def _check(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in _MEMORY or dtype.itemsize not in _MEMORY[dtype.kind]:
        raise NotImplementedError(f"cpu_llvm backend: dtype {dtype.name} is not supported")
    return dtype


@functools.cache
def memory_type(dtype: np.dtype) -> ir.Type:
    """The LLVM type of one element in a buffer."""
    dtype = _check(dtype)
    return _MEMORY[dtype.kind][dtype.itemsize]


@functools.cache
def compute_type(dtype: np.dtype) -> ir.Type:
    """The LLVM type element values have in registers."""
    dtype = _check(dtype)
    if dtype.kind == "b":
        return I1
    if dtype == np.float16:
        return F32
    return memory_type(dtype)


def is_float(dtype: np.dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def is_signed(dtype: np.dtype) -> bool:
    """Signed integers (floats are signed too, but use float instructions)."""
    return np.dtype(dtype).kind == "i"


def bits(dtype: np.dtype) -> int:
    return np.dtype(dtype).itemsize * 8


def const(dtype: np.dtype, value) -> ir.Constant:
    """``value`` as a compute-type constant of ``dtype`` (wrapping integers, rounding float16)."""
    dtype = np.dtype(dtype)
    ty = compute_type(dtype)
    if dtype.kind == "b":
        return ir.Constant(ty, int(bool(value)))
    if dtype.kind == "f":
        return ir.Constant(ty, float(np.asarray(value).astype(dtype)))
    return ir.Constant(ty, int(np.asarray(value).astype(dtype).view(f"i{dtype.itemsize}")))


def load(b: ir.IRBuilder, ptr: ir.Value, dtype: np.dtype, index: ir.Value | None = None) -> ir.Value:
    """Load element ``index`` of a ``dtype`` buffer at ``ptr`` as a compute value."""
    mty = memory_type(dtype)
    if index is not None:
        ptr = b.gep(ptr, [index], inbounds=True, source_etype=mty)
    v = b.load(ptr, typ=mty, align=np.dtype(dtype).itemsize)
    return from_memory(b, v, dtype)


def store(b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, dtype: np.dtype, index: ir.Value | None = None) -> None:
    """Store compute value ``value`` as element ``index`` of a ``dtype`` buffer at ``ptr``."""
    mty = memory_type(dtype)
    if index is not None:
        ptr = b.gep(ptr, [index], inbounds=True, source_etype=mty)
    b.store(to_memory(b, value, dtype), ptr, align=np.dtype(dtype).itemsize)


def from_memory(b: ir.IRBuilder, v: ir.Value, dtype: np.dtype) -> ir.Value:
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return b.icmp_unsigned("!=", v, ir.Constant(I8, 0))
    if dtype == np.float16:
        return b.fpext(v, F32)
    return v


def to_memory(b: ir.IRBuilder, v: ir.Value, dtype: np.dtype) -> ir.Value:
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return b.zext(v, I8)
    if dtype == np.float16:
        return b.fptrunc(v, F16)
    return v


def double_to_half(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """f64 -> f16 correctly rounded without the ``__truncdfhf2`` libcall LLVM would emit: round to odd into
    f32 (exact enough that the second rounding cannot double-round), then f32 -> f16."""
    t = b.fptrunc(x, F32)
    inexact = b.fcmp_ordered("!=", b.fpext(t, F64), x)
    bits = b.bitcast(t, I32)
    too_big = b.fcmp_ordered(">", call_intrinsic(b, "fabs", b.fpext(t, F64)), call_intrinsic(b, "fabs", x))
    toward_zero = b.select(too_big, b.sub(bits, ir.Constant(I32, 1)), bits)
    odd = b.or_(toward_zero, ir.Constant(I32, 1))
    return b.fptrunc(b.bitcast(b.select(inexact, odd, bits), F32), F16)


def round_f16(b: ir.IRBuilder, v: ir.Value, dtype: np.dtype) -> ir.Value:
    """For float16 values computed in float: round to half precision (a no-op for other dtypes)."""
    if np.dtype(dtype) == np.float16:
        return b.fpext(b.fptrunc(v, F16), F32)
    return v


def intrinsic(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    """The declaration of LLVM intrinsic ``name`` (already mangled) in ``module``."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, args), name)
    return fn


def mangle(ty: ir.Type) -> str:
    """The suffix LLVM uses for an overloaded intrinsic on ``ty``."""
    if isinstance(ty, ir.IntType):
        return f"i{ty.width}"
    return {F16: "f16", F32: "f32", F64: "f64"}[ty]


def call_intrinsic(b: ir.IRBuilder, op: str, *args: ir.Value, ret: ir.Type | None = None) -> ir.Value:
    """``llvm.<op>.<type>(args)`` overloaded on the first argument's type."""
    ty = args[0].type
    name = f"llvm.{op}.{mangle(ty)}" if ret is None else f"llvm.{op}.{mangle(ret)}.{mangle(ty)}"
    return b.call(intrinsic(b.module, name, ret or ty, [a.type for a in args]), list(args))
