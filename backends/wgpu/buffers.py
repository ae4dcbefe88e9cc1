"""Pooled device memory: size buckets, reuse on release, and the host storage convention.

Storage convention (what a WGSL kernel sees):
  * ``bool`` is one ``u32`` per element (0 or 1); 8- and 16-bit integers are widened to one
    ``i32``/``u32`` per element (WGSL has no narrower integers); every other dtype is stored as
    itself (``f16`` as ``array<f16>``, which needs ``enable f16;`` and the shader-f16 feature).
  * Element counts are passed to kernels as parameters: a binding is the data rounded up to
    4 bytes (at least 16), so ``arrayLength`` may exceed the logical size.
"""
from __future__ import annotations

import collections
import math
import threading
from typing import Sequence

import numpy as np
import wgpu

from portax.core.memory_stats import MemoryCounter

from .errors import LimitExceededError, OutOfDeviceMemoryError, translate_errors

MIN_BUCKET = 256
MIN_BINDING = 16
STORAGE_USAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
STAGING_USAGE = wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST
UNIFORM_USAGE = wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def bucket_size(nbytes: int) -> int:
    """Allocation size for ``nbytes``: at least 256, else rounded up to a quarter of the
    power of two below it (buckets 256, 320, 384, 448, 512, 640...: at most 25% waste)."""
    if nbytes <= MIN_BUCKET:
        return MIN_BUCKET
    return round_up(nbytes, 1 << (nbytes.bit_length() - 3))


_WIDENED = {np.dtype(np.bool_): np.dtype(np.uint32), np.dtype(np.uint8): np.dtype(np.uint32),
            np.dtype(np.uint16): np.dtype(np.uint32), np.dtype(np.int8): np.dtype(np.int32),
            np.dtype(np.int16): np.dtype(np.int32)}


def storage_dtype(dtype: np.dtype | type) -> np.dtype:
    """The dtype of the device representation (``bool`` and 8/16-bit integers are widened to 32 bits)."""
    dtype = np.dtype(dtype)
    return _WIDENED.get(dtype, dtype)


def storage_nbytes(shape: Sequence[int], dtype: np.dtype | type) -> int:
    """Bytes an array of ``shape`` and ``dtype`` occupies on the device."""
    return math.prod(shape) * storage_dtype(dtype).itemsize


class BufferPool:
    """Free GPU buffers by (usage, size); ``acquire`` reuses one or creates it. Thread-safe."""

    def __init__(self, device: wgpu.GPUDevice, max_buffer_size: int):
        self._device = device
        self.max_buffer_size = max_buffer_size
        self._free: dict[tuple[int, int], list[wgpu.GPUBuffer]] = collections.defaultdict(list)
        # Every buffer the pool created and has not destroyed. Holding them keeps a GPUBuffer out of
        # cyclic garbage: otherwise the collector finalizes it (releasing the native buffer) together
        # with a DeviceBuffer whose __del__ then hands the dead buffer back to the pool.
        self._owned: set[wgpu.GPUBuffer] = set()
        self._lock = threading.RLock()  # re-entrant: a DeviceBuffer may be collected (given back) while held
        self.memory = MemoryCounter()  # buffers handed out by ``acquire`` and not given back yet

    def acquire(self, nbytes: int, usage: int, context: str = "") -> wgpu.GPUBuffer:
        """A buffer of at least ``nbytes`` (a bucket size) with exactly ``usage``."""
        size = bucket_size(nbytes)
        if size > self.max_buffer_size:
            size = round_up(nbytes, 4)
            if size > self.max_buffer_size:
                raise LimitExceededError(
                    f"buffer of {nbytes} bytes exceeds max_buffer_size={self.max_buffer_size}", context)
        with self._lock:
            free = self._free.get((usage, size))
            if free:
                self.memory.alloc(size)
                return free.pop()
        try:
            with translate_errors(context):
                buffer = self._device.create_buffer(size=size, usage=usage)
        except OutOfDeviceMemoryError:
            self.trim()
            with translate_errors(context):
                buffer = self._device.create_buffer(size=size, usage=usage)
        with self._lock:
            self._owned.add(buffer)
        self.memory.alloc(size)
        return buffer

    def give_back(self, buffer: wgpu.GPUBuffer) -> None:
        """Return a buffer for reuse; the caller must not use it afterwards."""
        self.memory.free(buffer.size)
        with self._lock:
            self._free[(buffer.usage, buffer.size)].append(buffer)

    def trim(self) -> None:
        """Destroy every free buffer (memory goes back to the driver)."""
        with self._lock:
            for buffers in self._free.values():
                for b in buffers:
                    b.destroy()
                    self._owned.discard(b)
            self._free.clear()

    @property
    def free_bytes(self) -> int:
        with self._lock:
            return sum(size * len(bs) for (_, size), bs in self._free.items())

    @property
    def allocated_bytes(self) -> int:
        """Bytes of every buffer the pool holds, in use or free."""
        with self._lock:
            return sum(b.size for b in self._owned)


class DeviceBuffer:
    """A storage buffer holding ``nbytes`` of data; ``release()`` (or garbage collection)
    returns it to the pool. A release while an unsubmitted ``CommandBatch`` uses the buffer
    takes effect when that batch is submitted or abandoned."""

    __slots__ = ("buffer", "nbytes", "_pool", "_pending", "_release_requested")

    def __init__(self, pool: BufferPool, buffer: wgpu.GPUBuffer, nbytes: int):
        self.buffer = buffer
        self.nbytes = nbytes
        self._pool = pool
        self._pending = 0  # number of unsubmitted batches using it
        self._release_requested = False

    @property
    def size(self) -> int:
        """Allocated bytes (the pool bucket)."""
        return self.buffer.size

    @property
    def binding_size(self) -> int:
        """Bytes bound to a shader: ``nbytes`` rounded up to 4, at least 16."""
        return min(max(round_up(self.nbytes, 4), MIN_BINDING), self.buffer.size)

    @property
    def released(self) -> bool:
        return self._release_requested

    def release(self) -> None:
        """Give the memory back to the pool (idempotent)."""
        if self._release_requested:
            return
        self._release_requested = True
        if not self._pending:
            self._pool.give_back(self.buffer)

    def _unpin(self) -> None:
        self._pending -= 1
        if not self._pending and self._release_requested:
            self._pool.give_back(self.buffer)

    def __del__(self) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"DeviceBuffer(nbytes={self.nbytes}, size={self.size}{', released' if self.released else ''})"
