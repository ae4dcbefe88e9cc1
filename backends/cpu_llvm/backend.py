"""CpuLlvmBackend: jaxprs compiled to LLVM IR for the host CPU (fused, vectorised, multi-threaded kernels).

Buffers are C-contiguous numpy arrays (outputs from the caching allocator); ``compile`` lowers a closed
jaxpr into one module (``program``), compiles it with the process-wide engine (memory and disk caches) and
returns an ``Executable``. ``PORTAX_CPU_DEVICES=N`` makes N virtual CPU devices, which share the cores out:
a device's programs split their work over at most ``cores // N`` threads, so devices running at once
(pmap) each get their own cores.
"""
from __future__ import annotations

import math

import numpy as np

from portax.core import dtypes, fusion
from portax.core.backend import Capabilities, Device, requested_device_count
from portax.core.ir import ClosedJaxpr
from portax.core.lru import LRUCache

from portax.core.ir import ShapedArray

from . import allocator, cache, collectives, engine, entry, gemm, lowerings, program, runtime, threads, timing
from .executor import Executable

RUNTIME_CALLS = (
    "LAPACK through numpy.linalg for qr, svd, eigh and eig, real and complex (a call from the generated program "
    "into the host)",
    "pocketfft through numpy.fft for fft (a call from the generated program into the host)",
    "the Python functions of pure_callback, io_callback and debug_callback (debug.callback, debug.print): a call "
    "from the generated program into the host, with views of its buffers",
)


class CpuLlvmBackend:
    name = "cpu_llvm"
    platform = "cpu"
    device_class_name = "CpuDevice"

    def __init__(self) -> None:
        runtime.install()
        timing.install()
        gemm.task_symbol(np.dtype(np.float32))  # the library GEMM (from the disk cache after the first run)
        entry.get()  # how executables are entered (compiled on creation, as the library GEMM)
        n = requested_device_count(self.name)
        self._devices = [Device(self, i, engine.host_target_info().cpu) for i in range(n)]
        self._threads_per_device = 0 if n <= 1 else max(1, threads.num_cores() // n)
        self.rules = dict(lowerings.OPAQUE)
        self._collectives = LRUCache()
        self.capabilities = Capabilities(
            dtypes=frozenset(dtypes.SUPPORTED), ieee_specials=True, runtime_calls=RUNTIME_CALLS,
            notes=f"LLVM {'.'.join(map(str, engine.llvm.llvm_version_info))} for {engine.host_target_info().cpu}; "
                  "fused loop/reduce kernels, vectorised, split across cores when large")

    def devices(self) -> list[Device]:
        return self._devices

    def compile(self, closed: ClosedJaxpr, device: Device, profiled: bool = False) -> Executable:
        """An executable of ``closed``; its ``profile`` hook runs a build that times every kernel
        (``profiled=True``, made when a profiler trace first runs it)."""
        spec = program.build(closed, self.rules, profiled=profiled)
        text = str(spec.mb.module)
        module = engine.load(text, ["main"], unroll=spec.mb.unroll)
        rebuild = None if profiled else lambda: self.compile(closed, device, profiled=True)
        return Executable(spec, module, text, self._threads_per_device, rebuild)

    def put(self, value: np.ndarray, device: Device) -> np.ndarray:
        value = np.asarray(value)
        if value.nbytes < allocator.MIN_CACHED_BYTES:  # a fresh C-contiguous copy, in one numpy call
            return np.array(value, order="C")
        out = self.host_buffer(value.shape, value.dtype, device)
        np.copyto(out, value, casting="no")
        return out

    def host_buffer(self, shape: tuple, dtype: np.dtype, device: Device) -> np.ndarray:
        """An uninitialised buffer on ``device`` that is host memory, written in place (results received
        from other processes land there directly)."""
        dtype = np.dtype(dtype)
        return allocator.alloc(shape, dtype) if math.prod(shape) * dtype.itemsize >= allocator.MIN_CACHED_BYTES \
            else np.empty(shape, dtype)

    def get(self, buffer: np.ndarray) -> np.ndarray:
        return buffer

    def buffer_pointer(self, buffer: np.ndarray) -> int:
        """``Array.unsafe_buffer_pointer``: buffers are host arrays."""
        return buffer.ctypes.data

    def memory_stats(self, device: Device) -> dict:
        """``jax.Device.memory_stats``: the caching allocator's buffers in use (every buffer of 256 KiB and
        more: outputs, arenas, transfers; smaller ones come from numpy's allocator and are not counted),
        shared by the virtual CPU devices; ``bytes_limit`` is the machine's memory."""
        pool = allocator.default_pool()
        return pool.memory.stats(bytes_reserved=pool.memory.bytes_in_use + pool.cached_bytes)

    def collective(self, name: str, buffers: list, devices: list, **params) -> list:
        """Combine one buffer per device of a group (see ``portax.core.backend``) with generated code."""
        key = collectives.cache_key(name, buffers, params)
        exe = self._collectives.get_or_create(key, lambda: self.compile(  # (avals on a miss only)
            collectives.program(name, tuple(ShapedArray(b.shape, b.dtype) for b in buffers), params), devices[0]))
        return list(exe(*buffers))

    def environment_info(self) -> dict:
        """For ``python -m portax``: the CPU code is generated for, threads, and the disk compile cache."""
        info = engine.host_target_info()
        enabled = sorted(f[1:] for f in info.features.split(",") if f.startswith("+"))
        simd = [f for f in enabled if f.startswith(("avx", "sse4", "fma", "neon", "sve"))]
        folder, size, entries = cache.usage()
        return {"cpu": f"{info.cpu} ({info.triple}), {info.vector_width}-bit vectors; {' '.join(simd)}",
                "LLVM": ".".join(map(str, engine.llvm.llvm_version_info)),
                "threads": f"{threads.num_cores()} cores; {self._threads_per_device or threads.num_cores()} per device",
                "compile cache": "disabled (PORTAX_DISABLE_DISK_CACHE, or refused as unsafe: see its warning)" if folder is None else
                                 f"{folder}: {entries} entries, {size / 2**20:.1f} MiB"}

    def lowers(self, primitive) -> bool:
        """Whether generated code computes ``primitive`` (else the core uses its decomposition, if any)."""
        return primitive in self.rules or primitive in fusion.FUSIBLE

    def add_lowerings(self, rules: dict) -> None:
        """Add or replace lowerings: ``{primitive: rule(lowering, eqn, inputs, outputs)}`` where the rule
        emits IR through ``lowering`` (a ``program.Lowering``) for input and output ``codegen.Buf``s."""
        self.rules.update(rules)
