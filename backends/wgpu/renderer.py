"""WGSL for fused kernels (``core.fusion``): one function per kernel kind, in the tinygrad spirit.

``ElementEmitter`` turns a fused chain into statements computing every value at one element of the
iteration shape: elementwise equations through the op table, index-mapped loads (broadcast, transpose,
reshape, slice, rev, squeeze) as affine maps from the element's coordinates, iota from a coordinate.
``render_loop`` runs it once per element (the ``vec4`` variant: for four consecutive elements per invocation,
their 32-bit operands loaded and stored as ``vec4``); ``render_reduce`` runs it per reduced element, each
invocation folding grid-strided elements or a contiguous run of them, and combines within a workgroup by one of
the ``FOLDS`` (a tree in workgroup memory, or subgroup operations where the adapter has them), or by a loop
per output when outputs are many and rows short.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from portax.core.fusion import Kernel
from portax.core.ir import JaxprEqn, Literal, Var
from portax.core.primitives import elementwise as ew, reductions as red, structural as st

from .kernel_writer import KernelWriter, coord_exprs, linear_expr, strides, u32, workgroups_for
from .wgsl_ops import OPS, OpContext, convert
from .wgsl_types import highest, is_nan, literal, load, lowest, positive_zero, round_reg, store, wtype

WORKGROUP = 256


class Scratch:
    """A device buffer a lowering needs besides the jaxpr's variables (partials, sort keys...)."""

    __slots__ = ("shape", "dtype", "label")

    def __init__(self, shape: Sequence[int], dtype, label: str = "scratch"):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.label = label

    def __repr__(self) -> str:
        return f"Scratch({self.label}, {self.shape}, {self.dtype})"


class ElementEmitter:
    """Statements computing a fused chain at one element of ``shape``, given the expressions of the
    element's coordinates and linear index (each computed once, on first use)."""

    def __init__(self, w: KernelWriter, shape: Sequence[int], flat: str, coords: Sequence[str], caps,
                 vectors: dict | None = None):
        self.w = w
        self.shape = tuple(shape)
        self.caps = caps
        self.env: dict = {}  # atom -> register holding its value at this element
        self.computed: set = set()  # variables defined by the kernel's equations (not loaded)
        self.reads: dict = {}  # loaded variable -> {whether a read was at the element's own index}
        self.vectors = vectors or {}  # variable -> ``vec4`` register holding its value at ``lane`` (vec4 loops)
        self._n = 0
        self._literals: set = set()  # literal expressions handed out (an op of these alone is a WGSL constant)
        self._flat_expr = flat
        self._flat: str | None = None
        self._coord_exprs = list(coords)
        self._coords: dict[int, str] = {}

    def let(self, expr: str, prefix: str = "v") -> str:
        self._n += 1
        name = f"{prefix}{self._n}"
        self.w.line(f"let {name} = {expr};")
        return name

    def var(self, expr: str) -> str:
        """``expr`` in a function-scope variable: reading it is no WGSL constant expression, so an op of
        literals only (``1.0 / 0.0``, an overflow) runs at run time instead of failing shader creation."""
        self._n += 1
        name = f"r{self._n}"
        self.w.line(f"var {name} = {expr};")
        return name

    @property
    def flat(self) -> str:
        if self._flat is None:
            e = self._flat_expr
            self._flat = e if e.isidentifier() or e == "0u" else self.let(e, "f")
        return self._flat

    def coord(self, j: int) -> str:
        if j not in self._coords:
            e = self._coord_exprs[j]
            self._coords[j] = e if e.isidentifier() or e == "0u" else self.let(e, "c")
        return self._coords[j]

    def value(self, atom) -> str:
        """The register expression of ``atom`` at this element."""
        if type(atom) is Literal:
            text = literal(wtype(atom.aval.dtype), atom.val)
            self._literals.add(text)
            return text
        if atom in self.env:
            return self.env[atom]
        size = math.prod(atom.aval.shape)
        if size not in (1, math.prod(self.shape)):
            raise AssertionError(f"fused operand {atom} does not have the iteration shape {self.shape}")
        reg = self.let(self.load(atom, self.flat if size > 1 else "0u"), "x")
        self.env[atom] = reg
        return reg

    def load(self, var: Var, index: str) -> str:
        t = wtype(var.aval.dtype)
        own = index == self._flat
        self.reads.setdefault(var, set()).add(own)
        if own and var in self.vectors:
            return load(t, f"{self.vectors[var]}[lane]")
        return load(t, f"{self.w.buffer(var, t.dtype)}[{index}]")

    def emit(self, eqn: JaxprEqn) -> None:
        self.computed.update(eqn.out_binders)
        p = eqn.primitive
        outs = eqn.out_binders
        if p in OPS:
            t_out = wtype(outs[0].aval.dtype)
            ctx = OpContext(wtype(eqn.inputs[0].aval.dtype), t_out, eqn.params, self.caps.nan_comparisons, p.name,
                            np.dtype(np.float64) in self.caps.dtypes)
            args = [self.value(x) for x in eqn.inputs]
            if all(a in self._literals for a in args):
                args[0] = self.var(args[0])
            expr = OPS[p](ctx, *args)
            if p.multiple_results:
                reg = self.let(expr, "m")
                for part, v in zip("xyzw", outs):
                    self.env[v] = f"{reg}.{part}"
                return
            self.env[outs[0]] = self.let(round_reg(t_out, expr))
            return
        if p is st.iota_p:
            t = wtype(eqn.params["dtype"])
            self.env[outs[0]] = self.let(round_reg(t, convert(wtype("uint32"), t, self.coord(eqn.params["dimension"]))))
            return
        if p in INDEX_MAPS:
            x = eqn.inputs[0]
            if type(x) is Literal:
                self.env[outs[0]] = self.value(x)
                return
            if x in self.computed:
                raise AssertionError(f"{p.name} of a value computed in the same kernel cannot be fused")
            index = INDEX_MAPS[p](x.aval.shape, self.shape, self, eqn.params)
            self.env[outs[0]] = self.let(self.load(x, index), "x")
            return
        raise NotImplementedError(f"wgpu backend: {p.name} cannot be part of a fused kernel")


