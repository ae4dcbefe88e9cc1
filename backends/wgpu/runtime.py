"""wgpu devices: capabilities, uploads/downloads, a pipeline cache and batched dispatches.

Kernel conventions (what the lowering emits):
  * All bindings are in ``@group(0)``. Storage buffers (``var<storage, read>`` for inputs,
    ``var<storage, read_write>`` for outputs) take the buffers of a dispatch in ascending
    binding order; at most one ``var<uniform>`` binding takes the dispatch's ``params``.
  * A dispatch given an ``int`` workgroup count may be tiled into a 2-D/3-D grid (see
    ``tile_workgroups``); such kernels take ``@builtin(workgroup_id) wid`` and
    ``@builtin(num_workgroups) nwg``, compute ``WORKGROUP_LINEAR_INDEX_WGSL``, and bound-check.
  * Storage of dtypes: see ``buffers`` (bool is one u32 per element).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import threading
import time
import weakref
from typing import Iterator, Sequence

import numpy as np
import wgpu

from portax.core.backend import requested_device_count
from portax.core.lru import LRUCache

from . import adapters
from .buffers import (STAGING_USAGE, STORAGE_USAGE, UNIFORM_USAGE, BufferPool, DeviceBuffer, round_up,
                      storage_dtype, storage_nbytes)
from .errors import (BindingAliasError, DeviceLostError, LimitExceededError, WgpuBackendError,
                     translate_errors)

DEVICES_ENV = "PORTAX_WGPU_DEVICES"
DEFAULT_LIMITS_ENV = "PORTAX_WGPU_DEFAULT_LIMITS"
# Comma list of optional features not to request even where the adapter has them (to test their fallbacks,
# e.g. float16 emulated without shader-f16): PORTAX_WGPU_DISABLE_FEATURES=shader-f16,shader-f64
DISABLE_FEATURES_ENV = "PORTAX_WGPU_DISABLE_FEATURES"

OPTIONAL_FEATURES = ("shader-f16", "shader-f64", "shader-int64", "subgroup", "timestamp-query")

# WebGPU's default limits (the guaranteed minimum) for everything compute kernels touch.
WEBGPU_DEFAULT_LIMITS = {
    "max-bind-groups": 4,
    "max-bindings-per-bind-group": 1000,
    "max-dynamic-uniform-buffers-per-pipeline-layout": 8,
    "max-dynamic-storage-buffers-per-pipeline-layout": 4,
    "max-storage-buffers-per-shader-stage": 8,
    "max-uniform-buffers-per-shader-stage": 12,
    "max-uniform-buffer-binding-size": 65536,
    "max-storage-buffer-binding-size": 134217728,
    "min-uniform-buffer-offset-alignment": 256,
    "min-storage-buffer-offset-alignment": 256,
    "max-buffer-size": 268435456,
    "max-compute-workgroup-storage-size": 16384,
    "max-compute-invocations-per-workgroup": 256,
    "max-compute-workgroup-size-x": 256,
    "max-compute-workgroup-size-y": 256,
    "max-compute-workgroup-size-z": 64,
    "max-compute-workgroups-per-dimension": 65535,
}
_ALIGNMENT_LIMITS = ("min-uniform-buffer-offset-alignment", "min-storage-buffer-offset-alignment")

# dtype -> WGSL scalar type of its storage, the feature it needs and the WGSL `enable` it needs.
# naga (wgpu-native 0.32) wants `enable f16;` for f16, nothing for f64/i64/u64, and rejects
# `enable subgroups;` (subgroup builtins work without it when the feature is on).
WGSL_TYPES = {
    np.dtype(np.float32): ("f32", None, None),
    np.dtype(np.int32): ("i32", None, None),
    np.dtype(np.uint32): ("u32", None, None),
    np.dtype(np.bool_): ("u32", None, None),
    np.dtype(np.int8): ("i32", None, None),  # 8/16-bit integers live in 32-bit words (see buffers)
    np.dtype(np.int16): ("i32", None, None),
    np.dtype(np.uint8): ("u32", None, None),
    np.dtype(np.uint16): ("u32", None, None),
    np.dtype(np.float16): ("f16", "shader-f16", "f16"),
    np.dtype(np.float64): ("f64", "shader-f64", None),
    np.dtype(np.int64): ("i64", "shader-int64", None),
    np.dtype(np.uint64): ("u64", "shader-int64", None),
}

# wgpu-py polls each device from a background thread while a map (a download) is pending, with blocking
# polls. A blocking poll can outlive the 1 s wgpu-py waits for that thread when a device is destroyed,
# and then polls a destroyed device: the process aborts (seen on lavapipe's OpenGL adapter, about one
# test run in ten). So the poll thread polls without blocking (yielding between polls), device creation
# and destruction do not overlap a poll, and ``destroy`` stops the thread before destroying the device.
_DEVICE_LIFECYCLE_LOCK = threading.Lock()


def _tame_poller(raw: wgpu.GPUDevice) -> None:
    """Make the device's background polls short and exclusive of device creation (wgpu-py's poller is
    private API: nothing is done if it is absent)."""
    poller = getattr(raw, "_poller", None)
    poll = getattr(poller, "_poll_func", None)
    if poll is None:
        return

    def short_poll(block: bool) -> None:
        with _DEVICE_LIFECYCLE_LOCK:
            poll(False)
        if block:
            time.sleep(0.00005)
    poller._poll_func = short_poll


def _stop_poller(raw: wgpu.GPUDevice) -> None:
    poller = getattr(raw, "_poller", None)
    if isinstance(poller, threading.Thread):
        poller.stop()
        poller.join(timeout=10)


WORKGROUP_LINEAR_INDEX_WGSL = "let wg_linear = wid.x + nwg.x * (wid.y + nwg.y * wid.z);"


@dataclasses.dataclass(frozen=True)
class Limits:
    """The device limits kernels and the launcher depend on."""

    max_storage_buffers_per_shader_stage: int
    max_storage_buffer_binding_size: int
    max_buffer_size: int
    max_compute_workgroups_per_dimension: int
    max_compute_invocations_per_workgroup: int
    max_compute_workgroup_size_x: int
    max_compute_workgroup_storage_size: int
    max_uniform_buffer_binding_size: int

    @classmethod
    def from_wgpu(cls, limits: dict) -> "Limits":
        return cls(**{f.name: limits[f.name.replace("_", "-")] for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What one device can do; kernels choose variants from this, never from adapter names."""

    dtypes: frozenset  # numpy dtypes verified to compile and compute (bool stored as u32)
    limits: Limits
    adapter_name: str
    backend_type: str  # "Vulkan", "Metal", "D3D12", "OpenGL"
    adapter_type: str  # "DiscreteGPU", "IntegratedGPU", "VirtualGPU", "CPU", "Unknown"
    features: frozenset  # the optional features the device was created with
    has_subgroups: bool  # subgroup builtins usable (naga: no `enable` directive needed)
    has_timestamps: bool
    ieee_specials: bool  # NaN/Inf/-0 survive arithmetic (probed once per adapter)
    nan_comparisons: bool  # NaN != NaN is true (else detect NaN from the bits, not with x != x)
    flushes_subnormals: bool = False  # f32 subnormals become zero (probed)
    loop_trip_limit: int | None = None  # loop iterations after which an invocation's loops stop (probed; Mesa's
    # llvmpipe/lavapipe: 65535 in all of an invocation's loops together, silently), None: no such limit

    @property
    def is_cpu(self) -> bool:
        return self.adapter_type == "CPU"

    def wgsl_header(self, dtypes: Sequence[np.dtype | type]) -> str:
        """The ``enable`` directives a shader using ``dtypes`` must start with."""
        enables = sorted({WGSL_TYPES[np.dtype(d)][2] for d in dtypes} - {None})
        return "".join(f"enable {e};\n" for e in enables)


