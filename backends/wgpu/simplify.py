"""Jaxpr clean-ups run before fusion: compose nested broadcasts and drop dead equations.

``broadcast_in_dim(broadcast_in_dim(x))`` (what ``b[None, :] + m`` traces to) becomes one broadcast, so
the fused consumer loads ``x`` directly instead of a separate kernel materialising the middle shape.
"""
from __future__ import annotations

from portax.core.ir import Jaxpr, JaxprEqn, Var
from portax.core.primitives import structural as st


def compose_broadcasts(jaxpr: Jaxpr) -> Jaxpr:
    producer: dict = {}
    eqns = []
    for e in jaxpr.eqns:
        x = e.inputs[0] if e.inputs else None
        inner = producer.get(x) if type(x) is Var else None
        if e.primitive is st.broadcast_in_dim_p and inner is not None:
            dims = tuple(e.params["broadcast_dimensions"][d] for d in inner.params["broadcast_dimensions"])
            e = JaxprEqn(e.primitive, [inner.inputs[0]], {"shape": e.params["shape"], "broadcast_dimensions": dims},
                         e.out_binders)
        if e.primitive is st.broadcast_in_dim_p:
            producer[e.out_binders[0]] = e
        eqns.append(e)
    return dead_code_eliminated(Jaxpr(jaxpr.constvars, jaxpr.in_binders, eqns, jaxpr.outs))


def dead_code_eliminated(jaxpr: Jaxpr) -> Jaxpr:
    """Without the equations none of whose outputs is used (every primitive here is pure)."""
    live = {x for x in jaxpr.outs if type(x) is Var}
    kept = []
    for e in reversed(jaxpr.eqns):
        if any(v in live for v in e.out_binders):
            kept.append(e)
            live.update(x for x in e.inputs if type(x) is Var)
    if len(kept) == len(jaxpr.eqns):
        return jaxpr
    return Jaxpr(jaxpr.constvars, jaxpr.in_binders, kept[::-1], jaxpr.outs)
