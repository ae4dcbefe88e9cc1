"""gather and scatter (set/add/mul/min/max) with XLA's dimension numbers, modes 'clip' and 'fill'.

gather: one invocation per output element computes its window start from the index vector (clamped,
or checked for 'fill'). scatter: the operand is copied to the output, then one invocation per update
element combines it into its target:

* add/mul/min/max: atomics on the 32-bit word holding the target: native atomicAdd/Min/Max for
  i32/u32, atomicOr/And for bool, a compare-exchange loop for floats and narrow integers (f16 halves
  share a word). 64-bit dtypes have no WGSL atomics: their updates are sorted by (target, order) and
  each target folds its run of updates in order (deterministic, as the reference).
* set: deterministic as the reference (the last update in order wins): an atomicMax pass elects the
  last update of every target, a second pass writes the winners.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from portax.core.ir import JaxprEqn, Var
from portax.core.primitives import elementwise as ew, indexing as ix

from .kernel_writer import KernelWriter, coord_exprs, linear_expr, u32, workgroups_for
from .lower_sort import Rows, bitonic
from .lower_structural import saturate_i32
from .lowering import lowering
from .program import LoweringContext, context_of, copy_kernel
from .renderer import WORKGROUP
from .wgsl_ops import OPS, OpContext
from .wgsl_types import WType, literal, load, round_reg, store, wtype


def _fill_value(t: WType, fill_value) -> str:
    if fill_value is not None:
        return literal(t, fill_value)
    if t.kind == "f":
        return literal(t, float("nan"))
    if t.kind == "b":
        return "true"
    info = np.iinfo(t.dtype)
    return literal(t, info.min if t.kind == "i" else info.max)


def _window_starts(w: KernelWriter, operand_shape: Sequence[int], window: Sequence[int], indices: Var,
                   batch_coords: Sequence[str], batch_shape: Sequence[int], index_map: Sequence[int],
                   op_batch: Sequence[int], idx_batch: Sequence[int], clip: bool) -> tuple[list[str], str]:
    """(u32 start per operand dim, validity expression) of the window of one index vector."""
    it = wtype(indices.aval.dtype)
    n_index = indices.aval.shape[-1]
    w.line(f"let bl = {linear_expr(batch_coords, batch_shape)};")
    src = w.buffer(indices, it.dtype)
    raw = ["0"] * len(operand_shape)
    for k, d in enumerate(index_map):
        w.line(f"let ix{k} = {saturate_i32(it, load(it, f'{src}[bl * {u32(n_index)} + {u32(k)}]'))};")
        raw[d] = f"ix{k}"
    for od, bd in zip(op_batch, idx_batch):
        raw[od] = f"i32({batch_coords[bd]})"
    starts, valid = [], []
    for d, (r, n, k) in enumerate(zip(raw, operand_shape, window)):
        hi = max(n - k, 0)
        if r != "0":
            valid.append(f"({r} >= 0 && {r} <= {hi})")
        w.line(f"let st{d} = u32(clamp({r}, 0, {hi}));")
        starts.append(f"st{d}")
    return starts, ("true" if clip or not valid else " && ".join(valid))


@lowering(ix.gather_p)
def _gather(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    operand, indices = eqn.inputs
    out = eqn.out_binders[0]
    dn = eqn.params["dimension_numbers"]
    sizes = eqn.params["slice_sizes"]
    n = out.aval.size
    if n == 0:
        return
    t = wtype(operand.aval.dtype)
    w = KernelWriter("gather", WORKGROUP)
    w.line(f"if (gid >= {u32(n)}) {{ return; }}")
    coords = []
    for j, e in enumerate(coord_exprs("gid", out.aval.shape)):
        w.line(f"let c{j} = {e};")
        coords.append(f"c{j}")
    batch_coords = [c for j, c in enumerate(coords) if j not in dn.offset_dims]
    offset_coords = [coords[j] for j in sorted(dn.offset_dims)]
    batch_shape = indices.aval.shape[:-1]
    starts, valid = _window_starts(w, operand.aval.shape, sizes, indices, batch_coords, batch_shape,
                                   dn.start_index_map, dn.operand_batching_dims, dn.start_indices_batching_dims,
                                   eqn.params["mode"] == "clip")
    keep = [d for d in range(operand.aval.ndim)
            if d not in dn.collapsed_slice_dims and d not in dn.operand_batching_dims]
    window = dict(zip(keep, offset_coords))
    src = [f"({s} + {window[d]})" if d in window else s for d, s in enumerate(starts)]
    value = load(t, f"{w.buffer(operand, t.dtype)}[{linear_expr(src, operand.aval.shape)}]") if operand.aval.size \
        else _fill_value(t, eqn.params["fill_value"])
    if valid != "true":
        value = f"select({_fill_value(t, eqn.params['fill_value'])}, {value}, {valid})"
    w.line(f"{w.buffer(out, t.dtype, write=True)}[gid] = {store(t, value)};")
    ctx.launch(w, workgroups_for(n, WORKGROUP), context=context_of(eqn))


_COMBINE = {ix.scatter_add_p: "add", ix.scatter_mul_p: "mul", ix.scatter_min_p: "min", ix.scatter_max_p: "max"}
_BOOL_ATOMIC = {"add": "atomicOr", "max": "atomicOr", "mul": "atomicAnd", "min": "atomicAnd"}
_INT_ATOMIC = {"add": "atomicAdd", "max": "atomicMax", "min": "atomicMin"}


class _ScatterLayout:
    """Where each update element goes: its target's linear index, validity and its order id."""

    def __init__(self, eqn: JaxprEqn):
        operand, indices, updates = eqn.inputs
        dn = eqn.params["dimension_numbers"]
        self.dn = dn
        self.window_dims = sorted(dn.update_window_dims)
        self.scatter_dims = [d for d in range(updates.aval.ndim) if d not in dn.update_window_dims]
        it = iter(updates.aval.shape[d] for d in self.window_dims)
        self.window = [1 if d in dn.inserted_window_dims or d in dn.operand_batching_dims else next(it)
                       for d in range(operand.aval.ndim)]
        self.window_size = math.prod(updates.aval.shape[d] for d in self.window_dims)

    def emit(self, w: KernelWriter, eqn: JaxprEqn) -> tuple[str, str]:
        """Statements locating update element ``gid``: (target linear index, validity)."""
        operand, indices, updates = eqn.inputs
        dn = self.dn
        coords = []
        for j, e in enumerate(coord_exprs("gid", updates.aval.shape)):
            w.line(f"let c{j} = {e};")
            coords.append(f"c{j}")
        batch_coords = [coords[d] for d in self.scatter_dims]
        window_coords = [coords[d] for d in self.window_dims]
        starts, valid = _window_starts(w, operand.aval.shape, self.window, indices, batch_coords,
                                       indices.aval.shape[:-1], dn.scatter_dims_to_operand_dims,
                                       dn.operand_batching_dims, dn.scatter_indices_batching_dims,
                                       eqn.params["mode"] == "clip")
        keep = [d for d in range(operand.aval.ndim)
                if d not in dn.inserted_window_dims and d not in dn.operand_batching_dims]
        win = dict(zip(keep, window_coords))
        target = [f"({s} + {win[d]})" if d in win else s for d, s in enumerate(starts)]
        w.line(f"let dest = {linear_expr(target, operand.aval.shape)};")
        wshape = [updates.aval.shape[d] for d in self.window_dims]
        w.line(f"let order = bl * {u32(self.window_size)} + {linear_expr(window_coords, wshape)};")
        return "dest", valid


