"""The SPMD runner: pmap's per-device program executed on every device of a mesh, concurrently.

1. ``flatten`` re-traces the body so that collectives sit at the top level or in cond/while bodies:
   calls (jit, checkpoint, custom derivatives) holding collectives are inlined, a scan holding them
   becomes a while loop, and a nested pmap becomes a further mesh axis (each device takes its slice of
   the inner inputs with ``axis_index``; inner outputs are ``all_gather``-ed). Axis names become
   ``MeshAxis`` objects, so nothing can shadow them.
2. ``SpmdProgram`` cuts the equations at barriers (collectives, and cond/while whose bodies use them):
   segment ``k`` holds every equation computable after ``k`` rounds of barriers and is compiled once per
   device with ``backend.compile``. A call runs a segment on all devices at once on a thread pool, then
   hands each collective's per-device buffers to ``backend.collective`` (the optional Backend method
   documented in core.backend); a cond or while with collectives is stepped through by the host, its
   bodies being SpmdPrograms themselves (all devices must agree on the branch or predicate).
   ``axis_index`` is a per-device constant holding the device's coordinate.
"""
from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from ..array import Array, make_array, put_host, to_device
from ..backend import Device, get_backend
from .. import distributed
from ..dispatch import backend_compile, compile_jaxpr
from ..interpreters.evaluation import dce_jaxpr
from ..interpreters.staging import trace_to_jaxpr
from .. import dtypes, narrow_floats
from ..ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var, eqn_effects, subjaxprs
from ..lru import LRUCache
from ..primitives.callbacks import ordered_io_effect
from ..sharded import MultiDeviceArray, ShardedArray
from ..trace import get_aval
from . import mpi_collectives, uniform
from .axis_env import AxisPrimitive, extend_axis_env

# Call primitives whose body is simply evaluated on the inputs (the parameter holding the body).
CALL_BODIES = {"pjit": "jaxpr", "checkpoint": "jaxpr", "custom_jvp_call": "call_jaxpr",
               "custom_vjp_call": "call_jaxpr", "custom_linear_solve": "solve"}


class MeshAxis:
    """One axis of the device mesh: a pmap's axis (user name and size) with an identity of its own."""

    __slots__ = ("name", "size")

    def __init__(self, name: Any, size: int):
        self.name, self.size = name, size

    def __repr__(self) -> str:
        return f"{self.name}[{self.size}]"


def uses_axes(jaxpr: Jaxpr) -> bool:
    """Whether ``jaxpr`` (at any depth) holds a collective or a pmap."""
    return any(isinstance(e.primitive, AxisPrimitive) or any(map(uses_axes, subjaxprs(e.params)))
               for e in jaxpr.eqns)


# --- 1. flattening -------------------------------------------------------------------------------------------------
def flatten(closed: ClosedJaxpr, named_sizes: Sequence[tuple[Any, int]]) -> tuple[ClosedJaxpr, list[MeshAxis]]:
    """The body as one flat SPMD program over mesh axes: the given (name, size) axes (a pmap's one, a
    shard_map's several) first, then nested pmaps'."""
    axes = [MeshAxis(name, size) for name, size in named_sizes]
    outer = list(axes)

    def fun(*args):
        with contextlib.ExitStack() as stack:
            for a in outer:
                stack.enter_context(extend_axis_env(a, a.size))
            return _eval(closed.jaxpr, closed.consts, args, {a.name: a for a in outer}, axes)

    jaxpr, consts = trace_to_jaxpr(fun, closed.in_avals)
    return ClosedJaxpr(jaxpr, consts), axes


def _renamed(params: dict, rename: dict) -> dict:
    out = dict(params)
    if "axes" in out:
        out["axes"] = tuple(rename.get(a, a) for a in out["axes"])
    if isinstance(out.get("axis_name"), tuple):  # a collective over several axes (ppermute)
        out["axis_name"] = tuple(rename.get(a, a) for a in out["axis_name"])
    elif "axis_name" in out:
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
        elif any(map(uses_axes, subjaxprs(eqn.params))):
            if p.name in CALL_BODIES:
                body = eqn.params[CALL_BODIES[p.name]]
                outs = _eval(body.jaxpr, body.consts, ins, rename, axes)
            elif p.name == "scan":
                outs = _scan_as_while(eqn.params, ins, rename, axes)
            elif p.name in _BARRIERS:  # cond, while: the runner steps through them
                params = {k: _flatten_sub(v, rename, axes) for k, v in eqn.params.items()}
                outs = p.bind(*ins, **params)
            else:
                raise NotImplementedError(f"pmap: a collective (or pmap) inside '{p.name}' is not supported.")
        else:
            outs = p.bind(*ins, **eqn.params)
        outs = outs if p.multiple_results else [outs]
        env.update(zip(eqn.out_binders, outs))
    return [read(x) for x in jaxpr.outs]


