"""Lowerings of the structural primitives fusion leaves opaque: pad, concatenate, dynamic_slice,
dynamic_update_slice and bitcast_convert_type. Each is one kernel over its output elements (concatenate:
one per group of operands that fits the storage-buffer limit)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from portax.core.ir import JaxprEqn, Literal, Var
from portax.core.primitives import elementwise as ew, structural as st

from .kernel_writer import KernelWriter, coord_exprs, linear_expr, strides, u32, workgroups_for
from .lowering import lowering
from .program import LoweringContext, context_of
from .renderer import WORKGROUP
from .wgsl_ops import from_bits, to_bits
from .wgsl_types import WType, literal, load, store, wtype


def output_kernel(name: str, out: Var) -> tuple[KernelWriter, list[str], int]:
    """A kernel with one invocation per element of ``out``: the writer, the element's coordinate
    variables ``c0, c1...`` and the element count."""
    shape = out.aval.shape
    n = math.prod(shape)
    w = KernelWriter(name, WORKGROUP)
    w.line(f"if (gid >= {u32(n)}) {{ return; }}")
    coords = []
    for j, e in enumerate(coord_exprs("gid", shape)):
        w.line(f"let c{j} = {e};")
        coords.append(f"c{j}")
    return w, coords, n


def store_out(w: KernelWriter, out: Var, value: str, index: str = "gid") -> None:
    t = wtype(out.aval.dtype)
    w.line(f"{w.buffer(out, t.dtype, write=True)}[{index}] = {store(t, value)};")


def read_atom(w: KernelWriter, atom, index: str = "0u") -> str:
    """Register value of a scalar operand (a literal, or element ``index`` of a buffer)."""
    t = wtype(atom.aval.dtype)
    if type(atom) is Literal:
        return literal(t, atom.val)
    return load(t, f"{w.buffer(atom, t.dtype)}[{index}]")


def saturate_i32(t: WType, v: str) -> str:
    """An integer register value as i32, saturated (index clamping gives the same result)."""
    if t.kind == "i" and not t.is_64:
        return v
    if t.kind == "u":
        return f"i32(min({v}, {'2147483647lu' if t.is_64 else '2147483647u'}))"
    return f"i32(clamp({v}, -2147483648li, 2147483647li))"


def index_values(ctx: LoweringContext, w: KernelWriter, atoms: Sequence, reserved: int, context: str) -> list[str]:
    """i32 register values of scalar index operands. Past the storage-buffer limit (``reserved`` buffers
    are the kernel's others) the variables are first packed into one scratch buffer."""
    variables = [a for a in atoms if type(a) is not Literal]
    limit = ctx.limits.max_storage_buffers_per_shader_stage
    if len(variables) + reserved <= limit:
        return [saturate_i32(wtype(a.aval.dtype), read_atom(w, a)) for a in atoms]
    packed = ctx.scratch((len(variables),), np.int32, "packed indices")
    per = limit - 1
    for start in range(0, len(variables), per):
        pw = KernelWriter(f"pack-indices:{len(variables)}", 1)
        chunk = variables[start:start + per]
        values = [saturate_i32(wtype(a.aval.dtype), read_atom(pw, a)) for a in chunk]
        dst = pw.buffer(packed, np.int32, write=True)
        for j, v in enumerate(values):
            pw.line(f"{dst}[{start + j}u] = {v};")
        ctx.launch(pw, 1, context=context)
    src = w.buffer(packed, np.int32)
    out, k = [], 0
    for a in atoms:
        if type(a) is Literal:
            out.append(saturate_i32(wtype(a.aval.dtype), read_atom(w, a)))
        else:
            out.append(f"{src}[{k}u]")
            k += 1
    return out


def clamped_starts(w: KernelWriter, starts: Sequence[str], shape: Sequence[int], sizes: Sequence[int]) -> list[str]:
    """u32 start of each dimension, clamped so the window ``sizes`` stays inside ``shape``."""
    out = []
    for j, (s, n, k) in enumerate(zip(starts, shape, sizes)):
        w.line(f"let s{j} = u32(clamp({s}, 0, {max(n - k, 0)}));")
        out.append(f"s{j}")
    return out


@lowering(st.pad_p)
def _pad(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    x, pv = eqn.inputs
    out = eqn.out_binders[0]
    w, coords, n = output_kernel("pad", out)
    if n == 0:
        return
    valid, index_terms = [], []
    xs = strides(x.aval.shape)
    for j, ((lo, _, interior), size) in enumerate(zip(eqn.params["padding_config"], x.aval.shape)):
        step = interior + 1
        w.line(f"let t{j} = i32({coords[j]}) - {lo};")
        conds = [f"t{j} >= 0"]
        if step > 1:
            conds.append(f"t{j} % {step} == 0")
        conds.append(f"t{j} / {step} < {size}")
        valid.append(" && ".join(conds))
        index_terms.append(f"u32(t{j} / {step}) * {u32(xs[j])}")
    w.line(f"let ok = {' && '.join(valid) if valid else 'true'};")
    index = " + ".join(index_terms) if index_terms else "0u"
    inside = read_atom(w, x, f"select(0u, {index}, ok)") if x.aval.size else read_atom(w, pv)
    store_out(w, out, f"select({read_atom(w, pv)}, {inside}, ok)")
    ctx.launch(w, workgroups_for(n, WORKGROUP), context=context_of(eqn))


@lowering(st.concatenate_p)
def _concatenate(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    """One dispatch per group of operands: each covers the block of the output its operands fill."""
    dim = eqn.params["dimension"]
    out = eqn.out_binders[0]
    shape = out.aval.shape
    per = ctx.limits.max_storage_buffers_per_shader_stage - 1
    offset = 0
    operands = list(eqn.inputs)
    for start in range(0, len(operands), per):
        group = operands[start:start + per]
        extent = sum(x.aval.shape[dim] for x in group)
        block = shape[:dim] + (extent,) + shape[dim + 1:]
        n = math.prod(block)
        if n:
            w = KernelWriter(f"concatenate:{len(group)}", WORKGROUP)
            w.line(f"if (gid >= {u32(n)}) {{ return; }}")
            coords = []
            for j, e in enumerate(coord_exprs("gid", block)):
                w.line(f"let c{j} = {e};")
                coords.append(f"c{j}")
            t = wtype(out.aval.dtype)
            w.line(f"var v: {t.reg};")
            lo = 0
            for k, x in enumerate(group):
                size = x.aval.shape[dim]
                if size == 0:
                    continue
                local = list(coords)
                local[dim] = f"({coords[dim]} - {u32(lo)})"
                value = read_atom(w, x, linear_expr(local, x.aval.shape))
                w.line(f"{'if' if lo == 0 else 'else if'} ({coords[dim]} < {u32(lo + size)}) {{ v = {value}; }}")
                lo += size
            dest = list(coords)
            dest[dim] = f"({coords[dim]} + {u32(offset)})"
            store_out(w, out, "v", linear_expr(dest, shape))
            ctx.launch(w, workgroups_for(n, WORKGROUP), context=context_of(eqn))
        offset += extent


@lowering(st.dynamic_slice_p)
def _dynamic_slice(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    x, *idx = eqn.inputs
    out = eqn.out_binders[0]
    w, coords, n = output_kernel("dynamic_slice", out)
    if n == 0:
        return
    starts = clamped_starts(w, index_values(ctx, w, idx, 2, context_of(eqn)), x.aval.shape,
                            eqn.params["slice_sizes"])
    src = [f"({c} + {s})" for c, s in zip(coords, starts)]
    store_out(w, out, read_atom(w, x, linear_expr(src, x.aval.shape)))
    ctx.launch(w, workgroups_for(n, WORKGROUP), context=context_of(eqn))


@lowering(st.dynamic_update_slice_p)
def _dynamic_update_slice(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    x, u, *idx = eqn.inputs
    out = eqn.out_binders[0]
    w, coords, n = output_kernel("dynamic_update_slice", out)
    if n == 0:
        return
    starts = clamped_starts(w, index_values(ctx, w, idx, 3, context_of(eqn)), x.aval.shape, u.aval.shape)
    inside = [f"({c} >= {s} && {c} < {s} + {u32(k)})" for c, s, k in zip(coords, starts, u.aval.shape)]
    w.line(f"let inside = {' && '.join(inside) if inside else 'true'};")
    local = [f"select(0u, {c} - {s}, inside)" for c, s in zip(coords, starts)]
    value = f"select({read_atom(w, x, 'gid')}, {read_atom(w, u, linear_expr(local, u.aval.shape))}, inside)" \
        if u.aval.size else read_atom(w, x, "gid")
    store_out(w, out, value)
    ctx.launch(w, workgroups_for(n, WORKGROUP), context=context_of(eqn))


@lowering(ew.bitcast_convert_type_p)
def _bitcast(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    """Width-changing bitcasts: split each element's bit pattern into narrower ones (little-endian: the
    low bits first, along a new trailing axis) or join the trailing axis into one wider pattern."""
    x = eqn.inputs[0]
    out = eqn.out_binders[0]
    src, dst = wtype(x.aval.dtype), wtype(out.aval.dtype)
    if "b" in (src.kind, dst.kind):
        raise NotImplementedError(f"wgpu backend: {context_of(eqn)}: bool has no bit pattern to reinterpret")
    w, coords, n = output_kernel("bitcast_convert_type", out)
    if n == 0:
        return
    if src.bits == dst.bits:
        value = from_bits(dst, to_bits(src, read_atom(w, x, "gid")))
    elif src.bits > dst.bits:
        r = src.bits // dst.bits
        word = to_bits(src, read_atom(w, x, f"gid / {r}u"))
        piece = f"(({word}) >> ({dst.bits}u * (gid % {r}u)))"
        mask = f"{(1 << dst.bits) - 1:#x}{'lu' if src.is_64 else 'u'}"
        piece = f"({piece} & {mask})"
        value = from_bits(dst, f"u32({piece})" if src.is_64 else piece)
    else:
        r = dst.bits // src.bits
        wide = "u64" if dst.is_64 else "u32"
        parts = [f"({wide}({to_bits(src, read_atom(w, x, f'gid * {r}u + {j}u'))}) << {src.bits * j}u)"
                 for j in range(r)]
        value = from_bits(dst, " | ".join(parts))
    store_out(w, out, value)
    ctx.launch(w, workgroups_for(n, WORKGROUP), context=context_of(eqn))
