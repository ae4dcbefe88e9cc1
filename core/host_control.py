"""Control flow whose bodies hold a pmap, stepped by the host (JAX compiles a pmap inside a jitted loop; here
each pmap runs its own per-device programs, so the loop around it cannot be one backend program): ``cond``
picks its branch, ``while`` tests its predicate and ``scan`` slices its inputs on the host, and the bodies are
evaluated equation by equation (every other equation still dispatches to the backend)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from .interpreters.evaluation import eval_jaxpr
from .ir import ClosedJaxpr
from .primitives import structural as st
from .primitives.control_flow import cond_p, scan_p, while_p


def _run(closed: ClosedJaxpr, *args: Any) -> list:
    return eval_jaxpr(closed.jaxpr, closed.consts, *args)


def _cond(index, *ops, branches):
    return _run(branches[int(index)], *ops)


def _while(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cconsts, bconsts = args[:cond_nconsts], args[cond_nconsts:cond_nconsts + body_nconsts]
    carry = list(args[cond_nconsts + body_nconsts:])
    while bool(_run(cond_jaxpr, *cconsts, *carry)[0]):
        carry = _run(body_jaxpr, *bconsts, *carry)
    return carry


def _scan(*args, jaxpr, length, reverse, num_consts, num_carry, unroll):
    consts, carry = args[:num_consts], list(args[num_consts:num_consts + num_carry])
    xs = args[num_consts + num_carry:]
    ys: list = [None] * length
    for i in (reversed(range(length)) if reverse else range(length)):
        outs = _run(jaxpr, *consts, *carry, *[st.index_in_dim(x, i, keepdims=False) for x in xs])
        carry, ys[i] = outs[:num_carry], outs[num_carry:]
    stacked = [st.concatenate([st.expand_dims(y[k], (0,)) for y in ys], 0) if length else
               st.full((0,) + a.shape, 0, a.dtype) for k, a in enumerate(jaxpr.out_avals[num_carry:])]
    return carry + stacked


RULES: dict[Any, Callable] = {cond_p: _cond, while_p: _while, scan_p: _scan}


class HostStepped:
    """A ``cond``/``while``/``scan`` equation evaluated by the host (``RULES``): called like a CompiledCall."""

    __slots__ = ("rule", "params")

    def __init__(self, primitive: Any, params: dict):
        self.rule, self.params = RULES[primitive], params

    def __call__(self, arrays: Sequence) -> list:
        return list(self.rule(*arrays, **self.params))