def _flatten_sub(value: Any, rename: dict, axes: list[MeshAxis]) -> Any:
    """A control-flow parameter with its jaxprs flattened (tuples of branches too)."""
    if isinstance(value, tuple):
        return tuple(_flatten_sub(v, rename, axes) for v in value)
    if not isinstance(value, ClosedJaxpr):
        return value
    jaxpr, consts = trace_to_jaxpr(lambda *a: _eval(value.jaxpr, value.consts, a, rename, axes), value.in_avals)
    return ClosedJaxpr(jaxpr, consts)


def _scan_as_while(params: dict, ins: list, rename: dict, axes: list[MeshAxis]) -> list:
    """A scan whose body uses collectives, as a while loop (the runner steps through while loops)."""
    from ..primitives import elementwise as ew
    from ..primitives.control_flow import while_loop
    from ..primitives.structural import dynamic_index_in_dim, dynamic_update_index_in_dim, full
    body, length, nc, nk = params["jaxpr"], params["length"], params["num_consts"], params["num_carry"]
    consts, init, xs = ins[:nc], ins[nc:nc + nk], ins[nc + nk:]
    ys = [full((length,) + a.shape, 0, a.dtype) for a in body.out_avals[nk:]]

    def step(state):
        i, carry, ys = state
        idx = ew.sub(np.int32(length - 1), i) if params["reverse"] else i
        x = [dynamic_index_in_dim(v, idx, 0, keepdims=False) for v in xs]
        outs = _eval(body.jaxpr, body.consts, [*consts, *carry, *x], rename, axes)
        ys = [dynamic_update_index_in_dim(acc, y, idx, 0) for acc, y in zip(ys, outs[nk:])]
        return ew.add(i, np.int32(1)), outs[:nk], ys

    _, carry, ys = while_loop(lambda state: ew.lt(state[0], np.int32(length)), step, (np.int32(0), init, ys))
    return [*carry, *ys]


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
                                                      tiled=False, axis_index_groups=None)
                for y, o in zip(outs, params["out_axes"])]


# --- 2. the program -------------------------------------------------------------------------------------------------
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def run_on_devices(fn: Callable[[int], Any], n: int) -> list:
    """``[fn(0), ..., fn(n-1)]`` with the calls running concurrently: device 0 on the calling thread,
    the others on a pool of ``n - 1`` threads."""
    if n == 1:
        return [fn(0)]
    with _pools_lock:
        pool = _pools.get(n)
        if pool is None:
            pool = _pools[n] = ThreadPoolExecutor(max_workers=n - 1, thread_name_prefix=f"portax-pmap{n}")
    futures = [pool.submit(fn, k) for k in range(1, n)]
    first = fn(0)
    return [first] + [f.result() for f in futures]


class _Segment:
    """The equations between two rounds of barriers, compiled for every device."""

    def __init__(self, eqns: list, inputs: list[Var], outputs: list[Var], devices: Sequence[Device]):
        self.inputs, self.outputs = inputs, outputs
        closed = ClosedJaxpr(Jaxpr([], inputs, eqns, outputs), [])
        self.executables = [backend_compile(closed, d) for d in devices]

    def run(self, env: dict) -> None:
        ins = [env[v] for v in self.inputs]
        results = run_on_devices(lambda k: self.executables[k](*[b[k] for b in ins]), len(self.executables))
        for j, v in enumerate(self.outputs):
            env[v] = [r[j] for r in results]


