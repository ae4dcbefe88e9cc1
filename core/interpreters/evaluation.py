"""Evaluating a jaxpr by binding its equations under whatever traces are active, and dead-code removal."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ..ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, eqn_effects
from ..source_info import user_context
from ..trace import bind


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence, *args: Any) -> list:
    env: dict = {}
    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for v, x in zip(jaxpr.in_binders, args):
        env[v] = x
    for eqn in jaxpr.eqns:
        ins = [x.val if type(x) is Literal else env[x] for x in eqn.inputs]
        if eqn.source_info is None:
            outs = bind(eqn.primitive, *ins, **eqn.params)
        else:
            with user_context(eqn.source_info):
                outs = bind(eqn.primitive, *ins, **eqn.params)
        if not eqn.primitive.multiple_results:
            outs = (outs,)
        for v, x in zip(eqn.out_binders, outs):
            env[v] = x
    return [x.val if type(x) is Literal else env[x] for x in jaxpr.outs]


def jaxpr_as_fun(closed: ClosedJaxpr) -> Callable[..., list]:
    return lambda *args: eval_jaxpr(closed.jaxpr, closed.consts, *args)


def dce_jaxpr(jaxpr: Jaxpr, used_outputs: Sequence[bool] | None = None) -> tuple[Jaxpr, list[bool]]:
    """Drop equations whose results are unused (and unused outputs if asked), but never one with side effects
    (``Jaxpr.effects``); report used inputs."""
    outs = jaxpr.outs if used_outputs is None else [v for v, u in zip(jaxpr.outs, used_outputs) if u]
    live = {v for v in outs if type(v) is not Literal}
    new_eqns: list[JaxprEqn] = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in live for v in eqn.out_binders) or eqn.primitive in effectful_primitives or eqn_effects(eqn):
            new_eqns.append(eqn)
            live.update(x for x in eqn.inputs if type(x) is not Literal)
    new_eqns.reverse()
    used_inputs = [v in live for v in jaxpr.in_binders]
    return Jaxpr(jaxpr.constvars, jaxpr.in_binders, new_eqns, outs), used_inputs


effectful_primitives: set = set()
