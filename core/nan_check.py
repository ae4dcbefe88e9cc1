"""``jax_debug_nans``/``jax_debug_infs`` for a jitted call: once its output holds a NaN (an inf), its jaxpr
runs again equation by equation, eagerly on the same device, entering the bodies of nested jit, cond,
scan and while, and the first equation producing one raises a FloatingPointError naming the primitive and
the user's line that staged it (``invalid value (nan) encountered in div at f.py:12 (f)``)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .config import debug_infs, debug_nans
from .fusion import _CALL_BODIES
from .ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal
from .trace import bind


def rerun(closed: ClosedJaxpr, args: Sequence) -> None:
    """Evaluate ``closed`` on ``args`` (concrete Arrays) one primitive at a time; raise at the first invalid value."""
    _eval(closed.jaxpr, closed.consts, list(args))


def _eval(jaxpr: Jaxpr, consts: Sequence, args: Sequence) -> list:
    env: dict = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.in_binders, args))
    read = lambda x: x.val if type(x) is Literal else env[x]
    for eqn in jaxpr.eqns:
        outs = _eval_eqn(eqn, [read(x) for x in eqn.inputs])
        env.update(zip(eqn.out_binders, outs))
    return [read(x) for x in jaxpr.outs]


def _eval_eqn(eqn: JaxprEqn, ins: list) -> list:
    name, params = eqn.primitive.name, eqn.params
    body = params.get(_CALL_BODIES.get(name, ""))
    if isinstance(body, ClosedJaxpr) and name != "custom_linear_solve":
        return _eval(body.jaxpr, body.consts, ins)
    if name == "cond":
        branches = params["branches"]
        index = int(np.clip(int(ins[0]), 0, len(branches) - 1))
        return _eval(branches[index].jaxpr, branches[index].consts, ins[1:])
    if name == "scan":
        return _scan(ins, **params)
    if name == "while":
        return _while(ins, **params)
    if name == "convert_element_type" and type(eqn.inputs[0]) is Literal:  # a nan/inf literal, not made here
        with debug_nans(False), debug_infs(False):
            return [bind(eqn.primitive, *ins, **params)]
    try:
        outs = bind(eqn.primitive, *ins, **params)
    except FloatingPointError as e:
        where = eqn.source_info.location() if eqn.source_info is not None else ""
        raise FloatingPointError(f"{e} at {where}" if where else str(e)) from None
    return outs if eqn.primitive.multiple_results else [outs]


def _scan(ins: list, *, jaxpr: ClosedJaxpr, length: int, reverse: bool, num_consts: int, num_carry: int,
          **_) -> list:
    from .numpy import stack, zeros
    consts, carry, xs = ins[:num_consts], ins[num_consts:num_consts + num_carry], ins[num_consts + num_carry:]
    ys: list = []
    for i in (reversed(range(length)) if reverse else range(length)):
        outs = _eval(jaxpr.jaxpr, jaxpr.consts, [*consts, *carry, *[x[i] for x in xs]])
        carry = outs[:num_carry]
        ys.append(outs[num_carry:])
    if reverse:
        ys.reverse()
    y_avals = jaxpr.out_avals[num_carry:]
    return list(carry) + [stack([y[k] for y in ys]) if ys else zeros((0, *a.shape), a.dtype)
                          for k, a in enumerate(y_avals)]


def _while(ins: list, *, cond_jaxpr: ClosedJaxpr, body_jaxpr: ClosedJaxpr, cond_nconsts: int, body_nconsts: int,
           **_) -> list:
    cconsts, bconsts = ins[:cond_nconsts], ins[cond_nconsts:cond_nconsts + body_nconsts]
    carry = ins[cond_nconsts + body_nconsts:]
    while bool(_eval(cond_jaxpr.jaxpr, cond_jaxpr.consts, [*cconsts, *carry])[0]):
        carry = _eval(body_jaxpr.jaxpr, body_jaxpr.consts, [*bconsts, *carry])
    return carry
