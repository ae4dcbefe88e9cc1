"""Which values of an SPMD program every device holds alike, by construction: a loop counter, its bound, a
branch index computed from constants. A while loop's predicate or a cond's index that is uniform needs no
agreement between the devices (and processes) at every step: the host reads one device's value.

Only integer and boolean values count (floating-point results may depend on a device's thread count through
the order of a reduction); a value is uniform when it is a constant or literal, or an equation without effects
and without named axes (no collective, no ``axis_index``) computes it from uniform values. A loop's carry is
uniform where it starts uniform and the body keeps it so (a fixpoint)."""
from __future__ import annotations

from typing import Iterable

from .. import dtypes
from ..ir import Jaxpr, Literal, Var, eqn_effects, subjaxprs
from .axis_env import AxisPrimitive


def _exact(v: Var) -> bool:
    return dtypes.kind(v.aval.dtype) in "iub"


def _local(eqn) -> bool:
    """Computes the same outputs from the same inputs on every device."""
    from .spmd import uses_axes
    return (not isinstance(eqn.primitive, AxisPrimitive) and not eqn_effects(eqn)
            and not any(map(uses_axes, subjaxprs(eqn.params))))


def uniform_vars(jaxpr: Jaxpr, uniform_inputs: Iterable[bool]) -> set:
    """The variables of ``jaxpr`` uniform over the devices, given which of its inputs are (constants are)."""
    known = set(jaxpr.constvars) | {v for v, u in zip(jaxpr.in_binders, uniform_inputs) if u}
    is_uniform = lambda x: type(x) is Literal or x in known
    for e in jaxpr.eqns:
        if _local(e) and all(map(is_uniform, e.inputs)):
            known.update(v for v in e.out_binders if _exact(v))
    return known


def uniform_outputs(jaxpr: Jaxpr, uniform_inputs: Iterable[bool]) -> list[bool]:
    known = uniform_vars(jaxpr, uniform_inputs)
    return [type(x) is Literal or x in known for x in jaxpr.outs]


def while_predicate_is_uniform(eqn, uniform_inputs: list[bool]) -> bool:
    """Whether a while equation's predicate is uniform at every step, given which of its inputs are."""
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, carry = uniform_inputs[:nc], uniform_inputs[nc:nc + nb], uniform_inputs[nc + nb:]
    while True:
        kept = [c and o for c, o in zip(carry, uniform_outputs(p["body_jaxpr"].jaxpr, bconsts + carry))]
        if kept == carry:
            break
        carry = kept
    return uniform_outputs(p["cond_jaxpr"].jaxpr, cconsts + carry)[0]
