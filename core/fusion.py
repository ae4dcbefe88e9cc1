"""Kernel boundaries, decided once for every backend (XLA's loop and input fusion).

``fuse(jaxpr)`` partitions a jaxpr's equations into kernels, in an order that respects dependencies:

- ``loop`` kernels: elementwise chains over one iteration shape, with index-mapped loads of external
  operands (broadcast_in_dim, transpose, reshape, slice, rev, squeeze, iota) folded in. Values stay in
  registers; only those used outside the kernel are written.
- ``reduce`` kernels: a loop kernel whose chain ends in a reduction of its full iteration shape (so
  ``sum(x + y * z)`` is one kernel with no intermediate buffer).
- ``contraction`` kernels (where the backend's policy allows): a dot_general followed by elementwise work on
  its output's iteration shape (bias add, activation, residual add, scaling, casts), which the backend
  applies as the product's epilogue, while the result blocks are still in cache.
- ``opaque`` kernels: any other single equation (dot_general, sort, gather, control flow, ...).

Backends lower each kernel; a ``FusionPolicy`` lets a backend exclude what it cannot fuse and bound
the number of buffers a kernel binds (e.g. WebGPU's storage-buffer limit).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from .ir import Jaxpr, JaxprEqn, Literal, Var, eqn_effects
from .primitives import contractions as ct, elementwise as ew, prng, reductions as red, structural as st

ELEMENTWISE = frozenset(ew.ELEMENTWISE) | {prng.threefry2x32_p}
INDEX_MAPPED = frozenset({st.broadcast_in_dim_p, st.transpose_p, st.reshape_p, st.slice_p, st.rev_p,
                          st.squeeze_p})
GENERATORS = frozenset({st.iota_p})
REDUCTIONS = frozenset({red.reduce_sum_p, red.reduce_max_p, red.reduce_min_p, red.reduce_prod_p,
                        red.reduce_and_p, red.reduce_or_p, red.reduce_xor_p, red.argmax_p, red.argmin_p})
FUSIBLE = ELEMENTWISE | INDEX_MAPPED | GENERATORS | REDUCTIONS  # what a backend's fused-kernel renderer emits


@dataclasses.dataclass(frozen=True)
class FusionPolicy:
    """What a backend lets the pass fuse."""

    can_fuse: Callable[[JaxprEqn], bool] = lambda eqn: True
    fuse_reductions: bool = True
    # a dot_general the backend can run with an epilogue: elementwise consumers then join its kernel
    epilogue_of: Callable[[JaxprEqn], bool] = lambda eqn: False
    max_buffers: int | None = None  # inputs + outputs one kernel may bind


@dataclasses.dataclass
class Kernel:
    kind: str  # "loop" | "reduce" | "contraction" | "opaque"
    eqns: list[JaxprEqn]
    shape: tuple  # iteration shape (loop/reduce); the output shape of the single equation (opaque)
    inputs: list[Var] = dataclasses.field(default_factory=list)  # external arrays read
    outputs: list[Var] = dataclasses.field(default_factory=list)  # values written for later use

    @property
    def root(self) -> JaxprEqn:
        return self.eqns[-1]

    def describe(self) -> str:
        names = "+".join(e.primitive.name for e in self.eqns)
        return f"{self.kind}[{','.join(map(str, self.shape))}]({names})"


_CALL_BODIES = {"pjit": "jaxpr", "checkpoint": "jaxpr", "custom_jvp_call": "call_jaxpr",
                "custom_vjp_call": "call_jaxpr", "custom_linear_solve": "solve"}


def inline_calls(jaxpr: Jaxpr) -> Jaxpr:
    """Replace nested calls (jit, checkpoint, custom derivatives) by their bodies: once compiled,
    only the primal computation matters, and fusion must see across call boundaries. Each inlined
    equation binds fresh variables, as one body may be called several times."""
    if not any(e.primitive.name in _CALL_BODIES for e in jaxpr.eqns):
        return jaxpr
    env: dict = {}
    sub = lambda x: env.get(x, x) if type(x) is Var else x
    eqns: list[JaxprEqn] = []
    for e in jaxpr.eqns:
        key = _CALL_BODIES.get(e.primitive.name)
        body = e.params.get(key) if key else None
        if body is None or body.consts:
            eqns.append(e._replace(inputs=[sub(x) for x in e.inputs]))
            continue
        inner = inline_calls(body.jaxpr)
        env.update(zip(inner.in_binders, [sub(x) for x in e.inputs]))
        for ie in inner.eqns:
            fresh = [Var(v.aval) for v in ie.out_binders]
            eqns.append(ie._replace(inputs=[sub(x) for x in ie.inputs], out_binders=fresh))
            env.update(zip(ie.out_binders, fresh))
        env.update(zip(e.out_binders, [sub(x) for x in inner.outs]))
    return Jaxpr(jaxpr.constvars, jaxpr.in_binders, eqns, [sub(x) for x in jaxpr.outs])


def _out_shape(eqn: JaxprEqn) -> tuple:
    return eqn.out_binders[0].aval.shape


class _Group:
    def __init__(self, shape: tuple, contraction: bool = False):
        self.shape = shape
        self.contraction = contraction  # started by a dot_general: the rest is its epilogue
        self.eqns: list[JaxprEqn] = []
        self.defined: set = set()
        self.external: dict = {}  # Var -> None, ordered

    def reads(self, eqn: JaxprEqn) -> list:
        return [x for x in eqn.inputs if type(x) is not Literal and x not in self.defined]

    def add(self, eqn: JaxprEqn) -> None:
        for x in self.reads(eqn):
            self.external.setdefault(x, None)
        self.eqns.append(eqn)
        self.defined.update(eqn.out_binders)


def fuse(jaxpr: Jaxpr, policy: FusionPolicy = FusionPolicy()) -> list[Kernel]:
    """Partition ``jaxpr`` into kernels in dependency order."""
    kernels: list[Kernel] = []
    cur: _Group | None = None

    def close():
        nonlocal cur
        if cur is not None and cur.contraction and len(cur.eqns) == 1:  # no epilogue after all
            eqn = cur.eqns[0]
            kernels.append(Kernel("opaque", [eqn], cur.shape, [x for x in eqn.inputs if type(x) is not Literal]))
        elif cur is not None and cur.eqns:
            kind = "contraction" if cur.contraction else "reduce" if cur.eqns[-1].primitive in REDUCTIONS else "loop"
            kernels.append(Kernel(kind, cur.eqns, cur.shape, list(cur.external)))
        cur = None

    def fits(group: _Group, eqn: JaxprEqn) -> bool:
        if policy.max_buffers is None:
            return True
        new_inputs = {x for x in group.reads(eqn)} - set(group.external)
        # keep one slot per possible output of the group so far, conservatively at least one
        return len(group.external) + len(new_inputs) + 1 <= policy.max_buffers

    for eqn in jaxpr.eqns:
        p = eqn.primitive
        fusible = policy.can_fuse(eqn)
        if fusible and (p in ELEMENTWISE or p in GENERATORS or p in INDEX_MAPPED):
            shape = _out_shape(eqn)
            loads_only = p in INDEX_MAPPED and cur is not None and any(x in cur.defined for x in eqn.inputs)
            if cur is not None and cur.shape == shape and not loads_only and fits(cur, eqn):
                cur.add(eqn)
                continue
            close()
            cur = _Group(shape)
            cur.add(eqn)
            continue
        if (fusible and policy.fuse_reductions and p in REDUCTIONS and cur is not None and not cur.contraction
                and eqn.inputs[0] in cur.defined and eqn.inputs[0].aval.shape == cur.shape and fits(cur, eqn)):
            cur.add(eqn)
            close()
            continue
        if cur is not None and (eqn_effects(eqn) or any(type(x) is not Literal and x in cur.defined
                                                        for x in eqn.inputs)):
            close()  # an equation with side effects (a host callback) is a barrier: earlier kernels run first
        if p is ct.dot_general_p and policy.epilogue_of(eqn):
            close()
            cur = _Group(_out_shape(eqn), contraction=True)
            cur.add(eqn)
            continue
        kernels.append(Kernel("opaque", [eqn], _out_shape(eqn) if eqn.out_binders else (),
                              [x for x in eqn.inputs if type(x) is not Literal]))
    close()
    _assign_outputs(jaxpr, kernels)
    return _split_oversized(kernels, policy)


def _assign_outputs(jaxpr: Jaxpr, kernels: list[Kernel]) -> None:
    """A kernel writes the values it defines that another kernel reads or the jaxpr returns."""
    needed = {x for x in jaxpr.outs if type(x) is not Literal}
    for k in kernels:
        needed.update(k.inputs)
    for k in kernels:
        defined = [v for e in k.eqns for v in e.out_binders]
        k.outputs = [v for v in defined if v in needed] if k.kind != "opaque" else list(k.eqns[0].out_binders)


def _split_oversized(kernels: list[Kernel], policy: FusionPolicy) -> list[Kernel]:
    if policy.max_buffers is None:
        return kernels
    out: list[Kernel] = []
    for k in kernels:
        if k.kind == "opaque" or len(k.inputs) + len(k.outputs) <= policy.max_buffers or len(k.eqns) == 1:
            out.append(k)
            continue
        if k.kind == "contraction":  # too many buffers for one kernel: the product, then its consumers
            dot = k.eqns[0]
            rest = _regroup(k, k.eqns[1:])
            _refresh_outputs([rest], k.outputs)
            out.append(Kernel("opaque", [dot], k.shape, [x for x in dot.inputs if type(x) is not Literal],
                              list(dot.out_binders)))
            out.extend(_split_oversized([rest], policy))
            continue
        mid = len(k.eqns) // 2
        first, second = _regroup(k, k.eqns[:mid]), _regroup(k, k.eqns[mid:])
        _refresh_outputs([first, second], k.outputs)
        out.extend(_split_oversized([first, second], policy))
    return out


def _regroup(k: Kernel, eqns: Sequence[JaxprEqn]) -> Kernel:
    g = _Group(k.shape)
    for e in eqns:
        g.add(e)
    kind = "reduce" if eqns[-1].primitive in REDUCTIONS else "loop"
    return Kernel(kind, list(eqns), k.shape, list(g.external))


def _refresh_outputs(parts: list[Kernel], outer_outputs: list) -> None:
    needed = set(outer_outputs) | {x for p in parts for x in p.inputs}
    for p in parts:
        p.outputs = [v for e in p.eqns for v in e.out_binders if v in needed]


def kernel_count(jaxpr: Jaxpr, policy: FusionPolicy = FusionPolicy()) -> int:
    return len(fuse(jaxpr, policy))