# --- index maps: input linear index from the output element's coordinates ------------------------------------
def _affine(in_shape, terms: list[tuple[str, int]]) -> str:
    """``sum(coord * stride)`` over (coordinate expression, input dimension) pairs."""
    st_ = strides(in_shape)
    parts = [c if st_[d] == 1 else f"({c}) * {u32(st_[d])}" for c, d in terms if in_shape[d] != 1]
    return " + ".join(parts) if parts else "0u"


def _broadcast_index(in_shape, out_shape, em, params):
    if tuple(in_shape) == tuple(out_shape):
        return em.flat
    return _affine(in_shape, [(em.coord(od), i) for i, od in enumerate(params["broadcast_dimensions"])
                              if in_shape[i] != 1])


def _transpose_index(in_shape, out_shape, em, params):
    return _affine(in_shape, [(em.coord(j), p) for j, p in enumerate(params["permutation"]) if in_shape[p] != 1])


def _flat_index(in_shape, out_shape, em, params):
    return em.flat


def _slice_index(in_shape, out_shape, em, params):
    starts, stride = params["start_indices"], params["strides"] or (1,) * len(in_shape)
    terms = []
    for j, (s0, k) in enumerate(zip(starts, stride)):
        if in_shape[j] == 1:
            continue
        c = em.coord(j)
        e = c if k == 1 else f"{c} * {u32(k)}"
        terms.append((e if s0 == 0 else f"{e} + {u32(s0)}", j))
    return _affine(in_shape, terms)


def _rev_index(in_shape, out_shape, em, params):
    dims = set(params["dimensions"])
    return _affine(in_shape, [(f"{u32(max(n - 1, 0))} - {em.coord(j)}" if j in dims else em.coord(j), j)
                              for j, n in enumerate(in_shape) if n != 1])


INDEX_MAPS: dict = {st.broadcast_in_dim_p: _broadcast_index, st.transpose_p: _transpose_index,
                    st.reshape_p: _flat_index, st.squeeze_p: _flat_index, st.slice_p: _slice_index,
                    st.rev_p: _rev_index}