@dataclasses.dataclass(frozen=True, eq=False)
class Pipeline:
    """A compiled compute pipeline and the binding interface parsed from its WGSL."""

    wgsl: str
    entry_point: str
    storage: tuple  # ((binding, writable), ...) in binding order: one per dispatch buffer
    uniform_binding: int | None
    compute_pipeline: wgpu.GPUComputePipeline
    bind_group_layout: wgpu.GPUBindGroupLayout


@dataclasses.dataclass(frozen=True)
class Overhead:
    """Host-measured launch costs, in seconds."""

    submit_s: float  # one batch of one trivial dispatch: record, submit, wait for it
    dispatch_s: float  # each further (dependent) dispatch in the same batch


_BINDING_RE = re.compile(
    r"((?:@\s*\w+\s*\(\s*\w+\s*\)\s*)+)var\s*<\s*(storage|uniform)\s*(?:,\s*(read_write|read)\s*)?>")
_ATTR_RE = re.compile(r"@\s*(group|binding)\s*\(\s*(\d+)\s*\)")


def parse_bindings(wgsl: str) -> tuple[tuple[tuple[int, bool], ...], int | None]:
    """((binding, writable) of each storage buffer, uniform binding or None) of a shader."""
    storage, uniforms = [], []
    for attrs, space, access in _BINDING_RE.findall(wgsl):
        found = dict(_ATTR_RE.findall(attrs))
        if found.get("group") != "0" or "binding" not in found:
            raise ValueError(f"kernel bindings must be in @group(0) with a @binding: {attrs.strip()!r}")
        binding = int(found["binding"])
        if space == "uniform":
            uniforms.append(binding)
        else:
            storage.append((binding, access == "read_write"))
    if len(uniforms) > 1:
        raise ValueError(f"a kernel takes at most one uniform binding, got {len(uniforms)}")
    return tuple(sorted(storage)), (uniforms[0] if uniforms else None)


