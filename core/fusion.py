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

For products that can take an epilogue, transposes of the product or of its operands fold into it, and its
elementwise consumers later in the jaxpr (an SGD update) move right after it, so they join its kernel.

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


def _swapped_dot(dot: JaxprEqn, perm: Sequence[int]) -> dict | None:
    """The params of ``dot_general(rhs, lhs)`` if it equals ``transpose(dot_general(lhs, rhs), perm)`` (``perm``
    keeps the batch dimensions and puts the rhs free dimensions before the lhs ones), else None."""
    (lc, rc), (lb, rb) = dot.params["dimension_numbers"]
    nb = len(lb)
    nl = dot.inputs[0].aval.ndim - len(lc) - nb
    nr = dot.inputs[1].aval.ndim - len(rc) - nb
    if nl == 0 or nr == 0 or list(perm) != [*range(nb), *range(nb + nl, nb + nl + nr), *range(nb, nb + nl)]:
        return None
    precision = dot.params.get("precision")
    if isinstance(precision, tuple):
        precision = precision[::-1]
    return {**dot.params, "dimension_numbers": ((rc, lc), (rb, lb)), "precision": precision}


def _operand_dims(dot: JaxprEqn, side: int, perm: Sequence[int]) -> tuple | None:
    """The contracting and batch dimensions of operand ``side`` of ``dot`` as dimensions of ``x`` where that
    operand is ``transpose(x, perm)``, if the transpose keeps its free dimensions in order, else None."""
    (contract, batch) = (d[side] for d in dot.params["dimension_numbers"])
    free = [a for a in range(len(perm)) if a not in contract and a not in batch]
    if any(perm[a] >= perm[b] for a, b in zip(free, free[1:])):
        return None
    return tuple(perm[a] for a in contract), tuple(perm[a] for a in batch)


def _fold_dot_transposes(jaxpr: Jaxpr, eqns: list[JaxprEqn], policy: FusionPolicy) -> list[JaxprEqn]:
    """``transpose(dot_general(a, b))`` as ``dot_general(b, a)``, and ``dot_general(transpose(a), b)`` as a
    ``dot_general`` of ``a`` (XLA's algebraic simplifications), where the product can take an epilogue and the
    transposed value has no other reader: no transpose runs, the result is row-major for the GEMM, and the
    transpose's consumers may join its kernel."""
    uses: dict = {x: 2 for x in jaxpr.outs if type(x) is Var}
    for e in eqns:
        for x in e.inputs:
            if type(x) is Var:
                uses[x] = uses.get(x, 0) + 1
    dots = {e.out_binders[0]: k for k, e in enumerate(eqns) if e.primitive is ct.dot_general_p}
    out, dropped = list(eqns), set()
    for t in eqns:
        k = dots.get(t.inputs[0]) if t.primitive is st.transpose_p and type(t.inputs[0]) is Var else None
        if k is None or uses[t.inputs[0]] != 1 or not policy.epilogue_of(eqns[k]):
            continue
        params = _swapped_dot(eqns[k], t.params["permutation"])
        if params is not None:
            dot = eqns[k]
            out[k] = dot._replace(inputs=dot.inputs[::-1], params=params, out_binders=list(t.out_binders))
            dropped.add(id(t))
    transposes = {e.out_binders[0]: e for e in eqns if e.primitive is st.transpose_p}
    for k, dot in enumerate(out):
        if dot.primitive is not ct.dot_general_p or not policy.epilogue_of(dot):
            continue
        for side, x in enumerate(list(dot.inputs)):
            t = transposes.get(x) if type(x) is Var and uses[x] == 1 else None
            dims = None if t is None or id(t) in dropped else _operand_dims(dot, side, t.params["permutation"])
            if dims is not None:
                numbers = [list(d) for d in dot.params["dimension_numbers"]]
                numbers[0][side], numbers[1][side] = dims
                inputs = list(dot.inputs)
                inputs[side] = t.inputs[0]
                params = {**dot.params, "dimension_numbers": tuple(tuple(d) for d in numbers)}
                dot = out[k] = dot._replace(inputs=inputs, params=params)
                dropped.add(id(t))
    return [e for e in out if id(e) not in dropped]


def _joins_epilogue(eqn: JaxprEqn, shape: tuple, policy: FusionPolicy) -> bool:
    return (eqn.primitive in ELEMENTWISE and not eqn.primitive.multiple_results and policy.can_fuse(eqn)
            and _out_shape(eqn) == shape)


def _gather_epilogues(jaxpr: Jaxpr, eqns: list[JaxprEqn], policy: FusionPolicy) -> list[JaxprEqn]:
    """Move the elementwise consumers of a product that can take an epilogue right after it (with the
    broadcasts feeding only them, such as a learning rate's), when everything else they read is computed
    by then: an SGD update ``w - lr * grad`` then runs in the GEMM's epilogue. Only equations with no
    effects move, and only earlier, so the order still respects every dependency."""
    users: dict = {}
    producer: dict = {}
    for k, e in enumerate(eqns):
        for x in e.inputs:
            if type(x) is Var:
                users.setdefault(x, []).append(k)
        for v in e.out_binders:
            producer[v] = k
    placed = [False] * len(eqns)
    order: list[JaxprEqn] = []
    avail = set(jaxpr.constvars) | set(jaxpr.in_binders)

    def place(k: int) -> None:
        placed[k] = True
        order.append(eqns[k])
        avail.update(eqns[k].out_binders)

    def helper(x, user: int, shape: tuple) -> int | None:
        """The unplaced equation computing ``x`` for ``user`` alone from available values, if it may move."""
        h = producer.get(x)
        if h is None or placed[h] or users.get(x) != [user]:
            return None
        e = eqns[h]
        ok = (e.primitive in INDEX_MAPPED or e.primitive in GENERATORS or _joins_epilogue(e, shape, policy)) and \
            policy.can_fuse(e) and _out_shape(e) == shape and not eqn_effects(e) and \
            all(type(y) is Literal or y in avail for y in e.inputs)
        return h if ok else None

    for k, e in enumerate(eqns):
        if placed[k]:
            continue
        place(k)
        if e.primitive is not ct.dot_general_p or not policy.epilogue_of(e):
            continue
        shape = _out_shape(e)
        frontier = list(e.out_binders)
        while frontier:
            for j in users.get(frontier.pop(0), []):
                f = eqns[j]
                if placed[j] or not _joins_epilogue(f, shape, policy) or eqn_effects(f):
                    continue
                missing = [x for x in dict.fromkeys(f.inputs) if type(x) is Var and x not in avail]
                helpers = [helper(x, j, shape) for x in missing]
                if None in helpers:
                    continue
                for h in helpers:
                    place(h)
                place(j)
                frontier.extend(f.out_binders)
    return order


def fuse(jaxpr: Jaxpr, policy: FusionPolicy = FusionPolicy()) -> list[Kernel]:
    """Partition ``jaxpr`` into kernels in dependency order."""
    kernels: list[Kernel] = []
    cur: _Group | None = None
    eqns = _gather_epilogues(jaxpr, _fold_dot_transposes(jaxpr, jaxpr.eqns, policy), policy)

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

    for eqn in eqns:
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
