"""Forward-mode differentiation: the JVP trace, rule helpers, and jvp of a jaxpr."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from .. import dtypes
from ..ad_util import Zero, add_tangents, instantiate
from ..ir import ClosedJaxpr, ShapedArray
from ..trace import (Primitive, Trace, Tracer, concrete_or_none, full_raise, get_aval, jvp_rules,
                     new_main, transpose_rules)
from .memo import memoize_jaxpr_transform


class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent")

    def __init__(self, trace: "JVPTrace", primal: Any, tangent: Any):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent

    @property
    def aval(self) -> ShapedArray:
        return get_aval(self.primal)

    def to_concrete_value(self):
        return concrete_or_none(self.primal)

    def primal_value(self):
        return self.primal


class JVPTrace(Trace):
    def pure(self, val: Any) -> JVPTracer:
        return JVPTracer(self, val, Zero.from_value(val))

    lift = pure

    def process_primitive(self, primitive, tracers, params):
        primals = [t.primal for t in tracers]
        tangents = [t.tangent for t in tracers]
        rule = jvp_rules.get(primitive)
        if rule is None:
            raise NotImplementedError(f"Differentiation rule for '{primitive}' not implemented")
        primal_out, tangent_out = rule(primals, tangents, **params)
        if primitive.multiple_results:
            return [JVPTracer(self, p, t) for p, t in zip(primal_out, tangent_out)]
        return JVPTracer(self, primal_out, tangent_out)


def jvp_flat(fun: Callable, primals: Sequence, tangents: Sequence, instantiate_zeros: bool = True):
    """Run ``fun`` (flat list -> flat list) on primals with tangents; tangents may be ``Zero``."""
    with new_main(JVPTrace) as main:
        trace = JVPTrace(main)
        tracers_in = [JVPTracer(trace, p, t) for p, t in zip(primals, tangents)]
        outs = fun(*tracers_in)
        tracers_out = [full_raise(trace, o) for o in outs]
        primals_out = [t.primal for t in tracers_out]
        tangents_out = [t.tangent for t in tracers_out]
    if instantiate_zeros:
        tangents_out = [instantiate(t) for t in tangents_out]
    return primals_out, tangents_out


@memoize_jaxpr_transform
def jvp_jaxpr(closed: ClosedJaxpr, nonzeros: Sequence[bool], instantiate_out: bool | Sequence[bool]) -> tuple[ClosedJaxpr, list[bool]]:
    """A jaxpr computing ``(primals..., nonzero tangents...) -> (primals_out..., nonzero tangents_out...)``."""
    from .evaluation import eval_jaxpr
    from .staging import trace_to_jaxpr
    n = len(nonzeros)
    out_nz: list[bool] = []
    inst = [instantiate_out] * len(closed.out_avals) if isinstance(instantiate_out, bool) else list(instantiate_out)

    def fun(*args):
        primals, nz_tangents = args[:n], iter(args[n:])
        tangents = [next(nz_tangents) if nz else Zero(a.at_least_vspace()) for nz, a in zip(nonzeros, closed.in_avals)]
        p_out, t_out = jvp_flat(lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs), primals, tangents,
                                instantiate_zeros=False)
        t_out = [instantiate(t) if i and type(t) is Zero and dtypes.kind(t.aval.dtype) in "fc" else t for t, i in zip(t_out, inst)]
        out_nz[:] = [type(t) is not Zero for t in t_out]
        return list(p_out) + [t for t in t_out if type(t) is not Zero]

    tangent_avals = [a.at_least_vspace() for a, nz in zip(closed.in_avals, nonzeros) if nz]
    jaxpr, consts = trace_to_jaxpr(fun, list(closed.in_avals) + tangent_avals)
    return ClosedJaxpr(jaxpr, consts), out_nz


# --- helpers for the common shapes of rule --------------------------------------------------------------
def _sum_of_contributions(primitive: Primitive, jvp_fns, with_ans: bool) -> None:
    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        t_out = Zero(get_aval(out).at_least_vspace())
        extra = (out,) if with_ans else ()
        for fn, t in zip(jvp_fns, tangents):
            if fn is not None and type(t) is not Zero:
                t_out = add_tangents(t_out, fn(t, *extra, *primals, **params))
        return out, t_out
    jvp_rules[primitive] = rule


def defjvp(primitive: Primitive, *jvp_fns: Callable | None) -> None:
    """``jvp_fns[i](tangent_i, *primals, **params)`` is the contribution of input i (None: not differentiable)."""
    _sum_of_contributions(primitive, jvp_fns, with_ans=False)


def defjvp2(primitive: Primitive, *jvp_fns: Callable | None) -> None:
    """Like defjvp, with the primal output as second argument: ``fn(tangent, ans, *primals, **params)``."""
    _sum_of_contributions(primitive, jvp_fns, with_ans=True)


def defjvp_zero(primitive: Primitive) -> None:
    """Outputs that are piecewise constant (comparisons, rounding, integer ops): zero tangent."""
    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if primitive.multiple_results:
            return out, [Zero(get_aval(o).at_least_vspace()) for o in out]
        return out, Zero(get_aval(out).at_least_vspace())
    jvp_rules[primitive] = rule


def deflinear(primitive: Primitive, transpose_rule: Callable) -> None:
    """A primitive linear in all its inputs: its jvp applies it to the tangents."""
    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if all(type(t) is Zero for t in tangents):
            return out, Zero(get_aval(out).at_least_vspace())
        return out, primitive.bind(*[instantiate(t) for t in tangents], **params)
    jvp_rules[primitive] = rule
    transpose_rules[primitive] = transpose_rule


def linear_jvp(primitive: Primitive, *linear_argnums: int) -> None:
    """JVP of a primitive linear in the given arguments (others are parameters, e.g. indices)."""
    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if all(type(tangents[i]) is Zero for i in linear_argnums):
            return out, Zero(get_aval(out).at_least_vspace())
        args = [instantiate(tangents[i]) if i in linear_argnums else p for i, p in enumerate(primals)]
        return out, primitive.bind(*args, **params)
    jvp_rules[primitive] = rule
