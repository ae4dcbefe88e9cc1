"""The SPMD runner: pmap's per-device program executed on every device of a mesh, concurrently.

1. ``flatten`` re-traces the body so that every collective is a top-level equation: calls (jit,
   checkpoint, custom derivatives) holding collectives are inlined, and a nested pmap becomes a further
   mesh axis (each device takes its slice of the inner inputs with ``axis_index``; inner outputs are
   ``all_gather``-ed). Axis names become ``MeshAxis`` objects, so nothing can shadow them. Collectives
   inside control flow (cond, while, scan) are not supported.
2. ``SpmdProgram`` groups the equations into segments: segment ``k`` holds every equation computable
   after ``k`` rounds of collectives. Each segment is compiled once per device with ``backend.compile``;
   a call runs a segment on all devices at once on a thread pool, then hands the per-device buffers of
   each collective to ``backend.collective`` (the optional Backend method documented in core.backend).
   ``axis_index`` is a per-device input holding the device's coordinate.
"""
from __future__ import annotations

import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from ..array import Array, make_array, to_device
from ..backend import Device, get_backend
from ..interpreters.staging import trace_to_jaxpr
from ..ir import ClosedJaxpr, Jaxpr, Literal, ShapedArray, Var
from ..sharded import ShardedArray
from ..trace import get_aval
from .axis_env import AxisPrimitive, extend_axis_env

# Call primitives whose body is simply evaluated on the inputs (the parameter holding the body).
CALL_BODIES = {"pjit": "jaxpr", "checkpoint": "jaxpr", "custom_jvp_call": "call_jaxpr",
               "custom_vjp_call": "call_jaxpr"}


class MeshAxis:
    """One axis of the device mesh: a pmap's axis (user name and size) with an identity of its own."""

    __slots__ = ("name", "size")

    def __init__(self, name: Any, size: int):
        self.name, self.size = name, size

    def __repr__(self) -> str:
        return f"{self.name}[{self.size}]"


def sub_jaxprs(params: dict) -> list[Jaxpr]:
    """The jaxprs held in an equation's parameters (bodies, branches, ...)."""
    out = []
    for v in params.values():
        for x in (v if isinstance(v, (tuple, list)) else (v,)):
            if isinstance(x, ClosedJaxpr):
                out.append(x.jaxpr)
            elif isinstance(x, Jaxpr):
                out.append(x)
    return out


def uses_axes(jaxpr: Jaxpr) -> bool:
    """Whether ``jaxpr`` (at any depth) holds a collective or a pmap."""
    return any(isinstance(e.primitive, AxisPrimitive) or any(map(uses_axes, sub_jaxprs(e.params)))
               for e in jaxpr.eqns)


# --- 1. flattening -------------------------------------------------------------------------------------------------
def flatten(closed: ClosedJaxpr, axis_name: Any, axis_size: int) -> tuple[ClosedJaxpr, list[MeshAxis]]:
    """The body as one flat SPMD program over mesh axes (the pmap's axis first, then nested pmaps')."""
    outer = MeshAxis(axis_name, axis_size)
    axes = [outer]

    def fun(*args):
        with extend_axis_env(outer, axis_size):
            return _eval(closed.jaxpr, closed.consts, args, {axis_name: outer}, axes)

    jaxpr, consts = trace_to_jaxpr(fun, closed.in_avals)
    return ClosedJaxpr(jaxpr, consts), axes


def _renamed(params: dict, rename: dict) -> dict:
    out = dict(params)
    if "axes" in out:
        out["axes"] = tuple(rename.get(a, a) for a in out["axes"])
    if "axis_name" in out:
        out["axis_name"] = rename.get(out["axis_name"], out["axis_name"])
    return out