class _Collective:
    """One collective equation: the backend combines the buffers of each group of devices.

    When the mesh spans processes, a group holding devices of other processes first gathers every
    device's input from every process (``distributed.allgather_many`` of host buffers, after a check that
    all processes are at the same collective); the backend then combines the group as in one process, the
    other processes' buffers being uploaded to a local device, and each local device keeps its result.
    A psum over every device of the mesh in a dtype MPI reduces (pmax/pmin: an integer dtype; MPI's MAX
    and MIN may drop NaNs) instead combines the local devices, then the processes' partial results with
    an MPI allreduce; ppermute, and psum/pmax/pmin over groups of devices, all_gather, psum_scatter and
    all_to_all use MPI's own collectives (on a communicator per class of processes) where the layout
    allows (``mpi_collectives``).
    """

    def __init__(self, eqn, prog: "SpmdProgram"):
        self.eqn, self.devices, self.index, self.rows, self.width = eqn, prog.devices, prog.index, prog.rows, prog.width
        self.collective = collective_method(prog.devices[0].backend, eqn.primitive.name)
        groups = _groups(prog.all_coords, [prog.axis_pos[id(a)] for a in eqn.primitive.axis_names_of(eqn.params)])
        subgroups = eqn.params.get("axis_index_groups")
        if subgroups is not None:  # split each group (ordered by axis index) into the requested ones
            groups = [[g[i] for i in sub] for g in groups for sub in subgroups]
        self.local = lambda g: g in self.index
        self.groups = [g for g in groups if any(map(self.local, g))]  # global device indices
        # Per group: each member's position among the local devices (None: another process's) and the device
        # combining its buffer (another process's member stands in on the group's first local device).
        self.plan = []
        for group in self.groups:
            pos = [self.index.get(g) for g in group]
            standin = self.devices[next(k for k in pos if k is not None)]
            self.plan.append((group, pos, [standin if k is None else self.devices[k] for k in pos]))
        owners = prog.owners  # whether some group spans processes (the same answer on every process):
        self.crosses = owners is not None and any(len({owners[g] for g in group}) > 1 for group in groups)
        self.params = {k: v for k, v in eqn.params.items()
                       if k not in ("axes", "axis_name", "axis_size", "axis_index_groups")}
        shown = "".join(f" {k}={v}" for k, v in sorted(self.params.items()))
        self.what = f"{eqn.primitive.name}{shown} of {eqn.inputs[0].aval.str_short()} in {prog.name}"
        a, out = eqn.inputs[0].aval, eqn.out_binders[0].aval
        self.casts = None  # narrow floats stored as integers are combined in float32, then rounded
        if eqn.primitive.name in _ARITHMETIC and narrow_floats.is_stored(a.dtype, self.devices[0].backend):
            self.casts = ([_cast(a, dtypes.float32, d) for d in self.devices],
                          [_cast(out.update(dtype=dtypes.float32), a.dtype, d) for d in self.devices])
        combined = np.dtype(dtypes.float32 if self.casts else a.dtype)
        combined = np.dtype(combined.char.lower()) if combined.kind == "c" else combined  # the parts' dtype
        self.op = _MPI_REDUCTIONS.get(eqn.primitive.name)
        self.allreduce = (self.crosses and eqn.primitive.name in _MPI_REDUCTIONS and len(groups) == 1
                          and len(groups[0]) == len(prog.all_coords)
                          and mpi_collectives.reduces(self.op, combined))
        self.owners = owners  # other collectives between processes by MPI's own, where the layout allows:
        self.native = mpi_collectives.plan(self, groups, owners, combined) if self.crosses and not self.allreduce \
            else None

    def parts(self, env: dict) -> list[list]:
        """The per-device input buffers (two lists for complex values: real and imaginary parts)."""
        x = env[self.eqn.inputs[0]]
        if self.casts is not None:
            x = [cast(b)[0] for cast, b in zip(self.casts[0], x)]
        return [[b[i] for b in x] for i in (0, 1)] if type(x[0]) is tuple else [x]  # complex: (re, im) buffers

    def stacks(self, parts: list[list]) -> list[np.ndarray]:
        """What this process sends to the others: each part's local buffers read back and stacked (padded
        to ``width`` rows: every process sends as many)."""
        backend = self.devices[0].backend
        hosts = [[np.asarray(backend.get(b)) for b in bufs] for bufs in parts] if self.crosses else []
        return [np.stack(h + [np.zeros_like(h[0])] * (self.width - len(h))) for h in hosts]

    def run(self, env: dict) -> None:
        parts = self.parts(env)
        if self.allreduce:
            totals = distributed.allreduce_many([self.partial(b) for b in parts], [self.op] * len(parts), self.what,
                                                self.alloc)
            self._store(env, [self.spread(t) for t in totals])
        elif self.native is not None:
            self._store(env, [self.native(self, bufs) for bufs in parts])
        else:
            self.finish(env, parts, distributed.allgather_many(self.stacks(parts), self.what) if self.crosses else None)

    def finish(self, env: dict, parts: list[list], gathered: list | None) -> None:
        """Combine the local buffers (and, if the groups span processes, every process's ``gathered``)."""
        self._store(env, [self._combine(bufs, None if gathered is None else g.reshape((-1,) + g.shape[2:]))
                          for bufs, g in zip(parts, gathered or [None] * len(parts))])

    def _store(self, env: dict, outs: list[list]) -> None:
        """The results (a list per part) assembled, cast back, into the environment."""
        out = outs[0] if len(outs) == 1 else list(zip(*outs))
        if self.casts is not None:
            out = [cast(b)[0] for cast, b in zip(self.casts[1], out)]
        env[self.eqn.out_binders[0]] = out

    def _combine(self, bufs: list, hosts: np.ndarray | None) -> list:
        """The collective's result on every local device, from their buffers ``bufs`` and every mesh
        device's input ``hosts[g]`` read back (when groups span processes)."""
        backend = self.devices[0].backend
        out: list = [None] * len(self.devices)
        for group, pos, devices in self.plan:
            ins = [bufs[k] if k is not None else backend.put(hosts[self.rows[g]], d)
                   for g, k, d in zip(group, pos, devices)]
            for k, r in zip(pos, self.collective(self.eqn.primitive.name, ins, devices, **self.params)):
                if k is not None:
                    out[k] = r
        return out

    def partial(self, bufs: list) -> np.ndarray:
        """For an MPI allreduce: the local devices' buffers combined, read back."""
        return mpi_collectives.combine_local(self, self.eqn.primitive.name, bufs, range(len(bufs)))

    def alloc(self, shape: tuple, dtype: np.dtype) -> np.ndarray:
        """Where an allreduce writes its result: the backend's host buffer if its buffers are host memory
        (``host_buffer``: the result is then the local devices' buffer as it is), else a numpy array."""
        host_buffer = getattr(self.devices[0].backend, "host_buffer", None)
        return np.empty(shape, dtype) if host_buffer is None else host_buffer(shape, dtype, self.devices[0])

    def spread(self, total: np.ndarray) -> list:
        """The allreduced value on every local device (host memory is shared by the local devices)."""
        backend = self.devices[0].backend
        if hasattr(backend, "host_buffer"):
            return [total] * len(self.devices)
        return [backend.put(total, d) for d in self.devices]


