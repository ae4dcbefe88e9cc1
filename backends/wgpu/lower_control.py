"""Control flow: cond, while and scan (fori_loop with static bounds is a scan).

* ``scan``: the trip count is static, so the N rounds of the body (slice xs[i], run the body, store
  ys[i], swap the carry between two buffer sets) are recorded into the caller's command batch: one
  submit for the whole loop, no host round trip per step.
* ``while``: the predicate is data-dependent; it is read back once per iteration (the body and the next
  predicate evaluation share one submit).
* ``cond``: branches made only of cheap fusible ops (elementwise, index maps, reductions over few
  elements) are all evaluated and the result picked by ``select_n``, which fusion folds into the
  surrounding kernels (``inline_cheap_conds``); other conds read the index back and record one branch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from portax.core import fusion
from portax.core.ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, ShapedArray, Var
from portax.core.primitives import (call, control_flow as cf, custom_derivatives as cd, elementwise as ew,
                                    solves, structural as st)

from .buffers import DeviceBuffer
from .lowering import lowering
from .program import (WORKSPACE, LoweringContext, Program, Recorder, Step, bind_result, context_of, record_copy,
                      workspace_buffer)

CHEAP_COND_ELEMENTS = 1 << 16  # elements all branches of a select-lowered cond may compute together
_FUSIBLE = fusion.ELEMENTWISE | fusion.INDEX_MAPPED | fusion.GENERATORS | fusion.REDUCTIONS


def _workspace(env: dict, step: Step, part) -> dict:
    """The workspace of a nested program of ``step``: kept in the enclosing loop's workspace (reused by
    every iteration of that loop), or new for this call."""
    outer = env.get(WORKSPACE)
    return {} if outer is None else outer.setdefault((id(step), part), {})


def _atom_buffer(rec: Recorder, env: dict, atom) -> DeviceBuffer:
    if type(atom) is Literal:
        return rec.constant(atom.val, atom.aval.dtype)
    return rec.buffer(env, atom)


# --- cond ------------------------------------------------------------------------------------------------
def _cheap(eqn: JaxprEqn) -> bool:
    branches = eqn.params["branches"]
    work = 0
    for b in branches:
        for e in b.jaxpr.eqns:
            if e.primitive not in _FUSIBLE:
                return False
            work += sum(v.aval.size for v in e.out_binders)
    return work <= CHEAP_COND_ELEMENTS


def inline_cheap_conds(jaxpr: Jaxpr) -> tuple[Jaxpr, list]:
    """Rewrite conds whose branches are cheap into all branches + ``select_n``; returns the new jaxpr
    (branch constants become new constvars) and the (constvar, value) pairs it added."""
    if not any(e.primitive is cf.cond_p and _cheap(e) for e in jaxpr.eqns):
        return jaxpr, []
    consts: list = []
    eqns: list = []
    for e in jaxpr.eqns:
        if e.primitive is cf.cond_p and _cheap(e):
            eqns.extend(_cond_as_select(e, consts))
        else:
            eqns.append(e)
    return Jaxpr(list(jaxpr.constvars) + [v for v, _ in consts], jaxpr.in_binders, eqns, jaxpr.outs), consts


def _scalar(dtype) -> ShapedArray:
    return ShapedArray((), np.dtype(dtype))


def _inline_branch(branch: ClosedJaxpr, operands: Sequence, consts: list, eqns: list) -> list:
    """Append ``branch``'s equations with fresh variables; returns its output atoms."""
    env: dict = dict(zip(branch.jaxpr.in_binders, operands))
    for v, c in zip(branch.jaxpr.constvars, branch.consts):
        fresh = Var(v.aval)
        consts.append((fresh, c))
        env[v] = fresh
    sub = lambda x: env.get(x, x) if type(x) is Var else x
    for e in branch.jaxpr.eqns:
        outs = [Var(v.aval) for v in e.out_binders]
        env.update(zip(e.out_binders, outs))
        eqns.append(JaxprEqn(e.primitive, [sub(x) for x in e.inputs], e.params, outs))
    return [sub(x) for x in branch.jaxpr.outs]


