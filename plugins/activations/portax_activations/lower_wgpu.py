"""The wgpu lowering of ``fused_softmax``: one generated WGSL compute shader, one dispatch.

Short rows (or very many of them) get one invocation each, which walks its row three times; long rows get
a workgroup each, whose invocations stride over the row and combine their maxima and sums in workgroup
memory (tree reductions). A NaN is folded into the running maximum as +inf: a row whose maximum is not
finite is all NaN, exactly the primitive's semantics, with no reliance on how a driver's ``max`` treats NaN.
float16 is loaded into f32 registers and rounded once on store; float64 has no ``exp`` in WGSL on the
drivers (the backend refuses float64 ``exp`` too), so it raises NotImplementedError.

Rule signature (``WgpuBackend.add_lowerings``): ``rule(ctx, eqn)`` appending dispatches to ``ctx`` (a
``program.LoweringContext``); buffers are bound by jaxpr variable through ``KernelWriter.buffer``.
"""
from __future__ import annotations

import math

from portax.backends.wgpu.kernel_writer import KernelWriter, u32, workgroups_for
from portax.backends.wgpu.program import LoweringContext, context_of
from portax.backends.wgpu.wgsl_types import (highest, is_nan, literal, load, lowest, special_float, store,
                                              wtype)
from portax.core.ir import JaxprEqn

SEQUENTIAL_MAX_LENGTH = 64  # rows up to this long are walked by one invocation
SEQUENTIAL_MIN_ROWS = 4096  # with this many rows, one invocation per row already fills the device
SEQUENTIAL_WORKGROUP = 64
MAX_WORKGROUP = 256


def lower_fused_softmax(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    x, out = eqn.inputs[0], eqn.out_binders[0]
    if x.aval.dtype.itemsize == 8:
        raise NotImplementedError(
            f"wgpu backend: fused_softmax on float64 is unsupported ({context_of(eqn)}): WGSL has no 64-bit exp "
            "on the adapters' drivers; compute it in float32")
    length = x.aval.shape[-1]
    rows = math.prod(x.aval.shape[:-1])
    if rows == 0 or length == 0:
        return
    sequential = length <= SEQUENTIAL_MAX_LENGTH or rows >= SEQUENTIAL_MIN_ROWS
    threads = SEQUENTIAL_WORKGROUP if sequential else min(MAX_WORKGROUP, _pow2_at_least(-(-length // 4)))
    t = wtype(x.aval.dtype)
    w = KernelWriter(f"fused_softmax:{'row' if sequential else 'workgroup'}", threads)
    src, dst = w.buffer(x, t.dtype), w.buffer(out, t.dtype, write=True)
    w.line(f"let r = {'gid' if sequential else 'wg'};")
    w.line(f"if (r >= {u32(rows)}) {{ return; }}")
    w.line(f"let base = r * {u32(length)};")
    first, step = ("0u", "1u") if sequential else ("lid", u32(threads))
    value = load(t, f"{src}[base + i]")

    def each(statement: str) -> None:
        w.line(f"for (var i = {first}; i < {u32(length)}; i = i + {step}) {{")
        w.line(f"  let v = {value};")
        w.line(f"  {statement}")
        w.line("}")

    if not sequential:
        w.shared.append(f"var<workgroup> red: array<{t.reg}, {threads}>;")
    w.line(f"var m: {t.reg} = {lowest(t)};")
    each(f"m = select(max(m, v), {highest(t)}, {is_nan(t, 'v')});")
    if not sequential:
        _workgroup_combine(w, threads, "m", "max(red[lid], red[lid + k])")
    w.line("let bad = (bitcast<u32>(m) & 0x7f800000u) == 0x7f800000u;  // NaN seen, or an infinite maximum")
    w.line(f"var s: {t.reg} = {literal(t, 0)};")
    each("s = s + exp(v - m);")
    if not sequential:
        _workgroup_combine(w, threads, "s", "red[lid] + red[lid + k]")
    each(f"{dst}[base + i] = {store(t, f'select(exp(v - m) / s, {special_float(t, math.nan)}, bad)')};")
    ctx.launch(w, workgroups_for(rows, threads) if sequential else rows, context=context_of(eqn))


def _workgroup_combine(w: KernelWriter, threads: int, var: str, combine: str) -> None:
    """Combine every invocation's ``var`` with ``combine`` (of ``red[lid]`` and ``red[lid + k]``) by a tree
    reduction in the workgroup array ``red``; afterwards ``var`` holds the result in every invocation."""
    w.line(f"red[lid] = {var};")
    w.line("workgroupBarrier();")
    w.line(f"for (var k = {u32(threads // 2)}; k > 0u; k = k >> 1u) {{")
    w.line(f"  if (lid < k) {{ red[lid] = {combine}; }}")
    w.line("  workgroupBarrier();")
    w.line("}")
    w.line(f"{var} = red[0];")
    w.line("workgroupBarrier();")


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())
