"""Staging: trace a Python function into a jaxpr (``make_jaxpr``, ``jit``'s front end)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes, source_info
from ..ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, ShapedArray, Var
from ..trace import (Trace, Tracer, abstract_eval_rules, full_raise, get_aval, new_base_main)


class DynamicJaxprTracer(Tracer):
    __slots__ = ("_aval",)

    def __init__(self, trace: "DynamicJaxprTrace", aval: ShapedArray):
        self._trace = trace
        self._aval = aval

    @property
    def aval(self) -> ShapedArray:
        return self._aval

    def _origin_msg(self) -> str:
        builder = self._trace.main.global_data
        var = builder.tracer_to_var.get(id(self))
        eqn = next((e for e in builder.eqns if var in e.out_binders), None)
        info = getattr(eqn, "source_info", None)
        return info.location() if info is not None else ""


class JaxprBuilder:
    """Collects equations and constants while a function is being staged."""

    def __init__(self) -> None:
        self.eqns: list[JaxprEqn] = []
        self.tracer_to_var: dict[int, Var] = {}
        self.const_tracers: dict[int, DynamicJaxprTracer] = {}
        self.constvar_to_val: dict[Var, Any] = {}
        self.tracers: list[DynamicJaxprTracer] = []  # keeps ids alive

    def new_tracer(self, trace: "DynamicJaxprTrace", aval: ShapedArray) -> DynamicJaxprTracer:
        t = DynamicJaxprTracer(trace, aval)
        self.tracers.append(t)
        return t

    def add_var(self, tracer: DynamicJaxprTracer) -> Var:
        assert id(tracer) not in self.tracer_to_var
        v = self.tracer_to_var[id(tracer)] = Var(tracer.aval)
        return v

    def getvar(self, tracer: DynamicJaxprTracer) -> Var:
        v = self.tracer_to_var.get(id(tracer))
        if v is None:
            raise _leak_error(tracer)
        return v

    def add_const(self, tracer: DynamicJaxprTracer, val: Any) -> Var:
        v = self.add_var(tracer)
        self.constvar_to_val[v] = val
        return v

    def build(self, in_tracers: Sequence, out_tracers: Sequence) -> tuple[Jaxpr, list]:
        constvars, constvals = list(self.constvar_to_val), list(self.constvar_to_val.values())
        in_binders = [self.getvar(t) for t in in_tracers]
        outs = [self.getvar(t) for t in out_tracers]
        jaxpr = Jaxpr(constvars, in_binders, self.eqns, outs)
        return _inline_literals(jaxpr, constvals)


def _leak_error(tracer):
    from ..trace import escaped_tracer_error
    return escaped_tracer_error(tracer)


def _literalable(val: Any) -> bool:
    if isinstance(val, Tracer):
        return False
    if type(val) in (bool, int, float):
        return True
    return getattr(val, "shape", None) == () and (isinstance(val, (np.ndarray, np.generic)) or hasattr(val, "_buf"))


def _inline_literals(jaxpr: Jaxpr, consts: list) -> tuple[Jaxpr, list]:
    """Scalar constants become literals in the equations that use them."""
    lits = {}
    keep_vars, keep_vals = [], []
    for v, val in zip(jaxpr.constvars, consts):
        if _literalable(val):
            lits[v] = Literal(np.asarray(val, dtype=v.aval.dtype)[()], v.aval)
        else:
            keep_vars.append(v)
            keep_vals.append(val)
    if not lits:
        return jaxpr, consts
    sub = lambda x: lits.get(x, x) if isinstance(x, Var) else x
    eqns = [e._replace(inputs=[sub(x) for x in e.inputs]) for e in jaxpr.eqns]
    outs = [x if x not in lits else _materialise_literal_out(x, lits, eqns) for x in jaxpr.outs]
    return Jaxpr(keep_vars, jaxpr.in_binders, eqns, outs), keep_vals


def _materialise_literal_out(v: Var, lits: dict, eqns: list) -> Var:
    """A jaxpr output must be a variable: bind the literal with a trivial convert."""
    from ..primitives.elementwise import convert_element_type_p
    out = Var(v.aval)
    eqns.append(JaxprEqn(convert_element_type_p, [lits[v]], dict(new_dtype=v.aval.dtype, weak_type=v.aval.weak_type), [out]))
    return out


class DynamicJaxprTrace(Trace):
    """Records every primitive applied to its tracers as an equation."""

    @property
    def builder(self) -> JaxprBuilder:
        return self.main.global_data

    def new_arg(self, aval: ShapedArray) -> DynamicJaxprTracer:
        t = self.builder.new_tracer(self, aval)
        self.builder.add_var(t)
        return t

    def pure(self, val: Any) -> DynamicJaxprTracer:
        b = self.builder
        t = b.const_tracers.get(id(val))
        if t is None:
            aval = get_aval(val)
            t = b.new_tracer(self, aval)
            b.add_const(t, val)
            b.const_tracers[id(val)] = t
            b.tracers.append(val)  # keep the id stable while tracing
        return t

    lift = pure

    def process_primitive(self, primitive, tracers, params):
        folded = self._fold_constant(primitive, tracers, params)
        if folded is not None:
            return folded
        avals_in = [t.aval for t in tracers]
        out = abstract_eval_rules[primitive](*avals_in, **params)
        if any(a.sharding is not None for a in avals_in):  # typed by Explicit mesh axes
            from ..explicit_sharding import with_types
            out = with_types(primitive, avals_in, params, out)
        avals_out = out if primitive.multiple_results else [out]
        b = self.builder
        out_tracers = [b.new_tracer(self, a) for a in avals_out]
        inputs = [b.getvar(t) for t in tracers]
        outvars = [b.add_var(t) for t in out_tracers]
        b.eqns.append(JaxprEqn(primitive, inputs, params, outvars, source_info.current()))
        return out_tracers if primitive.multiple_results else out_tracers[0]


    def _fold_constant(self, primitive, tracers, params):
        """Scalar dtype conversions of constants are done now, not staged (JAX folds them too)."""
        if primitive.name != "convert_element_type" or len(tracers) != 1:
            return None
        b = self.builder
        var = b.tracer_to_var.get(id(tracers[0]))
        if var is None or var not in b.constvar_to_val or tracers[0].aval.shape != ():
            return None
        val = b.constvar_to_val[var]
        if isinstance(val, Tracer) or not _literalable(val):
            return None
        new = dtypes.convert_host(val, params["new_dtype"])
        t = b.new_tracer(self, ShapedArray((), params["new_dtype"], params["weak_type"]))
        b.add_const(t, new)
        b.tracers.append(new)
        return t


def trace_to_jaxpr(fun: Callable[..., Sequence], in_avals: Sequence[ShapedArray]) -> tuple[Jaxpr, list]:
    """Stage ``fun`` (flat list in, flat list out) into a jaxpr with its captured constants."""
    builder = JaxprBuilder()
    with new_base_main(DynamicJaxprTrace, builder) as main:
        trace = DynamicJaxprTrace(main)
        tracers_in = [trace.new_arg(a) for a in in_avals]
        outs = fun(*tracers_in)
        tracers_out = [full_raise(trace, o) for o in outs]
        built = builder.build(tracers_in, tracers_out)
    # No reference cycle through the tracers (builder -> tracer -> trace -> builder): the constants go when the jaxpr
    # does, not at the next garbage collection.
    builder.tracers.clear()
    builder.const_tracers.clear()
    return built


def closed_call_jaxpr(fun: Callable, in_avals: Sequence[ShapedArray]) -> tuple[ClosedJaxpr, list]:
    """Trace ``fun`` into a closed jaxpr whose constants are its leading inputs; also return the consts."""
    jaxpr, consts = trace_to_jaxpr(fun, in_avals)
    return ClosedJaxpr(convert_constvars(jaxpr), []), consts


def convert_constvars(jaxpr: Jaxpr) -> Jaxpr:
    """Make constvars ordinary leading inputs."""
    if not jaxpr.constvars:
        return jaxpr
    return Jaxpr([], jaxpr.constvars + jaxpr.in_binders, jaxpr.eqns, jaxpr.outs)
