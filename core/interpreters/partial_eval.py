"""Partial evaluation: split a computation into what is known now and what must be staged for later.

``linearize`` runs the JVP of a function with known primals and unknown tangents: primal work executes
eagerly (so Python control flow on values works under ``grad``), tangent work is staged into a linear
jaxpr that the transpose interpreter turns into a VJP. ``partial_eval_jaxpr`` does the same split on a
jaxpr, which is how higher-order primitives (jit, cond, scan, ...) partially evaluate their bodies.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable, NamedTuple, Sequence

from .. import source_info
from ..ad_util import Zero
from ..ir import ClosedJaxpr, Jaxpr, JaxprEqn, ShapedArray, Var, eqn_effects
from ..trace import (Trace, Tracer, abstract_eval_rules, bind, concrete_or_none, full_lower, full_raise,
                     get_aval, new_main, partial_eval_jaxpr_rules)
from .evaluation import dce_jaxpr, eval_jaxpr
from .memo import memoize_jaxpr_transform


class PartialVal(NamedTuple):
    aval: ShapedArray
    const: Any | None

    @classmethod
    def known(cls, val: Any) -> "PartialVal":
        return PartialVal(get_aval(val), val)

    @classmethod
    def unknown(cls, aval: ShapedArray) -> "PartialVal":
        return PartialVal(aval, None)

    is_known = property(lambda self: self.const is not None)


class LambdaBindingRecipe(NamedTuple):
    pass


class ConstRecipe(NamedTuple):
    val: Any


class JaxprEqnRecipe(NamedTuple):
    prim: Any
    tracers_in: list
    params: dict
    avals_out: list
    tracer_refs_out: list
    source_info: Any = None


class JaxprTracer(Tracer):
    __slots__ = ("pval", "recipe", "__weakref__")

    def __init__(self, trace: "JaxprTrace", pval: PartialVal, recipe: Any):
        self._trace = trace
        self.pval = pval
        self.recipe = recipe

    @property
    def aval(self) -> ShapedArray:
        return self.pval.aval

    def full_lower(self):
        if self.pval.is_known:
            return full_lower(self.pval.const)
        return self

    def to_concrete_value(self):
        return concrete_or_none(self.pval.const) if self.pval.is_known else None

    def primal_value(self):
        return self.pval.const if self.pval.is_known else super().primal_value()


class JaxprTrace(Trace):
    def new_arg(self, pval: PartialVal) -> JaxprTracer:
        return JaxprTracer(self, pval, LambdaBindingRecipe())

    def pure(self, val: Any) -> JaxprTracer:
        return JaxprTracer(self, PartialVal.known(val), None)

    lift = pure

    def instantiate_const(self, tracer: JaxprTracer) -> JaxprTracer:
        if tracer.pval.is_known:
            return JaxprTracer(self, PartialVal.unknown(tracer.aval), ConstRecipe(tracer.pval.const))
        return tracer

    def process_primitive(self, primitive, tracers, params):
        if all(t.pval.is_known for t in tracers):
            return bind(primitive, *[t.pval.const for t in tracers], **params)
        rule = partial_eval_jaxpr_rules.get(primitive)
        if rule is not None:
            return rule(self, tracers, **params)
        return self.stage(primitive, tracers, params)

    def stage(self, primitive, tracers, params):
        tracers_in = [self.instantiate_const(t) for t in tracers]
        avals_in = [t.aval for t in tracers_in]
        out = abstract_eval_rules[primitive](*avals_in, **params)
        if any(a.sharding is not None for a in avals_in):  # typed by Explicit mesh axes
            from ..explicit_sharding import with_types
            out = with_types(primitive, avals_in, params, out)
        avals_out = out if primitive.multiple_results else [out]
        tracers_out = [JaxprTracer(self, PartialVal.unknown(a), None) for a in avals_out]
        eqn = JaxprEqnRecipe(primitive, tracers_in, params, avals_out, [weakref.ref(t) for t in tracers_out],
                             source_info.current())
        for t in tracers_out:
            t.recipe = eqn
        if eqn_effects(JaxprEqn(primitive, [], params, [])):  # kept even if no output is used
            self.main.global_data.append(eqn)
        return tracers_out if primitive.multiple_results else tracers_out[0]


def split_call(trace: JaxprTrace, primitive, tracers: list, closed: ClosedJaxpr, make_params: Callable,
               instantiate: bool | Sequence[bool] = False) -> list:
    """Partial-evaluate a call-like primitive whose body is ``closed``: bind its known half now (known
    inputs -> known outputs + residuals) and stage its unknown half (residuals + unknown inputs)."""
    unknowns = [not t.pval.is_known for t in tracers]
    known, unknown, out_unknowns, num_res = partial_eval_jaxpr(closed, unknowns, instantiate)
    known_outs_res = bind(primitive, *[t.pval.const for t in tracers if t.pval.is_known], **make_params(known))
    n_known = len(known_outs_res) - num_res
    known_outs, residuals = known_outs_res[:n_known], known_outs_res[n_known:]
    res_tracers = [trace.instantiate_const(trace.pure(r)) for r in residuals]
    staged = trace.stage(primitive, res_tracers + [t for t in tracers if not t.pval.is_known], make_params(unknown))
    known_it, staged_it = iter(known_outs), iter(staged)
    return [next(staged_it) if u else trace.pure(next(known_it)) for u in out_unknowns]


def tracers_to_jaxpr(tracers_in: list[JaxprTracer], tracers_out: list[JaxprTracer],
                     effectful: Sequence[JaxprEqnRecipe] = ()) -> tuple[Jaxpr, list]:
    """The jaxpr computing ``tracers_out`` from ``tracers_in``, with the ``effectful`` staged equations (side
    effects, e.g. a debug callback of a tangent) kept too, after the others, in the order they were staged."""
    tracer_to_var: dict[int, Var] = {id(t): Var(t.aval) for t in tracers_in}
    constvar_to_val: dict[int, tuple[Var, Any]] = {}
    processed_eqns: set[int] = set()
    eqns: list[JaxprEqn] = []
    for t in _toposort(list(tracers_out) + [x for r in effectful for x in r.tracers_in]):
        recipe = t.recipe
        if isinstance(recipe, LambdaBindingRecipe):
            if id(t) not in tracer_to_var:
                raise ValueError("a lambda-bound tracer of an outer partial evaluation was captured")
        elif isinstance(recipe, ConstRecipe):
            key = id(recipe.val)
            if key not in constvar_to_val:
                constvar_to_val[key] = (Var(t.aval), recipe.val)
            tracer_to_var[id(t)] = constvar_to_val[key][0]
        elif isinstance(recipe, JaxprEqnRecipe):
            if id(recipe) not in processed_eqns:
                outvars = [Var(a) for a in recipe.avals_out]
                for ref, v in zip(recipe.tracer_refs_out, outvars):
                    if ref() is not None:
                        tracer_to_var[id(ref())] = v
                eqns.append(JaxprEqn(recipe.prim, [tracer_to_var[id(x)] for x in recipe.tracers_in],
                                     recipe.params, outvars, recipe.source_info))
                processed_eqns.add(id(recipe))
        else:
            raise TypeError(recipe)
    for recipe in effectful:
        if id(recipe) not in processed_eqns:
            eqns.append(JaxprEqn(recipe.prim, [tracer_to_var[id(x)] for x in recipe.tracers_in], recipe.params,
                                 [Var(a) for a in recipe.avals_out], recipe.source_info))
            processed_eqns.add(id(recipe))
    constvars, constvals = zip(*constvar_to_val.values()) if constvar_to_val else ([], [])
    in_binders = [tracer_to_var[id(t)] for t in tracers_in]
    outs = [tracer_to_var[id(t)] for t in tracers_out]
    return Jaxpr(list(constvars), in_binders, eqns, outs), list(constvals)


def _parents(t: JaxprTracer) -> list:
    return list(t.recipe.tracers_in) if isinstance(t.recipe, JaxprEqnRecipe) else []


def _toposort(out_nodes: list) -> list:
    """Tracers in dependency order (iterative, so deep programs don't hit the recursion limit)."""
    if not out_nodes:
        return []
    out_nodes = _dedup(out_nodes)
    child_counts: dict[int, int] = {}
    stack = list(out_nodes)
    while stack:
        node = stack.pop()
        if id(node) in child_counts:
            child_counts[id(node)] += 1
        else:
            child_counts[id(node)] = 1
            stack.extend(_parents(node))
    for node in out_nodes:
        child_counts[id(node)] -= 1
    order = []
    childless = [n for n in out_nodes if not child_counts[id(n)]]
    while childless:
        node = childless.pop()
        order.append(node)
        for p in _parents(node):
            if child_counts[id(p)] == 1:
                childless.append(p)
            else:
                child_counts[id(p)] -= 1
    return order[::-1]


def _dedup(xs):
    seen, out = set(), []
    for x in xs:
        if id(x) not in seen:
            seen.add(id(x))
            out.append(x)
    return out


def partial_eval_flat(fun: Callable, pvals_in: Sequence[PartialVal]) -> tuple[Jaxpr, list[PartialVal], list]:
    """Run ``fun`` with some inputs known; return the jaxpr of the unknown part, output pvals and consts."""
    with new_main(JaxprTrace, []) as main:  # global_data: the staged equations with side effects
        trace = JaxprTrace(main)
        tracers_in = [trace.new_arg(pv) for pv in pvals_in]
        outs = fun(*tracers_in)
        tracers_out = [full_raise(trace, o) for o in outs]
        pvals_out = [t.pval for t in tracers_out]
        unk_tracers_in = [t for t in tracers_in if not t.pval.is_known]
        unk_tracers_out = [t for t in tracers_out if not t.pval.is_known]
        jaxpr, consts = tracers_to_jaxpr(unk_tracers_in, unk_tracers_out, main.global_data)
    return jaxpr, pvals_out, consts


# --- linearize ------------------------------------------------------------------------------------------
def linearize_flat(fun: Callable, primals: Sequence, tangent_mask: Sequence[bool]):
    """JVP ``fun`` with known primals and unknown tangents (where ``tangent_mask``).

    Returns ``(primals_out, linear_jaxpr, consts, out_tangent_mask)``: ``linear_jaxpr(consts, *tangents)``
    gives the non-zero output tangents, listed by ``out_tangent_mask``.
    """
    from .jvp import jvp_flat
    n = len(primals)
    out_mask: list[bool] = []

    def fun_jvp(*args):
        ps, ts = args[:n], iter(args[n:])
        tangents = [next(ts) if m else Zero.from_value(p) for p, m in zip(primals, tangent_mask)]
        p_out, t_out = jvp_flat(fun, ps, tangents, instantiate_zeros=False)
        out_mask[:] = [type(t) is not Zero for t in t_out]
        return list(p_out) + [t for t in t_out if type(t) is not Zero]

    pvals = [PartialVal.known(p) for p in primals]
    pvals += [PartialVal.unknown(get_aval(p).at_least_vspace()) for p, m in zip(primals, tangent_mask) if m]
    jaxpr, pvals_out, consts = partial_eval_flat(fun_jvp, pvals)
    n_out = len(out_mask)
    primal_pvals, tangent_pvals = pvals_out[:n_out], pvals_out[n_out:]
    if not all(pv.is_known for pv in primal_pvals):
        raise TypeError("linearize: the primal outputs depend on the tangents; a JVP rule mixes them")
    # Tangent outputs known at trace time (independent of the inputs' tangents) are closed over as consts.
    if any(pv.is_known for pv in tangent_pvals):
        jaxpr, consts = _instantiate_known_outputs(jaxpr, consts, tangent_pvals)
    return [pv.const for pv in primal_pvals], jaxpr, consts, list(out_mask)


def _instantiate_known_outputs(jaxpr: Jaxpr, consts: list, pvals: list[PartialVal]) -> tuple[Jaxpr, list]:
    constvars, constvals = list(jaxpr.constvars), list(consts)
    unknown_outs = iter(jaxpr.outs)
    outs = []
    for pv in pvals:
        if pv.is_known:
            v = Var(pv.aval)
            constvars.append(v)
            constvals.append(pv.const)
            outs.append(v)
        else:
            outs.append(next(unknown_outs))
    return Jaxpr(constvars, jaxpr.in_binders, jaxpr.eqns, outs), constvals


# --- partial evaluation of a jaxpr -------------------------------------------------------------------------
@memoize_jaxpr_transform
def partial_eval_jaxpr(closed: ClosedJaxpr, in_unknowns: Sequence[bool], instantiate: bool | Sequence[bool]
                       ) -> tuple[ClosedJaxpr, ClosedJaxpr, list[bool], int]:
    """Split ``closed`` into ``known: known_ins -> known_outs + residuals`` and
    ``unknown: residuals + unknown_ins -> unknown_outs``. Returns (known, unknown, out_unknowns, num_res)."""
    from .staging import trace_to_jaxpr
    inst = [instantiate] * len(closed.out_avals) if isinstance(instantiate, bool) else list(instantiate)
    known_avals = [a for a, u in zip(closed.in_avals, in_unknowns) if not u]
    cell: dict = {}

    def known_fun(*known_args):
        known_it = iter(known_args)
        pvals = [PartialVal.unknown(a) if u else PartialVal.known(next(known_it))
                 for a, u in zip(closed.in_avals, in_unknowns)]
        jaxpr_unk, pvals_out, res = partial_eval_flat(lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs), pvals)
        out_unknowns = [not pv.is_known or i for pv, i in zip(pvals_out, inst)]
        # Known outputs that must be instantiated become residuals fed straight through.
        extra = [pv.const for pv, i in zip(pvals_out, inst) if pv.is_known and i]
        cell.update(jaxpr_unk=jaxpr_unk, out_unknowns=out_unknowns, pvals_out=pvals_out,
                    num_res=len(res), num_extra=len(extra))
        known_outs = [pv.const for pv, u in zip(pvals_out, out_unknowns) if not u]
        return known_outs + list(res) + extra

    jaxpr_known, consts_known = trace_to_jaxpr(known_fun, known_avals)
    jaxpr_unk: Jaxpr = cell["jaxpr_unk"]
    out_unknowns, pvals_out, num_res, num_extra = cell["out_unknowns"], cell["pvals_out"], cell["num_res"], cell["num_extra"]
    n_known_out = sum(not u for u in out_unknowns)
    res_avals = [v.aval for v in jaxpr_known.outs[n_known_out:]]
    # Unknown side: inputs are residuals (constvars of jaxpr_unk, then instantiated known outputs) + unknown ins.
    res_vars = list(jaxpr_unk.constvars)
    extra_vars = [Var(a) for a in res_avals[num_res:]]
    extra_it = iter(extra_vars)
    unk_out_it = iter(jaxpr_unk.outs)
    outs = []
    for pv, u in zip(pvals_out, out_unknowns):
        if not pv.is_known:
            outs.append(next(unk_out_it))
        elif u:
            outs.append(next(extra_it))
    jaxpr_unknown = Jaxpr([], res_vars + extra_vars + jaxpr_unk.in_binders, jaxpr_unk.eqns, outs)
    return (ClosedJaxpr(jaxpr_known, consts_known), ClosedJaxpr(jaxpr_unknown, []), out_unknowns,
            num_res + num_extra)


def dce_closed(closed: ClosedJaxpr, used_outputs: Sequence[bool] | None = None) -> tuple[ClosedJaxpr, list[bool]]:
    jaxpr, used_inputs = dce_jaxpr(closed.jaxpr, used_outputs)
    return ClosedJaxpr(jaxpr, closed.consts), used_inputs