_MPI_REDUCTIONS = {"psum": "SUM", "pmax": "MAX", "pmin": "MIN"}


class _Round:
    """The collectives of one round whose groups span processes: one allgather between processes for
    those gathering, one allreduce per operation and dtype for those reducing."""

    def __init__(self, collectives: list[_Collective]):
        self.gathering = [c for c in collectives if not c.allreduce]
        self.reducing = [c for c in collectives if c.allreduce]

    def run(self, env: dict) -> None:
        parts = {c: c.parts(env) for c in self.gathering + self.reducing}
        if self.reducing:
            partials = {c: [c.partial(b) for b in parts[c]] for c in self.reducing}
            totals = iter(distributed.allreduce_many([x for c in self.reducing for x in partials[c]],
                                                     [c.op for c in self.reducing for _ in partials[c]],
                                                     "; ".join(c.what for c in self.reducing), self.reducing[0].alloc))
            for c in self.reducing:
                c._store(env, [c.spread(next(totals)) for _ in partials[c]])
        if self.gathering:
            stacks = {c: c.stacks(parts[c]) for c in self.gathering}
            gathered = iter(distributed.allgather_many([s for c in self.gathering for s in stacks[c]],
                                                       "; ".join(c.what for c in self.gathering)))
            for c in self.gathering:
                c.finish(env, parts[c], [next(gathered) for _ in stacks[c]])


_ARITHMETIC = ("psum", "pmax", "pmin", "reduce_scatter")  # collectives that compute on the values


def _cast(aval, dtype, device: Device) -> Callable:
    """An executable converting one ``aval`` buffer to ``dtype`` on ``device``."""
    from ..primitives.elementwise import convert_element_type_p
    x, y = Var(aval), Var(aval.update(dtype=dtype, weak_type=False))
    eqn = JaxprEqn(convert_element_type_p, [x], {"new_dtype": dtype, "weak_type": False}, [y])
    return backend_compile(ClosedJaxpr(Jaxpr([], [x], [eqn], [y]), []), device)


def _groups(coords: np.ndarray, axes_pos: Sequence[int]) -> list[list[int]]:
    """Devices that differ only in their coordinates along ``axes_pos``, ordered by those coordinates."""
    groups: dict = {}
    for k in sorted(range(len(coords)), key=lambda k: tuple(coords[k][list(axes_pos)])):
        groups.setdefault(tuple(np.delete(coords[k], list(axes_pos))), []).append(k)
    return list(groups.values())


