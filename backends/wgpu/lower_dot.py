"""dot_general: any dimension numbers, in the canonical form ``out[b, m, n] = sum_k lhs[b, m, k] rhs[b, k, n]``.

Each operand is read through three strides (batch, free, contracting group), so transposed operands
cost nothing; a group whose dimensions cannot merge into one stride is first copied into canonical
order. Three kernels; small products take the adapter type's default:

* ``blocked``: each invocation computes 4x4 outputs in registers, with vec4 loads where the layout allows,
  and no barriers (which are costly on CPUs); a workgroup takes a row of 64 such blocks;
* ``blocked_square`` (CPU adapters such as lavapipe): ``blocked`` with a workgroup on up to 8x8 blocks, whose
  operand rows and columns stay in the cache of the thread running the workgroup;
* ``tiled`` (GPUs): 64x64 output tiles per workgroup of 16x16 invocations (4x4 outputs each), with
  16-deep slices of both operands staged in workgroup memory.

A ``contraction`` kernel of ``core.fusion`` (the product and its elementwise consumers) computes the consumers
on each output element in registers before storing (the fused epilogue). A long contraction is split along k
(``split_k``: past the driver's loop trip limit, or long with few outputs): partial products per chunk of k,
summed by a reduce kernel, then the epilogue as a loop kernel.

Accumulation: f32 for f16/f32, f64 for f64, the integer type for integers (wrapping, like the
reference), a u32 count for bool. Big products pick their variant by timing each on the device (``autotune``,
remembered per adapter); ``PORTAX_WGPU_MATMUL=blocked|blocked_square|tiled`` forces one.
"""
from __future__ import annotations

import math
from typing import Sequence

from portax.core.fusion import Kernel
from portax.core.ir import JaxprEqn
from portax.core.primitives import contractions as ct

from . import autotune, split_k
from .kernel_writer import KernelWriter, coord_exprs, strides, u32, workgroups_for
from .lowering import lowering
from .program import LoweringContext, context_of, lower_fused
from .renderer import WORKGROUP, ElementEmitter, Scratch, store_outputs
from .wgsl_ops import convert
from .wgsl_types import WType, load, positive_zero, round_reg, store, wtype

def _group_stride(shape: Sequence[int], st: Sequence[int], dims: Sequence[int]) -> int | None:
    """The single stride addressing the linearised ``dims`` group, or None if they do not merge."""
    live = [d for d in dims if shape[d] != 1]
    if not live:
        return 0
    for a, b in zip(live, live[1:]):
        if st[a] != st[b] * shape[b]:
            return None
    return st[live[-1]]


def operand_view(ctx: LoweringContext, var, groups: Sequence[Sequence[int]], context: str):
    """(buffer slot, stride per group) reading ``var`` as a 3-D array over ``groups`` of its dims;
    copies it into canonical order when a group does not merge."""
    slot, found, steps = operand_view_steps(var, groups)
    for w, n in steps:
        ctx.launch(w, n, context=context)
    return slot, found


def operand_view_steps(var, groups: Sequence[Sequence[int]]):
    """``operand_view`` as (slot, strides, [(writer, workgroups)] of the copy to launch first, if any)."""
    shape = var.aval.shape
    st = strides(shape)
    found = [_group_stride(shape, st, g) for g in groups]
    if all(s is not None for s in found):
        return var, found, []
    order = [d for g in groups for d in g]
    new_shape = [shape[d] for d in order]
    scratch = Scratch(new_shape, var.aval.dtype, "canonical operand")
    n = math.prod(new_shape)
    w = KernelWriter(f"dot-canonicalize:{var.aval.str_short()}", WORKGROUP)
    w.line(f"if (gid >= {u32(n)}) {{ return; }}")
    coords = coord_exprs("gid", new_shape)
    index = " + ".join(f"({c}) * {u32(st[d])}" for c, d in zip(coords, order) if shape[d] != 1) or "0u"
    t = wtype(var.aval.dtype)
    w.line(f"{w.buffer(scratch, t.dtype, write=True)}[gid] = {w.buffer(var, t.dtype)}[{index}];")
    sizes = [math.prod(shape[d] for d in g) for g in groups]
    canon = strides(sizes)
    return scratch, [c if s != 1 else 0 for c, s in zip(canon, sizes)], [(w, workgroups_for(n, WORKGROUP))]