def store_outputs(em: ElementEmitter, outputs: Sequence[Var], index: str) -> None:
    for v in outputs:
        t = wtype(v.aval.dtype)
        em.w.line(f"{em.w.buffer(v, t.dtype, write=True)}[{index}] = {store(t, em.env[v])};")


# --- loop kernels -----------------------------------------------------------------------------------------
LOOP_VARIANTS = ("scalar", "vec4")
VEC = 4  # elements per invocation of the ``vec4`` loop kernels


def loop_variants(kernel: Kernel) -> tuple[str, ...]:
    """The ways ``render_loop`` can render ``kernel``: one element per invocation (``scalar``), or four
    consecutive ones reading and writing 32-bit operands as ``vec4`` (``vec4``: element count a multiple of 4)."""
    return LOOP_VARIANTS if math.prod(kernel.shape) % VEC == 0 else LOOP_VARIANTS[:1]


def render_loop(kernel: Kernel, caps, variant: str = "scalar") -> tuple[KernelWriter, int]:
    """The loop kernel as ``variant`` (one of ``loop_variants(kernel)``); returns the writer and the
    workgroup count. The scalar kernel is rendered in any case: how it reads each operand decides which
    operands the ``vec4`` kernel loads as vectors."""
    shape = kernel.shape
    n = math.prod(shape)
    w = KernelWriter(f"loop:{kernel.describe()}", WORKGROUP)
    w.line(f"if (gid >= {u32(n)}) {{ return; }}")
    em = ElementEmitter(w, shape, "gid", coord_exprs("gid", shape), caps)
    for e in kernel.eqns:
        em.emit(e)
    store_outputs(em, kernel.outputs, "gid")
    if variant == "vec4":
        return _render_vec4(kernel, caps, em.reads)
    return w, workgroups_for(n, WORKGROUP)


def _vector_storage(v: Var) -> bool:
    """Whether ``v``'s elements are 32-bit words (read and written four at a time as a ``vec4``)."""
    return wtype(v.aval.dtype).storage in ("f32", "i32", "u32")


