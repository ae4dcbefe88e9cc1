"""The sharding pass (``partition``) through control flow: cond, while and scan run on each device's blocks.

A ``Plan`` gives the layouts a control-flow equation needs of its inputs, the layouts its outputs take and, per
body, the layouts of the body's inputs and those its outputs are resharded to. As JAX lays them out:
* cond: the operands keep their layouts; an output takes the split layout most branches give it, those it gets
  through elementwise operations only first (ties: the earlier branch); the other branches reshard to it;
* while and scan: a carry keeps a split initial layout, a whole one takes the layout the body gives it; the
  body's carry outputs reshard to it; scan's xs are whole along the scanned dimension, its ys are whole along
  the stacked one and keep the body's layout of the others.
Each device runs the equation on its blocks with the bodies re-traced on blocks (``partition.evaluate``); the
collectives resharding inside them run in step on every device (the predicate and branch index are replicated).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from ..interpreters.staging import trace_to_jaxpr
from ..ir import ClosedJaxpr, Jaxpr, Literal
from ..primitives import elementwise as ew
from ..sharding import Mesh

Layout = tuple
_ELEMENTWISE = frozenset(p.name for p in ew.ELEMENTWISE)


class Plan(NamedTuple):
    """The layouts a control-flow equation needs of its inputs and gives its outputs; per parameter holding bodies
    (each of cond's branches alike), the layouts of the bodies' inputs and those their outputs are resharded to."""
    needs: list
    outs: list
    bodies: dict


def plan(eqn, layouts: list[Layout], mesh: Mesh) -> Plan | None:
    """The plan of a cond, while or scan equation given its inputs' layouts; None for other equations."""
    rule = _RULES.get(eqn.primitive.name)
    return None if rule is None else rule(eqn.params, list(layouts), mesh)


def _propagate(body: ClosedJaxpr, layouts: list[Layout], mesh: Mesh) -> list[Layout]:
    from .partition import propagate
    return propagate(body.jaxpr, layouts, mesh)


def _cond(params: dict, layouts: list[Layout], mesh: Mesh) -> Plan:
    branches, ops = params["branches"], layouts[1:]
    given = [_propagate(b, ops, mesh) for b in branches]
    direct = [_direct(b.jaxpr) for b in branches]
    outs = [_agreed([(not d[j], g[j]) for g, d in zip(given, direct)]) for j in range(len(given[0]))]
    return Plan([layouts[0], *ops], outs, {"branches": (ops, outs)})


def _direct(jaxpr: Jaxpr) -> list[bool]:
    """For each output of ``jaxpr``: whether it comes from the inputs through elementwise operations only."""
    reached = set(jaxpr.in_binders)
    for e in jaxpr.eqns:
        if e.primitive.name in _ELEMENTWISE and any(x in reached for x in e.inputs if type(x) is not Literal):
            reached.update(e.out_binders)
    return [x in reached for x in jaxpr.outs]


def _agreed(candidates: list[tuple[bool, Layout]]) -> Layout:
    """The layout of a cond output from the branches' (indirect, layout): see the module docstring."""
    split = [c for c in candidates if any(c[1])]
    if not split:
        return candidates[0][1]
    best = min(indirect for indirect, _ in split)
    top = [l for indirect, l in split if indirect == best]
    return max(top, key=lambda l: (top.count(l), -top.index(l)))


def _carry(run: Any, init: list[Layout]) -> list[Layout]:
    """The carry layouts: a split initial layout stays, a whole one takes the body's (``run``: the body's carry
    output layouts given the carry's)."""
    return [l if any(l) else o for l, o in zip(init, run(init))]


def _while(params: dict, layouts: list[Layout], mesh: Mesh) -> Plan:
    nc, nb = params["cond_nconsts"], params["body_nconsts"]
    cconsts, bconsts, init = layouts[:nc], layouts[nc:nc + nb], layouts[nc + nb:]
    carry = _carry(lambda c: _propagate(params["body_jaxpr"], bconsts + c, mesh), init)
    return Plan(cconsts + bconsts + carry, carry, {"cond_jaxpr": (cconsts + carry, [()]),
                                                   "body_jaxpr": (bconsts + carry, carry)})


def _scan(params: dict, layouts: list[Layout], mesh: Mesh) -> Plan:
    nc, nk, body = params["num_consts"], params["num_carry"], params["jaxpr"]
    consts, init = layouts[:nc], layouts[nc:nc + nk]
    xs = [((),) + l[1:] for l in layouts[nc + nk:]]  # whole along the scanned dimension
    run = lambda c: _propagate(body, consts + c + [l[1:] for l in xs], mesh)
    carry = _carry(lambda c: run(c)[:nk], init)
    ys = run(carry)[nk:]
    return Plan(consts + carry + xs, carry + [((),) + l for l in ys],
                {"jaxpr": (consts + carry + [l[1:] for l in xs], carry + ys)})


_RULES = {"cond": _cond, "while": _while, "scan": _scan}


def run(eqn, vals: Sequence, have: list[Layout], p: Plan, mesh: Mesh) -> list:
    """The equation on each device's blocks laid out by ``p.needs`` (``vals``, laid out by ``have``): its outputs'
    blocks, laid out by ``p.outs``."""
    from .partition import reshard
    vals = [reshard(v, h, n, mesh) for v, h, n in zip(vals, have, p.needs)]
    params = dict(eqn.params)
    for name, (ins, outs) in p.bodies.items():
        value = params[name]
        params[name] = tuple(_on_blocks(b, ins, outs, mesh) for b in value) if isinstance(value, tuple) else \
            _on_blocks(value, ins, outs, mesh)
    return eqn.primitive.bind(*vals, **params)


def _on_blocks(closed: ClosedJaxpr, ins: list[Layout], outs: list[Layout], mesh: Mesh) -> ClosedJaxpr:
    """``closed`` re-traced on blocks laid out by ``ins``, its outputs resharded to ``outs``."""
    from .partition import evaluate, reshard, spec_of
    from .shard_map_call import block_aval

    def body(*blocks):
        res, have = evaluate(closed.jaxpr, closed.consts, blocks, ins, mesh)
        return [reshard(r, h, o, mesh) for r, h, o in zip(res, have, outs)]

    avals = [block_aval(a, spec_of(l), mesh) for a, l in zip(closed.in_avals, ins)]
    jaxpr, consts = trace_to_jaxpr(body, avals)
    return ClosedJaxpr(jaxpr, consts)