def _agreed(buffers: list, prog: "SpmdProgram", what: str, uniform: bool = False) -> int:
    """The value of a per-device scalar (a branch index or loop predicate) that every device must share
    (those of every process, when the program spans processes); read from one device if ``uniform`` (the
    devices hold it alike by construction: ``uniform``)."""
    if uniform:
        return int(np.asarray(prog.devices[0].backend.get(buffers[0])).item())
    values = {np.asarray(d.backend.get(b)).item() for b, d in zip(buffers, prog.devices)}
    if prog.owners is not None and len(values) == 1:
        values = set(distributed.allgather(np.array(values.pop(), np.int64), f"{what} in {prog.name}").tolist())
    if len(values) > 1:
        raise RuntimeError(f"pmap: the devices disagree on the {what} ({sorted(values)}) but its body uses collectives, "
                           "which every device must reach together.")
    return int(values.pop())


class _Cond:
    """A cond whose branches use collectives: every device takes the same branch, run as a program."""

    def __init__(self, eqn, prog: "SpmdProgram"):
        self.eqn, self.prog = eqn, prog
        self.branches = [SpmdProgram(b, prog.axes, prog.devices, prog.owners, prog.name)
                         for b in eqn.params["branches"]]
        self.uniform = eqn.inputs[0] in prog.uniform

    def run(self, env: dict) -> None:
        ins = [env[x] for x in self.eqn.inputs]
        outs = self.branches[_agreed(ins[0], self.prog, "branch index of a cond", self.uniform)](ins[1:])
        env.update(zip(self.eqn.out_binders, outs))


class _While:
    """A while loop whose body uses collectives: the host steps through it, reading the predicate."""

    def __init__(self, eqn, prog: "SpmdProgram"):
        self.eqn, self.prog = eqn, prog
        self.cond = SpmdProgram(eqn.params["cond_jaxpr"], prog.axes, prog.devices, prog.owners, prog.name)
        self.body = SpmdProgram(eqn.params["body_jaxpr"], prog.axes, prog.devices, prog.owners, prog.name)
        self.nc, self.nb = eqn.params["cond_nconsts"], eqn.params["body_nconsts"]
        self.uniform = uniform.while_predicate_is_uniform(eqn, [x in prog.uniform for x in eqn.inputs])

    def run(self, env: dict) -> None:
        ins = [env[x] for x in self.eqn.inputs]
        cconsts, bconsts, carry = ins[:self.nc], ins[self.nc:self.nc + self.nb], ins[self.nc + self.nb:]
        while _agreed(self.cond([*cconsts, *carry])[0], self.prog, "predicate of a while_loop", self.uniform):
            carry = self.body([*bconsts, *carry])
        env.update(zip(self.eqn.out_binders, carry))


_BARRIERS = {"cond": _Cond, "while": _While}


def _barrier(eqn) -> type | None:
    """The step type of an equation that ends a segment (a collective, or control flow using one)."""
    if isinstance(eqn.primitive, AxisPrimitive):
        return _Collective
    if eqn.primitive.name in _BARRIERS and any(map(uses_axes, subjaxprs(eqn.params))):
        return _BARRIERS[eqn.primitive.name]
    return None


