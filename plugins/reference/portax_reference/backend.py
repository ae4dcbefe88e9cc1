"""ReferenceBackend: runs jaxprs by interpreting each equation with numpy.

A complete, minimal backend: devices, host transfer, capabilities, and ``compile`` that returns a
callable over buffers (here numpy arrays). Copy this shape to start a new backend.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from portax.core import dtypes
from portax.core.backend import Capabilities, Device, requested_device_count
from portax.core.ir import ClosedJaxpr, Literal

from .rules import RULES
from .rules_collectives import collective


class ReferenceExecutable:
    """A compiled jaxpr: the equations with their numpy rules looked up once."""

    def __init__(self, closed: ClosedJaxpr, rules: dict):
        self.closed = closed
        jaxpr = closed.jaxpr
        missing = sorted({e.primitive.name for e in jaxpr.eqns if e.primitive not in rules})
        if missing:
            raise NotImplementedError(f"reference backend: no lowering for primitive(s) {', '.join(missing)}")
        self.steps = [(rules[e.primitive], e) for e in jaxpr.eqns]
        self.kernels = [e.primitive.name for e in jaxpr.eqns]

    def __call__(self, *args: Any) -> list:
        return run_jaxpr(self.closed, list(args), self.steps)


def run_jaxpr(closed: ClosedJaxpr, args: list, steps: list | None = None) -> list:
    jaxpr = closed.jaxpr
    env: dict = {}
    for v, x in zip(jaxpr.constvars, closed.consts):
        env[v] = np.asarray(x)
    for v, x in zip(jaxpr.in_binders, args):
        env[v] = x
    if steps is None:
        steps = [(_lookup(e.primitive), e) for e in jaxpr.eqns]
    for rule, eqn in steps:
        ins = [np.asarray(x.val, x.aval.dtype) if type(x) is Literal else env[x] for x in eqn.inputs]
        out = rule(*ins, **eqn.params)
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
        self.capabilities = Capabilities(dtypes=frozenset(dtypes.SUPPORTED), ieee_specials=True,
                                         notes="numpy interpreter; every primitive evaluated on the host")

    def devices(self) -> list[Device]:
        return self._devices

    def compile(self, closed: ClosedJaxpr, device: Device) -> ReferenceExecutable:
        return ReferenceExecutable(closed, self.rules)

    def put(self, value: np.ndarray, device: Device) -> np.ndarray:
        return np.array(value, copy=True)

    def get(self, buffer: np.ndarray) -> np.ndarray:
        return buffer

    def lowers(self, primitive) -> bool:
        """Whether a numpy rule computes ``primitive`` (else the core uses its decomposition, if any)."""
        return primitive in self.rules

    def add_lowerings(self, rules: dict) -> None:
        self.rules.update(rules)

    collective = staticmethod(collective)  # the optional Backend.collective (see portax.core.backend)
