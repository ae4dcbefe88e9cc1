"""``WgpuBackend``: portax's Backend on WebGPU (Vulkan, Metal, D3D12, OpenGL) through wgpu-py.

Buffers are ``WgpuArray`` handles to device memory; ``put`` uploads, ``get`` reads back (waiting for the
device), and a jitted call only records and submits its dispatches: results are read back when the host
asks (``np.asarray``, printing, ``block_until_ready``).
"""
from __future__ import annotations

import numpy as np

from portax.core import fusion
from portax.core.backend import Capabilities, Device
from portax.core.ir import ClosedJaxpr

from . import adapters, collectives, runtime
from .buffers import DeviceBuffer
from .errors import WgpuBackendError
from .kernel_writer import MAX_INDEX
from .lowering import LOWERINGS, load_rules
from .program import Program, Recorder


class WgpuArray:
    """A device buffer with the shape and dtype it holds."""

    __slots__ = ("buf", "shape", "dtype", "device", "__weakref__")

    def __init__(self, buf: DeviceBuffer, shape: tuple, dtype: np.dtype, device: runtime.WgpuDevice):
        self.buf, self.shape, self.dtype, self.device = buf, tuple(shape), np.dtype(dtype), device

    def __repr__(self) -> str:
        return f"WgpuArray({self.dtype.name}{list(self.shape)} on {self.device!r})"


class WgpuExecutable:
    """A compiled jaxpr: ``kernels`` lists the generated shaders; a call records every dispatch into one
    command batch (data-dependent ``while``/``cond`` submit early to read their predicate)."""

    def __init__(self, closed: ClosedJaxpr, device: runtime.WgpuDevice, name: str = "jit"):
        self.device = device
        self.program = Program(device, closed, name)
        self.out_avals = [v.aval for v in closed.jaxpr.outs]
        self.kernels = self.program.kernels
        self.last_dispatches = 0
        self.last_submits = 0

    def __call__(self, *buffers: WgpuArray) -> list[WgpuArray]:
        return self._run(Recorder(self.device, self.program.name), buffers)

    def profile(self, emit, *buffers: WgpuArray) -> list[WgpuArray]:
        """The profiler's hook: run with every dispatch in a timed pass (GPU timestamps where the adapter has
        ``timestamp-query``, else host time) and ``emit`` each one; waits for the device."""
        rec = Recorder(self.device, self.program.name, timed=True)
        outs = self._run(rec, buffers)
        clock = "gpu timestamps" if self.device.capabilities.has_timestamps else "host (batch shared evenly)"
        for timer in rec.timers:
            for (name, nbytes, flops), start, dur in timer.events():
                emit(name, start, dur, bytes=nbytes, flops=flops, clock=clock)
        return outs

    def _run(self, rec: Recorder, buffers: tuple) -> list[WgpuArray]:
        try:
            outs = self.program.record(rec, [b.buf for b in buffers])
        except BaseException:
            rec.abandon()
            raise
        rec.finish()
        self.last_dispatches, self.last_submits = rec.dispatches, rec.submits
        return [WgpuArray(o, a.shape, a.dtype, self.device) for o, a in zip(outs, self.out_avals)]

    def as_text(self) -> str:
        return "\n\n".join(f"// {k.name}  ({k.context})\n{k.wgsl}" for k in self.kernels)