class SpmdProgram:
    """A flat SPMD jaxpr compiled for a mesh of devices; called with per-device input buffers.

    ``devices`` are the mesh's devices (in mesh order) held by this process: all of them, or when the mesh
    spans processes (``owners``: the process of each mesh device) this process's; ``name`` ("pmap of f")
    names the program in errors between processes."""

    def __init__(self, closed: ClosedJaxpr, axes: list[MeshAxis], devices: Sequence[Device],
                 owners: Sequence[int] | None = None, name: str = "pmap of a function"):
        from ..primitives.collectives import axis_index_p
        self.devices, self.axes, self.owners, self.name = list(devices), axes, owners, name
        self.axis_pos = {id(a): i for i, a in enumerate(axes)}
        total = int(np.prod([a.size for a in axes]))
        self.all_coords = np.stack(np.unravel_index(np.arange(total), tuple(a.size for a in axes)), axis=1)
        self.index, self.rows, self.width = _placement(owners, total)
        self.coords = self.all_coords[list(self.index)]
        self.outer = [int(i) for i in self.coords[:, 0] - self.coords[0, 0]]  # each device's row of this process's part
        jaxpr = dce_jaxpr(closed.jaxpr)[0]
        self.in_binders, self.outs = jaxpr.in_binders, jaxpr.outs
        self.uniform = uniform.uniform_vars(jaxpr, [False] * len(jaxpr.in_binders))
        # Values known before the call: constants, and each device's coordinate for axis_index.
        self.static_env: dict = {v: [_buffer(c, d) for d in self.devices] for v, c in zip(jaxpr.constvars, closed.consts)}
        eqns = []
        for e in jaxpr.eqns:
            if e.primitive is axis_index_p:
                i = self.axis_pos[id(e.params["axis_name"])]
                self.static_env[e.out_binders[0]] = [_buffer(np.int32(c[i]), d) for c, d in zip(self.coords, self.devices)]
            else:
                eqns.append(e)
        self.steps = self._schedule(eqns)

    def _without_literals(self, eqn):
        """A barrier equation reads its inputs from the environment: literals become per-device buffers."""
        inputs = []
        for x in eqn.inputs:
            if type(x) is Literal:
                v = Var(x.aval)
                self.static_env[v] = [_buffer(np.asarray(x.val, x.aval.dtype), d) for d in self.devices]
                self.uniform.add(v)
                x = v
            inputs.append(x)
        return eqn._replace(inputs=inputs)

    def _schedule(self, eqns: list) -> list:
        """Segment k: the equations that need k rounds of barriers; then the barriers of round k."""
        depth: dict = {}
        segments: dict[int, list] = {}
        barriers: dict[int, list] = {}
        effects_from = 0  # the stage after the last equation with effects (they run in program order)
        for e in eqns:
            d = max((depth.get(x, 0) for x in e.inputs if type(x) is not Literal), default=0)
            step = _barrier(e)
            if eqn_effects(e):
                d = max(d, effects_from)
                effects_from = d + (step is not None)
            if step is None:
                segments.setdefault(d, []).append(e)
            else:
                barriers.setdefault(d, []).append((step, self._without_literals(e)))
            for v in e.out_binders:
                depth[v] = d + (step is not None)
        # A segment whose values no barrier reads and without effects runs with the next one (one call less)
        read = {x for bs in barriers.values() for _, e in bs for x in e.inputs}
        for s in sorted(segments)[:-1]:
            if not any(eqn_effects(e) or any(v in read for v in e.out_binders) for e in segments[s]):
                later = min(t for t in segments if t > s)
                segments[later] = segments.pop(s) + segments[later]
        stages = sorted(set(segments) | set(barriers))
        produced_in: dict = {v: s for s, es in segments.items() for e in es for v in e.out_binders}
        needed: dict[int, dict] = {s: {} for s in segments}  # ordered sets of each segment's outputs

        def need(xs, consumer_stage):
            for x in xs:
                s = produced_in.get(x) if type(x) is not Literal else None
                if s is not None and s != consumer_stage:
                    needed[s][x] = None

        for s, es in segments.items():
            for e in es:
                need(e.inputs, s)
        for bs in barriers.values():
            for _, e in bs:
                need(e.inputs, None)
        need(self.outs, None)
        steps: list = []
        for s in stages:
            if s in segments:
                es = segments[s]
                defined = {v for e in es for v in e.out_binders}
                ins = list(dict.fromkeys(x for e in es for x in e.inputs if type(x) is not Literal and x not in defined))
                steps.append(_Segment(es, ins, list(needed[s]), self.devices))
            round_ = [step(e, self) for step, e in barriers.get(s, [])]
            crossing = [c for c in round_ if isinstance(c, _Collective) and c.crosses and c.native is None]
            steps += [c for c in round_ if c not in crossing or len(crossing) == 1]
            steps += [_Round(crossing)] if len(crossing) > 1 else []
        return steps

    def __call__(self, inputs: Sequence[list]) -> list[list]:
        env = dict(self.static_env)
        env.update(zip(self.in_binders, inputs))
        for step in self.steps:
            step.run(env)
        return [env[v] for v in self.outs]


def _placement(owners: Sequence[int] | None, total: int) -> tuple[dict, dict, int]:
    """Where the ``total`` mesh devices are, process ``owners[g]`` holding device ``g`` (None: this process
    holds all): this process's mesh indices, each with its position among its devices; every mesh device's
    row in the stack of every process's devices that ``distributed.allgather_many`` returns; and how many
    rows each process sends (the most devices a process holds: processes holding fewer pad their stack)."""
    if owners is None:
        return {g: g for g in range(total)}, {g: g for g in range(total)}, total
    held: dict = {p: [] for p in range(distributed.process_count())}
    for g, p in enumerate(owners):
        held[p].append(g)
    if not all(held.values()):
        raise NotImplementedError(f"a mesh spanning processes must hold devices of every process, got "
                                  f"{ {p: len(gs) for p, gs in held.items()} } (devices per process index).")
    width = max(map(len, held.values()))
    mine = held[distributed.process_index()]
    return ({g: k for k, g in enumerate(mine)}, {g: p * width + k for p, gs in held.items() for k, g in enumerate(gs)},
            width)