def _cond_as_select(eqn: JaxprEqn, consts: list) -> list:
    index, *ops = eqn.inputs
    branches = eqn.params["branches"]
    eqns: list = []
    results = [_inline_branch(b, ops, consts, eqns) for b in branches]
    if len(branches) == 1:
        which = None
    elif index.aval.dtype == np.int32:
        which = index  # select_n picks the nearest case for an out-of-range index, as cond clamps
    else:
        which = Var(_scalar(np.int32))
        eqns.append(JaxprEqn(ew.convert_element_type_p, [index],
                             {"new_dtype": np.dtype(np.int32), "weak_type": False}, [which]))
    for k, out in enumerate(eqn.out_binders):
        cases = []
        for res in results:
            atom = res[k]
            if type(atom) is Literal and out.aval.shape:
                full = Var(out.aval)
                eqns.append(JaxprEqn(st.broadcast_in_dim_p, [atom],
                                     {"shape": out.aval.shape, "broadcast_dimensions": ()}, [full]))
                atom = full
            cases.append(atom)
        if which is None:
            eqns.append(JaxprEqn(ew.select_n_p, [Literal(np.int32(0), _scalar(np.int32)), cases[0]], {}, [out]))
        else:
            eqns.append(JaxprEqn(ew.select_n_p, [which, *cases], {}, [out]))
    return eqns


class CondStep(Step):
    """Read the branch index back, then record the chosen branch."""

    def __init__(self, eqn: JaxprEqn, branches: list[Program]):
        self.index, *self.operands = eqn.inputs
        self.outs = eqn.out_binders
        self.branches = branches

    def record(self, rec: Recorder, env: dict) -> None:
        if type(self.index) is Literal:
            i = int(self.index.val)
        else:
            i = int(rec.read(rec.buffer(env, self.index), (), self.index.aval.dtype))
        k = min(max(i, 0), len(self.branches) - 1)
        results = self.branches[k].record(rec, [_atom_buffer(rec, env, a) for a in self.operands],
                                          workspace=_workspace(env, self, k))
        for v, buf in zip(self.outs, results):
            bind_result(rec, env, v, buf)

    def kernels(self):
        return [k for b in self.branches for k in b.kernels]


