"""Eager dispatch: each primitive applied to concrete arrays runs as a cached one-equation program
on the arguments' device (or the default backend's first device).

Caches are thread-safe: eager programs are kept in an LRU bounded by ``config.compile_cache_size``, compiled
jaxprs for as long as their ``ClosedJaxpr`` lives (a jitted function owns its jaxprs, see ``api.JitFunction``).
"""
from __future__ import annotations

import threading
import weakref
from typing import Any, Sequence

import numpy as np

from . import compile_log, complex_lowering, decompositions, dtypes, host_control, narrow_floats, profiler, trace as core
from .array import Array, make_array, to_device
from .backend import Device, get_backend
from .config import config, hot as config_hot
from .ir import ClosedJaxpr, Jaxpr, JaxprEqn, Var, iter_eqns, subjaxprs
from .lru import LRUCache
from .placement import committed_device, default_device
from .sharded import apply_on_mesh, on_mesh
from .sharding import AxisType, Mesh, current_mesh
from .trace import abstract_eval_rules, get_aval

_eqn_cache = LRUCache()
# closed jaxpr -> LRUCache(device -> call); an entry goes when its jaxpr is collected.
_jaxpr_cache: "weakref.WeakKeyDictionary[ClosedJaxpr, LRUCache]" = weakref.WeakKeyDictionary()
_jaxpr_lock = threading.Lock()
_INTERPRETED = object()  # compile_jaxpr's cache entry for a jaxpr evaluated by InterpretedCall


def on_compile() -> None:
    """Called at each backend compilation: a hook for counting them (JAX's test harness counts its
    ``lower_jaxpr_to_module`` events through it)."""


def pick_device(args: Sequence, name: str = "jit") -> Device:
    """Where an operation on ``args`` runs: their device; the committed one when they are on several
    (``placement``); with no Array among them, the default device."""
    device = arrays_device(args, name)
    return device if device is not None else default_device()


def arrays_device(args: Sequence, name: str) -> Device | None:
    """``pick_device`` of ``args`` holding an Array; None if they hold none."""
    device = None
    for a in args:
        if type(a) is Array:
            if device is None:
                device = a._device
            elif a._device is not device:
                return committed_device(args, name)
    return device


def as_arrays(args: Sequence, device: Device) -> list[Array] | None:
    """The arguments as Arrays on ``device``; None if one is laid out over a mesh (it stays so: the caller
    runs partitioned, ``sharded.apply_on_mesh``)."""
    out = []
    for a in args:
        if type(a) is Array:
            out.append(a if a._device is device else to_device(a, device))
        elif on_mesh(a):
            return None
        else:
            aval = get_aval(a)
            out.append(make_array(a, weak_type=aval.weak_type, device=device, dtype=aval.dtype))
    return out


def host_mesh() -> Mesh | None:
    """The mesh an eager operation on host values only runs over, as JAX runs it (a jitted computation over the
    mesh set by ``set_mesh``): that mesh if its axes are all Auto (over Explicit ones the operation's result is typed
    by it instead, ``axis_types.on_mesh``) and no eager transformation follows a device (``placement.following``);
    else None."""
    mesh = current_mesh()
    if mesh.empty or not isinstance(mesh, Mesh) or any(t != AxisType.Auto for t in mesh.axis_types) \
            or core.is_tracing() or default_device() is not get_backend().devices()[0]:
        return None
    return mesh


def replicated(args: Sequence, mesh: Mesh) -> list:
    """``args`` replicated over ``mesh``."""
    from .api import device_put
    from .sharding import NamedSharding, PartitionSpec
    return [device_put(a, NamedSharding(mesh, PartitionSpec())) for a in args]