def _eval(jaxpr: Jaxpr, consts: Sequence, args: Sequence, rename: dict, axes: list[MeshAxis]) -> list:
    from .pmap import pmap_p
    env: dict = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.in_binders, args))
    read = lambda x: x.val if type(x) is Literal else env[x]
    for eqn in jaxpr.eqns:
        ins = [read(x) for x in eqn.inputs]
        p = eqn.primitive
        if p is pmap_p:
            outs = _inline_pmap(eqn.params, ins, rename, axes)
        elif isinstance(p, AxisPrimitive):
            outs = p.bind(*ins, **_renamed(eqn.params, rename))
        elif any(map(uses_axes, sub_jaxprs(eqn.params))):
            key = CALL_BODIES.get(p.name)
            if key is None:
                raise NotImplementedError(
                    f"pmap: a collective (or pmap) inside '{p.name}' is not supported: the per-device program is "
                    f"cut at top-level collectives, which cannot happen inside control flow. Move the collective "
                    f"out of the {p.name}, or use vmap(..., axis_name=) for this part.")
            body = eqn.params[key]
            outs = _eval(body.jaxpr, body.consts, ins, rename, axes)
        else:
            outs = p.bind(*ins, **eqn.params)
        outs = outs if p.multiple_results else [outs]
        env.update(zip(eqn.out_binders, outs))
    return [read(x) for x in jaxpr.outs]


def _inline_pmap(params: dict, ins: list, rename: dict, axes: list[MeshAxis]) -> list:
    """A nested pmap as a further mesh axis: slice the inputs at this device's index, gather outputs."""
    from ..primitives.collectives import all_gather_p, axis_index_p
    from ..primitives.structural import dynamic_index_in_dim
    if params["devices"] is not None:
        raise ValueError("Nested pmap with explicit devices argument.")
    name, size = params["axis_name"], params["axis_size"]
    in_scope = set(map(id, rename.values()))
    inner = next((a for a in axes if id(a) not in in_scope and (a.name, a.size) == (name, size)), None)
    if inner is None:
        inner = MeshAxis(name, size)
        axes.append(inner)
    body = params["jaxpr"]
    with extend_axis_env(inner, size):
        idx = axis_index_p.bind(axis_name=inner)
        local = [x if a is None else dynamic_index_in_dim(x, idx, a, keepdims=False)
                 for x, a in zip(ins, params["in_axes"])]
        outs = _eval(body.jaxpr, body.consts, local, {**rename, name: inner}, axes)
        return [y if o is None else all_gather_p.bind(y, all_gather_dimension=o, axis_name=inner, axis_size=size,
                                                      tiled=False)
                for y, o in zip(outs, params["out_axes"])]


# --- 2. the program -------------------------------------------------------------------------------------------------
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def run_on_devices(fn: Callable[[int], Any], n: int) -> list:
    """``[fn(0), ..., fn(n-1)]`` with the calls running concurrently (one thread per device)."""
    if n == 1:
        return [fn(0)]
    with _pools_lock:
        pool = _pools.get(n)
        if pool is None:
            pool = _pools[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"portax-pmap{n}")
    return list(pool.map(fn, range(n)))


class _Segment:
    """Equations between two rounds of collectives, compiled for every device."""

    def __init__(self, eqns: list, inputs: list[Var], outputs: list[Var], devices: Sequence[Device]):
        self.inputs, self.outputs = inputs, outputs
        closed = ClosedJaxpr(Jaxpr([], inputs, eqns, outputs), [])
        self.executables = [d.backend.compile(closed, d) for d in devices]

    def run(self, env: dict) -> None:
        ins = [env[v] for v in self.inputs]
        results = run_on_devices(lambda k: self.executables[k](*[b[k] for b in ins]), len(self.executables))
        for j, v in enumerate(self.outputs):
            env[v] = [r[j] for r in results]


class _Collective:
    """One collective equation: the backend combines the buffers of each group of devices."""

    def __init__(self, eqn, groups: list[list[int]], devices: Sequence[Device], collective: Callable):
        self.eqn, self.groups, self.devices, self.collective = eqn, groups, devices, collective
        self.params = {k: v for k, v in eqn.params.items() if k not in ("axes", "axis_name", "axis_size")}

    def run(self, env: dict) -> None:
        x = env[self.eqn.inputs[0]]
        out: list = [None] * len(self.devices)
        for group in self.groups:
            res = self.collective(self.eqn.primitive.name, [x[k] for k in group], [self.devices[k] for k in group],
                                  **self.params)
            for k, r in zip(group, res):
                out[k] = r
        env[self.eqn.out_binders[0]] = out


def _groups(coords: np.ndarray, axes_pos: Sequence[int]) -> list[list[int]]:
    """Devices that differ only in their coordinates along ``axes_pos``, ordered by those coordinates."""
    groups: dict = {}
    order = sorted(range(len(coords)), key=lambda k: tuple(coords[k][list(axes_pos)]))
    for k in order:
        key = tuple(np.delete(coords[k], list(axes_pos)))
        groups.setdefault(key, []).append(k)
    return list(groups.values())