@lowering(cf.cond_p)
def _cond(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    ctx.add(CondStep(eqn, [ctx.program(b, f"cond branch {i}") for i, b in enumerate(eqn.params["branches"])]))


# --- while -----------------------------------------------------------------------------------------------
class WhileStep(Step):
    """Evaluate the predicate, read it back, record the body; repeat."""

    def __init__(self, eqn: JaxprEqn, cond: Program, body: Program):
        p = eqn.params
        nc, nb = p["cond_nconsts"], p["body_nconsts"]
        self.cond_consts = eqn.inputs[:nc]
        self.body_consts = eqn.inputs[nc:nc + nb]
        self.init = eqn.inputs[nc + nb:]
        self.outs = eqn.out_binders
        self.cond, self.body = cond, body
        self.context = context_of(eqn)

    def record(self, rec: Recorder, env: dict) -> None:
        cc = [_atom_buffer(rec, env, a) for a in self.cond_consts]
        bc = [_atom_buffer(rec, env, a) for a in self.body_consts]
        carry = [_atom_buffer(rec, env, a) for a in self.init]
        cond_ws, body_ws = _workspace(env, self, "cond"), _workspace(env, self, "body")
        while True:
            pred = self.cond.record(rec, cc + carry, workspace=cond_ws)[0]
            if not bool(rec.read(pred, (), np.bool_)):
                break
            carry = self.body.record(rec, bc + carry, workspace=body_ws)
        for v, buf in zip(self.outs, carry):
            bind_result(rec, env, v, buf)

    def kernels(self):
        return self.cond.kernels + self.body.kernels


@lowering(cf.while_p)
def _while(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    p = eqn.params
    ctx.add(WhileStep(eqn, ctx.program(p["cond_jaxpr"], "while cond"), ctx.program(p["body_jaxpr"], "while body")))


# --- scan ------------------------------------------------------------------------------------------------
class ScanStep(Step):
    """All ``length`` rounds recorded in the current batch; the carry alternates between two buffer sets."""

    def __init__(self, eqn: JaxprEqn, body: Program):
        p = eqn.params
        self.length, self.reverse = p["length"], p["reverse"]
        nc, nk = p["num_consts"], p["num_carry"]
        self.consts = eqn.inputs[:nc]
        self.init = eqn.inputs[nc:nc + nk]
        self.xs = eqn.inputs[nc + nk:]
        self.carry_outs = eqn.out_binders[:nk]
        self.ys = eqn.out_binders[nk:]
        self.body = body
        self.carry_avals = [v.aval for v in body.in_vars[nc:nc + nk]]
        self.x_avals = [v.aval for v in body.in_vars[nc + nk:]]
        self.y_avals = [v.aval for v in body.outs[nk:]]

    def record(self, rec: Recorder, env: dict) -> None:
        consts = [_atom_buffer(rec, env, a) for a in self.consts]
        carry = [_atom_buffer(rec, env, a) for a in self.init]
        xs = [_atom_buffer(rec, env, a) for a in self.xs]
        ys = [rec.buffer(env, v) for v in self.ys]
        if self.length:
            ws = _workspace(env, self, "body")
            alloc = lambda name, avals: [workspace_buffer(rec, ws, (name, i), a) for i, a in enumerate(avals)]
            sets = [alloc("carry a", self.carry_avals), alloc("carry b", self.carry_avals)]
            x_slices, y_slices = alloc("x", self.x_avals), alloc("y", self.y_avals)
            for step in range(self.length):
                i = self.length - 1 - step if self.reverse else step
                for src, dst, a in zip(xs, x_slices, self.x_avals):
                    record_copy(rec, src, dst, a.size, a.dtype, src_offset=i * a.size)
                nxt = sets[step % 2]
                self.body.record(rec, consts + carry + x_slices, dests=nxt + y_slices, workspace=ws)
                for src, dst, a in zip(y_slices, ys, self.y_avals):
                    record_copy(rec, src, dst, a.size, a.dtype, dst_offset=i * a.size)
                carry = nxt
        for v, buf in zip(self.carry_outs, carry):
            bind_result(rec, env, v, buf)

    def kernels(self):
        return self.body.kernels


@lowering(cf.scan_p)
def _scan(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    ctx.add(ScanStep(eqn, ctx.program(eqn.params["jaxpr"], "scan body")))


# --- calls that kept their constants (inline_calls inlines the others) -------------------------------------------
class CallStep(Step):
    def __init__(self, eqn: JaxprEqn, body: Program):
        self.inputs, self.outs, self.body = eqn.inputs, eqn.out_binders, body

    def record(self, rec: Recorder, env: dict) -> None:
        results = self.body.record(rec, [_atom_buffer(rec, env, a) for a in self.inputs],
                                   workspace=_workspace(env, self, "body"))
        for v, buf in zip(self.outs, results):
            bind_result(rec, env, v, buf)

    def kernels(self):
        return self.body.kernels


@lowering(call.pjit_p, call.checkpoint_p, cd.custom_jvp_call_p, cd.custom_vjp_call_p, solves.linear_solve_p)
def _call(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    body = eqn.params[fusion._CALL_BODIES[eqn.primitive.name]]
    ctx.add(CallStep(eqn, ctx.program(body, eqn.primitive.name)))


@lowering(cd.custom_lin_p)
def _custom_lin(ctx: LoweringContext, eqn: JaxprEqn) -> None:
    raise NotImplementedError("wgpu backend: custom_lin is the linear stand-in of a custom_vjp inside linearize; "
                              "it is transposed away before a jaxpr runs and has no lowering")
