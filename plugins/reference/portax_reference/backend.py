"""ReferenceBackend: runs jaxprs by interpreting each equation with numpy.

A complete, minimal backend: devices, host transfer, capabilities, and ``compile`` that returns a
callable over buffers (here numpy arrays). Copy this shape to start a new backend.
"""
from __future__ import annotations

import time
import weakref
from typing import Any, Callable

import numpy as np

from portax.core import dtypes, profiler
from portax.core.memory_stats import MemoryCounter, host_memory_bytes
from portax.core.backend import Capabilities, Device, requested_device_count
from portax.core.ir import ClosedJaxpr, Literal, subjaxprs

from .rules import RULES
from .rules_collectives import collective


class ReferenceExecutable:
    """A compiled jaxpr: the equations with their numpy rules looked up once."""

    def __init__(self, closed: ClosedJaxpr, rules: dict, memory: "_Memory"):
        self.closed = closed
        self._memory = memory
        jaxpr = closed.jaxpr
        missing = sorted({e.primitive.name for e in jaxpr.eqns if e.primitive not in rules})
        if missing:
            raise NotImplementedError(f"reference backend: no lowering for primitive(s) {', '.join(missing)}")
        self.steps = [(_in_float32(rules[e.primitive], e), e) for e in jaxpr.eqns]
        self.kernels = [e.primitive.name for e in jaxpr.eqns]

    def __call__(self, *args: Any) -> list:
        return [self._memory.track(o) for o in run_jaxpr(self.closed, list(args), self.steps)]

    def profile(self, emit: Callable, *args: Any) -> list:
        """The profiler's hook: each equation is a kernel, timed on the host."""
        return [self._memory.track(o) for o in run_jaxpr(self.closed, list(args), self.steps, emit)]


class _Memory:
    """``memory_stats`` of the reference backend: the numpy arrays it hands out (puts and outputs that own
    their memory), counted until they are collected."""

    def __init__(self) -> None:
        self.counter = MemoryCounter(host_memory_bytes())
        self._live: set = set()

    def track(self, a: np.ndarray) -> np.ndarray:
        if a.base is None and a.nbytes and id(a) not in self._live:
            self._live.add(id(a))
            self.counter.alloc(a.nbytes)
            weakref.finalize(a, self._release, id(a), a.nbytes)
        return a

    def _release(self, key: int, nbytes: int) -> None:
        self._live.discard(key)
        self.counter.free(nbytes)


def run_jaxpr(closed: ClosedJaxpr, args: list, steps: list | None = None, emit: Callable | None = None) -> list:
    """Evaluate ``closed`` on numpy ``args``; ``emit`` (the profiler's) gets each equation's host time."""
    jaxpr = closed.jaxpr
    env: dict = {}
    for v, x in zip(jaxpr.constvars, closed.consts):
        env[v] = np.asarray(x)
    for v, x in zip(jaxpr.in_binders, args):
        env[v] = x
    if steps is None:
        steps = [(_in_float32(_lookup(e.primitive), e), e) for e in jaxpr.eqns]
    for rule, eqn in steps:
        ins = [np.asarray(x.val, x.aval.dtype) if type(x) is Literal else env[x] for x in eqn.inputs]
        start = time.perf_counter_ns() if emit is not None else 0
        out = rule(*ins, **eqn.params)
        if emit is not None:
            nbytes, flops = profiler.kernel_cost([eqn], eqn.inputs, eqn.out_binders)
            emit(profiler.kernel_name([eqn]), start, time.perf_counter_ns() - start, bytes=nbytes, flops=flops)
        outs = out if eqn.primitive.multiple_results else [out]
        for v, o in zip(eqn.out_binders, outs):
            o = np.asarray(o)
            if o.dtype != v.aval.dtype:
                o = o.astype(v.aval.dtype)
            if o.shape != v.aval.shape:
                raise AssertionError(f"reference rule for {eqn.primitive} produced shape {o.shape}, expected "
                                     f"{v.aval.shape}")
            env[v] = o
    return [np.asarray(x.val, x.aval.dtype) if type(x) is Literal else env[x] for x in jaxpr.outs]


_active_rules: dict = dict(RULES)
# primitives given ml_dtypes values as they are (host callbacks see their operands' own dtypes)
_BIT_EXACT = ("convert_element_type", "bitcast_convert_type", "nextafter", "pure_callback", "io_callback",
              "debug_callback")


def _in_float32(rule: Callable, eqn) -> Callable:
    """``rule`` computing in float32 where ``eqn`` has bfloat16/float8 values (results are rounded to them by
    ``ml_dtypes`` when stored), as XLA computes them; other equations keep their rule."""
    values = list(eqn.inputs) + list(eqn.out_binders)
    nested = any(True for _ in subjaxprs(eqn.params))  # bodies run through this interpreter, equation by equation
    if eqn.primitive.name in _BIT_EXACT or nested or not any(dtypes.is_custom_float(v.aval.dtype) for v in values):
        return rule
    f32 = dtypes.float32
    params = {k: f32 if isinstance(v, np.dtype) and dtypes.is_custom_float(v) else v for k, v in eqn.params.items()}

    def run(*args, **_):
        return rule(*[a.astype(f32) if dtypes.is_custom_float(a.dtype) else a for a in args], **params)
    return run


def _lookup(prim) -> Callable:
    rule = _active_rules.get(prim)
    if rule is None:
        raise NotImplementedError(f"reference backend: no lowering for primitive {prim.name}")
    return rule


class ReferenceBackend:
    name = "reference"
    platform = "cpu"
    device_class_name = "ReferenceDevice"

    def __init__(self) -> None:
        n = requested_device_count(self.name)  # PORTAX_REFERENCE_DEVICES
        self._devices = [Device(self, i, "numpy") for i in range(n)]
        self.rules = _active_rules
        self._memory = _Memory()
        self.capabilities = Capabilities(dtypes=frozenset(dtypes.SUPPORTED + dtypes.CUSTOM_FLOATS), ieee_specials=True,
                                         notes="numpy interpreter; every primitive evaluated on the host")

    def devices(self) -> list[Device]:
        return self._devices

    def compile(self, closed: ClosedJaxpr, device: Device) -> ReferenceExecutable:
        return ReferenceExecutable(closed, self.rules, self._memory)

    def put(self, value: np.ndarray, device: Device) -> np.ndarray:
        return self._memory.track(np.array(value, copy=True))

    def get(self, buffer: np.ndarray) -> np.ndarray:
        return buffer

    def buffer_pointer(self, buffer: np.ndarray) -> int:
        """``Array.unsafe_buffer_pointer``: buffers are host arrays."""
        return buffer.ctypes.data

    def memory_stats(self, device: Device) -> dict:
        """``jax.Device.memory_stats``: the arrays this backend handed out and that are still alive (host
        memory, shared by its devices; ``bytes_limit`` is the machine's memory)."""
        return self._memory.counter.stats()

    def lowers(self, primitive) -> bool:
        """Whether a numpy rule computes ``primitive`` (else the core uses its decomposition, if any)."""
        return primitive in self.rules

    def add_lowerings(self, rules: dict) -> None:
        self.rules.update(rules)

    collective = staticmethod(collective)  # the optional Backend.collective (see portax.core.backend)