class WgpuBackend:
    """The ``wgpu`` backend: one portax device per selected adapter (or ``PORTAX_WGPU_DEVICES``
    logical devices), ``PORTAX_WGPU_ADAPTER`` choosing the adapter."""

    name = "wgpu"
    platform = "gpu"
    device_class_name = "WgpuDevice"

    def __init__(self) -> None:
        load_rules()
        self._runtime = runtime.create_devices()
        if not self._runtime:
            raise WgpuBackendError("no wgpu adapter found")
        self._devices = [Device(self, i, rt.capabilities.adapter_name) for i, rt in enumerate(self._runtime)]
        self._by_device = {id(d): rt for d, rt in zip(self._devices, self._runtime)}
        caps = self._runtime[0].capabilities
        common = frozenset.intersection(*(rt.capabilities.dtypes for rt in self._runtime))
        self.capabilities = Capabilities(
            dtypes=common, ieee_specials=caps.ieee_specials, flushes_subnormals=caps.flushes_subnormals,
            max_dispatch_elements=min(MAX_INDEX, caps.limits.max_storage_buffer_binding_size // 4),
            runtime_calls=("the Python functions of pure_callback, io_callback and debug_callback (debug.callback, "
                           "debug.print): the command stream is split, operands read back, results uploaded",),
            notes=(f"{caps.adapter_name} via {caps.backend_type}; fused WGSL kernels; NaN detected from bits"
                   f"{'' if caps.nan_comparisons else ' (the driver folds x != x)'}; data-dependent while_loop "
                   "reads its predicate back once per iteration"))
        self.rules = LOWERINGS

    def devices(self) -> list[Device]:
        return self._devices

    def runtime_device(self, device: Device) -> runtime.WgpuDevice:
        return self._by_device[id(device)]

    def compile(self, closed: ClosedJaxpr, device: Device) -> WgpuExecutable:
        return WgpuExecutable(closed, self.runtime_device(device))

    def put(self, value: np.ndarray, device: Device) -> WgpuArray:
        rt = self.runtime_device(device)
        value = np.asarray(value)
        _check_dtype(rt, value.dtype, "put")
        return WgpuArray(rt.upload(value, f"put {value.dtype.name}{list(value.shape)}"), value.shape,
                         value.dtype, rt)

    def get(self, buffer: WgpuArray) -> np.ndarray:
        return buffer.device.download(buffer.buf, buffer.shape, buffer.dtype,
                                      f"get {buffer.dtype.name}{list(buffer.shape)}")

    def memory_stats(self, device: Device) -> dict:
        """Device memory as ``jax.Device.memory_stats`` reports it: the pool's buffers handed out (the
        adapter does not tell its memory size: no ``bytes_limit``); ``bytes_reserved`` counts free ones too."""
        pool = self.runtime_device(device).pool
        return pool.memory.stats(bytes_reserved=pool.allocated_bytes)

    def block_until_ready(self, buffer: WgpuArray) -> None:
        buffer.device.synchronize("block_until_ready")

    def synchronize(self, device: Device) -> None:
        """Wait for all work submitted to ``device`` (``effects_barrier``)."""
        self.runtime_device(device).synchronize("effects_barrier")

    def transfer(self, buffer: WgpuArray, device: Device) -> WgpuArray:
        """Copy to another device of this backend (through the host)."""
        return self.put(self.get(buffer), device)

    def collective(self, name: str, buffers: list, devices: list, **params) -> list:
        """pmap's collectives (``core.backend.SupportsCollectives``). wgpu devices share no memory, so the
        runtime stages the data through host memory (reductions themselves run in WGSL)."""
        def host_of(b: WgpuArray) -> np.ndarray:
            return b.device.download(b.buf, b.shape, b.dtype, f"collective {name}")
        return collectives.collective(name, host_of, lambda array, k: self.put(np.asarray(array), devices[k]),
                                      buffers, devices, **params)

    def environment_info(self) -> dict:
        """For ``python -m portax``: every adapter wgpu sees, and what each device was created with."""
        out = {"adapters": [f"{a.index}: {a.summary}, vendor {a.vendor or '?'}, driver {a.driver or '?'}; "
                            f"features: {' '.join(sorted(a.features)) or 'none'}" for a in adapters.list_adapters()]}
        for i, rt in enumerate(self._runtime):
            caps, limits = rt.capabilities, rt.capabilities.limits
            out[f"device {i}"] = [
                f"{caps.adapter_name} ({caps.adapter_type}) via {caps.backend_type}"
                f"{', WebGPU default limits' if rt.default_limits else ''}",
                f"features: {' '.join(sorted(caps.features)) or 'none'}",
                f"limits: storage buffer binding {limits.max_storage_buffer_binding_size >> 20} MiB, buffer "
                f"{limits.max_buffer_size >> 20} MiB, {limits.max_storage_buffers_per_shader_stage} storage "
                f"buffers/stage, {limits.max_compute_invocations_per_workgroup} invocations/workgroup, "
                f"{limits.max_compute_workgroups_per_dimension} workgroups/dimension, "
                f"{limits.max_compute_workgroup_storage_size >> 10} KiB workgroup memory"
                + (f"; the driver stops an invocation's loops after {caps.loop_trip_limit:,} iterations (longer "
                   "kernels are refused)" if caps.loop_trip_limit is not None else "")]
        return out

    def lowers(self, primitive) -> bool:
        """Whether a WGSL kernel computes ``primitive`` (else the core uses its decomposition, if any)."""
        return primitive in self.rules or primitive in fusion.FUSIBLE

    def add_lowerings(self, rules: dict) -> None:
        """Add or replace lowering rules ``rule(ctx, eqn)`` (see ``lowering``)."""
        self.rules.update(rules)


def _check_dtype(rt: runtime.WgpuDevice, dtype: np.dtype, what: str) -> None:
    if dtype not in rt.capabilities.dtypes:
        caps = rt.capabilities
        raise TypeError(f"wgpu backend: {what}: dtype {dtype.name} is not supported on {caps.adapter_name} via "
                        f"{caps.backend_type} (supported: {', '.join(sorted(d.name for d in caps.dtypes))})")