def _render_vec4(kernel: Kernel, caps, reads: dict) -> tuple[KernelWriter, int]:
    """The ``vec4`` loop kernel; ``reads``: how the scalar kernel read each operand (``ElementEmitter.reads``).
    The operands read only at the element's own index are loaded as one ``vec4`` per invocation, a loop over
    the four lanes computes the chain (not unrolled: shader compile time stays that of the scalar kernel),
    and 32-bit outputs are collected into ``vec4`` variables stored after the loop."""
    shape = kernel.shape
    n = math.prod(shape)
    w = KernelWriter(f"loop-vec4:{kernel.describe()}", WORKGROUP)
    w.line(f"if (gid >= {u32(n // VEC)}) {{ return; }}")
    vectors = {}
    for v in (v for v, own in reads.items() if own == {True} and _vector_storage(v)):
        t = wtype(v.aval.dtype)
        vectors[v] = f"q{len(vectors)}"
        w.line(f"let {vectors[v]} = {w.buffer(v, t.dtype, element=f'vec4<{t.storage}>')}[gid];")
    outs = {v: f"o{i}" for i, v in enumerate(v for v in kernel.outputs if _vector_storage(v))}
    for v, name in outs.items():
        w.line(f"var {name}: vec4<{wtype(v.aval.dtype).storage}>;")
    w.loops(VEC)
    w.line(f"for (var lane = 0u; lane < {u32(VEC)}; lane = lane + 1u) {{")
    w.line(f"let e = gid * {u32(VEC)} + lane;")
    em = ElementEmitter(w, shape, "e", coord_exprs("e", shape), caps, vectors)
    for e in kernel.eqns:
        em.emit(e)
    for v, name in outs.items():
        w.line(f"{name}[lane] = {store(wtype(v.aval.dtype), em.env[v])};")
    store_outputs(em, [v for v in kernel.outputs if v not in outs], "e")
    w.line("}")
    for v, name in outs.items():
        t = wtype(v.aval.dtype)
        w.line(f"{w.buffer(v, t.dtype, write=True, element=f'vec4<{t.storage}>')}[gid] = {name};")
    return w, workgroups_for(n // VEC, WORKGROUP)


# --- reductions -------------------------------------------------------------------------------------------
class Reducer:
    """How one reduction primitive accumulates: accumulator parts, identity, combine, result."""

    def __init__(self, eqn: JaxprEqn):
        self.prim = eqn.primitive
        self.t = wtype(eqn.inputs[0].aval.dtype)
        self.out = wtype(eqn.out_binders[0].aval.dtype)
        self.is_arg = self.prim in (red.argmax_p, red.argmin_p)
        t = self.t
        if self.is_arg:
            self.acc_types = [t.reg if t.kind != "b" else "u32", self.out.reg]
        else:
            self.acc_types = ["u32" if t.kind == "b" else t.reg]

    def acc_storage_dtypes(self) -> list:
        """dtypes of buffers holding partial accumulators."""
        t = self.t
        value = {"f16": "float32"}.get(t.storage, "uint32" if t.kind == "b" else t.dtype)
        return [value, self.out.dtype] if self.is_arg else [value]

    def identity(self) -> list[str]:
        t, p = self.t, self.prim
        if self.is_arg:
            start = lowest(t) if p is red.argmax_p else highest(t)
            if t.kind == "b":
                start = "0u" if p is red.argmax_p else "1u"
            return [start, literal(self.out, 2 ** 31 - 1 if self.out.kind == "i" else 2 ** 32 - 1)]
        if t.kind == "b":
            return ["1u" if p in (red.reduce_min_p, red.reduce_and_p) else "0u"]
        if p is red.reduce_sum_p or p in (red.reduce_or_p, red.reduce_xor_p):
            return [literal(t, 0)]
        if p is red.reduce_prod_p:
            return [literal(t, 1)]
        if p is red.reduce_max_p:
            return [lowest(t)]
        if p is red.reduce_min_p:
            return [highest(t)]
        if p is red.reduce_and_p:
            return [literal(t, -1) if t.kind == "i" else literal(t, 2 ** t.bits - 1)]
        raise NotImplementedError(f"wgpu backend: reduction {p.name}")

    def subgroup_fn(self) -> str | None:
        """The WGSL subgroup operation folding this reduction's accumulator, if there is one (float max/min
        have none: the subgroup ones need not propagate NaN)."""
        p, t = self.prim, self.t
        if self.is_arg or self.acc_types[0] not in ("f32", "i32", "u32"):
            return None
        if t.kind == "b":
            p = {red.reduce_max_p: red.reduce_or_p, red.reduce_min_p: red.reduce_and_p}.get(p, p)
        elif t.kind == "f" and p not in (red.reduce_sum_p, red.reduce_prod_p):
            return None
        return {red.reduce_sum_p: "subgroupAdd", red.reduce_prod_p: "subgroupMul", red.reduce_max_p: "subgroupMax",
                red.reduce_min_p: "subgroupMin", red.reduce_and_p: "subgroupAnd", red.reduce_or_p: "subgroupOr",
                red.reduce_xor_p: "subgroupXor"}.get(p)

    def element(self, value: str, index: str) -> list[str]:
        """Accumulator parts of one element (``index``: its position along an argmax/argmin axis)."""
        v = f"select(0u, 1u, {value})" if self.t.kind == "b" else value
        if self.is_arg:
            return [v, convert(wtype("uint32"), self.out, index)]
        return [v]

    def combine(self, acc: list[str], other: list[str]) -> list[str]:
        """Statements folding ``other`` into the variables ``acc``."""
        p, t = self.prim, self.t
        a, b = acc[0], other[0]
        if self.is_arg:
            ai, bi = acc[1], other[1]
            better = ">" if p is red.argmax_p else "<"
            if t.kind == "f":
                an, bn = is_nan(t, a), is_nan(t, b)
                take = (f"({bn} && (!{an} || {bi} < {ai})) || (!{an} && !{bn} && "
                        f"({b} {better} {a} || ({b} == {a} && {bi} < {ai})))")
            else:
                take = f"({b} {better} {a} || ({b} == {a} && {bi} < {ai}))"
            return [f"if ({take}) {{ {a} = {b}; {ai} = {bi}; }}"]
        if t.kind == "b":
            op = {red.reduce_max_p: "|", red.reduce_or_p: "|", red.reduce_min_p: "&", red.reduce_and_p: "&",
                  red.reduce_xor_p: "^"}[p]
            return [f"{a} = {a} {op} {b};"]
        if p is red.reduce_sum_p:
            return [f"{a} = {a} + {b};"]
        if p is red.reduce_prod_p:
            return [f"{a} = {a} * {b};"]
        if p in (red.reduce_max_p, red.reduce_min_p):
            op = ew.max_p if p is red.reduce_max_p else ew.min_p
            return [f"{a} = {OPS[op](OpContext(t, t, {}, True, op.name), a, b)};"]
        op = {red.reduce_and_p: "&", red.reduce_or_p: "|", red.reduce_xor_p: "^"}[p]
        return [f"{a} = {a} {op} {b};"]

    def result(self, acc: list[str]) -> str:
        if self.is_arg:
            return acc[1]
        if self.t.kind == "b":
            return f"({acc[0]} != 0u)"
        if self.prim is red.reduce_sum_p:
            return round_reg(self.out, positive_zero(self.t, acc[0]))
        return round_reg(self.out, acc[0])


def reduce_plan(kernel: Kernel) -> tuple:
    """(kept dims, reduced dims, output count, reduced count) of a reduce kernel."""
    axes = set(kernel.root.params["axes"])
    kept = [d for d in range(len(kernel.shape)) if d not in axes]
    reduced = [d for d in range(len(kernel.shape)) if d in axes]
    n_out = math.prod(kernel.shape[d] for d in kept)
    n_red = math.prod(kernel.shape[d] for d in reduced)
    return kept, reduced, n_out, n_red


def _element_coords(shape, kept, reduced, o: str, k: str) -> tuple[list[str], str]:
    """Coordinates (and linear index) of the element (output ``o``, reduced position ``k``)."""
    coords = [""] * len(shape)
    for d, c in zip(kept, coord_exprs(o, [shape[d] for d in kept])):
        coords[d] = c
    for d, c in zip(reduced, coord_exprs(k, [shape[d] for d in reduced])):
        coords[d] = c
    return coords, linear_expr(coords, shape)


def _emit_chain(w: KernelWriter, kernel: Kernel, caps, o: str, k: str, acc: list[str], rd: Reducer) -> None:
    """Evaluate the chain at element (o, k), write side outputs, fold the root's operand into ``acc``."""
    kept, reduced, _, _ = reduce_plan(kernel)
    coords, flat = _element_coords(kernel.shape, kept, reduced, o, k)
    em = ElementEmitter(w, kernel.shape, flat, coords, caps)
    for e in kernel.eqns[:-1]:
        em.emit(e)
    side = [v for v in kernel.outputs if v is not kernel.root.out_binders[0]]
    store_outputs(em, side, em.flat)
    parts = rd.element(em.value(kernel.root.inputs[0]), k)
    for line in rd.combine(acc, parts):
        w.line(line)


def folds(kernel: Kernel, caps) -> tuple[str, ...]:
    """The ways (``REDUCE_VARIANTS``) ``render_reduce`` can split ``kernel``'s reduction over invocations and
    combine within a workgroup on a device with ``caps`` (none when every output is a loop of its own
    invocation)."""
    _, _, n_out, n_red = reduce_plan(kernel)
    if n_out >= 4 * WORKGROUP or n_red <= 32:
        return ()
    sub = ("subgroup",) if caps.has_subgroups and Reducer(kernel.root).subgroup_fn() else ()
    return ("tree", *sub, "runs")


def render_reduce(kernel: Kernel, caps, partial_slots: Callable[[list], list],
                  fold: str = "tree") -> list[tuple[KernelWriter, int]]:
    """WGSL for a reduce kernel: one or two dispatches (``partial_slots(dtypes, groups)`` makes scratch
    buffers for per-workgroup partial results when one output is split across ``groups`` workgroups),
    split and combined within workgroups as ``fold`` (one of ``folds(kernel, caps)``)."""
    kept, reduced, n_out, n_red = reduce_plan(kernel)
    rd = Reducer(kernel.root)
    out_var = kernel.root.out_binders[0]
    if not folds(kernel, caps):
        return [_reduce_per_thread(kernel, caps, rd, n_out, n_red, out_var)]
    threads = min(WORKGROUP, 1 << max(0, (n_red - 1).bit_length()))
    per_invocation = RUN if fold == "runs" else 16  # elements an invocation folds, at least (within limits)
    groups = max(1, min(-(-n_red // (threads * per_invocation)), max(1, 256 // n_out), 1024))
    if groups == 1:
        return [_reduce_tree(kernel, caps, rd, n_out, n_red, threads, 1, [out_var], fold)]
    partials = partial_slots(rd.acc_storage_dtypes(), groups)
    first = _reduce_tree(kernel, caps, rd, n_out, n_red, threads, groups, partials, fold)
    return [first, _reduce_partials(rd, n_out, groups, partials, out_var, fold)]


def _declare_acc(w: KernelWriter, rd: Reducer, names: list[str]) -> None:
    for name, ty, init in zip(names, rd.acc_types, rd.identity()):
        w.line(f"var {name}: {ty} = {init};")


def _write_result(w: KernelWriter, rd: Reducer, acc: list[str], dests: list, index: str) -> None:
    """Final value (one destination) or the raw accumulator parts (partial buffers)."""
    if len(dests) == 1 and isinstance(dests[0], Var):
        t = wtype(dests[0].aval.dtype)
        w.line(f"{w.buffer(dests[0], t.dtype, write=True)}[{index}] = {store(t, rd.result(acc))};")
        return
    for a, slot in zip(acc, dests):
        w.line(f"{w.buffer(slot, slot.dtype, write=True)}[{index}] = {a};")


def _reduce_per_thread(kernel, caps, rd, n_out, n_red, out_var):
    w = KernelWriter(f"reduce:{kernel.describe()}", WORKGROUP)
    w.line(f"let o = gid;\n  if (o >= {u32(n_out)}) {{ return; }}")
    acc = ["acc0", "acc1"][:len(rd.acc_types)]
    _declare_acc(w, rd, acc)
    w.loops(n_red)
    w.line(f"for (var k = 0u; k < {u32(n_red)}; k = k + 1u) {{")
    _emit_chain(w, kernel, caps, "o", "k", acc, rd)
    w.line("}")
    _write_result(w, rd, acc, [out_var], "o")
    return w, workgroups_for(n_out, WORKGROUP)


def _subgroup_fold(w: KernelWriter, rd: Reducer, threads: int, acc: list[str]) -> None:
    """Combine the ``acc`` of every invocation of the workgroup into invocation 0's (into every invocation's,
    in fact): fold each subgroup, its first invocation leaves the result in workgroup memory (a slot per
    invocation, the others holding the identity), then every subgroup folds those slots."""
    fn = rd.subgroup_fn()
    (a,), (ty,), (init,) = acc, rd.acc_types, rd.identity()
    w.builtins["subgroup_invocation_id"] = "sg_lane: u32"
    w.builtins["subgroup_size"] = "sg_size: u32"
    w.shared.append(f"var<workgroup> sh0: array<{ty}, {threads}>;")
    w.line(f"sh0[lid] = {init};")
    w.line("workgroupBarrier();")
    w.line("let sg_first = subgroupBroadcastFirst(lid);")
    w.line(f"let sg_total = {fn}({a});")
    w.line("if (lid == sg_first) { sh0[sg_first] = sg_total; }")
    w.line("workgroupBarrier();")
    w.line(f"{a} = {init};")
    w.loops(threads)
    w.line(f"for (var s = sg_lane; s < {u32(threads)}; s = s + sg_size) {{")
    for line in rd.combine([a], ["sh0[s]"]):
        w.line("  " + line)
    w.line("}")
    w.line(f"{a} = {fn}({a});")


def _tree_fold(w: KernelWriter, rd: Reducer, threads: int, acc: list[str]) -> None:
    """Combine the ``acc`` of every invocation of the workgroup into invocation 0's."""
    sh = [f"sh{i}" for i in range(len(acc))]
    for name, ty in zip(sh, rd.acc_types):
        w.shared.append(f"var<workgroup> {name}: array<{ty}, {threads}>;")
    for s, a in zip(sh, acc):
        w.line(f"{s}[lid] = {a};")
    w.line("workgroupBarrier();")
    w.loops(threads.bit_length())
    w.line(f"for (var s = {u32(threads // 2)}; s > 0u; s = s >> 1u) {{")
    w.line("  if (lid < s) {")
    mine = [f"m{i}" for i in range(len(acc))]
    for m, s in zip(mine, sh):
        w.line(f"    var {m} = {s}[lid];")
    for line in rd.combine(mine, [f"{s}[lid + s]" for s in sh]):
        w.line("    " + line)
    for m, s in zip(mine, sh):
        w.line(f"    {s}[lid] = {m};")
    w.line("  }")
    w.line("  workgroupBarrier();")
    w.line("}")
    for s, a in zip(sh, acc):
        w.line(f"{a} = {s}[0];")


FOLDS = {"tree": _tree_fold, "subgroup": _subgroup_fold}
# ``tree`` and ``subgroup``: consecutive invocations fold consecutive elements (coalesced loads on GPUs), then
# combine by that fold; ``runs``: each invocation folds a contiguous run of at least ``RUN`` elements, then a
# tree (CPU adapters such as lavapipe run a workgroup's invocations one SIMD batch after another on one thread:
# there a run per invocation streams through memory while grid-strided batches each sweep all of it).
REDUCE_VARIANTS = (*FOLDS, "runs")
RUN = 512


def _reduce_tree(kernel, caps, rd, n_out, n_red, threads, groups, dests, fold):
    """``groups`` workgroups of ``threads`` invocations per output; each writes one (partial) result."""
    w = KernelWriter(f"reduce:{kernel.describe()}", threads)
    w.line(f"let o = wg / {u32(groups)};")
    w.line(f"let g = wg % {u32(groups)};")
    w.line(f"if (o >= {u32(n_out)}) {{ return; }}")
    acc = ["acc0", "acc1"][:len(rd.acc_types)]
    _declare_acc(w, rd, acc)
    step = threads * groups
    w.loops(-(-n_red // step))
    if fold == "runs":
        run = -(-n_red // step)
        w.line(f"let run0 = (g * {u32(threads)} + lid) * {u32(run)};")
        w.line(f"let run1 = min(run0 + {u32(run)}, {u32(n_red)});")
        w.line("for (var k = run0; k < run1; k = k + 1u) {")
    else:
        w.line(f"for (var k = g * {u32(threads)} + lid; k < {u32(n_red)}; k = k + {u32(step)}) {{")
    _emit_chain(w, kernel, caps, "o", "k", acc, rd)
    w.line("}")
    FOLDS.get(fold, _tree_fold)(w, rd, threads, acc)
    w.line("if (lid == 0u) {")
    _write_result(w, rd, acc, dests, "wg" if groups > 1 else "o")
    w.line("}")
    return w, n_out * groups


def _reduce_partials(rd: Reducer, n_out: int, groups: int, partials: list, out_var: Var, fold: str):
    """Second pass: fold the ``groups`` partial accumulators of every output."""
    threads = min(WORKGROUP, 1 << max(0, (groups - 1).bit_length()))
    w = KernelWriter(f"reduce-partials:{rd.prim.name}", threads)
    w.line(f"let o = wg;\n  if (o >= {u32(n_out)}) {{ return; }}")
    acc = ["acc0", "acc1"][:len(rd.acc_types)]
    _declare_acc(w, rd, acc)
    w.loops(-(-groups // threads))
    w.line(f"for (var k = lid; k < {u32(groups)}; k = k + {u32(threads)}) {{")
    names = [w.buffer(s, s.dtype) for s in partials]
    parts = [f"{n}[o * {u32(groups)} + k]" for n in names]
    for line in rd.combine(acc, parts):
        w.line("  " + line)
    w.line("}")
    FOLDS.get(fold, _tree_fold)(w, rd, threads, acc)
    w.line("if (lid == 0u) {")
    _write_result(w, rd, acc, [out_var], "o")
    w.line("}")
    return w, n_out
