"""cumsum, cumprod, cummax, cummin along one axis (optionally from the end).

Short rows (or very many of them) are scanned sequentially by one invocation each. Long rows get a
workgroup each: every invocation scans a contiguous chunk, the chunk totals are combined by a parallel
(Hillis-Steele) scan in workgroup memory, and each chunk is rescanned starting from its prefix.
"""
from __future__ import annotations

import math

from portax.core.ir import JaxprEqn
from portax.core.primitives import elementwise as ew, reductions as red

from .kernel_writer import KernelWriter, u32, workgroups_for
from .lowering import lowering
from .program import LoweringContext, context_of
from .wgsl_ops import OPS, OpContext
from .wgsl_types import WType, highest, literal, load, lowest, round_reg, store, wtype

SEQUENTIAL_MAX_LEN = 64


def _monoid(prim, t: WType):
    """(identity, combine(a, b) expression) of a cumulative primitive on register values."""
    if prim is red.cumsum_p:
        return literal(t, 0), lambda a, b: f"({a} + {b})"
    if prim is red.cumprod_p:
        return literal(t, 1), lambda a, b: f"({a} * {b})"
    p = ew.max_p if prim is red.cummax_p else ew.min_p
    ctx = OpContext(t, t, {}, True, prim.name)
    return (lowest(t) if prim is red.cummax_p else highest(t)), lambda a, b: OPS[p](ctx, a, b)


@lowering(red.cumsum_p, red.cumprod_p, red.cummax_p, red.cummin_p)
def _cumulative(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    x = eqn.inputs[0]
    out = eqn.out_binders[0]
    shape = x.aval.shape
    axis, reverse = eqn.params["axis"], eqn.params["reverse"]
    length = shape[axis]
    inner = math.prod(shape[axis + 1:])
    rows = math.prod(shape) // length if length else 0
    if rows == 0 or length == 0:
        return
    t = wtype(x.aval.dtype)
    identity, combine = _monoid(eqn.primitive, t)
    sequential = length <= SEQUENTIAL_MAX_LEN or rows >= 4096
    threads = 64 if sequential else min(256, 1 << max(0, (-(-length // 4) - 1).bit_length()))
    w = KernelWriter(f"{eqn.primitive.name}:{'seq' if sequential else 'scan'}", threads)
    src, dst = w.buffer(x, t.dtype), w.buffer(out, t.dtype, write=True)
    row = "gid" if sequential else "wg"
    w.line(f"let r = {row};")
    w.line(f"if (r >= {u32(rows)}) {{ return; }}")
    w.line(f"let base = (r / {u32(inner)}) * {u32(length * inner)} + r % {u32(inner)};")
    pos = f"{u32(length - 1)} - i" if reverse else "i"
    addr = f"base + ({pos}) * {u32(inner)}"

    if sequential:
        w.line(f"var acc: {t.reg} = {identity};")
        w.loops(length)
        w.line(f"for (var i = 0u; i < {u32(length)}; i = i + 1u) {{")
        w.line(f"  acc = {round_reg(t, combine('acc', load(t, f'{src}[{addr}]')))};")
        w.line(f"  {dst}[{addr}] = {store(t, 'acc')};")
        w.line("}")
        ctx.launch(w, workgroups_for(rows, threads), context=context_of(eqn))
        return
    chunk = -(-length // threads)
    w.loops(2 * chunk + threads.bit_length())
    w.shared.append(f"var<workgroup> totals: array<{t.reg}, {threads}>;")
    w.line(f"let lo = lid * {u32(chunk)};")
    w.line(f"let hi = min(lo + {u32(chunk)}, {u32(length)});")
    w.line(f"var acc: {t.reg} = {identity};")
    w.line("for (var i = lo; i < hi; i = i + 1u) {")
    w.line(f"  acc = {round_reg(t, combine('acc', load(t, f'{src}[{addr}]')))};")
    w.line("}")
    w.line("totals[lid] = acc;")
    w.line("workgroupBarrier();")
    w.line(f"for (var s = 1u; s < {u32(threads)}; s = s << 1u) {{")
    w.line(f"  var v: {t.reg} = totals[lid];")
    w.line(f"  if (lid >= s) {{ v = {round_reg(t, combine('totals[lid - s]', 'v'))}; }}")
    w.line("  workgroupBarrier();")
    w.line("  totals[lid] = v;")
    w.line("  workgroupBarrier();")
    w.line("}")
    w.line(f"var run: {t.reg} = {identity};")
    w.line("if (lid > 0u) { run = totals[lid - 1u]; }")
    w.line("for (var i = lo; i < hi; i = i + 1u) {")
    w.line(f"  run = {round_reg(t, combine('run', load(t, f'{src}[{addr}]')))};")
    w.line(f"  {dst}[{addr}] = {store(t, 'run')};")
    w.line("}")
    ctx.launch(w, rows, context=context_of(eqn))
