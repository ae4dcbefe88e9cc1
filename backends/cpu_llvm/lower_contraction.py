"""Contraction kernels from ``core.fusion``: a dot_general whose elementwise consumers (bias add, activation,
residual add, scaling, casts) run as the packed GEMM's epilogue, on each block of the product as soon as the
block is final, in the thread that computed it, while it is still in cache. Where the GEMM does not run
into a row-major result, the product and its consumers run as two kernels, as before fusion."""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from portax.core import fusion
from portax.core.ir import JaxprEqn, Literal, Var
from portax.core.primitives import contractions as ct

from . import gemm, lltypes as T
from .irutil import entry_alloca, for_range, gep, i64
from .lower_dot import emit_dot
from .lower_fused import Dim, Plan, element_emitters, emit_fused
from .program import EPILOGUES


def takes_epilogue(eqn: JaxprEqn) -> bool:
    """Whether ``eqn`` (a dot_general) may run on the packed GEMM with its result ``(batch..., m, n)``: one free
    dimension per operand, operands and result of one float dtype. The products the fusion pass may give an
    epilogue (where the GEMM then does not apply, the epilogue runs as a loop kernel after the product)."""
    lhs, rhs = (x.aval for x in eqn.inputs)
    out = eqn.out_binders[0].aval
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    if lhs.ndim != len(lc) + len(lb) + 1 or rhs.ndim != len(rc) + len(rb) + 1:
        return False
    k = int(np.prod([lhs.shape[d] for d in lc], dtype=np.int64))
    return lhs.dtype == rhs.dtype == out.dtype and lhs.dtype in (np.float32, np.float64) and \
        2 * out.size * k >= gemm.MIN_FLOPS


def emit_contraction(lw, kern: fusion.Kernel, env: dict) -> None:
    """Lower a contraction kernel: the product into its buffer (scratch if nothing else reads it), the rest
    of the kernel as the GEMM's epilogue, or as a loop kernel after it."""
    dot, rest = kern.eqns[0], kern.eqns[1:]
    c_var = dot.out_binders[0]
    c, off = (env[c_var], None) if c_var in env else lw.scratch(c_var.aval)
    look = lambda v: c if v is c_var else env[v]
    defined = {v for e in rest for v in e.out_binders}
    reads = {x: None for e in rest for x in e.inputs if type(x) is Var and x not in defined}
    tail = fusion.Kernel("loop", rest, kern.shape, list(reads), [v for v in kern.outputs if v is not c_var])
    lhs, rhs = (lw.literal(x) if type(x) is Literal else env[x] for x in dot.inputs)
    if not emit_dot(lw, dot, lhs, rhs, c, epilogue=lambda: _epilogue(lw, tail, look)):
        emit_fused(lw.mb, lw.b, tail, look)
    if off is not None:
        lw.release(off, c_var.aval)


def _epilogue(lw, tail: fusion.Kernel, look) -> tuple[ir.Function, ir.Value]:
    """``void epilogue(batch, row0, rows, col0, cols, argv)`` computing ``tail`` on that block of the result
    ``(batch..., m, n)``, and its argv."""
    plan = Plan(tail, look)
    mb = lw.mb
    fn = ir.Function(mb.module, gemm.EPILOGUE_TYPE, f"epilogue{len(mb.kernels)}")
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    batch, row0, rows, col0, cols, argv = fn.args
    ptrs = [b.load(gep(b, argv, j, T.PTR), typ=T.PTR) for j in range(len(plan.args))]
    _, _, element = element_emitters(b, ptrs, plan, [Dim(n, False, d) for d, n in enumerate(plan.shape)])
    coords = []
    for n in reversed(plan.shape[:-2]):  # the batch index, unravelled row-major
        coords.insert(0, b.srem(batch, i64(n)))
        batch = b.sdiv(batch, i64(n))
    with for_range(b, row0, b.add(row0, rows), "row") as r:
        with for_range(b, col0, b.add(col0, cols), "col") as col:
            element(coords + [r, col])
    b.ret_void()
    args = entry_alloca(lw.b, T.PTR, len(plan.args))
    for j, buf in enumerate(plan.args):
        lw.b.store(buf.ptr, gep(lw.b, args, j, T.PTR))
    return fn, args


EPILOGUES[ct.dot_general_p] = (takes_epilogue, emit_contraction)
