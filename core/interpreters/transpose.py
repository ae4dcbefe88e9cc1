"""Transposition of linear jaxprs: the backward pass that turns a linearized JVP into a VJP."""
from __future__ import annotations

from typing import Any, Sequence

from .. import dtypes
from ..ad_util import Zero, add_tangents, instantiate
from ..ir import ClosedJaxpr, Jaxpr, Literal, ShapedArray
from ..source_info import transformed, user_context
from ..trace import bind, transpose_rules
from .memo import memoize_jaxpr_transform


class UndefinedPrimal:
    """Marks a linear input of a transpose rule: its value is what the rule solves for."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"UndefinedPrimal({self.aval.str_short()})"


def is_undefined(x: Any) -> bool:
    return type(x) is UndefinedPrimal


def backward_pass(jaxpr: Jaxpr, consts: Sequence, args: Sequence, cts_out: Sequence) -> list:
    """Cotangents of the ``UndefinedPrimal`` entries of ``args`` given output cotangents ``cts_out``."""
    primal_env: dict = {}
    for v, x in zip(jaxpr.constvars, consts):
        primal_env[v] = x
    for v, x in zip(jaxpr.in_binders, args):
        primal_env[v] = x

    def read_primal(x):
        return x.val if type(x) is Literal else primal_env.get(x, UndefinedPrimal(x.aval))

    # Non-linear equations (none of their inputs depends on a linear input) are evaluated forward.
    linear_eqns = []
    for eqn in jaxpr.eqns:
        ins = [read_primal(x) for x in eqn.inputs]
        if any(is_undefined(x) for x in ins):
            linear_eqns.append(eqn)
        else:
            with user_context(eqn.source_info):
                outs = bind(eqn.primitive, *ins, **eqn.params)
            for v, o in zip(eqn.out_binders, outs if eqn.primitive.multiple_results else [outs]):
                primal_env[v] = o

    ct_env: dict = {}

    def write_ct(v, ct):
        if type(v) is Literal or ct is None or type(ct) is Zero:
            return
        ct_env[v] = add_tangents(ct_env[v], ct) if v in ct_env else ct

    for v, ct in zip(jaxpr.outs, cts_out):
        write_ct(v, ct)

    for eqn in reversed(linear_eqns):
        cts = [ct_env.pop(v, None) for v in eqn.out_binders]
        if all(c is None for c in cts):
            continue
        rule = transpose_rules.get(eqn.primitive)
        if rule is None:
            raise NotImplementedError(f"Transpose rule (for reverse-mode differentiation) for '{eqn.primitive}' "
                                      "not implemented")
        ins = [read_primal(x) for x in eqn.inputs]
        with user_context(transformed(eqn.source_info, "transpose")):
            if eqn.primitive.multiple_results:
                cts = [Zero(v.aval) if c is None else c for c, v in zip(cts, eqn.out_binders)]
                cts_in = rule(cts, *ins, **eqn.params)
            else:
                cts_in = rule(cts[0], *ins, **eqn.params)
        for x, val, ct in zip(eqn.inputs, ins, cts_in):
            if is_undefined(val):
                write_ct(x, ct)

    return [ct_env.get(v, Zero(v.aval)) if is_undefined(a) else None for v, a in zip(jaxpr.in_binders, args)]


@memoize_jaxpr_transform
def transpose_jaxpr(closed: ClosedJaxpr, linear: Sequence[bool]) -> ClosedJaxpr:
    """``(nonlinear ins..., cts of float outs...) -> cts of linear ins`` (zeros instantiated) as a jaxpr."""
    from .staging import trace_to_jaxpr
    res_avals = [a for a, l in zip(closed.in_avals, linear) if not l]
    ct_avals = [a for a in closed.out_avals if dtypes.kind(a.dtype) in "fc"]
    n_res = len(res_avals)

    def fun(*args):
        res, cts = iter(args[:n_res]), iter(args[n_res:])
        primals = [UndefinedPrimal(a) if l else next(res) for a, l in zip(closed.in_avals, linear)]
        cts_out = [next(cts) if dtypes.kind(a.dtype) in "fc" else Zero(a.at_least_vspace()) for a in closed.out_avals]
        cts_in = backward_pass(closed.jaxpr, closed.consts, primals, cts_out)
        return [instantiate(c) for c, l in zip(cts_in, linear) if l]

    jaxpr, consts = trace_to_jaxpr(fun, res_avals + ct_avals)
    return ClosedJaxpr(jaxpr, consts)