def _scatter_kernel(eqn: JaxprEqn, name: str) -> tuple[KernelWriter, str]:
    """A kernel over the update elements that has located its target (invalid ones return)."""
    w = KernelWriter(name, WORKGROUP)
    w.line(f"if (gid >= {u32(eqn.inputs[2].aval.size)}) {{ return; }}")
    target, valid = _ScatterLayout(eqn).emit(w, eqn)
    if valid != "true":
        w.line(f"if (!({valid})) {{ return; }}")
    return w, target


def _update_value(w: KernelWriter, eqn: JaxprEqn) -> str:
    u = eqn.inputs[2]
    t = wtype(u.aval.dtype)
    return load(t, f"{w.buffer(u, t.dtype)}[gid]")


def _copy_operand(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    operand, out = eqn.inputs[0], eqn.out_binders[0]
    n = operand.aval.size
    if n:
        w = copy_kernel(operand.aval.dtype, n, operand, out)
        ctx.launch(w, workgroups_for(n, WORKGROUP), w.pack_params({"src_offset": 0, "dst_offset": 0}),
                   context=f"{context_of(eqn)} (copy operand)")


@lowering(ix.scatter_p, ix.scatter_add_p, ix.scatter_mul_p, ix.scatter_min_p, ix.scatter_max_p)
def _scatter(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    out = eqn.out_binders[0]
    if out.aval.size == 0:
        return
    _copy_operand(ctx, eqn)
    if eqn.inputs[2].aval.size == 0:
        return
    t = wtype(out.aval.dtype)
    context = context_of(eqn)
    groups = workgroups_for(eqn.inputs[2].aval.size, WORKGROUP)
    if eqn.primitive is ix.scatter_p or eqn.params["unique_indices"]:
        if eqn.primitive is ix.scatter_p and not eqn.params["unique_indices"]:
            _elect_last(ctx, eqn, groups, context)
            return
        w, target = _scatter_kernel(eqn, f"{eqn.primitive.name}:unique")
        value = _update_value(w, eqn)
        if eqn.primitive is not ix.scatter_p:
            old = load(t, f"{w.buffer(out, t.dtype, write=True)}[{target}]")
            value = round_reg(t, _combine_expr(t, _COMBINE[eqn.primitive], old, value))
        w.line(f"{w.buffer(out, t.dtype, write=True)}[{target}] = {store(t, value)};")
        ctx.launch(w, groups, context=context)
        return
    if t.is_64:
        _sorted_segments(ctx, eqn, _COMBINE[eqn.primitive], context)
        return
    w, target = _scatter_kernel(eqn, f"{eqn.primitive.name}:atomic")
    _atomic_combine(w, eqn, t, _COMBINE[eqn.primitive], target)
    ctx.launch(w, groups, context=context)


def _combine_expr(t: WType, how: str, a: str, b: str) -> str:
    if how == "add":
        return f"({a} || {b})" if t.kind == "b" else f"({a} + {b})"
    if how == "mul":
        return f"({a} && {b})" if t.kind == "b" else f"({a} * {b})"
    p = ew.max_p if how == "max" else ew.min_p
    return OPS[p](OpContext(t, t, {}, True, how), a, b)


def _atomic_combine(w: KernelWriter, eqn: JaxprEqn, t: WType, how: str, target: str) -> None:
    out = eqn.out_binders[0]
    value = _update_value(w, eqn)
    if t.kind == "b":
        buf = w.buffer(out, t.dtype, atomic=True, element="u32")
        w.line(f"{_BOOL_ATOMIC[how]}(&{buf}[{target}], select(0u, 1u, {value}));")
        return
    if t.kind in "iu" and how in _INT_ATOMIC and not t.is_narrow:
        buf = w.buffer(out, t.dtype, atomic=True, element=t.storage)
        w.line(f"{_INT_ATOMIC[how]}(&{buf}[{target}], {value});")
        return
    buf = w.buffer(out, t.dtype, atomic=True, element="u32")
    w.line(f"let v = {value};")
    if t.storage == "f16":
        w.line(f"let word = {target} / 2u;")
        w.line(f"let shift = ({target} % 2u) * 16u;")
        w.line(f"var old = atomicLoad(&{buf}[word]);")
        w.line("loop {")
        w.line("  let cur = unpack2x16float((old >> shift) & 0xffffu).x;")
        w.line(f"  let bits = pack2x16float(vec2<f32>({_combine_expr(t, how, 'cur', 'v')}, 0.0)) & 0xffffu;")
        w.line("  let nv = (old & ~(0xffffu << shift)) | (bits << shift);")
        cas = f"atomicCompareExchangeWeak(&{buf}[word], old, nv)"
    else:
        w.line(f"var old = atomicLoad(&{buf}[{target}]);")
        w.line("loop {")
        w.line(f"  let cur = bitcast<{t.reg}>(old);")
        w.line(f"  let nv = bitcast<u32>({round_reg(t, _combine_expr(t, how, 'cur', 'v'))});")
        cas = f"atomicCompareExchangeWeak(&{buf}[{target}], old, nv)"
    w.line(f"  let r = {cas};")
    w.line("  if (r.exchanged) { break; }")
    w.line("  old = r.old_value;")
    w.line("}")


def _elect_last(ctx: LoweringContext, eqn: JaxprEqn, groups: int, context: str) -> None:
    """scatter with possibly repeated targets: the last update of each target (in update order) wins."""
    out = eqn.out_binders[0]
    t = wtype(out.aval.dtype)
    winners = ctx.scratch((out.aval.size,), np.uint32, "scatter winners")
    n = out.aval.size
    z = KernelWriter("scatter:clear-winners", WORKGROUP)
    z.line(f"if (gid >= {u32(n)}) {{ return; }}")
    z.line(f"{z.buffer(winners, np.uint32, write=True)}[gid] = 0u;")
    ctx.launch(z, workgroups_for(n, WORKGROUP), context=f"{context} (clear)")
    w, target = _scatter_kernel(eqn, "scatter:elect")
    w.line(f"atomicMax(&{w.buffer(winners, np.uint32, atomic=True)}[{target}], order + 1u);")
    ctx.launch(w, groups, context=f"{context} (elect)")
    w, target = _scatter_kernel(eqn, "scatter:write")
    w.line(f"if ({w.buffer(winners, np.uint32)}[{target}] != order + 1u) {{ return; }}")
    w.line(f"{w.buffer(out, t.dtype, write=True)}[{target}] = {store(t, _update_value(w, eqn))};")
    ctx.launch(w, groups, context=f"{context} (write)")


def _sorted_segments(ctx: LoweringContext, eqn: JaxprEqn, how: str, context: str) -> None:
    """Combine without atomics: sort the updates by (target, order), then every operand element binary-
    searches its run of updates and folds them in order."""
    out, updates = eqn.out_binders[0], eqn.inputs[2]
    t = wtype(out.aval.dtype)
    rows = Rows((updates.aval.size,), 0)
    n_pad = rows.padded
    targets = ctx.scratch((n_pad,), np.uint32, "scatter targets")
    orders = ctx.scratch((n_pad,), np.uint32, "scatter order")
    positions = ctx.scratch((n_pad,), np.uint32, "scatter positions")
    layout = _ScatterLayout(eqn)
    w = KernelWriter(f"{eqn.primitive.name}:keys", WORKGROUP)
    w.line(f"if (gid >= {u32(n_pad)}) {{ return; }}")
    w.line("var key = 0xffffffffu;\n  var order_key = 0xffffffffu;")
    w.line(f"if (gid < {u32(updates.aval.size)}) {{")
    target, valid = layout.emit(w, eqn)
    w.line(f"  if ({valid}) {{ key = {target}; order_key = order; }}")
    w.line("}")
    for slot, value in ((targets, "key"), (orders, "order_key"), (positions, "gid")):
        w.line(f"{w.buffer(slot, np.uint32, write=True)}[gid] = {value};")
    ctx.launch(w, workgroups_for(n_pad, WORKGROUP), context=f"{context} (sort keys)")
    bitonic(ctx, [targets, orders, positions], rows, context)
    n = out.aval.size
    f = KernelWriter(f"{eqn.primitive.name}:fold", WORKGROUP)
    keys, pos = f.buffer(targets, np.uint32), f.buffer(positions, np.uint32)
    dst, src = f.buffer(out, t.dtype, write=True), f.buffer(updates, t.dtype)
    f.line(f"if (gid >= {u32(n)}) {{ return; }}")
    f.line(f"var lo = 0u;\n  var hi = {u32(n_pad)};")
    f.line("loop {\n    if (lo >= hi) { break; }\n    let mid = (lo + hi) / 2u;")
    f.line(f"  if ({keys}[mid] < gid) {{ lo = mid + 1u; }} else {{ hi = mid; }}\n  }}")
    f.line(f"var acc = {load(t, f'{dst}[gid]')};")
    f.loops(n_pad + n_pad.bit_length())  # (at worst every update goes to one index)
    f.line(f"for (var k = lo; k < {u32(n_pad)} && {keys}[k] == gid; k = k + 1u) {{")
    f.line(f"  acc = {round_reg(t, _combine_expr(t, how, 'acc', load(t, f'{src}[{pos}[k]]')))};")
    f.line("}")
    f.line(f"{dst}[gid] = {store(t, 'acc')};")
    ctx.launch(f, workgroups_for(n, WORKGROUP), context=f"{context} (fold)")
