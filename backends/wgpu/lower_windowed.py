"""The window reductions and the direct convolution (``lower_conv`` chooses it or the GEMM form): one
invocation per output element loops over its window (and, for convolutions, over the input features of its
group), or over one chunk of that loop when it is split (``split_k``: long loops, few outputs).

Positions are computed in the dilated, padded operand: ``p = out * stride + offset * window_dilation - pad_lo``
addresses operand element ``p / base_dilation`` when ``p`` is in range and a multiple of the dilation;
elsewhere the window covers padding (the reduction's identity, or 0 for convolutions).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from portax.core.ir import JaxprEqn
from portax.core.primitives import elementwise as ew, windowed as wd

from . import split_k
from .kernel_writer import KernelWriter, strides, u32, workgroups_for
from .lower_structural import store_out
from .lowering import lowering
from .program import LoweringContext, context_of
from .renderer import WORKGROUP
from .wgsl_ops import OPS, OpContext, convert
from .wgsl_types import highest, literal, load, lowest, round_reg, wtype


def _window_position(w: KernelWriter, name: str, out_coord: str, offset: str, stride: int, dilation: int,
                     pad_lo: int, base_dilation: int, size: int) -> tuple[str, str]:
    """(operand index, validity) of the window element at ``offset`` of output position ``out_coord``."""
    w.line(f"let {name}p = i32({out_coord}) * {stride} + i32({offset}) * {dilation} - {pad_lo};")
    ok = [f"{name}p >= 0", f"{name}p < {size * base_dilation - (base_dilation - 1)}"]
    if base_dilation > 1:
        ok.append(f"{name}p % {base_dilation} == 0")
    return f"u32({name}p / {base_dilation})", " && ".join(ok)


def _offset_coords(w: KernelWriter, k: str, window: Sequence[int], prefix: str) -> list[str]:
    out = []
    for j, (n, s) in enumerate(zip(window, strides(window))):
        e = f"({k} / {u32(s)}) % {u32(n)}" if s > 1 else f"{k} % {u32(n)}"
        w.line(f"let {prefix}{j} = {e if len(window) > 1 else k};")
        out.append(f"{prefix}{j}")
    return out


def _reduce_window(name: str):
    def rule(ctx: LoweringContext, eqn: JaxprEqn) -> None:
        out = eqn.out_binders[0]
        t = wtype(eqn.inputs[0].aval.dtype)
        n = math.prod(out.aval.shape)
        count = math.prod(eqn.params["window_dimensions"])
        if n == 0:
            return
        split = split_k.plan(ctx, count, workgroups_for(n, WORKGROUP), count, out, split_k.acc_dtype(t.reg))
        w, groups = _reduce_window_kernel(name, eqn, split)
        ctx.launch(w, groups, context=context_of(eqn) + split_k.label(split))
        if split is not None:
            split_k.combine(ctx, split, name, out)
    return rule


def _reduce_window_kernel(name: str, eqn: JaxprEqn, split: split_k.Split | None) -> tuple[KernelWriter, int]:
    """One invocation per output element (per chunk of its window with ``split``: then it writes the partial
    result of the chunk)."""
    x = eqn.inputs[0]
    out = eqn.out_binders[0]
    p = eqn.params
    t = wtype(x.aval.dtype)
    window = p["window_dimensions"]
    w, coords, n, begin, end = split_k.output_kernel(eqn.primitive.name, out, math.prod(window), split)
    init = literal(t, 0) if name == "sum" else lowest(t) if name == "max" else highest(t)
    w.line(f"var acc: {t.reg} = {init};")
    w.line(f"for (var k = {begin}; k < {end}; k = k + 1u) {{")
    offs = _offset_coords(w, "k", window, "o")
    index, valid = [], []
    for d in range(x.aval.ndim):
        i, ok = _window_position(w, f"d{d}", coords[d], offs[d], p["window_strides"][d], p["window_dilation"][d],
                                 p["padding"][d][0], p["base_dilation"][d], x.aval.shape[d])
        index.append(i)
        valid.append(ok)
    w.line(f"  if (!({' && '.join(valid) or 'true'})) {{ continue; }}")
    st = strides(x.aval.shape)
    flat = " + ".join(f"{i} * {u32(s)}" for i, s, dim in zip(index, st, x.aval.shape) if dim != 1) or "0u"
    v = load(t, f"{w.buffer(x, t.dtype)}[{flat}]")
    if name == "sum":
        combined = f"(acc + {v})"
    else:
        combined = OPS[ew.max_p if name == "max" else ew.min_p](OpContext(t, t, {}, True, name), "acc", v)
    w.line(f"  acc = {combined};")
    w.line("}")
    if split is None:
        store_out(w, out, round_reg(t, "acc"))  # sums accumulate unrounded (the reference sums in 64 bits)
    else:
        store_out(w, split.partials, "acc")
    return w, workgroups_for(n, WORKGROUP)


lowering(wd.reduce_window_sum_p)(_reduce_window("sum"))
lowering(wd.reduce_window_max_p)(_reduce_window("max"))
lowering(wd.reduce_window_min_p)(_reduce_window("min"))


def conv_direct(ctx: LoweringContext, eqn: JaxprEqn) -> tuple[list[tuple[KernelWriter, int]],
                                                              split_k.Split | None]:
    """The ``direct`` convolution: one invocation per output element loops over its window and the input
    features of its group (no kernel for an empty output); with a split (``split_k``), one invocation per
    output element and chunk of that loop, then ``split_k.combine`` sums the chunks into the output."""
    out = eqn.out_binders[0]
    n = math.prod(out.aval.shape)
    if n == 0:
        return [], None
    rs, rhs_spec = eqn.inputs[1].aval.shape, eqn.params["dimension_numbers"][1]
    count = math.prod(rs[d] for d in rhs_spec[2:]) * rs[rhs_spec[1]]
    t = wtype(eqn.inputs[0].aval.dtype)
    acc = split_k.acc_dtype("u32" if t.kind == "b" else t.reg)
    split = split_k.plan(ctx, count, workgroups_for(n, WORKGROUP), count, out, acc)
    return [_conv_direct_kernel(eqn, split)], split


def _conv_direct_kernel(eqn: JaxprEqn, split: split_k.Split | None) -> tuple[KernelWriter, int]:
    lhs, rhs = eqn.inputs
    out = eqn.out_binders[0]
    p = eqn.params
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    t, out_t = wtype(lhs.aval.dtype), wtype(out.aval.dtype)
    acc = wtype(np.uint32) if t.kind == "b" else t
    ls, rs = lhs.aval.shape, rhs.aval.shape
    rst = strides(rs)
    n_spatial = len(lhs_spec) - 2
    b, g = p["batch_group_count"], p["feature_group_count"]
    n_out_feat = rs[rhs_spec[0]]
    in_per_group = rs[rhs_spec[1]]
    o_per_group = n_out_feat // (b * g)
    batch_per_group = ls[lhs_spec[0]] // b
    window = [rs[rhs_spec[2 + i]] for i in range(n_spatial)]
    w, coords, n, begin, end = split_k.output_kernel("conv_general_dilated", out, math.prod(window) * in_per_group,
                                                     split)
    nb, o = coords[out_spec[0]], coords[out_spec[1]]
    w.line(f"let bg = {o} / {u32(g * o_per_group)};")
    w.line(f"let fg = ({o} / {u32(o_per_group)}) % {u32(g)};")
    w.line(f"let lhs_b = bg * {u32(batch_per_group)} + {nb};")
    w.line(f"var acc: {acc.reg} = {literal(acc, 0)};")
    w.line(f"for (var k = {begin}; k < {end}; k = k + 1u) {{")
    w.line(f"  let c = k / {u32(max(math.prod(window), 1))};")
    w.line(f"  let kw = k % {u32(max(math.prod(window), 1))};")
    offs = _offset_coords(w, "kw", window, "o") if window else []
    lhs_index, valid = conv_window_index(w, eqn, "lhs_b", f"fg * {u32(in_per_group)} + c",
                                         [coords[d] for d in out_spec[2:]], offs)
    rhs_index = [f"{o} * {u32(rst[rhs_spec[0]])}", f"c * {u32(rst[rhs_spec[1]])}"]
    rhs_index += [f"{offs[i]} * {u32(rst[rhs_spec[2 + i]])}" for i in range(n_spatial)]
    if valid:
        w.line(f"  if (!({' && '.join(valid)})) {{ continue; }}")
    a = load(t, f"{w.buffer(lhs, t.dtype)}[{' + '.join(lhs_index)}]")
    r = load(t, f"{w.buffer(rhs, t.dtype)}[{' + '.join(rhs_index)}]")
    if t.kind == "b":
        w.line(f"  acc = acc + select(0u, 1u, {a} && {r});")
    else:
        w.line(f"  acc = acc + {a} * {r};")
    w.line("}")
    if split is None:
        store_out(w, out, round_reg(out_t, convert(acc, out_t, "acc")))
    else:
        store_out(w, split.partials, "acc")
    return w, workgroups_for(n, WORKGROUP)


def conv_window_index(w: KernelWriter, eqn: JaxprEqn, batch: str, feature: str, out_coords: Sequence[str],
                      offsets: Sequence[str]) -> tuple[list[str], list[str]]:
    """(flat index terms, validity conditions) of the operand element a convolution reads for output spatial
    position ``out_coords``, window position ``offsets``, operand batch ``batch`` and input feature ``feature``."""
    lhs = eqn.inputs[0]
    p = eqn.params
    lhs_spec = p["dimension_numbers"][0]
    ls, lst = lhs.aval.shape, strides(lhs.aval.shape)
    index = [f"({batch}) * {u32(lst[lhs_spec[0]])}", f"({feature}) * {u32(lst[lhs_spec[1]])}"]
    valid = []
    for i, (oc, off) in enumerate(zip(out_coords, offsets)):
        ld = lhs_spec[2 + i]
        idx, ok = _window_position(w, f"s{i}", oc, off, p["window_strides"][i], p["rhs_dilation"][i],
                                   p["padding"][i][0], p["lhs_dilation"][i], ls[ld])
        index.append(f"{idx} * {u32(lst[ld])}")
        valid.append(ok)
    return index, valid

