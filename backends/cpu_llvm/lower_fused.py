"""Loop and reduce kernels from ``core.fusion``: one loop nest, values in registers, affine loads.

Every operand of a fused kernel is read through an affine map of the iteration index: an external array of
the iteration shape row-major, a scalar with all-zero coefficients, and the index-mapped primitives
(broadcast_in_dim, transpose, reshape, squeeze, slice, rev) with the strides they imply. Size-1 dimensions
are dropped and neighbouring dimensions merged when every map allows it, so most kernels become one flat,
vectorisable loop.

A reduction ending a kernel accumulates in registers with the kept dimensions outside ("row" reductions,
argmax/argmin) or in its output buffer with a kept dimension innermost ("column" reductions), so both
vectorise. Float sums and products may be reassociated (as numpy's pairwise summation also reorders).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from llvmlite import ir

from portax.core import fusion
from portax.core.ir import Literal, Var
from portax.core.primitives import reductions as rd, structural as st

from . import lltypes as T
from .codegen import MIN_PARALLEL_WORK, Buf, ModuleBuilder
from .irutil import affine, entry_alloca, for_range, gep, i64, imin, loop_nest, row_major_strides
from .lower_elementwise import MATHLIB_OPS, compare, emit as emit_elementwise

REDUCE_OPS = {rd.reduce_sum_p: "sum", rd.reduce_prod_p: "prod", rd.reduce_max_p: "max", rd.reduce_min_p: "min",
              rd.reduce_and_p: "and", rd.reduce_or_p: "or", rd.reduce_xor_p: "xor", rd.argmax_p: "argmax",
              rd.argmin_p: "argmin"}
_REASSOC = ("reassoc",)
# rough per-element cost of an op relative to an add, for the threading decision
_HEAVY = 8.0


@dataclasses.dataclass
class Access:
    """A load or store of element ``base + sum(i[d] * coefs[d])`` of pointer argument ``arg``."""

    arg: int
    dtype: np.dtype
    base: int
    coefs: list


def index_map(eqn, out_shape: tuple) -> tuple[int, list]:
    """(base, coefs) mapping an index of ``eqn``'s output (an index-mapped primitive) into its input buffer."""
    p, params = eqn.primitive, eqn.params
    x_shape = eqn.inputs[0].aval.shape
    rs = row_major_strides(x_shape)
    n = len(out_shape)
    if p is st.broadcast_in_dim_p:
        coefs = [0] * n
        for k, d in enumerate(params["broadcast_dimensions"]):
            if x_shape[k] != 1:
                coefs[d] += rs[k]
        return 0, coefs
    if p is st.transpose_p:
        return 0, [rs[params["permutation"][d]] for d in range(n)]
    if p in (st.reshape_p, st.squeeze_p):
        return 0, row_major_strides(out_shape)
    if p is st.slice_p:
        strides = params["strides"] or (1,) * n
        base = sum(s * r for s, r in zip(params["start_indices"], rs))
        return base, [k * r for k, r in zip(strides, rs)]
    if p is st.rev_p:
        dims = set(params["dimensions"])
        base = sum((x_shape[d] - 1) * rs[d] for d in dims)
        return base, [-rs[d] if d in dims else rs[d] for d in range(n)]
    raise NotImplementedError(f"cpu_llvm backend: {p.name} is not an index-mapped load")


