"""Decompositions: a primitive written with other primitives (JAX's "lower via a Python function"), the
fallback for every backend without a lowering of its own, third-party backends included.

``register_decomposition(p, fn)``: ``fn(*args, **params)`` computes ``p`` with existing primitives (it is
traced, never run on the host). Before a jaxpr reaches ``backend.compile``, ``expand`` rewrites each
equation of a primitive that has a decomposition and that the backend does not lower natively, at any
depth (bodies of jit, cond, while, scan, ...). A backend tells what it lowers through the optional
``lowers(primitive) -> bool`` method of the Backend protocol; without it, every decomposition is used.
A native lowering is then only an optimisation: a new primitive works everywhere the day it is added.
"""
from __future__ import annotations

from typing import Any, Callable

from .ir import ClosedJaxpr, Jaxpr, Literal, iter_eqns
from .source_info import user_context
from .trace import Primitive

DECOMPOSITIONS: dict[Primitive, Callable[..., Any]] = {}


def register_decomposition(primitive: Primitive, fn: Callable[..., Any]) -> None:
    """Make ``fn(*args, **params)`` (a composition of other primitives) the fallback lowering of ``primitive``."""
    DECOMPOSITIONS[primitive] = fn


def _decomposed(backend: Any) -> Callable[[Primitive], bool]:
    lowers = getattr(backend, "lowers", None)
    return lambda p: p in DECOMPOSITIONS and (lowers is None or not lowers(p))


def expand(closed: ClosedJaxpr, backend: Any) -> ClosedJaxpr:
    """``closed`` with every primitive ``backend`` does not lower replaced by its decomposition."""
    decomposed = _decomposed(backend)
    while any(decomposed(e.primitive) for e in iter_eqns(closed.jaxpr)):  # a decomposition may use others
        closed = _expand(closed, decomposed)
    return closed


def _expand(closed: ClosedJaxpr, decomposed: Callable[[Primitive], bool]) -> ClosedJaxpr:
    from .interpreters.staging import trace_to_jaxpr
    jaxpr = closed.jaxpr
    out, consts = trace_to_jaxpr(lambda *args: _evaluate(jaxpr, closed.consts, args, decomposed),
                                 [v.aval for v in jaxpr.in_binders])
    return ClosedJaxpr(out, consts)


def _evaluate(jaxpr: Jaxpr, consts: list, args: tuple, decomposed: Callable[[Primitive], bool]) -> list:
    env: dict = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.in_binders, args))
    read = lambda x: x.val if type(x) is Literal else env[x]
    for eqn in jaxpr.eqns:
        ins = [read(x) for x in eqn.inputs]
        with user_context(eqn.source_info):
            if decomposed(eqn.primitive):
                outs = DECOMPOSITIONS[eqn.primitive](*ins, **eqn.params)
            else:
                params = {k: _expand_param(v, decomposed) for k, v in eqn.params.items()}
                outs = eqn.primitive.bind(*ins, **params)
        env.update(zip(eqn.out_binders, outs if eqn.primitive.multiple_results else [outs]))
    return [read(x) for x in jaxpr.outs]


def _expand_param(value: Any, decomposed: Callable[[Primitive], bool]) -> Any:
    if isinstance(value, tuple):  # a namedtuple (gather/scatter dimension numbers) keeps its type
        items = [_expand_param(v, decomposed) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, ClosedJaxpr) and any(decomposed(e.primitive) for e in iter_eqns(value.jaxpr)):
        return _expand(value, decomposed)
    return value
