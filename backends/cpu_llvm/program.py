"""A jaxpr as one generated program: ``void main(ptr argv)`` running its kernels in order.

argv holds, in this order: the input buffers, the output buffers (one per distinct computed output), the
arena (scratch memory for intermediates), the executable's context (for runtime calls), then bound
constants. Intermediates get arena offsets from a liveness-based planner; control-flow bodies are lowered
into the same function (branches and loops in the generated code) and share the planner.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from llvmlite import ir

from portax.core import fusion, profiler
from portax.core.interpreters.evaluation import dce_jaxpr
from portax.core.ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, ShapedArray, Var
from portax.core.primitives import elementwise as ew, structural as st

from . import lltypes as T, timing
from .codegen import RUNTIME_CALL, Buf, ModuleBuilder, RuntimeCall
from .irutil import entry_alloca, gep, i64, memcpy
from .lower_fused import REDUCE_OPS, emit_fused

ALIGN = 64
OPAQUE: dict = {}  # primitive -> rule(lowering, eqn, inputs: list[Buf], outputs: list[Buf])
# primitive -> rule(lowering, eqn, inputs, output, perm) writing transpose(result, perm) directly, used when a
# transpose is the only reader of the primitive's result
TRANSPOSED: dict = {}
# primitive -> (takes_epilogue(eqn) -> bool, emit(lowering, kernel, env)): products whose elementwise consumers
# fusion may put in their kernel (a ``contraction`` kernel)
EPILOGUES: dict = {}


def opaque(*prims):
    """Register the lowering of primitives that get a kernel of their own."""
    def register(fn: Callable) -> Callable:
        for p in prims:
            OPAQUE[p] = fn
        return fn
    return register


class Arena:
    """First-fit offsets in one scratch block; ``size`` is the peak."""

    def __init__(self) -> None:
        self.free_list: list[tuple[int, int]] = []  # (offset, size), sorted by offset
        self.size = 0

    def alloc(self, nbytes: int) -> int:
        nbytes = -(-max(nbytes, 1) // ALIGN) * ALIGN
        for k, (off, size) in enumerate(self.free_list):
            if size >= nbytes:
                if size == nbytes:
                    del self.free_list[k]
                else:
                    self.free_list[k] = (off + nbytes, size - nbytes)
                return off
        if self.free_list and self.free_list[-1][0] + self.free_list[-1][1] == self.size:
            off, _ = self.free_list.pop()
        else:
            off = self.size
        self.size = off + nbytes
        return off

    def free(self, off: int, nbytes: int) -> None:
        nbytes = -(-max(nbytes, 1) // ALIGN) * ALIGN
        blocks = sorted(self.free_list + [(off, nbytes)])
        merged: list[tuple[int, int]] = []
        for o, s in blocks:
            if merged and merged[-1][0] + merged[-1][1] == o:
                merged[-1] = (merged[-1][0], merged[-1][1] + s)
            else:
                merged.append((o, s))
        self.free_list = merged


@dataclasses.dataclass
class ProgramSpec:
    """What the executor needs: the module, argv layout and how to assemble the outputs."""

    mb: ModuleBuilder
    n_inputs: int
    out_avals: list[ShapedArray]  # of the output buffers the program writes
    outputs: list[tuple]  # per jaxpr output: ("buf", j) | ("input", i) | ("const", array) | ("same", k)
    arena_bytes: int
    const_base: int
    # a profiled build's kernel sites, (name, bytes moved, flops) each, timed into the table at argv[profile_slot]
    sites: list = dataclasses.field(default_factory=list)
    profile_slot: int | None = None


def alias_source(kern: fusion.Kernel) -> Var | None:
    """The input a kernel's only output may share memory with: a reshape, squeeze, size-preserving
    broadcast, no-op convert or stop_gradient keeps every element in place."""
    if kern.kind != "loop" or len(kern.eqns) != 1 or len(kern.outputs) != 1:
        return None
    eqn = kern.eqns[0]
    x = eqn.inputs[0] if eqn.inputs else None
    if type(x) is not Var:
        return None
    p, out = eqn.primitive, eqn.out_binders[0].aval
    same = out.dtype == x.aval.dtype and out.size == x.aval.size
    if p in (st.reshape_p, st.squeeze_p, ew.stop_gradient_p, ew.convert_element_type_p) and same:
        return x
    if p is st.broadcast_in_dim_p and same and list(eqn.params["broadcast_dimensions"]) == \
            sorted(eqn.params["broadcast_dimensions"]):
        return x
    return None


class Lowering:
    """Lowers jaxprs into the entry function being built at ``b``."""

    def __init__(self, mb: ModuleBuilder, b: ir.IRBuilder, argv: ir.Value, rules: dict, const_base: int,
                 arena_slot: int, ctx_slot: int, profile_slot: int | None = None):
        self.mb, self.b, self.argv, self.rules = mb, b, argv, rules
        self.policy = fusion.FusionPolicy(can_fuse=self._can_fuse, epilogue_of=self._epilogue_of)
        self.const_base = const_base
        self.arena = Arena()
        self.arena_ptr = self.slot(arena_slot)
        self.ctx_ptr = self.slot(ctx_slot)
        # a profiled build times every kernel (see ``timing``)
        self.sites: list | None = None if profile_slot is None else []
        self.timing_table = None if profile_slot is None else self.slot(profile_slot)

    def _can_fuse(self, eqn) -> bool:
        """Fusion takes every elementwise equation but size-changing bitcasts and primitives whose lowering
        a plugin replaced (those run as opaque kernels through their rule)."""
        p = eqn.primitive
        if p in self.rules and self.rules[p] is not OPAQUE.get(p):
            return False
        if p is ew.bitcast_convert_type_p:
            return eqn.inputs[0].aval.dtype.itemsize == eqn.params["new_dtype"].itemsize
        return True

    def slot(self, k: int) -> ir.Value:
        """The pointer in argv slot ``k``."""
        return self.b.load(gep(self.b, self.argv, k, T.PTR), typ=T.PTR)

    # --- buffers ---------------------------------------------------------------------------------------
    def scratch(self, aval: ShapedArray) -> tuple[Buf, int]:
        """An arena buffer for ``aval`` and its offset (to ``release`` later)."""
        nbytes = aval.size * aval.dtype.itemsize
        off = self.arena.alloc(nbytes)
        return Buf(gep(self.b, self.arena_ptr, off), aval), off

    def release(self, off: int, aval: ShapedArray) -> None:
        self.arena.free(off, aval.size * aval.dtype.itemsize)

    def literal(self, x: Literal) -> Buf:
        g = self.mb.constant(np.asarray(x.val, dtype=x.aval.dtype))
        return Buf(self.b.bitcast(g, T.PTR), x.aval)

    def const(self, value) -> Buf:
        """A concrete array (a sub-jaxpr's constant) bound to an argv slot."""
        value = np.asarray(value)
        k = self.mb.add_const(value)
        return Buf(self.slot(self.const_base + k), ShapedArray(value.shape, value.dtype))

    def copy(self, dst: Buf, src: Buf) -> None:
        if src.nbytes:
            memcpy(self.b, dst.ptr, src.ptr, src.nbytes)

    # --- jaxprs --------------------------------------------------------------------------------------------
    def closed_call(self, closed: ClosedJaxpr, args: list, dests: list) -> list:
        """Lower a closed sub-jaxpr (its consts bound through argv) on ``args``."""
        consts = [self.const(c) for c in closed.consts]
        return self.jaxpr(closed.jaxpr, consts + list(args), dests)

    def _epilogue_of(self, eqn) -> bool:
        """A product lowered by the built-in rule that can run its consumers as an epilogue (EPILOGUES)."""
        p = eqn.primitive
        return p in EPILOGUES and self.rules.get(p) is OPAQUE.get(p) and EPILOGUES[p][0](eqn)

    def jaxpr(self, jaxpr: Jaxpr, args: list, dests: list) -> list:
        """Lower ``jaxpr`` with its constvars then in_binders bound to ``args`` (Bufs or Literals).

        ``dests[k]`` (a Buf or None) is where output k must end up; outputs without a destination are
        returned as the Bufs/Literals holding them (valid until the caller's next allocation)."""
        jaxpr = dce_jaxpr(fusion.inline_calls(jaxpr))[0]  # results nothing reads (a vjp's primal) cost nothing
        env: dict = dict(zip(list(jaxpr.constvars) + list(jaxpr.in_binders), args))
        kernels = fusion.fuse(jaxpr, self.policy)
        last: dict = {}
        for k, kern in enumerate(kernels):
            for x in kern.inputs:
                last[x] = k
        for x in jaxpr.outs:
            if type(x) is Var:
                last[x] = len(kernels)
        alias: dict = {}  # var -> the var whose buffer it shares (reshape-like kernels copy nothing)
        for kern in kernels:
            src = alias_source(kern)
            if src is not None:
                alias[kern.outputs[0]] = alias.get(src, src)
        for v, root in alias.items():
            last[root] = max(last.get(root, -1), last.get(v, -1))
        into = self._transposed_results(kernels, jaxpr.outs)
        preassigned: dict = {}
        for x, d in zip(jaxpr.outs, dests):
            if d is not None and type(x) is Var and x not in env and x not in preassigned:
                preassigned[x] = d
        owned: dict = {}
        skipped: set = set()
        for k, kern in enumerate(kernels):
            if k in skipped:
                continue
            if kern.outputs and kern.outputs[0] in alias:
                out = kern.outputs[0]
                env[out] = Buf(env[alias[out]].ptr, out.aval)
                continue
            target = kernels[into[k]] if k in into else kern
            start = timing.now(self.b) if self.sites is not None else None
            for v in target.outputs:
                if v in preassigned:
                    env[v] = Buf(preassigned[v].ptr, v.aval)
                else:
                    env[v], owned[v] = self.scratch(v.aval)
            if k in into:
                skipped.add(into[k])
                eqn, t = kern.root, target.root
                ins = [self.literal(x) if type(x) is Literal else env[x] for x in eqn.inputs]
                TRANSPOSED[eqn.primitive](self, eqn, ins, env[t.out_binders[0]], t.params["permutation"])
            else:
                self.kernel(kern, env)
            if start is not None:
                self._timed([kern, target] if target is not kern else [kern], start)
            for v in list(kern.inputs) + list(kern.outputs):
                if v in owned and last.get(v, -1) <= k:
                    self.release(owned.pop(v), v.aval)
        results = []
        for x, d in zip(jaxpr.outs, dests):
            src = x if type(x) is Literal else env[x]
            if d is not None:
                if type(src) is Literal:
                    self.fill(d, src)
                elif src.ptr is not d.ptr:
                    self.copy(d, src)
                results.append(d)
            else:
                results.append(src)
        for v, off in owned.items():
            self.release(off, v.aval)
        return results

    def _timed(self, kerns: list, start: ir.Value) -> None:
        """Close the timing of a kernel site started at ``start`` (a profiled build)."""
        eqns = [e for kern in kerns for e in kern.eqns]
        nbytes, flops = profiler.kernel_cost(eqns, kerns[0].inputs, kerns[-1].outputs)
        self.sites.append((profiler.kernel_name(eqns), nbytes, flops))
        timing.record(self.b, self.timing_table, len(self.sites) - 1, start)

    def _transposed_results(self, kernels: list, outs: list) -> dict:
        """{producer kernel index: transpose kernel index} where a transpose is the only reader of a result
        its producer (with the default lowering) can write transposed."""
        readers: dict = {}
        for j, kern in enumerate(kernels):
            for x in kern.inputs:
                readers.setdefault(x, []).append(j)
        found = {}
        for k, kern in enumerate(kernels):
            p = kern.root.primitive if kern.kind == "opaque" else None
            if p not in TRANSPOSED or self.rules.get(p) is not OPAQUE.get(p) or len(kern.outputs) != 1:
                continue
            v = kern.outputs[0]
            users = readers.get(v, [])
            if v in outs or len(users) != 1:
                continue
            t = kernels[users[0]]
            if t.kind == "loop" and len(t.eqns) == 1 and t.root.primitive is st.transpose_p and t.outputs:
                found[k] = users[0]
        return found

    def runtime_call(self, name: str, eqn, fn: Callable, ins: list[Buf], outs: list[Buf]) -> None:
        """A documented call into the host: ``fn(input arrays, output arrays)`` runs (under the GIL) when the
        generated code reaches this point; it must write every output. If it fails, the program returns."""
        avals = tuple(x.aval for x in list(ins) + list(outs))
        k = self.mb.add_runtime_call(RuntimeCall(name, eqn.primitive.name, fn, avals, len(ins)))
        b = self.b
        argv = entry_alloca(b, T.PTR, len(avals))
        for j, x in enumerate(list(ins) + list(outs)):
            b.store(x.ptr, gep(b, argv, j, T.PTR))
        call = T.intrinsic(self.mb.module, RUNTIME_CALL, T.I32, [T.PTR, T.I64, T.PTR])
        status = b.call(call, [self.ctx_ptr, i64(k), argv])
        with b.if_then(b.icmp_signed("!=", status, ir.Constant(T.I32, 0)), likely=False):
            b.ret_void()

    def fill(self, dst: Buf, lit: Literal) -> None:
        """Every element of ``dst`` set to a literal (lowered as a broadcast kernel)."""
        src = self.literal(lit)
        self.copy_broadcast(dst, src)

    def copy_broadcast(self, dst: Buf, src: Buf) -> None:
        """``dst`` filled with the scalar ``src`` (or copied, when shapes match)."""
        if src.shape == dst.shape:
            self.copy(dst, src)
            return
        self.loop_eqn(st.broadcast_in_dim_p, {"shape": dst.shape, "broadcast_dimensions": ()}, src, dst)

    def convert(self, dst: Buf, src: Buf) -> None:
        """``dst`` = ``src`` converted to ``dst``'s dtype (convert_element_type's semantics)."""
        if src.dtype == dst.dtype:
            self.copy(dst, src)
            return
        self.loop_eqn(ew.convert_element_type_p, {"new_dtype": dst.dtype, "weak_type": False}, src, dst)

    def loop_eqn(self, prim, params: dict, src: Buf, dst: Buf) -> None:
        """One fusible equation ``dst = prim(src)`` as a loop kernel."""
        x, out = Var(src.aval), Var(dst.aval)
        eqn = JaxprEqn(prim, [x], params, [out])
        emit_fused(self.mb, self.b, fusion.Kernel("loop", [eqn], dst.shape, [x], [out]),
                   {x: src, out: dst}.__getitem__)

    def kernel(self, kern: fusion.Kernel, env: dict) -> None:
        look = env.__getitem__
        if kern.kind == "contraction":
            EPILOGUES[kern.eqns[0].primitive][1](self, kern, env)
            return
        if kern.kind != "opaque" or kern.root.primitive in REDUCE_OPS:
            emit_fused(self.mb, self.b, kern, look)
            return
        eqn = kern.root
        rule = self.rules.get(eqn.primitive)
        if rule is None:
            raise NotImplementedError(f"cpu_llvm backend: no lowering for primitive {eqn.primitive.name}")
        ins = [self.literal(x) if type(x) is Literal else env[x] for x in eqn.inputs]
        outs = [env[v] for v in eqn.out_binders]
        rule(self, eqn, ins, outs)


def build(closed: ClosedJaxpr, rules: dict, name: str = "portax", profiled: bool = False) -> ProgramSpec:
    """Lower ``closed`` into a module with ``main`` and describe its argv and outputs (``profiled``: with
    every kernel timed, the timing table in the slot before the constants)."""
    mb = ModuleBuilder(name)
    main = ir.Function(mb.module, ir.FunctionType(T.VOID, [T.PTR]), "main")
    main.args[0].add_attribute("noalias")
    b = ir.IRBuilder(main.append_basic_block("entry"))
    jaxpr = closed.jaxpr
    n_in = len(jaxpr.in_binders)
    outputs: list[tuple] = []
    out_vars: list = []
    first: dict = {}  # var -> the first output position returning it
    inputs = {v: i for i, v in enumerate(jaxpr.in_binders)}
    consts = dict(zip(jaxpr.constvars, closed.consts))
    for k, x in enumerate(jaxpr.outs):
        if type(x) is Literal:
            outputs.append(("const", np.asarray(x.val, dtype=x.aval.dtype)))
            continue
        if x in first:
            outputs.append(("same", first[x]))
            continue
        first[x] = k
        if x in inputs:
            outputs.append(("input", inputs[x]))
        elif x in consts:
            outputs.append(("const", np.asarray(consts[x])))
        else:
            outputs.append(("buf", len(out_vars)))
            out_vars.append(x)
    n_out = len(out_vars)
    arena_slot, ctx_slot, const_base = n_in + n_out, n_in + n_out + 1, n_in + n_out + 2
    profile_slot = const_base if profiled else None
    const_base += profiled
    lw = Lowering(mb, b, main.args[0], rules, const_base, arena_slot, ctx_slot, profile_slot)
    args = [lw.const(c) for c in closed.consts] + [Buf(lw.slot(i), v.aval) for i, v in enumerate(jaxpr.in_binders)]
    out_bufs = {v: Buf(lw.slot(n_in + j), v.aval) for j, v in enumerate(out_vars)}
    dests = [out_bufs.get(x) if type(x) is Var and first[x] == k else None for k, x in enumerate(jaxpr.outs)]
    lw.jaxpr(jaxpr, args, dests)
    b.ret_void()
    return ProgramSpec(mb, n_in, [v.aval for v in out_vars], outputs, lw.arena.size, const_base, lw.sites or [],
                       profile_slot)