def tile_workgroups(n: int, max_per_dim: int = 65535) -> tuple[tuple[int, int, int], str]:
    """A grid of at least ``n`` workgroups within ``max_per_dim`` per dimension, and the WGSL
    statement computing ``wg_linear`` (the linear workgroup index, possibly >= n: bound-check)
    from ``@builtin(workgroup_id) wid`` and ``@builtin(num_workgroups) nwg``."""
    if n <= max_per_dim:
        grid = (n, 1, 1)
    elif n <= max_per_dim ** 3:
        z = -(-n // max_per_dim ** 2)
        per_z = -(-n // z)
        y = -(-per_z // max_per_dim)
        grid = (-(-per_z // y), y, z)
    else:
        raise LimitExceededError(f"{n} workgroups exceed {max_per_dim}^3")
    return grid, WORKGROUP_LINEAR_INDEX_WGSL


def requested_limits(adapter_limits: dict, default_limits: bool) -> dict:
    """The adapter's maximum limits, or with ``default_limits`` clamped to WebGPU's defaults."""
    limits = dict(adapter_limits)
    if default_limits:
        for key, value in WEBGPU_DEFAULT_LIMITS.items():
            if key in limits:
                limits[key] = max(limits[key], value) if key in _ALIGNMENT_LIMITS else min(limits[key], value)
    return limits


class WgpuDevice:
    """One logical wgpu device: memory pool, pipeline cache, capabilities."""

    def __init__(self, adapter: wgpu.GPUAdapter, *, id: int = 0, default_limits: bool | None = None):
        if default_limits is None:
            default_limits = os.environ.get(DEFAULT_LIMITS_ENV, "") not in ("", "0")
        self.id = id
        self.adapter = adapter
        self.adapter_info = adapters.describe(adapter)
        self.default_limits = default_limits
        self._lost: str | None = None
        features = [f for f in OPTIONAL_FEATURES if f in adapter.features and f not in disabled_features()]
        with self._wgpu_call(f"requesting a device from {adapter.summary}"), _DEVICE_LIFECYCLE_LOCK:
            self.raw: wgpu.GPUDevice = adapter.request_device_sync(
                label=f"portax:{id}", required_features=features,
                required_limits=requested_limits(adapter.limits, default_limits))
        _tame_poller(self.raw)
        self.limits = Limits.from_wgpu(self.raw.limits)
        self.pool = BufferPool(self.raw, self.limits.max_buffer_size)
        # Pipelines by (wgsl, entry point) while anything (an executable) holds them; the most recently
        # used ones (up to config.compile_cache_size) are also kept for callers that don't.
        self._pipelines: "weakref.WeakValueDictionary[tuple[str, str], Pipeline]" = weakref.WeakValueDictionary()
        self._recent_pipelines = LRUCache()
        self._pipeline_lock = threading.Lock()
        self.capabilities = Capabilities(
            dtypes=frozenset(d for d, (_, feat, _) in WGSL_TYPES.items() if feat is None or feat in features),
            limits=self.limits,
            adapter_name=self.adapter_info.name,
            backend_type=self.adapter_info.backend_type,
            adapter_type=self.adapter_info.adapter_type,
            features=frozenset(features),
            has_subgroups="subgroup" in features,
            has_timestamps="timestamp-query" in features,
            ieee_specials=False,
            nan_comparisons=False,
        )
        self._sync_buffer = self.empty((4,), np.uint32)
        key = adapters.adapter_key(adapter)
        if key not in _PROBES:
            _PROBES[key] = (_verified_dtypes(self), probe_ieee_specials(self), probe_loop_trip_limit(self))
        dtypes, self.ieee_probe, trip_limit = _PROBES[key]
        compares = [ok for check, ok in self.ieee_probe.items() if check.endswith("(compare)")]
        arithmetic = [ok for check, ok in self.ieee_probe.items() if not check.endswith(("(compare)", "(subnormal)"))]
        self.capabilities = dataclasses.replace(
            self.capabilities, dtypes=self.capabilities.dtypes & dtypes,
            ieee_specials=all(arithmetic), nan_comparisons=all(compares),
            flushes_subnormals=not self.ieee_probe["2**-140 * 2 = 2**-139 (subnormal)"], loop_trip_limit=trip_limit)

    def __repr__(self) -> str:
        return f"WgpuDevice(id={self.id}, {self.adapter_info.summary}{', lost' if self._lost else ''})"

    @property
    def is_lost(self) -> bool:
        return self._lost is not None

    @contextlib.contextmanager
    def _wgpu_call(self, context: str, *, compiling: bool = False) -> Iterator[None]:
        if self._lost is not None:
            raise DeviceLostError(f"device {self.id} is lost: {self._lost}", context)
        try:
            with translate_errors(context, compiling=compiling):
                yield
        except DeviceLostError as e:
            self._lost = str(e)
            raise

    def destroy(self) -> None:
        """Free the device's memory and destroy it; later calls raise ``DeviceLostError``."""
        if self._lost is None:
            self.pool.trim()
            _stop_poller(self.raw)
            with _DEVICE_LIFECYCLE_LOCK:
                self.raw.destroy()
            self._lost = "destroyed"

    # -- memory ------------------------------------------------------------------------------

    def _check_dtype(self, dtype: np.dtype, context: str) -> None:
        if dtype not in self.capabilities.dtypes:
            raise TypeError(f"[{context}] dtype {dtype} is not supported on {self.adapter_info.summary} "
                            f"(supported: {sorted(str(d) for d in self.capabilities.dtypes)})")

    def empty(self, shape: Sequence[int], dtype: np.dtype | type, context: str = "") -> DeviceBuffer:
        """An uninitialised buffer for an array of ``shape`` and ``dtype``."""
        dtype = np.dtype(dtype)
        self._check_dtype(dtype, context)
        nbytes = storage_nbytes(shape, dtype)
        with self._wgpu_call(context):
            return DeviceBuffer(self.pool, self.pool.acquire(nbytes, STORAGE_USAGE, context), nbytes)

    def upload(self, array: np.ndarray, context: str = "") -> DeviceBuffer:
        """Copy ``array`` to a new device buffer; contiguous arrays are written straight from
        their memory (bool and 8/16-bit integers are widened to 32 bits first)."""
        array = np.asarray(array)
        self._check_dtype(array.dtype, context)
        sdtype = storage_dtype(array.dtype)
        data = array.astype(sdtype) if sdtype != array.dtype else np.ascontiguousarray(array)
        raw = data.reshape(-1).view(np.uint8)
        nbytes = raw.nbytes
        head = nbytes - nbytes % 4  # queue writes are in multiples of 4 bytes
        with self._wgpu_call(context):
            buf = DeviceBuffer(self.pool, self.pool.acquire(nbytes, STORAGE_USAGE, context), nbytes)
            if head:
                self.raw.queue.write_buffer(buf.buffer, 0, raw, 0, head)
            if head < nbytes:
                self.raw.queue.write_buffer(buf.buffer, head, bytes(raw[head:]).ljust(4, b"\0"))
        return buf

    def download(self, buf: DeviceBuffer, shape: Sequence[int], dtype: np.dtype | type,
                 context: str = "") -> np.ndarray:
        """The array of ``shape`` and ``dtype`` stored in ``buf`` (waits for the device)."""
        dtype = np.dtype(dtype)
        sdtype = storage_dtype(dtype)
        count = math.prod(shape)
        if buf.released:
            raise ValueError(f"[{context}] download of a released buffer")
        if buf._pending:
            raise WgpuBackendError("buffer is used by an unsubmitted CommandBatch; submit it first", context)
        if count * sdtype.itemsize > buf.nbytes:
            raise ValueError(f"[{context}] {shape} {dtype} needs {count * sdtype.itemsize} bytes, "
                             f"buffer holds {buf.nbytes}")
        if count == 0:
            return np.empty(shape, dtype)
        data = self._read(buf.buffer, count * sdtype.itemsize, context)
        out = np.frombuffer(data, sdtype, count=count).reshape(shape)
        if dtype == np.bool_:
            return out != 0
        return out.astype(dtype) if sdtype != dtype else out

    def _read(self, buffer: wgpu.GPUBuffer, nbytes: int, context: str) -> memoryview:
        size = round_up(nbytes, 4)
        with self._wgpu_call(context):
            staging = self.pool.acquire(size, STAGING_USAGE, context)
            encoder = self.raw.create_command_encoder()
            encoder.copy_buffer_to_buffer(buffer, 0, staging, 0, size)
            self.raw.queue.submit([encoder.finish()])
            staging.map_sync(wgpu.MapMode.READ, 0, size)
            try:
                return staging.read_mapped(0, size)
            finally:
                staging.unmap()
                self.pool.give_back(staging)

    def synchronize(self, context: str = "") -> None:
        """Wait until all submitted work has finished."""
        self._read(self._sync_buffer.buffer, 4, context)

    # -- kernels -----------------------------------------------------------------------------

    def pipeline(self, wgsl: str, entry_point: str = "main", context: str = "") -> Pipeline:
        """The compiled pipeline of (``wgsl``, ``entry_point``), compiled on first use."""
        key = (wgsl, entry_point)
        with self._pipeline_lock:  # one pipeline per key even when threads compile at once
            pipe = self._pipelines.get(key)
            if pipe is None:
                pipe = self._pipelines[key] = self._create_pipeline(wgsl, entry_point, context)
        self._recent_pipelines.put(key, pipe)
        return pipe

    def _create_pipeline(self, wgsl: str, entry_point: str, context: str) -> Pipeline:
        storage, uniform = parse_bindings(wgsl)
        limit = self.limits.max_storage_buffers_per_shader_stage
        if len(storage) > limit:
            raise LimitExceededError(
                f"kernel declares {len(storage)} storage buffers, max_storage_buffers_per_shader_stage="
                f"{limit} on this device: split the kernel", context)
        entries = [{"binding": b, "visibility": wgpu.ShaderStage.COMPUTE,
                    "buffer": {"type": "storage" if writable else "read-only-storage"}} for b, writable in storage]
        if uniform is not None:
            entries.append({"binding": uniform, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": "uniform"}})
        with self._wgpu_call(context or "compiling a kernel", compiling=True):
            bind_group_layout = self.raw.create_bind_group_layout(entries=entries)
            layout = self.raw.create_pipeline_layout(bind_group_layouts=[bind_group_layout])
            module = self.raw.create_shader_module(code=wgsl)
            compute_pipeline = self.raw.create_compute_pipeline(
                layout=layout, compute={"module": module, "entry_point": entry_point})
        return Pipeline(wgsl, entry_point, storage, uniform, compute_pipeline, bind_group_layout)

    def batch(self, context: str = "") -> "CommandBatch":
        """A new batch of dispatches, submitted together."""
        return CommandBatch(self, context)

    def run(self, kernel: Pipeline | str, buffers: Sequence[DeviceBuffer], workgroups: int | tuple,
            params: bytes | np.ndarray | None = None, context: str = "") -> None:
        """Submit a single dispatch."""
        with self.batch(context) as b:
            b.dispatch(kernel, buffers, workgroups, params)


class CommandBatch:
    """Dispatches recorded into one command encoder (one compute pass) and submitted once.

    Later dispatches see the writes of earlier ones. Checks done before recording (binding
    count, aliasing, binding sizes, workgroup counts) raise without spoiling the batch, so a
    caller can split the work and go on; a wgpu error while recording abandons the batch.
    Used as a context manager it submits on normal exit and abandons on an exception.
    """

    def __init__(self, device: WgpuDevice, context: str = "", timer=None):
        self.device = device
        self.context = context
        self.timer = timer  # a timestamps.DispatchTimer when a profiler trace times each dispatch
        self._encoder: wgpu.GPUCommandEncoder | None = None
        self._pass: wgpu.GPUComputePassEncoder | None = None
        self._pinned: dict[int, DeviceBuffer] = {}
        self._uniforms: list[wgpu.GPUBuffer] = []
        self._contexts: list[str] = []
        self._closed = False

    def __len__(self) -> int:
        return len(self._contexts)

    def __enter__(self) -> "CommandBatch":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.submit()
        else:
            self.abandon()

    def dispatch(self, kernel: Pipeline | str, buffers: Sequence[DeviceBuffer], workgroups: int | tuple,
                 params: bytes | np.ndarray | None = None, context: str = "", label: tuple | None = None) -> None:
        """Record ``kernel`` (a ``Pipeline`` or WGSL with entry point ``main``) on ``buffers``
        (one per storage binding, in binding order) over ``workgroups`` (an int, tiled if
        needed, or an explicit (x, y, z) grid), with ``params`` for its uniform binding. A timed batch
        gives the dispatch a pass of its own, timed under ``label`` ((name, bytes, flops))."""
        ctx = context or self.context
        if self._closed:
            raise WgpuBackendError("dispatch on a submitted or abandoned batch", ctx)
        dev = self.device
        pipe = kernel if isinstance(kernel, Pipeline) else dev.pipeline(kernel, context=ctx)
        if dev._pipelines.get((pipe.wgsl, pipe.entry_point)) is not pipe:
            raise ValueError(f"[{ctx}] pipeline belongs to another device")
        grid = self._grid(workgroups, ctx)
        self._check_bindings(pipe, buffers, ctx)
        if (params is None) != (pipe.uniform_binding is None):
            raise ValueError(f"[{ctx}] params must be given iff the kernel declares a var<uniform>")
        data = None if params is None else self._params_bytes(params, ctx)
        with self._recording(ctx):
            entries = [{"binding": b, "resource": {"buffer": buf.buffer, "offset": 0, "size": buf.binding_size}}
                       for (b, _), buf in zip(pipe.storage, buffers)]
            if data is not None:
                uniform = dev.pool.acquire(len(data), UNIFORM_USAGE, ctx)
                self._uniforms.append(uniform)
                dev.raw.queue.write_buffer(uniform, 0, data)
                entries.append({"binding": pipe.uniform_binding,
                                "resource": {"buffer": uniform, "offset": 0, "size": len(data)}})
            bind_group = dev.raw.create_bind_group(layout=pipe.bind_group_layout, entries=entries)
            if self.timer is not None:
                if self._encoder is None:
                    self._encoder = dev.raw.create_command_encoder()
                elif self._pass is not None:
                    self._pass.end()
                self._pass = self._encoder.begin_compute_pass(**self.timer.pass_descriptor(
                    label or (ctx, sum(b.binding_size for b in buffers), 0)))
            elif self._pass is None:
                self._encoder = dev.raw.create_command_encoder()
                self._pass = self._encoder.begin_compute_pass()
            self._pass.set_pipeline(pipe.compute_pipeline)
            self._pass.set_bind_group(0, bind_group)
            self._pass.dispatch_workgroups(*grid)
        for buf in buffers:
            if id(buf) not in self._pinned:
                buf._pending += 1
                self._pinned[id(buf)] = buf
        self._contexts.append(ctx)

    def submit(self) -> None:
        """Submit every recorded dispatch in one command buffer (does not wait)."""
        if self._closed:
            raise WgpuBackendError("batch already submitted or abandoned", self.context)
        try:
            if self._pass is not None:
                with self.device._wgpu_call(self._summary()):
                    self._pass.end()
                    if self.timer is not None:
                        self.timer.resolve(self._encoder)
                    self.device.raw.queue.submit([self._encoder.finish()])
        finally:
            self._close()

    def abandon(self) -> None:
        """Drop the recorded dispatches; releases deferred by this batch take effect."""
        if not self._closed:
            self._close()

    def _close(self) -> None:
        self._closed = True
        self._encoder = self._pass = None
        for buf in self._pinned.values():
            buf._unpin()
        self._pinned.clear()
        for u in self._uniforms:
            self.device.pool.give_back(u)
        self._uniforms.clear()

    @contextlib.contextmanager
    def _recording(self, context: str) -> Iterator[None]:
        try:
            with self.device._wgpu_call(context):
                yield
        except WgpuBackendError:
            self.abandon()
            raise

    def _summary(self) -> str:
        shown = ", ".join(self._contexts[:8]) + (", ..." if len(self._contexts) > 8 else "")
        return f"{self.context or 'batch'} of {len(self._contexts)} dispatches ({shown})"

    def _grid(self, workgroups: int | tuple, context: str) -> tuple[int, int, int]:
        limit = self.device.limits.max_compute_workgroups_per_dimension
        if isinstance(workgroups, (int, np.integer)):
            try:
                return tile_workgroups(int(workgroups), limit)[0]
            except LimitExceededError as e:
                raise LimitExceededError(str(e), context) from None
        grid = tuple(int(w) for w in workgroups) + (1,) * (3 - len(workgroups))
        if max(grid) > limit:
            raise LimitExceededError(f"workgroup grid {grid} exceeds max_compute_workgroups_per_dimension={limit}; "
                                     "pass an int count to tile it", context)
        return grid

    def _check_bindings(self, pipe: Pipeline, buffers: Sequence[DeviceBuffer], context: str) -> None:
        limits = self.device.limits
        if len(buffers) != len(pipe.storage):
            raise ValueError(f"[{context}] kernel has {len(pipe.storage)} storage bindings, got {len(buffers)} buffers")
        seen: dict[int, bool] = {}
        for (binding, writable), buf in zip(pipe.storage, buffers):
            if buf.released:
                raise ValueError(f"[{context}] binding {binding}: buffer was released")
            if buf._pool is not self.device.pool:
                raise ValueError(f"[{context}] binding {binding}: buffer belongs to another device")
            if buf.binding_size > limits.max_storage_buffer_binding_size:
                raise LimitExceededError(
                    f"binding {binding}: {buf.binding_size} bytes exceed max_storage_buffer_binding_size="
                    f"{limits.max_storage_buffer_binding_size}", context)
            key = id(buf.buffer)
            if key in seen and (writable or seen[key]):
                raise BindingAliasError(
                    f"binding {binding}: a buffer is bound twice in one dispatch with a read_write binding", context)
            seen[key] = seen.get(key, False) or writable

    def _params_bytes(self, params: bytes | np.ndarray, context: str) -> bytes:
        data = np.ascontiguousarray(params).tobytes() if isinstance(params, np.ndarray) else bytes(params)
        data = data.ljust(max(round_up(len(data), 16), 16), b"\0")  # uniform structs are 16-byte aligned
        limit = self.device.limits.max_uniform_buffer_binding_size
        if len(data) > limit:
            raise LimitExceededError(f"{len(data)} bytes of params exceed max_uniform_buffer_binding_size={limit}",
                                     context)
        return data


def create_devices(count: int | None = None, *, adapter: str | None = None,
                   default_limits: bool | None = None) -> list[WgpuDevice]:
    """Devices on the selected adapters (see ``adapters.select_adapters``), or ``count``
    (default ``$PORTAX_WGPU_DEVICES``) logical devices requested from the first of them."""
    chosen = adapters.select_adapters(adapter)
    if count is None and os.environ.get(DEVICES_ENV, "").strip():
        count = requested_device_count("wgpu")
    if count:
        chosen = [chosen[0]] * count
    return [WgpuDevice(a, id=i, default_limits=default_limits) for i, a in enumerate(chosen)]


# -- probes, run once per adapter -------------------------------------------------------------

_PROBES: dict[tuple, tuple[frozenset, dict[str, bool], int | None]] = {}

_DTYPE_PROBE = """{header}
@group(0) @binding(0) var<storage, read> x: array<{t}>;
@group(0) @binding(1) var<storage, read_write> y: array<{t}>;
@compute @workgroup_size(4) fn main(@builtin(local_invocation_index) i: u32) {{ y[i] = x[i] * {t}(3) + {t}(1); }}
"""

_IEEE_PROBE = """
@group(0) @binding(0) var<storage, read> x: array<f32>;  // 1, 0, inf, nan, inf, nan, 2**-140
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1) fn main() {
  y[0] = x[0] / x[1];
  y[1] = x[1] / x[1];
  y[2] = x[2] - x[4];
  y[3] = x[3] + x[0];
  y[4] = x[2] * x[0];
  y[5] = -x[1];
  y[6] = select(0.0, 1.0, x[3] != x[5]);
  y[7] = x[0] / -x[2];
  y[8] = x[2] - x[2];
  y[9] = select(0.0, 1.0, x[3] != x[3]);
  y[10] = x[6] * 2.0;
}
"""


def disabled_features() -> frozenset:
    """The optional features ``PORTAX_WGPU_DISABLE_FEATURES`` masks; unknown names are an error."""
    names = frozenset(n.strip() for n in os.environ.get(DISABLE_FEATURES_ENV, "").split(",") if n.strip())
    unknown = sorted(names - set(OPTIONAL_FEATURES))
    if unknown:
        raise ValueError(f"{DISABLE_FEATURES_ENV}: unknown feature(s) {', '.join(unknown)}; the optional features "
                         f"are {', '.join(OPTIONAL_FEATURES)}")
    return names


def _verified_dtypes(device: WgpuDevice) -> frozenset:
    """The device's dtypes whose probe kernel (y = 3x + 1) compiles and computes exactly."""
    ok = set()
    for dtype in device.capabilities.dtypes:
        if storage_dtype(dtype) != dtype:  # widened dtypes are verified through their 32-bit word type
            continue
        x = np.arange(4).astype(dtype) + (np.array(2**40, dtype) if dtype.itemsize == 8 else 0)
        wgsl = _DTYPE_PROBE.format(header=device.capabilities.wgsl_header([dtype]), t=WGSL_TYPES[dtype][0])
        try:
            xb, yb = device.upload(x, "dtype probe"), device.empty((4,), dtype, "dtype probe")
            device.run(wgsl, [xb, yb], 1, context=f"{dtype} probe")
            if np.array_equal(device.download(yb, (4,), dtype), x * dtype.type(3) + dtype.type(1)):
                ok.add(dtype)
        except WgpuBackendError:
            pass
    ok |= {d for d in device.capabilities.dtypes if storage_dtype(d) in ok and storage_dtype(d) != d}
    return frozenset(ok)


def probe_ieee_specials(device: WgpuDevice) -> dict[str, bool]:
    """Run a tiny f32 kernel on NaN/Inf/-0 inputs; each check is True if IEEE-754 holds.
    Checks ending in "(compare)" test comparisons, the others arithmetic."""
    x = np.array([1.0, 0.0, np.inf, np.nan, np.inf, np.nan, 2.0 ** -140], np.float32)
    try:
        xb, yb = device.upload(x, "ieee probe"), device.empty((11,), np.float32, "ieee probe")
        device.run(_IEEE_PROBE, [xb, yb], 1, context="ieee probe")
        y = device.download(yb, (11,), np.float32)
    except WgpuBackendError:
        y = np.zeros(11, np.float32)
    return {
        "1/0 = inf": bool(np.isposinf(y[0])),
        "0/0 = nan": bool(np.isnan(y[1])),
        "inf-inf = nan": bool(np.isnan(y[2])),
        "nan+1 = nan": bool(np.isnan(y[3])),
        "inf*1 = inf": bool(np.isposinf(y[4])),
        "-(0) = -0": bool(y[5] == 0 and np.signbit(y[5])),
        "nan != nan (compare)": bool(y[6] == 1),
        "1/-inf = -0": bool(y[7] == 0 and np.signbit(y[7])),
        "x-x = nan, x=inf": bool(np.isnan(y[8])),
        "x != x, x=nan (compare)": bool(y[9] == 1),
        "2**-140 * 2 = 2**-139 (subnormal)": bool(y[10] == np.float32(2.0 ** -139)),
    }


_LOOP_PROBE_TRIPS = 1 << 20
_LOOP_PROBE = f"""
@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(1) fn main() {{
  var n = 0u;
  for (var i = 0u; i < y[0]; i = i + 1u) {{ n = n + 1u; }}
  y[1] = n;
}}
"""


def probe_loop_trip_limit(device: WgpuDevice) -> int | None:
    """The loop iterations after which the driver stops an invocation's loops (Mesa's llvmpipe: 65535, counted
    over all of them, with no error), from a loop of ``_LOOP_PROBE_TRIPS``; None when it runs to the end."""
    try:
        buf = device.upload(np.array([_LOOP_PROBE_TRIPS, 0], np.uint32), "loop probe")
        device.run(_LOOP_PROBE, [buf], 1, context="loop probe")
        trips = int(device.download(buf, (2,), np.uint32)[1])
    except WgpuBackendError:
        return None
    return None if trips >= _LOOP_PROBE_TRIPS else trips


def measure_overhead(device: WgpuDevice, *, repeats: int = 20, dispatches: int = 32) -> Overhead:
    """Time batches of 1 and of ``dispatches`` trivial dependent dispatches (submit + wait)."""
    pipe = device.pipeline("""
@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(1) fn main() { y[0] = y[0] + 1u; }
""", context="overhead probe")
    buf = device.upload(np.zeros(4, np.uint32), "overhead probe")

    def timed(k: int) -> float:
        best = math.inf
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(repeats):
                with device.batch("overhead probe") as batch:
                    for _ in range(k):
                        batch.dispatch(pipe, [buf], 1)
                device.synchronize()
            best = min(best, (time.perf_counter() - start) / repeats)
        return best

    timed(1)  # warm up
    one, many = timed(1), timed(dispatches)
    buf.release()
    return Overhead(submit_s=one, dispatch_s=max(many - one, 0.0) / (dispatches - 1))