def collective_method(backend: Any, op: str) -> Callable:
    fn = getattr(backend, "collective", None)
    if fn is None:
        raise NotImplementedError(f"pmap: backend '{backend.name}' does not implement collectives (the optional "
                                  f"Backend.collective method), so '{op}' cannot run on it.")
    return fn


def _buffer(value: Any, device: Device) -> Any:
    """A backend buffer on ``device`` holding ``value`` (an Array is moved by the backend)."""
    if isinstance(value, MultiDeviceArray):
        value = value._gathered()
    if type(value) is Array:
        return to_device(value, device)._buf
    return make_array(np.asarray(value), device=device, dtype=get_aval(value).dtype)._buf


# --- running a pmap -------------------------------------------------------------------------------------------------
_programs: "weakref.WeakKeyDictionary[ClosedJaxpr, dict]" = weakref.WeakKeyDictionary()


def _process_devices(axes: list[MeshAxis], backend: str | None, processes: int) -> tuple[list[Device], tuple]:
    """This process's devices of a pmap over every process's devices, and the process of each mesh device."""
    total = int(np.prod([a.size for a in axes]))
    b = get_backend(backend)
    if not distributed.spans(b) or distributed.process_count() != processes:
        raise distributed.DistributedError(f"pmap: this program spans {processes} processes but backend '{b.name}' "
                                           f"runs in {distributed.process_count()} (see portax.distributed).")
    local, need = b.devices(), total // processes
    if total % processes or need > len(local):
        raise ValueError(f"pmap over {processes} processes needs {need} devices per process (the mapped axis has "
                         f"global size {axes[0].size}), but this process has {len(local)} on backend '{b.name}'.")
    return list(local[:need]), tuple(g // need for g in range(total))


def _mesh_devices(axes: list[MeshAxis], devices: tuple | None, backend: str | None) -> list[Device]:
    total = int(np.prod([a.size for a in axes]))
    outer = axes[0].size
    if devices is not None:
        if any(d.process_index != distributed.process_index() for d in devices):
            raise NotImplementedError("pmap(devices=...) with devices of other processes is not supported: leave "
                                      "devices unset to map over every process's devices.")
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
        need = (f"the mapped axis has size {outer}" if len(axes) == 1 else
                f"the nested pmaps need {' x '.join(str(a.size) for a in axes)} = {total} devices")
        raise ValueError(f"pmap: {need}, but only {len(available)} device{'s are' if len(available) > 1 else ' is'} "
                         f"available on backend '{b.name}'. Map over at most {len(available)} entries (reshape "
                         f"the data), or start with more devices (e.g. PORTAX_CPU_DEVICES / PORTAX_WGPU_DEVICES).")
    return list(available[:total])


def check_ordered(jaxpr: Jaxpr, devices: int) -> None:
    """JAX's error for ordered effects it cannot keep in order over several devices (all but ordered io_callback)."""
    unsupported = sorted(str(e) for e in jaxpr.effects if e.ordered and e is not ordered_io_effect)
    if unsupported and devices > 1:
        raise ValueError(f"The following ordered effects are not supported for more than 1 device: "
                         f"[{', '.join(unsupported)}]")


def program(jaxpr: ClosedJaxpr, axis_name: Any, axis_size: int, devices: tuple | None,
            backend: str | None, processes: int, name: str) -> SpmdProgram:
    """The SpmdProgram running a pmap of body ``jaxpr`` (cached as long as the body lives)."""
    per_jaxpr = _programs.setdefault(jaxpr, {})
    key = (axis_name, axis_size, devices, backend, processes)
    prog = per_jaxpr.get(key)
    if prog is None:
        flat, axes = flatten(jaxpr, [(axis_name, axis_size)])
        check_ordered(flat.jaxpr, int(np.prod([a.size for a in axes])))
        mesh, owners = (_process_devices(axes, backend, processes) if processes > 1 else
                        (_mesh_devices(axes, devices, backend), None))
        prog = per_jaxpr[key] = SpmdProgram(flat, axes, mesh, owners, f"pmap of {name}")
    return prog


def _split(x: Any, axis: int, n: int) -> list:
    """The ``n`` slices of ``x`` along ``axis``: Arrays sliced on their device (by one program), host values on the
    host."""
    if isinstance(x, MultiDeviceArray):
        x = x._gathered()
    if type(x) is Array:
        return _unstacker(x.aval, axis, n, x._device)([x])
    host = np.moveaxis(np.asarray(x), axis, 0)
    return [host[i] for i in range(n)]


_unstackers = LRUCache()  # bounded by config.compile_cache_size


def _unstacker(aval: Any, axis: int, n: int, device: Device) -> Callable[[list], list]:
    """The compiled program slicing an ``aval`` array on ``device`` into its ``n`` pieces along ``axis``."""
    from ..primitives.structural import index_in_dim
    key = (aval, axis, n, device)
    call = _unstackers.get(key)
    if call is None:
        jaxpr, consts = trace_to_jaxpr(lambda v: [index_in_dim(v, i, axis, keepdims=False) for i in range(n)], [aval])
        call = _unstackers.put(key, compile_jaxpr(ClosedJaxpr(jaxpr, consts), device, "pmap argument split"))
    return call


def shard_arg(x: Any, axis: int | None, prog: SpmdProgram) -> list:
    """Per-device buffers of a pmap argument: slice ``i`` of the mapped axis goes to the devices whose
    outer coordinate is ``i``; an unmapped argument is replicated."""
    outer = prog.outer
    n = outer[-1] + 1
    if axis is None:
        pieces = [x] * n
    elif isinstance(x, ShardedArray) and x.sharded_axis == axis and len(x.shards) == n:
        pieces = x.shards
    else:
        pieces = _split(x, axis, n)
    return [_buffer(pieces[i], d) for i, d in zip(outer, prog.devices)]


def execute(args: Sequence, *, jaxpr: ClosedJaxpr, axis_name: Any, axis_size: int, in_axes: tuple, out_axes: tuple,
            devices: tuple | None, backend: str | None, processes: int = 1, name: str = "a function", **_: Any
            ) -> list:
    """Evaluate ``xla_pmap``: shard the arguments, run the program, return sharded results (over several
    processes: this process's shards)."""
    prog = program(jaxpr, axis_name, axis_size, devices, backend, processes, name)
    outs = prog([shard_arg(x, a, prog) for x, a in zip(args, in_axes)])
    return [make(bufs) for make, bufs in zip(assemblers(prog, jaxpr.out_avals, out_axes), outs)]


def assemblers(prog: SpmdProgram, avals: Sequence, out_axes: Sequence) -> list[Callable[[list], Any]]:
    """How ``execute`` makes each output of its per-device buffers: device 0's value (out axis None), else a
    ShardedArray stacking, along the out axis, the values of the devices whose inner coordinates are all zero (one
    per outer index)."""
    lead = [k for k in range(len(prog.devices)) if not prog.coords[k][1:].any()]
    devices = [prog.devices[k] for k in lead]
    return [functools.partial(_first, aval, prog.devices[0]) if o is None else
            functools.partial(_stacked, aval, lead, devices, o,
                              aval.update(shape=aval.shape[:o] + (len(lead),) + aval.shape[o:]))
            for aval, o in zip(avals, out_axes)]


def _first(aval, device: Device, bufs: list) -> Array:
    return Array(bufs[0], aval, device)


def _stacked(aval, lead: list, devices: list, axis: int, whole, bufs: list) -> ShardedArray:
    return ShardedArray.assembled([Array(bufs[k], aval, d) for k, d in zip(lead, devices)], axis, whole)


def arg_sharder(x: Any, axis: int | None, prog: SpmdProgram) -> Callable[[Any], list]:
    """``shard_arg`` for the arguments like ``x`` (of its type and aval and, for a ShardedArray, shard devices: pmap's
    fast path keys calls by them), its decisions taken once: a ShardedArray split along ``axis`` whose shards are on
    the devices needing them is used in place; a NumPy array is converted once, then each device's slice placed."""
    rows, devices = prog.outer, prog.devices
    if type(x) is ShardedArray and x.sharded_axis == axis and len(x.shards) == rows[-1] + 1 \
            and all(x.shards[i]._device is d for i, d in zip(rows, devices)):
        return functools.partial(_shards_in_place, rows, axis, prog)
    if type(x) is np.ndarray:
        return functools.partial(_host_pieces, get_aval(x).dtype, axis, list(zip(rows, devices)))
    return functools.partial(shard_arg, axis=axis, prog=prog)


def _shards_in_place(rows: list, axis: int, prog: SpmdProgram, x: ShardedArray) -> list:
    bufs = [x.shards[i]._buf for i in rows]
    if any(b is None for b in bufs):  # a deleted shard: shard_arg raises JAX's error
        return shard_arg(x, axis, prog)
    return bufs


def _host_pieces(dtype: np.dtype, axis: int | None, placement: list, x: np.ndarray) -> list:
    host = np.asarray(x, dtype)
    if axis is None:
        return [put_host(host, d) for _, d in placement]
    host = np.moveaxis(host, axis, 0) if axis else host
    return [put_host(np.asarray(host[i]), d) for i, d in placement]