class SpmdProgram:
    """A flat SPMD jaxpr compiled for a mesh of devices; called with per-device input buffers."""

    def __init__(self, closed: ClosedJaxpr, axes: list[MeshAxis], devices: Sequence[Device]):
        from ..primitives.collectives import axis_index_p
        self.devices = list(devices)
        self.axes = axes
        sizes = tuple(a.size for a in axes)
        n = len(self.devices)
        self.coords = np.stack(np.unravel_index(np.arange(n), sizes), axis=1)
        jaxpr = closed.jaxpr
        self.in_binders, self.outs = jaxpr.in_binders, jaxpr.outs
        pos = {id(a): i for i, a in enumerate(axes)}
        # Values known before the call: constants, and each device's coordinate for axis_index.
        self.static_env: dict = {v: [_buffer(c, d) for d in self.devices] for v, c in zip(jaxpr.constvars, closed.consts)}
        eqns = []
        for e in jaxpr.eqns:
            if e.primitive is axis_index_p:
                i = pos[id(e.params["axis_name"])]
                self.static_env[e.out_binders[0]] = [_buffer(np.int32(self.coords[k][i]), d)
                                                     for k, d in enumerate(self.devices)]
            else:
                eqns.append(e)
        self.steps = self._schedule(eqns, pos)

    def _schedule(self, eqns: list, pos: dict) -> list:
        """Segment k: equations needing k rounds of collectives; then the collectives of round k."""
        depth: dict = {}
        segments: dict[int, list] = {}
        collectives: dict[int, list] = {}
        for e in eqns:
            d = max((depth.get(x, 0) for x in e.inputs if type(x) is not Literal), default=0)
            collective = isinstance(e.primitive, AxisPrimitive)
            (collectives if collective else segments).setdefault(d, []).append(e)
            for v in e.out_binders:
                depth[v] = d + collective
        stages = sorted(set(segments) | set(collectives))
        produced_in: dict = {v: s for s, es in segments.items() for e in es for v in e.out_binders}
        needed: dict[int, dict] = {s: {} for s in segments}  # ordered sets of each segment's outputs

        def need(v, consumer_stage):
            s = produced_in.get(v)
            if s is not None and s != consumer_stage:
                needed[s][v] = None

        for s in stages:
            for e in segments.get(s, []):
                for x in e.inputs:
                    if type(x) is not Literal:
                        need(x, s)
            for e in collectives.get(s, []):
                for x in e.inputs:
                    if type(x) is not Literal:
                        need(x, None)
        for v in self.outs:
            need(v, None)
        steps: list = []
        collective_fn = None
        for s in stages:
            if s in segments:
                es = segments[s]
                defined = {v for e in es for v in e.out_binders}
                ins = list(dict.fromkeys(x for e in es for x in e.inputs if type(x) is not Literal and x not in defined))
                steps.append(_Segment(es, ins, list(needed[s]), self.devices))
            for e in collectives.get(s, []):
                if collective_fn is None:
                    collective_fn = collective_method(self.devices[0].backend, e.primitive.name)
                if type(e.inputs[0]) is Literal:
                    lit = e.inputs[0]
                    v = Var(lit.aval)
                    self.static_env[v] = [_buffer(np.asarray(lit.val, lit.aval.dtype), d) for d in self.devices]
                    e = e._replace(inputs=[v])
                names = e.primitive.axis_names_of(e.params)
                steps.append(_Collective(e, _groups(self.coords, [pos[id(a)] for a in names]), self.devices,
                                         collective_fn))
        return steps

    def __call__(self, inputs: Sequence[list]) -> list[list]:
        env = dict(self.static_env)
        env.update(zip(self.in_binders, inputs))
        for step in self.steps:
            step.run(env)
        return [env[v] for v in self.outs]


def collective_method(backend: Any, op: str) -> Callable:
    fn = getattr(backend, "collective", None)
    if fn is None:
        raise NotImplementedError(f"pmap: backend '{backend.name}' does not implement collectives (the optional "
                                  f"Backend.collective method), so '{op}' cannot run on it.")
    return fn