class Plan:
    """How each value of a fused kernel is obtained, with the pointer arguments it needs."""

    def __init__(self, fk: fusion.Kernel, env: Callable[[Var], Buf]):
        self.fk = fk
        # an unfused reduction (an opaque kernel) iterates over its operand
        self.shape = tuple(fk.shape) if fk.kind != "opaque" else tuple(fk.root.inputs[0].aval.shape)
        self.args: list[Buf] = []
        self._arg_index: dict = {}
        self.loads: list[Access] = []
        self.steps: list[tuple] = []
        self.iota_dims: list[int] = []
        self.cost = 0.0
        ends_in_reduction = fk.eqns[-1].primitive in REDUCE_OPS
        body = fk.eqns[:-1] if ends_in_reduction else fk.eqns
        # a reduction whose result nobody reads is dropped
        self.red = fk.eqns[-1] if ends_in_reduction and fk.eqns[-1].out_binders[0] in fk.outputs else None
        defined: set = set()
        rs = row_major_strides(self.shape)
        for eqn in body:
            p = eqn.primitive
            if p in fusion.INDEX_MAPPED and type(eqn.inputs[0]) is Literal:
                self.steps.append(("const", eqn.out_binders[0], eqn.inputs[0]))
            elif p in fusion.INDEX_MAPPED:
                base, coefs = index_map(eqn, self.shape)
                self.steps.append(("load", eqn.out_binders[0], self._load(env(eqn.inputs[0]), base, coefs)))
            elif p is st.iota_p:
                self.iota_dims.append(eqn.params["dimension"])
                self.steps.append(("iota", eqn.out_binders[0], eqn.params["dimension"], eqn.params["dtype"]))
            else:
                srcs = []
                for x in eqn.inputs:
                    if type(x) is Literal:
                        srcs.append(("const", x))
                    elif x in defined:
                        srcs.append(("val", x))
                    else:
                        buf = env(x)
                        coefs = rs if buf.shape == self.shape else [0] * len(self.shape)
                        srcs.append(("load", self._load(buf, 0, list(coefs))))
                self.steps.append(("elem", eqn, srcs))
                self.cost += _HEAVY if _is_heavy(eqn) else 1.0
            defined.update(eqn.out_binders)
        if self.red is not None:
            x = self.red.inputs[0]
            if x not in defined:  # a reduction of an external array (an unfused reduce)
                buf = env(x)
                self.steps.append(("load", x, self._load(buf, 0, list(rs))))
            self.cost += 1.0
        self.stores: list[tuple[Var, Access]] = []
        for v in fk.outputs:
            if self.red is not None and v is self.red.out_binders[0]:
                continue
            self.stores.append((v, self._access(env(v), 0, list(rs))))
        self.axes = tuple(self.red.params["axes"]) if self.red is not None else ()
        self.red_store = None
        if self.red is not None:
            kept_rs = iter(row_major_strides([n for d, n in enumerate(self.shape) if d not in self.axes]))
            coefs = [0 if d in self.axes else next(kept_rs) for d in range(len(self.shape))]
            self.red_store = self._access(env(self.red.out_binders[0]), 0, coefs)

    def _arg(self, buf: Buf) -> int:
        key = id(buf.ptr)
        if key not in self._arg_index:
            self._arg_index[key] = len(self.args)
            self.args.append(buf)
        return self._arg_index[key]

    def _access(self, buf: Buf, base: int, coefs: list) -> Access:
        return Access(self._arg(buf), buf.dtype, base, coefs)

    def _load(self, buf: Buf, base: int, coefs: list) -> Access:
        a = self._access(buf, base, coefs)
        self.loads.append(a)
        return a

    def accesses(self) -> list[Access]:
        out = self.loads + [a for _, a in self.stores]
        return out + ([self.red_store] if self.red_store is not None else [])


def _is_heavy(eqn) -> bool:
    return eqn.primitive in MATHLIB_OPS


@dataclasses.dataclass
class Dim:
    size: int
    reduced: bool
    origin: int  # the original dimension (the innermost one merged into this)


def collapse(shape: tuple, coef_lists: list[list], reduced: frozenset = frozenset(),
             pinned: frozenset = frozenset()) -> list[Dim]:
    """Drop size-1 dimensions of ``shape`` and merge neighbours where every coefficient list allows it
    (rewriting the lists in place). Reduced and kept dimensions never merge; ``pinned`` ones never merge."""
    keep = [d for d, n in enumerate(shape) if n != 1]
    for c in coef_lists:
        c[:] = [c[d] for d in keep]
    out: list[Dim] = []
    for d in keep:
        dim = Dim(shape[d], d in reduced, d)
        j = len(out)
        if out and out[-1].reduced == dim.reduced and out[-1].origin not in pinned and d not in pinned and \
                all(c[j - 1] == c[j] * dim.size for c in coef_lists):
            out[-1].size *= dim.size
            out[-1].origin = d
            for c in coef_lists:
                del c[j - 1]
            continue
        out.append(dim)
    return out


