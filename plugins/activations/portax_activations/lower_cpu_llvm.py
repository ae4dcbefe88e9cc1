"""The cpu_llvm lowering of ``fused_softmax``: one opaque kernel in generated LLVM IR (no numpy at run time).

The kernel loops over rows (split across the backend's threads when the work is large); each row makes
three vectorised passes in the compute dtype: the NaN-propagating maximum, the sum of ``exp(x - max)``
(reassociable), and the division by the sum. For float32 and float64 the second pass keeps ``exp(x - max)``
in the output buffer for the third; float16 recomputes it (its buffer would round it). The reductions and
``exp`` are the backend's own (``lower_fused.combine``, the branch-free ``mathlib``).

Rule signature (``CpuLlvmBackend.add_lowerings``): ``rule(lowering, eqn, inputs, outputs)`` with
``codegen.Buf`` operands (C-contiguous) and a ``program.Lowering`` to emit kernels through.
"""
from __future__ import annotations

import math
from typing import Callable

from llvmlite import ir

from portax.backends.cpu_llvm import lltypes as T, mathlib
from portax.backends.cpu_llvm.codegen import Buf
from portax.backends.cpu_llvm.irutil import entry_alloca, for_range, i64
from portax.backends.cpu_llvm.lower_fused import combine
from portax.backends.cpu_llvm.program import Lowering
from portax.core.ir import JaxprEqn

from .softmax import compute_dtype

# work per element relative to an add, for the backend's threading decision: a max, an exp (8, as the
# backend's fused kernels count it), an add and a division
_WORK_PER_ELEMENT = 16.0


def lower_fused_softmax(lw: Lowering, eqn: JaxprEqn, inputs: list[Buf], outputs: list[Buf]) -> None:
    (x,), (out,) = inputs, outputs
    length = x.shape[-1]
    rows = math.prod(x.shape[:-1])
    if rows == 0 or length == 0:
        return
    cdt = compute_dtype(x.dtype)
    ty = T.compute_type(cdt)
    k = lw.mb.kernel("opaque", f"opaque[{','.join(map(str, x.shape))}](fused_softmax)", 2)
    b = k.b
    src, dst = k.ptrs
    acc = entry_alloca(b, ty)
    stash = out.dtype == cdt  # the output can hold exp(x - max) exactly until the division (not float16)

    with for_range(b, k.start, k.end, "row") as row:
        base = b.mul(row, i64(length), flags=["nsw"])

        def each(ptr: ir.Value, dtype, body: Callable[[ir.Value, ir.Value], None]) -> None:
            """``body(index, value)`` for every element of the row in buffer ``ptr`` (as compute values)."""
            with for_range(b, 0, length, "j") as j:
                at = b.add(base, j, flags=["nsw"])
                body(at, T.load(b, ptr, dtype, at))

        def shifted_exp(v: ir.Value, m: ir.Value) -> ir.Value:
            return mathlib.emit(b, "exp", [b.fsub(v, m)], ty)

        b.store(T.const(cdt, -math.inf), acc)
        each(src, x.dtype, lambda at, v: b.store(combine(b, "max", cdt, b.load(acc), v), acc))
        m = b.load(acc)
        b.store(T.const(cdt, 0.0), acc)

        def accumulate(at: ir.Value, v: ir.Value) -> None:
            e = shifted_exp(v, m)
            b.store(combine(b, "sum", cdt, b.load(acc), e), acc)
            if stash:
                T.store(b, e, dst, cdt, at)
        each(src, x.dtype, accumulate)
        total = b.load(acc)
        if stash:
            each(dst, cdt, lambda at, e: T.store(b, b.fdiv(e, total), dst, cdt, at))
        else:
            each(src, x.dtype, lambda at, v: T.store(b, b.fdiv(shifted_exp(v, m), total), dst, out.dtype, at))
    k.finish()
    lw.mb.call(lw.b, k, rows, [x.ptr, out.ptr], work_per_item=_WORK_PER_ELEMENT * length)