def _acc_type(t: WType) -> str:
    if t.kind == "b":
        return "u32"
    return t.reg


def _value(t: WType, expr: str) -> str:
    """An operand element as an accumulator-type value."""
    return f"select(0u, 1u, {expr})" if t.kind == "b" else expr


@lowering(ct.dot_general_p)
def dot_general(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    """The built-in lowering (a backend plugin may replace it: then products get no epilogue)."""
    lower_contraction(ctx, eqn)


def lower_contraction(ctx: LoweringContext, eqn: JaxprEqn, kernel: Kernel | None = None) -> None:
    """``eqn`` (a dot_general) as one dispatch; with ``kernel`` (a ``contraction`` kernel of ``core.fusion``
    whose first equation is ``eqn``) the rest of the kernel runs on each output element before it is stored."""
    lhs, rhs = eqn.inputs
    out = eqn.out_binders[0]
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lfree = [d for d in range(lhs.aval.ndim) if d not in lc and d not in lb]
    rfree = [d for d in range(rhs.aval.ndim) if d not in rc and d not in rb]
    size = lambda var, dims: math.prod(var.aval.shape[d] for d in dims)
    B, M, K, N = size(lhs, lb), size(lhs, lfree), size(lhs, lc), size(rhs, rfree)
    if B * M * N == 0:
        return
    context = context_of(eqn)
    a, (sab, sam, sak) = operand_view(ctx, lhs, [lb, lfree, lc], context)
    b, (sbb, sbk, sbn) = operand_view(ctx, rhs, [rb, rc, rfree], context)
    spec = lambda k: MatmulSpec(a, b, out, B, M, K, N, (sab, sam, sak), (sbb, sbk, sbn), wtype(lhs.aval.dtype),
                                wtype(out.aval.dtype), k, ctx.caps)
    name = matmul_variant(ctx, spec(None))
    run_matmul(ctx, spec(kernel), name, context, name)


def run_matmul(ctx: LoweringContext, spec: "MatmulSpec", variant: str, context: str, tag: str) -> None:
    """Launch the matmul kernel ``variant`` for ``spec`` (its context: ``context [tag]``), split along k
    (``split_k``) when its invocations' loops would be too long: then the chunks' partial products are summed
    into the output, and a fused epilogue runs after that as a loop kernel."""
    w, groups = VARIANTS[variant](spec)
    spec.split = split_k.plan(ctx, w.trips, groups, spec.K, spec.out, split_k.acc_dtype(spec.acc), KTILE)
    if spec.split is None:
        ctx.launch(w, groups, context=f"{context} [{tag}]")
        return
    ctx.launch(*VARIANTS[variant](spec), context=f"{context}{split_k.label(spec.split)} [{tag}]")
    split_k.combine(ctx, spec.split, "sum", spec.out)
    if spec.kernel is not None and len(spec.kernel.eqns) > 1:
        k = spec.kernel
        lower_fused(ctx, Kernel("loop", k.eqns[1:], k.shape, [spec.out, *k.inputs],
                                [v for v in k.outputs if v is not spec.out]))


def matmul_variant(ctx: LoweringContext, spec: "MatmulSpec") -> str:
    """The matmul kernel (a key of ``VARIANTS``) for the product ``spec`` on this device."""
    s = spec
    return autotune.choose(ctx.device, "matmul", f"{s.t.dtype}:{autotune.size_class(s.B, s.M, s.K, s.N)}",
                           s.B * s.M * s.K * s.N, _cpu_default(s) if ctx.caps.is_cpu else "tiled",
                           {name: (lambda v=variant: v(s)) for name, variant in VARIANTS.items()})


def _cpu_default(s: "MatmulSpec") -> str:
    """``blocked_square`` for a long contraction (operand reads dominate) with 8x8 blocks of 4x4 outputs for
    a workgroup, else ``blocked`` (output rows stored whole; its workgroups also span products of a batch)."""
    return "blocked_square" if s.K >= 256 and s.M * s.N >= 1024 else "blocked"


class MatmulSpec:
    """One product ``out[b, m, n] = sum_k a[b, m, k] b[b, k, n]``: operand slots and strides, sizes, types, the
    fused epilogue's kernel (or None) and the device's capabilities."""

    def __init__(self, a, b, out, B, M, K, N, sa, sb, t: WType, out_t: WType, kernel: Kernel | None, caps):
        self.a, self.b, self.out = a, b, out
        self.B, self.M, self.K, self.N = B, M, K, N
        self.sa, self.sb = sa, sb
        self.t, self.out_t = t, out_t
        self.acc = _acc_type(t)
        self.kernel, self.caps = kernel, caps
        self.split: split_k.Split | None = None  # set by ``run_matmul``: the kernels compute partial products

    def k_range(self, w: KernelWriter, cell: str, cells: int) -> tuple[str, str, str]:
        """(cell index, first k, end k) of invocation or workgroup ``cell`` of a grid of ``cells`` per chunk."""
        if self.split is None:
            return cell, "0u", u32(self.K)
        w.line(f"let chunk = {cell} / {u32(cells)};")
        w.line(f"let cell = {cell} % {u32(cells)};")
        return ("cell", *self.split.bounds(w, "chunk"))

    def k_trips(self, step: int) -> int:
        """Iterations of a loop over this kernel's k range in steps of ``step``."""
        return -(-(self.K if self.split is None else self.split.length) // step)

    def store(self, w: KernelWriter, acc: str, m: str, n: str, cond: str) -> None:
        """Store accumulator ``acc`` at output (b, m, n) where ``cond`` holds; with an epilogue, compute it
        there and store the kernel's outputs instead."""
        acc_t = wtype("uint32") if self.t.kind == "b" else self.t
        value = round_reg(self.out_t, convert(acc_t, self.out_t, positive_zero(acc_t, acc)))  # sums start at +0.0
        index = f"(bb * {u32(self.M)} + {m}) * {u32(self.N)} + {n}"
        if self.split is not None:
            dest = w.buffer(self.split.partials, self.split.partials.aval.dtype, write=True)
            w.line(f"if ({cond}) {{ {dest}[chunk * {u32(self.B * self.M * self.N)} + {index}] = {acc}; }}")
            return
        if self.kernel is None:
            dest = w.buffer(self.out, self.out_t.dtype, write=True)
            w.line(f"if ({cond}) {{ {dest}[{index}] = {store(self.out_t, value)}; }}")
            return
        w.line(f"if ({cond}) {{")
        w.line(f"let o = {index};")
        shape = self.kernel.shape
        em = ElementEmitter(w, shape, "o", coord_exprs("o", shape), self.caps)
        em.env[self.out] = em.let(value, "d")
        em.computed.add(self.out)
        for e in self.kernel.eqns[1:]:
            em.emit(e)
        store_outputs(em, self.kernel.outputs, em.flat)
        w.line("}")

    def vec4_ok(self, strides_: Sequence[int], contiguous: int) -> bool:
        """Whether an operand can be read as vec4 along its group ``contiguous`` (stride 1)."""
        return (self.t.storage in ("f32", "i32", "u32") and self.t.kind != "b" and strides_[contiguous] == 1
                and all(s % 4 == 0 for i, s in enumerate(strides_) if i != contiguous))


def _blocked(s: MatmulSpec, square: bool = False) -> tuple[KernelWriter, int]:
    """4x4 outputs per invocation, operands streamed along k; vec4 loads where aligned. A workgroup's 64
    invocations take a row of 64 blocks, or with ``square`` up to 8x8 blocks (``_blocked_square``)."""
    tm, tn = -(-s.M // 4), -(-s.N // 4)
    total = s.B * tm * tn
    w = KernelWriter(f"dot:{'blocked_square' if square else 'blocked'}:{s.B}x{s.M}x{s.K}x{s.N}", 64)
    t, acc = s.t, s.acc
    vec = f"vec4<{acc}>"
    a_vec = s.vec4_ok(s.sa, 2) and s.K % 4 == 0
    b_vec = s.vec4_ok(s.sb, 2) and s.N % 4 == 0
    a = w.buffer(s.a, t.dtype, element=f"vec4<{t.storage}>" if a_vec else None)
    b = w.buffer(s.b, t.dtype, element=f"vec4<{t.storage}>" if b_vec else None)
    (sab, sam, sak), (sbb, sbk, sbn) = s.sa, s.sb
    chunks = 1 if s.split is None else s.split.chunks
    if square:
        p2 = lambda n: 1 << (n - 1).bit_length()
        wy = min(64 // min(8, p2(tn)), p2(tm))  # block rows and columns per workgroup: 8x8, fewer on a short
        wx = min(64 // wy, p2(tn))  # side, as many as fit on the other
        gx, gy = -(-tn // wx), -(-tm // wy)
        groups = s.B * gx * gy * chunks
        w.line(f"if (wg >= {u32(groups)}) {{ return; }}")
        cell, k_begin, k_end = s.k_range(w, "wg", s.B * gx * gy)
        w.line(f"let nt = ({cell} % {u32(gx)}) * {u32(wx)} + lid % {u32(wx)};")
        w.line(f"let mt = (({cell} / {u32(gx)}) % {u32(gy)}) * {u32(wy)} + lid / {u32(wx)};")
        w.line(f"let bb = {cell} / {u32(gx * gy)};")
        w.line(f"if (nt >= {u32(tn)} || mt >= {u32(tm)}) {{ return; }}")
    else:
        groups = workgroups_for(total * chunks, 64)
        w.line(f"if (gid >= {u32(total * chunks)}) {{ return; }}")
        cell, k_begin, k_end = s.k_range(w, "gid", total)
        w.line(f"let nt = {cell} % {u32(tn)};")
        w.line(f"let mt = ({cell} / {u32(tn)}) % {u32(tm)};")
        w.line(f"let bb = {cell} / {u32(tn * tm)};")
    w.line("let m0 = mt * 4u;")
    w.line("let n0 = nt * 4u;")
    for i in range(4):
        w.line(f"let ar{i} = bb * {u32(sab)} + min(m0 + {i}u, {u32(s.M - 1)}) * {u32(sam)};")
        w.line(f"var acc{i} = {vec}();")
    w.line(f"let bbase = bb * {u32(sbb)};")
    if not b_vec:
        for j in range(4):
            w.line(f"let bc{j} = min(n0 + {j}u, {u32(s.N - 1)}) * {u32(sbn)};")

    def a_elem(i: int, k: str) -> str:
        return _value(t, load(t, f"{a}[ar{i} + ({k}) * {u32(sak)}]"))

    def b_row(k: str) -> str:
        if b_vec:
            return f"{vec}({b}[(bbase + ({k}) * {u32(sbk)} + n0) / 4u])"
        return f"{vec}(" + ", ".join(_value(t, load(t, f"{b}[bbase + ({k}) * {u32(sbk)} + bc{j}]"))
                                     for j in range(4)) + ")"

    w.loops(s.k_trips(4 if a_vec else 1))
    if a_vec:
        w.line(f"for (var k = {k_begin}; k < {k_end}; k = k + 4u) {{")
        for kk in range(4):
            w.line(f"  let br{kk} = {b_row(f'k + {kk}u')};")
        for i in range(4):
            w.line(f"  let av{i} = {vec}({a}[(ar{i} + k) / 4u]);")
            w.line(f"  acc{i} = acc{i} + av{i}.x * br0 + av{i}.y * br1 + av{i}.z * br2 + av{i}.w * br3;")
        w.line("}")
    else:
        w.line(f"for (var k = {k_begin}; k < {k_end}; k = k + 1u) {{")
        w.line(f"  let br = {b_row('k')};")
        for i in range(4):
            w.line(f"  acc{i} = acc{i} + {a_elem(i, 'k')} * br;")
        w.line("}")
    for i in range(4):
        w.line(f"if (m0 + {i}u < {u32(s.M)}) {{")
        for j, comp in enumerate("xyzw"):
            s.store(w, f"acc{i}.{comp}", f"m0 + {i}u", f"n0 + {j}u", f"n0 + {j}u < {u32(s.N)}")
        w.line("}")
    return w, groups


def _blocked_square(s: MatmulSpec) -> tuple[KernelWriter, int]:
    """``_blocked`` with a workgroup's invocations on up to 8x8 blocks: on CPU adapters, where a workgroup
    runs on one thread, its blocks then share operand rows and columns in cache."""
    return _blocked(s, square=True)


TILE, KTILE = 64, 16


def _tiled(s: MatmulSpec) -> tuple[KernelWriter, int]:
    """64x64 output tile per workgroup; 16x16 invocations with 4x4 outputs each; operands staged in
    workgroup memory 16 deep along k."""
    tm, tn = -(-s.M // TILE), -(-s.N // TILE)
    w = KernelWriter(f"dot:tiled:{s.B}x{s.M}x{s.K}x{s.N}", 256)
    t, acc = s.t, s.acc
    a = w.buffer(s.a, t.dtype)
    b = w.buffer(s.b, t.dtype)
    (sab, sam, sak), (sbb, sbk, sbn) = s.sa, s.sb
    w.shared.append(f"var<workgroup> tile_a: array<{acc}, {TILE * KTILE}>;")
    w.shared.append(f"var<workgroup> tile_b: array<{acc}, {TILE * KTILE}>;")
    zero = "0u" if acc == "u32" else f"{acc}(0)"
    chunks = 1 if s.split is None else s.split.chunks
    w.line(f"if (wg >= {u32(s.B * tm * tn * chunks)}) {{ return; }}")
    cell, k_begin, k_end = s.k_range(w, "wg", s.B * tm * tn)
    w.line(f"let nt = {cell} % {u32(tn)};")
    w.line(f"let mt = ({cell} / {u32(tn)}) % {u32(tm)};")
    w.line(f"let bb = {cell} / {u32(tn * tm)};")
    w.line(f"let m0 = mt * {TILE}u;")
    w.line(f"let n0 = nt * {TILE}u;")
    w.line("let tx = lid % 16u;")
    w.line("let ty = lid / 16u;")
    for i in range(4):
        w.line(f"var acc{i} = vec4<{acc}>();")
    w.loops(s.k_trips(KTILE) * (KTILE + 1))
    w.line(f"for (var k0 = {k_begin}; k0 < {k_end}; k0 = k0 + {KTILE}u) {{")
    for q in range(TILE * KTILE // 256):
        w.line(f"  let ia{q} = lid + {256 * q}u;")
        w.line(f"  let am{q} = m0 + ia{q} / {KTILE}u;")
        w.line(f"  let ak{q} = k0 + ia{q} % {KTILE}u;")
        a_val = _value(t, load(t, f"{a}[bb * {u32(sab)} + am{q} * {u32(sam)} + ak{q} * {u32(sak)}]"))
        w.line(f"  tile_a[ia{q}] = select({zero}, {a_val}, am{q} < {u32(s.M)} && ak{q} < {k_end});")
        w.line(f"  let bk{q} = k0 + ia{q} / {TILE}u;")
        w.line(f"  let bn{q} = n0 + ia{q} % {TILE}u;")
        b_val = _value(t, load(t, f"{b}[bb * {u32(sbb)} + bk{q} * {u32(sbk)} + bn{q} * {u32(sbn)}]"))
        w.line(f"  tile_b[ia{q}] = select({zero}, {b_val}, bk{q} < {k_end} && bn{q} < {u32(s.N)});")
    w.line("  workgroupBarrier();")
    w.line(f"  for (var kk = 0u; kk < {KTILE}u; kk = kk + 1u) {{")
    w.line(f"    let bv = vec4<{acc}>(tile_b[kk * {TILE}u + tx * 4u], tile_b[kk * {TILE}u + tx * 4u + 1u], "
           f"tile_b[kk * {TILE}u + tx * 4u + 2u], tile_b[kk * {TILE}u + tx * 4u + 3u]);")
    for i in range(4):
        w.line(f"    acc{i} = acc{i} + tile_a[(ty * 4u + {i}u) * {KTILE}u + kk] * bv;")
    w.line("  }")
    w.line("  workgroupBarrier();")
    w.line("}")
    for i in range(4):
        w.line(f"let row{i} = m0 + ty * 4u + {i}u;")
        w.line(f"if (row{i} < {u32(s.M)}) {{")
        for j, comp in enumerate("xyzw"):
            s.store(w, f"acc{i}.{comp}", f"row{i}", f"n0 + tx * 4u + {j}u", f"n0 + tx * 4u + {j}u < {u32(s.N)}")
        w.line("}")
    return w, s.B * tm * tn * chunks


VARIANTS = {"blocked": _blocked, "blocked_square": _blocked_square, "tiled": _tiled}