def _collapse(plan: Plan) -> list[Dim]:
    coefs = [a.coefs for a in plan.accesses()]
    return collapse(plan.shape, coefs, frozenset(plan.axes), frozenset(plan.iota_dims))


def strided_copy(mb: ModuleBuilder, b: ir.IRBuilder, dtype: np.dtype, shape: tuple, src: ir.Value, src_coefs: list,
                 dst: ir.Value, dst_coefs: list, label: str) -> None:
    """Copy ``shape`` elements from ``src + sum(i * src_coefs)`` to ``dst + sum(i * dst_coefs)`` (pointers
    already offset to the first element) in a kernel of its own."""
    src_coefs, dst_coefs = list(src_coefs), list(dst_coefs)
    dims = collapse(tuple(shape), [src_coefs, dst_coefs])
    if any(d.size == 0 for d in dims):
        return
    k = mb.kernel("opaque", f"opaque[{','.join(map(str, shape))}]({label})", 2)
    kb = k.b
    mty = T.memory_type(dtype)
    ranges = ([(k.start, k.end)] if dims else []) + [(0, d.size) for d in dims[1:]]

    def body(idx):
        v = kb.load(gep(kb, k.ptrs[0], affine(kb, 0, idx, src_coefs), mty), typ=mty, align=np.dtype(dtype).itemsize)
        kb.store(v, gep(kb, k.ptrs[1], affine(kb, 0, idx, dst_coefs), mty), align=np.dtype(dtype).itemsize)

    loop_nest(kb, ranges, body)
    k.finish()
    inner = int(np.prod([d.size for d in dims[1:]], dtype=np.int64))
    mb.call(b, k, dims[0].size if dims else 1, [src, dst], work_per_item=inner)


def _identity(op: str, dtype: np.dtype) -> ir.Constant:
    dtype = np.dtype(dtype)
    if op in ("sum", "or", "xor"):
        return T.const(dtype, 0)
    if op == "prod":
        return T.const(dtype, 1)
    if op == "and":
        return T.const(dtype, -1 if dtype.kind != "b" else 1)
    big = op in ("min", "argmin")
    if dtype.kind == "f":
        return T.const(dtype, np.inf if big else -np.inf)
    if dtype.kind == "b":
        return T.const(dtype, big)
    info = np.iinfo(dtype)
    return T.const(dtype, info.max if big else info.min)


def combine(b: ir.IRBuilder, op: str, dtype: np.dtype, acc: ir.Value, x: ir.Value) -> ir.Value:
    """acc (op) x for the reductions (float max/min propagate NaN)."""
    fl = dtype.kind == "f"
    if dtype.kind == "b":
        op = {"sum": "or", "prod": "and", "max": "or", "min": "and"}.get(op, op)
    if op == "sum":
        return b.fadd(acc, x, flags=_REASSOC) if fl else b.add(acc, x)
    if op == "prod":
        return b.fmul(acc, x, flags=_REASSOC) if fl else b.mul(acc, x)
    if op in ("max", "min"):
        if fl:
            return T.call_intrinsic(b, "maximum" if op == "max" else "minimum", acc, x)
        cmp = b.icmp_signed if dtype.kind == "i" else b.icmp_unsigned
        return b.select(cmp(">" if op == "max" else "<", x, acc), x, acc)
    return {"and": b.and_, "or": b.or_, "xor": b.xor}[op](acc, x)


def _better(b: ir.IRBuilder, op: str, dtype: np.dtype, x: ir.Value, best: ir.Value) -> ir.Value:
    """Whether argmax/argmin moves to ``x``: strictly better, or the first NaN."""
    strictly = compare(b, dtype, ">" if op == "argmax" else "<", x, best)
    if dtype.kind != "f":
        return strictly
    first_nan = b.and_(b.fcmp_unordered("uno", x, x), b.fcmp_ordered("ord", best, best))
    return b.or_(strictly, first_nan)