class CompiledCall:
    """An executable with the avals of its outputs; calling it wraps buffers into Arrays. (It holds no
    reference to its jaxpr, so that a cache keyed weakly by the jaxpr can let both go.)"""

    __slots__ = ("executable", "out_avals", "device", "name")

    def __init__(self, executable, out_avals, device, name: str = "program"):
        self.executable = executable
        self.out_avals = out_avals
        self.device = device
        self.name = name  # the program's name on a profiler trace

    def __call__(self, arrays: Sequence[Array]) -> list[Array]:
        bufs = [a._buf for a in arrays]
        for b in bufs:
            if b is None:  # a deleted (donated) array
                next(a for a in arrays if a._buf is None)._check_if_deleted()
        if profiler.session is None:
            bufs = self.executable(*bufs)
        else:
            bufs = profiler.run_program(self.executable, bufs, self.device, self.name)
        d = self.device
        if len(bufs) == 1:
            return [Array(bufs[0], self.out_avals[0], d)]
        return list(map(Array, bufs, self.out_avals, [d] * len(bufs)))


def apply_primitive(primitive: core.Primitive, *args: Any, **params: Any) -> Any:
    device = arrays_device(args, primitive.name)
    if device is None:  # host values only: over the mesh set by ``set_mesh``, if of Auto axes (``host_mesh``)
        mesh = host_mesh()
        if mesh is not None:
            return apply_on_mesh(primitive, replicated(args, mesh), params)
        device = default_device()
    arrays = as_arrays(args, device)
    if arrays is None:
        return apply_on_mesh(primitive, args, params)
    # (params in the order given: each call site binds them in one order)
    key = (primitive, tuple([a.aval for a in arrays]), tuple(params.items()) if params else (), device)
    call = _eqn_cache.get(key)
    if call is None:
        call = _eqn_cache.get_or_create(key, lambda: _compile_eqn(primitive, [a.aval for a in arrays], params, device))
    checked = config_hot()[1]
    if checked and config.no_execution:
        raise RuntimeError(f"JAX tried to execute function {primitive.name}, but the no_execution config option is "
                           "set")
    outs = call(arrays)
    if checked:
        check_special(primitive.name, outs)
    return outs if primitive.multiple_results else outs[0]


def check_special(name: str, outs: Sequence) -> None:
    """``jax_debug_nans``/``jax_debug_infs``: a FloatingPointError if an inexact output holds a NaN (an inf)."""
    if not (config.debug_nans or config.debug_infs):  # (the slow path taken for ``jax_disable_jit`` only)
        return
    for a in outs:
        if type(a) is not Array or not (dtypes.is_float(a.dtype) or dtypes.is_complex(a.dtype)):
            continue
        v = a._value()
        if config.debug_nans and np.isnan(v).any():
            raise FloatingPointError(f"invalid value (nan) encountered in {name}")
        if config.debug_infs and np.isinf(v).any():
            raise FloatingPointError(f"invalid value (inf) encountered in {name}")


def _compile_eqn(primitive, avals, params, device) -> CompiledCall | host_control.HostStepped:
    if primitive not in abstract_eval_rules:  # a user's primitive with neither def_impl nor def_abstract_eval
        raise NotImplementedError(f"Evaluation rule for '{primitive}' not implemented")
    if primitive in host_control.RULES:
        from .parallel.spmd import uses_axes
        if any(map(uses_axes, subjaxprs(params))):  # a loop or branch around a pmap
            return host_control.HostStepped(primitive, params)
    out = abstract_eval_rules[primitive](*avals, **params)
    out_avals = out if primitive.multiple_results else [out]
    ins = [Var(a) for a in avals]
    outs = [Var(a) for a in out_avals]
    eqn = JaxprEqn(primitive, ins, params, outs)
    closed = ClosedJaxpr(Jaxpr([], ins, [eqn], outs), [])
    return CompiledCall(_logged_compile(closed, device, primitive.name), out_avals, device, profiler.kernel_name([eqn]))


def _logged_compile(closed: ClosedJaxpr, device: Device, name: str):
    """``backend_compile``, logged as JAX logs its compilations (``jax_log_compiles``)."""
    compile_log.log_compile(name, closed.in_avals, device)
    with compile_log.log_elapsed("Finished XLA compilation of {fun_name} in {elapsed_time:.9f} sec", name):
        return backend_compile(closed, device)


