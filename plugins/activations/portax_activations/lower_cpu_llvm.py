"""The cpu_llvm lowering of ``fused_softmax``: one opaque kernel in generated LLVM IR (no numpy at run time).

The kernel loops over rows (split across the backend's threads when the work is large); each row makes
three passes over its elements, all in registers of the compute dtype: the NaN-propagating maximum, the
sum of ``exp(x - max)`` (reassociable, so LLVM vectorises it), and ``exp(x - max) / sum`` stored rounded to
the output dtype. ``exp`` is the backend's branch-free vectorisable math library.

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
from portax.backends.cpu_llvm.lower_elementwise import minmax
from portax.backends.cpu_llvm.program import Lowering
from portax.core.ir import JaxprEqn

from .softmax import compute_dtype

_REASSOC = ("reassoc",)
# work per element relative to an add (three passes, two exps), for the backend's threading decision
_WORK_PER_ELEMENT = 24.0


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

    with for_range(b, k.start, k.end, "row") as row:
        base = b.mul(row, i64(length), flags=["nsw"])

        def each(body: Callable[[ir.Value, ir.Value], None]) -> None:
            """``body(index, value)`` for every element of the row (values in the compute type)."""
            with for_range(b, 0, length, "j") as j:
                at = b.add(base, j, flags=["nsw"])
                body(at, T.load(b, src, x.dtype, at))

        def shifted_exp(v: ir.Value, m: ir.Value) -> ir.Value:
            return mathlib.emit(b, "exp", [b.fsub(v, m)], ty)

        b.store(T.const(cdt, -math.inf), acc)
        each(lambda at, v: b.store(minmax(b, cdt, b.load(acc), v, True), acc))
        m = b.load(acc)
        b.store(T.const(cdt, 0.0), acc)
        each(lambda at, v: b.store(b.fadd(b.load(acc), shifted_exp(v, m), flags=_REASSOC), acc))
        total = b.load(acc)
        each(lambda at, v: T.store(b, b.fdiv(shifted_exp(v, m), total), dst, out.dtype, at))
    k.finish()
    lw.mb.call(lw.b, k, rows, [x.ptr, out.ptr], work_per_item=_WORK_PER_ELEMENT * length)