def emit_fused(mb: ModuleBuilder, b: ir.IRBuilder, fk: fusion.Kernel, env: Callable[[Var], Buf]) -> None:
    """Emit kernel ``fk`` (kind loop/reduce, or an unfused reduction) and call it from ``b``."""
    plan = Plan(fk, env)
    dims = _collapse(plan)
    op = REDUCE_OPS[plan.red.primitive] if plan.red is not None else None
    kept_outer = op is not None and (op in ("argmax", "argmin") or not dims or dims[-1].reduced)
    order = list(range(len(dims)))
    if kept_outer:
        order = [d for d in order if not dims[d].reduced] + [d for d in order if dims[d].reduced]
    dims = [dims[d] for d in order]
    for a in plan.accesses():
        a.coefs = [a.coefs[d] for d in order]
    if _chunkable(plan, op, dims):
        _emit_chunked_reduce(mb, b, fk, plan, op, dims)
        return
    # the outer loop is the kernel's [start, end) range (and may be split across threads) unless it is a
    # reduced dimension: then the kernel runs once over everything
    parallel = bool(dims) and not dims[0].reduced
    n_outer = dims[0].size if parallel else 1
    k = mb.kernel(fk.kind if fk.kind != "opaque" else "reduce", fk.describe(), len(plan.args))
    kb = k.b
    outer_range = [(k.start, k.end)] if parallel else [(0, dims[0].size)] if dims else []
    ranges = outer_range + [(0, d.size) for d in dims[1:]]
    load, store, element = element_emitters(kb, k.ptrs, plan, dims)

    tiled = _transposing_dim(plan, dims) if op is None else None
    if tiled is not None:
        levels = _tile_levels(dims, tiled)
        n_outer = _trip_count(dims, levels[0])
        _tiled_nest(kb, dims, levels, k.start, k.end, element)
    elif op is None:
        loop_nest(kb, ranges, element)
    elif kept_outer:
        _emit_row_reduce(kb, plan, op, dims, ranges, element, store)
    else:
        _emit_column_reduce(kb, plan, op, dims, ranges, element, load, store)
    k.finish()
    total = int(np.prod([d.size for d in dims], dtype=np.int64))
    inner = total // max(n_outer, 1) if parallel else total
    mb.call(b, k, n_outer, [buf.ptr for buf in plan.args], work_per_item=inner * max(plan.cost, 1.0),
            parallel=parallel)


TILE = 32  # edge of the square tiles a transposing loop walks


def _transposing_dim(plan: Plan, dims: list[Dim]) -> int | None:
    """For a loop whose innermost dimension strides some load while another dimension reads it
    contiguously (a transpose), that other dimension: both get tiled so each tile's lines stay cached."""
    q = len(dims) - 1
    if q < 1 or dims[q].size < TILE:
        return None
    for a in plan.loads:
        if a.coefs[q] in (0, 1):
            continue
        for p in range(q):
            if abs(a.coefs[p]) == 1 and dims[p].size >= TILE:
                return p
    return None


def _tile_levels(dims: list[Dim], p: int) -> list[tuple[str, int]]:
    q = len(dims) - 1
    return [("dim", d) for d in range(q) if d != p] + [("tile", p), ("tile", q), ("in", p), ("in", q)]