def backend_compile(closed: ClosedJaxpr, device: Device):
    """``device.backend.compile``, with primitives the backend does not lower replaced by their
    decompositions, narrow floats it does not compute in stored as integers (``narrow_floats``), and complex
    values split into real parts for a backend without complex dtypes (the executable then takes and returns
    them as buffer pairs)."""
    on_compile()
    backend = device.backend
    with profiler.span(f"compile ({backend.name})", "compile", backend=backend.name, device=str(device),
                       equations=len(closed.jaxpr.eqns)):
        closed = narrow_floats.lower_for(decompositions.expand(closed, backend), backend)
        if complex_lowering.has_complex(closed.jaxpr) and not complex_lowering.native_complex(backend):
            exe = backend.compile(complex_lowering.lower(closed), device)
            return complex_lowering.split_executable(exe, closed.out_avals)
        return backend.compile(closed, device)


def _check_compilable(jaxpr: Jaxpr) -> None:
    """Equations that only exist to be transposed must not reach a backend."""
    for eqn in iter_eqns(jaxpr):
        if eqn.primitive.name == "custom_lin":
            raise TypeError("can't apply forward-mode autodiff (jvp) to a custom_vjp function.")


class InterpretedCall:
    """A jaxpr holding a pmap: evaluated equation by equation, since each pmap runs its own
    per-device programs (every other equation still dispatches to the backend)."""

    def __init__(self, closed: ClosedJaxpr, device: Device):
        self.closed, self.device = closed, device
        self.out_avals = closed.out_avals

    def __call__(self, arrays: Sequence[Array]) -> list:
        from .interpreters.evaluation import eval_jaxpr
        return eval_jaxpr(self.closed.jaxpr, self.closed.consts, *arrays)


def compile_jaxpr(closed: ClosedJaxpr, device: Device, name: str = "program") -> CompiledCall | InterpretedCall:
    """Compile (once per jaxpr and device, for as long as ``closed`` lives) a closed jaxpr whose consts
    are concrete; ``name`` (the jitted function's) names its runs on a profiler trace."""
    with _jaxpr_lock:
        per_device = _jaxpr_cache.get(closed)
        if per_device is None:
            per_device = _jaxpr_cache[closed] = LRUCache(maxsize=1024)  # one entry per device: not capped
    call = per_device.get(device)
    if call is None:
        call = per_device.get_or_create(device, lambda: _compile_jaxpr(closed, device, name))
    return InterpretedCall(closed, device) if call is _INTERPRETED else call


def _compile_jaxpr(closed: ClosedJaxpr, device: Device, name: str) -> CompiledCall | object:
    from .parallel.spmd import uses_axes
    if uses_axes(closed.jaxpr) or any(x.aval.sharding is not None for x in closed.jaxpr.outs):
        # shard_maps over one mesh, or results typed by Explicit mesh axes: partitioned over the mesh; else one
        # equation at a time
        from .parallel.partition import mesh_call
        return mesh_call(closed, device) or _INTERPRETED
    _check_compilable(closed.jaxpr)
    consts = [c if type(c) is Array else make_array(np.asarray(c), device=device) for c in closed.consts]
    # A new ClosedJaxpr for the backend: an executable keeping it must not keep ``closed`` (the cache key).
    exe = _logged_compile(ClosedJaxpr(closed.jaxpr, []), device, name) if not consts else _logged_compile(
        ClosedJaxpr(Jaxpr([], closed.jaxpr.constvars + closed.jaxpr.in_binders, closed.jaxpr.eqns,
                          closed.jaxpr.outs), []), device, name)
    return CompiledCall(_bind_consts(exe, consts, device), closed.out_avals, device, name)


def _bind_consts(exe, consts: list[Array], device: Device):
    if not consts:
        return exe
    bufs = [to_device(c, device)._buf for c in consts]
    call = lambda *args: exe(*bufs, *args)
    profile = getattr(exe, "profile", None)
    if profile is not None:  # the profiler's hook, with the same constants
        call.profile = lambda emit, *args: profile(emit, *bufs, *args)
    return call


def clear_caches() -> None:
    _eqn_cache.clear()
    with _jaxpr_lock:
        _jaxpr_cache.clear()


core._dispatcher = apply_primitive