def _buffer(value: Any, device: Device) -> Any:
    """A backend buffer on ``device`` holding ``value`` (an Array is moved by the backend)."""
    if isinstance(value, ShardedArray):
        value = value._gathered()
    if type(value) is Array:
        return to_device(value, device)._buf
    return make_array(np.asarray(value), device=device, dtype=get_aval(value).dtype)._buf


# --- running a pmap -------------------------------------------------------------------------------------------------
_programs: "weakref.WeakKeyDictionary[ClosedJaxpr, dict]" = weakref.WeakKeyDictionary()


def _mesh_devices(axes: list[MeshAxis], devices: tuple | None, backend: str | None) -> list[Device]:
    total = int(np.prod([a.size for a in axes]))
    outer = axes[0].size
    if devices is not None:
        if len(devices) != total:
            raise ValueError(f"Leading axis size of input to pmapped function must equal the number of local devices "
                             f"passed to pmap. Got axis_size={outer}, num_local_devices={len(devices)}."
                             + (f" (nested pmaps need {total} devices)" if total != outer else ""))
        if len({id(d.backend) for d in devices}) > 1:
            raise ValueError(f"pmap devices must belong to one backend, got {list(devices)}")
        return list(devices)
    b = get_backend(backend)
    available = b.devices()
    if total > len(available):
        nested = f" ({' x '.join(str(a.size) for a in axes)} for nested pmaps)" if len(axes) > 1 else ""
        raise ValueError(f"pmap: the mapped axis needs {total} devices{nested} but only {len(available)} "
                         f"{'is' if len(available) == 1 else 'are'} available on backend '{b.name}'. "
                         f"Map over at most {len(available)} entries (reshape the data), or start with more devices.")
    return list(available[:total])


def _program(jaxpr: ClosedJaxpr, axis_name: Any, axis_size: int, devices: tuple | None,
             backend: str | None) -> SpmdProgram:
    per_jaxpr = _programs.setdefault(jaxpr, {})
    key = (axis_name, axis_size, devices, backend)
    prog = per_jaxpr.get(key)
    if prog is None:
        flat, axes = flatten(jaxpr, axis_name, axis_size)
        prog = per_jaxpr[key] = SpmdProgram(flat, axes, _mesh_devices(axes, devices, backend))
    return prog


def _split(x: Any, axis: int, n: int) -> list:
    """The ``n`` slices of ``x`` along ``axis``: Arrays sliced on their device, host values on the host."""
    from ..primitives.structural import index_in_dim
    if isinstance(x, ShardedArray):
        x = x._gathered()
    if type(x) is Array:
        return [index_in_dim(x, i, axis, keepdims=False) for i in range(n)]
    host = np.moveaxis(np.asarray(x), axis, 0)
    return [host[i] for i in range(n)]


def _shard_arg(x: Any, axis: int | None, prog: SpmdProgram) -> list:
    """Per-device buffers of a pmap argument: slice ``i`` of the mapped axis goes to the devices whose
    outer coordinate is ``i``; an unmapped argument is replicated."""
    outer = prog.coords[:, 0]
    n = prog.axes[0].size
    if axis is None:
        pieces = [x] * n
    elif isinstance(x, ShardedArray) and x.sharded_axis == axis and len(x.shards) == n:
        pieces = x.shards
    else:
        pieces = _split(x, axis, n)
    return [_buffer(pieces[i], d) for i, d in zip(outer, prog.devices)]


def execute(args: Sequence, *, jaxpr: ClosedJaxpr, axis_name: Any, axis_size: int, in_axes: tuple, out_axes: tuple,
            devices: tuple | None, backend: str | None, name: str) -> list:
    """Evaluate ``xla_pmap``: shard the arguments, run the program, return sharded results."""
    prog = _program(jaxpr, axis_name, axis_size, devices, backend)
    outs = prog([_shard_arg(x, a, prog) for x, a in zip(args, in_axes)])
    # The devices holding each outer index's result: inner coordinates all zero.
    lead = [k for k in range(len(prog.devices)) if not prog.coords[k][1:].any()]
    results = []
    for bufs, aval, o in zip(outs, jaxpr.out_avals, out_axes):
        if o is None:
            results.append(Array(bufs[0], aval, prog.devices[0]))
        else:
            results.append(ShardedArray([Array(bufs[k], aval, prog.devices[k]) for k in lead], o))
    return results

