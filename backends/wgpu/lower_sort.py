"""sort (multi-operand, ``num_keys`` lexicographic keys) and top_k, by a bitonic sort of u32 keys.

1. A key kernel turns each row's keys into u32 words whose unsigned order is the wanted order (floats:
   NaN last and -0.0 before 0.0 for sort; top_k: the descending total order of the bits), pads each row
   to a power of two with all-ones words, and stores each element's position alongside.
2. A bitonic network sorts (words..., position) lexicographically; the position makes it stable. Rows
   whose keys fit in workgroup memory are sorted by one dispatch (one workgroup per row); longer rows
   take one dispatch per network stage.
3. A gather kernel permutes every operand by the sorted positions (top_k also writes them as indices).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from portax.core.ir import JaxprEqn, Var
from portax.core.primitives import sorting as so, windowed as wd

from .errors import LimitExceededError
from .kernel_writer import KernelWriter, u32, workgroups_for
from .lowering import lowering
from .program import LoweringContext, context_of
from .renderer import WORKGROUP
from .wgsl_types import WType, is_nan, load, store, wtype


class Rows:
    """The rows along ``axis`` of an array of ``shape``: element (r, i) is at ``base(r) + i * inner``."""

    def __init__(self, shape: Sequence[int], axis: int):
        self.length = shape[axis]
        self.inner = math.prod(shape[axis + 1:])
        self.count = math.prod(shape) // self.length if self.length else 0
        self.padded = 1 << max(0, (self.length - 1).bit_length())

    def addr(self, r: str, i: str, length: int | None = None) -> str:
        n = self.length if length is None else length
        inner = u32(self.inner)
        return f"(({r}) / {inner}) * {u32(n * self.inner)} + ({r}) % {inner} + ({i}) * {inner}"


def key_words(t: WType, v: str, descending_total: bool) -> list[str]:
    """u32 words (most significant first) of register value ``v`` ordered as wanted."""
    if t.kind == "b":
        words = [f"select(0u, 1u, {v})"]
    elif t.kind in "iu":
        flip = (1 << (63 if t.is_64 else 31)) if t.kind == "i" else 0  # narrow ints are sign-extended words
        bits = f"bitcast<{t.uint}>({v})"
        if t.is_64:
            key = f"({bits} ^ {flip:#x}lu)" if flip else bits
            words = [f"u32({key} >> 32u)", f"u32({key} & 0xfffffffflu)"]
        else:
            words = [f"({bits} ^ {flip:#x}u)" if flip else bits]
    else:
        words = _float_words(t, v, descending_total)
    return [f"~{w}" for w in words] if descending_total else words


def _float_words(t: WType, v: str, bits_total: bool) -> list[str]:
    u, sign = (("u64", "0x8000000000000000lu"), ("u32", "0x80000000u"))[0 if t.is_64 else 1]
    ones = "0xfffffffffffffffflu" if t.is_64 else "0xffffffffu"
    bits = f"bitcast<{u}>({v})"
    key = f"select({bits} ^ {sign}, ~{bits}, ({bits} & {sign}) != {'0lu' if t.is_64 else '0u'})"
    if not bits_total:  # sort: every NaN after +inf
        key = f"select({key}, {ones}, {is_nan(t, v)})"
    if t.is_64:
        return [f"u32(({key}) >> 32u)", f"u32(({key}) & 0xfffffffflu)"]
    return [key]


def _sort_keys(ctx, keys: Sequence[Var], rows: Rows, descending_total: bool, context: str) -> list:
    """Scratch arrays (rows x padded) of the key words and of the positions."""
    n = rows.count * rows.padded
    w = KernelWriter("sort-keys", WORKGROUP)
    w.line(f"if (gid >= {u32(n)}) {{ return; }}")
    w.line(f"let r = gid / {u32(rows.padded)};")
    w.line(f"let i = gid % {u32(rows.padded)};")
    w.line(f"let real = i < {u32(rows.length)};")
    w.line(f"let at = {rows.addr('r', f'min(i, {u32(rows.length - 1)})')};")
    words = []
    for k in keys:
        t = wtype(k.aval.dtype)
        value = load(t, f"{w.buffer(k, t.dtype)}[at]")
        words.extend(key_words(t, value, descending_total))
    slots = [ctx.scratch((n,), np.uint32, f"sort key {j}") for j in range(len(words))]
    positions = ctx.scratch((n,), np.uint32, "sort positions")
    if len(slots) + len(keys) + 1 > ctx.limits.max_storage_buffers_per_shader_stage:
        raise LimitExceededError(f"sorting by {len(keys)} keys needs {len(slots) + len(keys) + 1} storage buffers "
                                 f"in one kernel, more than this device's "
                                 f"{ctx.limits.max_storage_buffers_per_shader_stage}", context)
    for slot, word in zip(slots, words):
        w.line(f"{w.buffer(slot, np.uint32, write=True)}[gid] = select(0xffffffffu, {word}, real);")
    w.line(f"{w.buffer(positions, np.uint32, write=True)}[gid] = i;")
    ctx.launch(w, workgroups_for(n, WORKGROUP), context=context)
    return slots + [positions]


def _less(a: list[str], b: list[str]) -> str:
    """Lexicographic a < b over u32 words (the last word, the position, is unique per row)."""
    expr = f"({a[-1]} < {b[-1]})"
    for x, y in zip(reversed(a[:-1]), reversed(b[:-1])):
        expr = f"({x} < {y} || ({x} == {y} && {expr}))"
    return expr


def _compare_exchange(w: KernelWriter, arrays: list[str], i: str, l: str, up: str, indent: str = "") -> None:
    """Swap elements i < l of every array when they are out of order for direction ``up``."""
    a = [f"{arr}[{i}]" for arr in arrays]
    b = [f"{arr}[{l}]" for arr in arrays]
    w.line(f"{indent}if ({_less(b, a)} == {up}) {{")
    for arr in arrays:
        w.line(f"{indent}  let tmp_{arr} = {arr}[{i}]; {arr}[{i}] = {arr}[{l}]; {arr}[{l}] = tmp_{arr};")
    w.line(f"{indent}}}")


def bitonic(ctx, slots: list, rows: Rows, context: str) -> None:
    p = rows.padded
    if p == 1:
        return
    shared_bytes = 4 * len(slots) * p
    if shared_bytes <= ctx.limits.max_compute_workgroup_storage_size and p <= 4096:
        _bitonic_local(ctx, slots, rows, context)
        return
    pairs = rows.count * p // 2
    stage = 0
    k = 2
    while k <= p:
        j = k // 2
        while j >= 1:
            w = KernelWriter("bitonic-stage", WORKGROUP)
            names = [w.buffer(s, np.uint32, write=True) for s in slots]
            w.line(f"if (gid >= {u32(pairs)}) {{ return; }}")
            jj, kk = w.param("j"), w.param("k")
            w.line(f"let r = gid / {u32(p // 2)};")
            w.line(f"let q = gid % {u32(p // 2)};")
            w.line(f"let lo = (q / {jj}) * {jj} * 2u + q % {jj};")
            w.line(f"let i = r * {u32(p)} + lo;")
            w.line(f"let l = i + {jj};")
            _compare_exchange(w, names, "i", "l", f"((lo & {kk}) == 0u)")
            ctx.launch(w, workgroups_for(pairs, WORKGROUP), w.pack_params({"j": j, "k": k}),
                       context=f"{context} (bitonic stage {stage})")
            stage += 1
            j //= 2
        k *= 2


def _bitonic_local(ctx, slots: list, rows: Rows, context: str) -> None:
    """One workgroup per row sorts it entirely in workgroup memory."""
    p = rows.padded
    threads = min(WORKGROUP, p // 2)
    w = KernelWriter("bitonic-local", threads)
    names = [w.buffer(s, np.uint32, write=True) for s in slots]
    local = [f"s{j}" for j in range(len(slots))]
    for name in local:
        w.shared.append(f"var<workgroup> {name}: array<u32, {p}>;")
    w.line(f"let r = wg;\n  if (r >= {u32(rows.count)}) {{ return; }}")
    w.line(f"let base = r * {u32(p)};")
    stages = p.bit_length() * (p.bit_length() - 1) // 2
    w.loops(2 * -(-p // threads) + p.bit_length() + stages * (1 + -(-(p // 2) // threads)))
    w.line(f"for (var e = lid; e < {u32(p)}; e = e + {u32(threads)}) {{")
    for g, s in zip(names, local):
        w.line(f"  {s}[e] = {g}[base + e];")
    w.line("}")
    w.line("workgroupBarrier();")
    w.line(f"for (var k = 2u; k <= {u32(p)}; k = k << 1u) {{")
    w.line("  for (var j = k >> 1u; j > 0u; j = j >> 1u) {")
    w.line(f"    for (var q = lid; q < {u32(p // 2)}; q = q + {u32(threads)}) {{")
    w.line("      let i = (q / j) * j * 2u + q % j;")
    w.line("      let l = i + j;")
    _compare_exchange(w, local, "i", "l", "((i & k) == 0u)", "      ")
    w.line("    }")
    w.line("    workgroupBarrier();")
    w.line("  }")
    w.line("}")
    w.line(f"for (var e = lid; e < {u32(p)}; e = e + {u32(threads)}) {{")
    for g, s in zip(names, local):
        w.line(f"  {g}[base + e] = {s}[e];")
    w.line("}")
    ctx.launch(w, rows.count, context=f"{context} (bitonic)")


def _permute(ctx, operands: Sequence[Var], outputs: Sequence[Var], positions, rows: Rows, out_len: int,
             context: str, indices: Var | None = None) -> None:
    """outputs[r, i] = operands[r, positions[r, i]] for i < out_len; ``indices`` gets the positions."""
    n = rows.count * out_len
    if n == 0:
        return
    per = max(1, (ctx.limits.max_storage_buffers_per_shader_stage - 1) // 2)
    pairs = list(zip(operands, outputs))
    groups = [pairs[i:i + per] for i in range(0, len(pairs), per)] or [[]]
    for g, group in enumerate(groups):
        w = KernelWriter("sort-permute", WORKGROUP)
        w.line(f"if (gid >= {u32(n)}) {{ return; }}")
        w.line(f"let r = gid / {u32(out_len)};")
        w.line(f"let i = gid % {u32(out_len)};")
        w.line(f"let src = {w.buffer(positions, np.uint32)}[r * {u32(rows.padded)} + i];")
        dst = rows.addr("r", "i", out_len)
        for x, y in group:
            t = wtype(x.aval.dtype)
            w.line(f"{w.buffer(y, t.dtype, write=True)}[{dst}] = {w.buffer(x, t.dtype)}[{rows.addr('r', 'src')}];")
        if indices is not None and g == 0:
            it = wtype(indices.aval.dtype)
            w.line(f"{w.buffer(indices, it.dtype, write=True)}[{dst}] = {store(it, f'{it.reg}(src)')};")
        ctx.launch(w, workgroups_for(n, WORKGROUP), context=context)


@lowering(so.sort_p)
def _sort(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    dim, num_keys = eqn.params["dimension"], eqn.params["num_keys"]
    rows = Rows(eqn.inputs[0].aval.shape, dim)
    if rows.count == 0:
        return
    context = context_of(eqn)
    slots = _sort_keys(ctx, eqn.inputs[:num_keys], rows, False, context)
    bitonic(ctx, slots, rows, context)
    _permute(ctx, eqn.inputs, eqn.out_binders, slots[-1], rows, rows.length, context)


@lowering(wd.top_k_p)
def _top_k(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    x = eqn.inputs[0]
    values, indices = eqn.out_binders
    rows = Rows(x.aval.shape, eqn.params["axis"])
    k = eqn.params["k"]
    if rows.count == 0 or k == 0:
        return
    context = context_of(eqn)
    slots = _sort_keys(ctx, [x], rows, True, context)
    bitonic(ctx, slots, rows, context)
    _permute(ctx, [x], [values], slots[-1], rows, k, context, indices=indices)
