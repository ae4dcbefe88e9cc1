"""Jaxpr clean-ups run before fusion, so fewer kernels come out of it:

* ``broadcast_in_dim(broadcast_in_dim(x))`` (what ``b[None, :] + m`` traces to) becomes one broadcast:
  the fused consumer loads ``x`` directly instead of a kernel materialising the middle shape;
* scalar elementwise chains feeding a broadcast are recomputed at the broadcast shape (``sink_scalar_
  broadcasts``): fusion groups equations by shape, so a scalar chain (an optimizer's bias correction,
  a cond predicate) would otherwise be a kernel of its own;
* equations whose results nobody uses are dropped (unless they have side effects, e.g. host callbacks).
"""
from __future__ import annotations

from portax.core import fusion
from portax.core.interpreters.evaluation import dce_jaxpr
from portax.core.ir import Jaxpr, JaxprEqn, ShapedArray, Var
from portax.core.primitives import structural as st

SINK_LIMIT = 12  # scalar equations recomputed per broadcast at most


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
    """Without the equations none of whose outputs is used (those with side effects stay: ``dce_jaxpr``)."""
    kept = dce_jaxpr(jaxpr)[0]
    return jaxpr if len(kept.eqns) == len(jaxpr.eqns) else kept


def sink_scalar_broadcasts(jaxpr: Jaxpr) -> Jaxpr:
    """Replace ``broadcast_in_dim(s)`` of a scalar ``s`` computed by elementwise equations with the same
    equations applied to broadcasts of their scalar leaves (inputs, literals, other results)."""
    producer = {v: e for e in jaxpr.eqns for v in e.out_binders}

    def recomputable(x) -> bool:
        e = producer.get(x) if type(x) is Var else None
        return e is not None and e.primitive in fusion.ELEMENTWISE and not e.primitive.multiple_results

    def cost(x, seen: set) -> int:
        """Equations recomputed to sink ``x`` (shared subexpressions counted once)."""
        if not recomputable(x) or x in seen:
            return 0
        seen.add(x)
        return 1 + sum(cost(i, seen) for i in producer[x].inputs)

    eqns: list = []

    def at_shape(x, shape: tuple, memo: dict, out: Var | None = None):
        """``x`` (a scalar atom) at ``shape``: its producer recomputed there, or a broadcast of it."""
        if x in memo:
            return memo[x]
        out = out or Var(ShapedArray(shape, x.aval.dtype, x.aval.weak_type))
        if recomputable(x):
            e = producer[x]
            eqns.append(JaxprEqn(e.primitive, [at_shape(i, shape, memo) for i in e.inputs], e.params, [out]))
        else:
            eqns.append(JaxprEqn(st.broadcast_in_dim_p, [x], {"shape": shape, "broadcast_dimensions": ()}, [out]))
        memo[x] = out
        return out

    changed = False
    for e in jaxpr.eqns:
        x = e.inputs[0] if e.inputs else None
        if e.primitive is st.broadcast_in_dim_p and x is not None and x.aval.shape == () and recomputable(x) \
                and cost(x, set()) <= SINK_LIMIT:
            at_shape(x, tuple(e.params["shape"]), {}, e.out_binders[0])
            changed = True
        else:
            eqns.append(e)
    if not changed:
        return jaxpr
    return dead_code_eliminated(Jaxpr(jaxpr.constvars, jaxpr.in_binders, eqns, jaxpr.outs))