def _trip_count(dims: list[Dim], level: tuple[str, int]) -> int:
    kind, d = level
    return -(-dims[d].size // TILE) if kind == "tile" else dims[d].size


def _tiled_nest(b: ir.IRBuilder, dims: list[Dim], levels: list, start, end, body) -> None:
    """Loops over ``levels`` (the outermost over [start, end)); ``body(indices)`` gets per-dimension indices."""
    def rec(k: int, idx: dict, tiles: dict) -> None:
        if k == len(levels):
            body([idx[d] for d in range(len(dims))])
            return
        kind, d = levels[k]
        if k == 0:
            lo, hi = start, end
        elif kind == "in":
            lo = b.mul(tiles[d], i64(TILE))
            hi = imin(b, b.add(lo, i64(TILE)), i64(dims[d].size))
        else:
            lo, hi = 0, _trip_count(dims, levels[k])
        with for_range(b, lo, hi, f"{kind}{d}") as i:
            if kind == "tile":
                rec(k + 1, idx, {**tiles, d: i})
            else:
                rec(k + 1, {**idx, d: i}, tiles)
    rec(0, {}, {})


def element_emitters(kb: ir.IRBuilder, ptrs: list, plan: Plan, dims: list[Dim]):
    """(load, store, element) emitters for a kernel body: ``element(idx)`` computes every value of the
    kernel at iteration index ``idx``, stores the kernel's outputs and returns the values."""
    def load(a: Access, idx: list) -> ir.Value:
        return T.load(kb, ptrs[a.arg], a.dtype, affine(kb, a.base, idx, a.coefs))

    def store(a: Access, idx: list, v: ir.Value) -> None:
        T.store(kb, v, ptrs[a.arg], a.dtype, affine(kb, a.base, idx, a.coefs))

    def element(idx: list) -> dict:
        vals: dict = {}
        for step in plan.steps:
            if step[0] == "load":
                vals[step[1]] = load(step[2], idx)
            elif step[0] == "const":
                vals[step[1]] = T.const(step[2].aval.dtype, step[2].val)
            elif step[0] == "iota":
                _, var, dim, dtype = step
                pos = next((j for j, d in enumerate(dims) if d.origin == dim), None)
                i = idx[pos] if pos is not None else i64(0)
                vals[var] = _index_value(kb, i, dtype)
            else:
                _, eqn, srcs = step
                args = [T.const(x.aval.dtype, x.val) if kind == "const" else vals[x] if kind == "val" else load(x, idx)
                        for kind, x in srcs]
                vals.update(zip(eqn.out_binders, emit_elementwise(kb, eqn, args)))
        for v, a in plan.stores:
            store(a, idx, vals[v])
        return vals

    return load, store, element


PARTIALS = 32  # chunks of a big full reduction (a fixed count, so results do not depend on the threads)


def _chunkable(plan: Plan, op: str | None, dims: list[Dim]) -> bool:
    """A big reduction of everything (no kept dimension): worth splitting into partial results."""
    if op is None or op in ("argmax", "argmin") or not dims or not all(d.reduced for d in dims):
        return False
    total = int(np.prod([d.size for d in dims], dtype=np.int64))
    return dims[0].size >= PARTIALS and total * max(plan.cost, 1.0) >= MIN_PARALLEL_WORK


def _emit_chunked_reduce(mb: ModuleBuilder, b: ir.IRBuilder, fk: fusion.Kernel, plan: Plan, op: str,
                         dims: list[Dim]) -> None:
    """Partial results over PARTIALS slices of the outermost dimension (split across threads), then their
    combination in order by the program."""
    x_var = plan.red.inputs[0]
    in_dt = x_var.aval.dtype
    acc_ty = T.compute_type(in_dt)
    k = mb.kernel("reduce", fk.describe(), len(plan.args) + 1)
    kb = k.b
    _, _, element = element_emitters(kb, k.ptrs, plan, dims)
    acc = entry_alloca(kb, acc_ty)
    size0 = dims[0].size
    with for_range(kb, k.start, k.end, "part") as c:
        lo = kb.sdiv(kb.mul(c, i64(size0)), i64(PARTIALS))
        hi = kb.sdiv(kb.mul(kb.add(c, i64(1)), i64(size0)), i64(PARTIALS))
        kb.store(_identity(op, in_dt), acc)

        def body(idx):
            kb.store(combine(kb, op, in_dt, kb.load(acc), element(idx)[x_var]), acc)
        loop_nest(kb, [(lo, hi)] + [(0, d.size) for d in dims[1:]], body)
        kb.store(kb.load(acc), kb.gep(k.ptrs[-1], [c], source_etype=acc_ty))
    k.finish()
    partials = entry_alloca(b, acc_ty, PARTIALS)
    total = int(np.prod([d.size for d in dims], dtype=np.int64))
    mb.call(b, k, PARTIALS, [buf.ptr for buf in plan.args] + [partials],
            work_per_item=total * max(plan.cost, 1.0) / PARTIALS)
    result = _identity(op, in_dt)
    for c in range(PARTIALS):
        result = combine(b, op, in_dt, result, b.load(b.gep(partials, [i64(c)], source_etype=acc_ty), typ=acc_ty))
    out = plan.args[plan.red_store.arg]
    T.store(b, result, out.ptr, out.dtype)


def _index_value(b: ir.IRBuilder, i: ir.Value, dtype: np.dtype) -> ir.Value:
    """An i64 loop index as a compute value of ``dtype`` (iota)."""
    dtype = np.dtype(dtype)
    ty = T.compute_type(dtype)
    if dtype.kind == "f":
        return T.round_f16(b, b.sitofp(i, ty), dtype)
    if dtype.kind == "b":
        return b.icmp_unsigned("!=", i, i64(0))
    return b.trunc(i, ty) if ty.width < 64 else i


def _emit_row_reduce(b, plan: Plan, op: str, dims, ranges, element, store) -> None:
    """Kept dimensions outside, reduced ones inside: the accumulator lives in registers."""
    red = plan.red
    x_var = red.inputs[0]
    in_dt = x_var.aval.dtype
    n_kept = sum(1 for d in dims if not d.reduced)
    acc_ty = T.compute_type(in_dt)
    acc = entry_alloca(b, acc_ty)
    pos = entry_alloca(b, T.I64) if op in ("argmax", "argmin") else None
    axis_pos = next((j for j, d in enumerate(dims) if d.reduced), None)

    def kept_body(kidx: list) -> None:
        b.store(_identity(op, in_dt), acc)
        if pos is not None:
            b.store(i64(0), pos)

        def red_body(ridx: list) -> None:
            idx = kidx + ridx
            x = element(idx)[x_var]
            cur = b.load(acc)
            if pos is None:
                b.store(combine(b, op, in_dt, cur, x), acc)
                return
            take = _better(b, op, in_dt, x, cur)
            b.store(b.select(take, x, cur), acc)
            i = idx[axis_pos] if axis_pos is not None else i64(0)
            b.store(b.select(take, i, b.load(pos)), pos)

        loop_nest(b, ranges[n_kept:], red_body, name="r")
        out_dt = red.out_binders[0].aval.dtype
        if pos is None:
            store(plan.red_store, kidx + [i64(0)] * (len(dims) - n_kept), b.load(acc))
        else:
            idx = b.load(pos)
            ty = T.compute_type(out_dt)
            store(plan.red_store, kidx + [i64(0)] * (len(dims) - n_kept),
                  b.trunc(idx, ty) if ty.width < 64 else idx)

    loop_nest(b, ranges[:n_kept], kept_body, name="k")


def _emit_column_reduce(b, plan: Plan, op: str, dims, ranges, element, load, store) -> None:
    """A kept dimension innermost: initialise the output slice this call covers, then accumulate into it."""
    x_var = plan.red.inputs[0]
    in_dt = x_var.aval.dtype
    out = plan.red_store
    init_ranges = [r for r, d in zip(ranges, dims) if not d.reduced]
    kept_pos = [j for j, d in enumerate(dims) if not d.reduced]

    def init(kidx: list) -> None:
        idx = [i64(0)] * len(dims)
        for j, v in zip(kept_pos, kidx):
            idx[j] = v
        store(out, idx, _identity(op, in_dt))

    loop_nest(b, init_ranges, init, name="z")

    def body(idx: list) -> None:
        x = element(idx)[x_var]
        store(out, idx, combine(b, op, in_dt, load(out, idx), x))

    loop_nest(b, ranges, body)
