"""CpuLlvmBackend: jaxprs compiled to LLVM IR for the host CPU (fused, vectorised, multi-threaded kernels).

Buffers are C-contiguous numpy arrays (outputs from the caching allocator); ``compile`` lowers a closed
jaxpr into one module (``program``), compiles it with the process-wide engine (memory and disk caches) and
returns an ``Executable``. ``PORTAX_CPU_DEVICES=N`` makes N virtual CPU devices, which share the cores out:
a device's programs split their work over at most ``cores // N`` threads, so devices running at once
(pmap) each get their own cores.
"""
from __future__ import annotations

import os

import numpy as np

from portax.core import dtypes
from portax.core.backend import Capabilities, Device
from portax.core.ir import ClosedJaxpr

from portax.core.ir import ShapedArray

from . import allocator, collectives, engine, gemm, lowerings, program, runtime, threads
from .executor import Executable

RUNTIME_CALLS = (
    "LAPACK through numpy.linalg for qr, svd, eigh and eig (a call from the generated program into the host)",
    "pocketfft through numpy.fft for fft (a call from the generated program into the host)",
)


class CpuLlvmBackend:
    name = "cpu_llvm"
    platform = "cpu"
    device_class_name = "CpuDevice"

    def __init__(self) -> None:
        runtime.install()
        gemm.task_symbol(np.dtype(np.float32))  # the library GEMM (from the disk cache after the first run)
        n = int(os.environ.get("PORTAX_CPU_DEVICES", "1"))
        self._devices = [Device(self, i, engine.host_target_info().cpu) for i in range(max(n, 1))]
        self._threads_per_device = 0 if n <= 1 else max(1, threads.num_cores() // n)
        self.rules = dict(lowerings.OPAQUE)
        self._collectives: dict = {}
        self.capabilities = Capabilities(
            dtypes=frozenset(dtypes.SUPPORTED), ieee_specials=True, runtime_calls=RUNTIME_CALLS, fusion=True,
            notes=f"LLVM {'.'.join(map(str, engine.llvm.llvm_version_info))} for {engine.host_target_info().cpu}; "
                  "fused loop/reduce kernels, vectorised, split across cores when large")

    def devices(self) -> list[Device]:
        return self._devices

    def compile(self, closed: ClosedJaxpr, device: Device) -> Executable:
        spec = program.build(closed, self.rules)
        text = str(spec.mb.module)
        address = engine.compile(text, ["main"])["main"]
        return Executable(spec, address, text, self._threads_per_device)

    def put(self, value: np.ndarray, device: Device) -> np.ndarray:
        value = np.asarray(value)
        out = allocator.alloc(value.shape, value.dtype) if value.nbytes >= allocator.MIN_CACHED_BYTES else \
            np.empty(value.shape, value.dtype)
        np.copyto(out, value, casting="no")
        return out

    def get(self, buffer: np.ndarray) -> np.ndarray:
        return buffer

    def collective(self, name: str, buffers: list, devices: list, **params) -> list:
        """Combine one buffer per device of a group (see ``portax.core.backend``) with generated code."""
        key = collectives.cache_key(name, buffers, params)
        exe = self._collectives.get(key)
        if exe is None:
            avals = tuple(ShapedArray(b.shape, b.dtype) for b in buffers)
            exe = self._collectives[key] = self.compile(collectives.program(name, avals, params), devices[0])
        return list(exe(*buffers))

    def add_lowerings(self, rules: dict) -> None:
        """Add or replace lowerings: ``{primitive: rule(lowering, eqn, inputs, outputs)}`` where the rule
        emits IR through ``lowering`` (a ``program.Lowering``) for input and output ``codegen.Buf``s."""
        self.rules.update(rules)
