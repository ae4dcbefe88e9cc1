"""Caching allocator for kernel output buffers.

``alloc(shape, dtype)`` returns a 64-byte aligned numpy array. Large buffers (>= ``MIN_CACHED_BYTES``) come
from a cache of freed blocks bucketed by size class, so repeated jitted calls reuse already-faulted pages
instead of paying fresh page faults; new large blocks are 2 MiB aligned and advised ``MADV_HUGEPAGE`` when
the OS supports it. A block goes back to the cache automatically once nothing references the array or any
view of it (its memory owner is collected); the cache holds at most ``max_cached_bytes``.
"""
from __future__ import annotations

import collections
import ctypes
import functools
import math
import mmap
import threading
import weakref

import numpy as np

from portax.core.memory_stats import MemoryCounter, host_memory_bytes

ALIGN = 64
MIN_CACHED_BYTES = 1 << 18
_HUGE = 1 << 21


def size_class(nbytes: int) -> int:
    """Bucket for ``nbytes``: rounded up to 1/8 of its power of two (at most 12.5% slack), 4 KiB minimum."""
    step = max(4096, 1 << max(0, nbytes.bit_length() - 4))
    return -(-nbytes // step) * step


@functools.cache
def _madvise():
    """libc's madvise, or None where there is none (or no MADV_HUGEPAGE)."""
    if not hasattr(mmap, "MADV_HUGEPAGE"):
        return None
    try:
        fn = ctypes.CDLL(None).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return fn


class _Block:
    """One raw allocation: an aligned window of a uint8 numpy array."""

    __slots__ = ("raw", "addr", "nbytes")

    def __init__(self, nbytes: int) -> None:
        align = _HUGE if nbytes >= _HUGE else ALIGN
        self.raw = np.empty(nbytes + align, dtype=np.uint8)
        base = self.raw.__array_interface__["data"][0]
        self.addr = -(-base // align) * align
        self.nbytes = nbytes
        madvise = _madvise() if align == _HUGE else None
        if madvise is not None:  # failure is harmless: the block just stays on small pages
            madvise(self.addr, nbytes - nbytes % mmap.PAGESIZE, mmap.MADV_HUGEPAGE)


class _Owner:
    """The memory owner handed to numpy; when it dies, its block returns to the pool."""

    __slots__ = ("__array_interface__", "__weakref__")

    def __init__(self, block: _Block, shape: tuple, dtype: np.dtype) -> None:
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str, "data": (block.addr, False),
                                    "version": 3}


class BufferPool:
    """Size-class buckets of free blocks, bounded to ``max_cached_bytes`` in total."""

    def __init__(self, max_cached_bytes: int = 1 << 30) -> None:
        self.max_cached_bytes = max_cached_bytes
        self._free: dict[int, list[_Block]] = collections.defaultdict(list)
        self._cached = 0
        self._lock = threading.RLock()  # re-entrant: a block may come back (a finalizer) while it is held
        self.stats = {"hits": 0, "misses": 0, "returned": 0, "dropped": 0}
        self.memory = MemoryCounter(host_memory_bytes())  # blocks handed out and not back yet

    def alloc(self, shape, dtype) -> np.ndarray:
        """An uninitialised, 64-byte aligned C-contiguous array."""
        dtype = np.dtype(dtype)
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < MIN_CACHED_BYTES:
            raw = np.empty(nbytes + ALIGN, dtype=np.uint8)
            off = -raw.__array_interface__["data"][0] % ALIGN
            return raw[off:off + nbytes].view(dtype).reshape(shape)
        cls = size_class(nbytes)
        with self._lock:
            bucket = self._free.get(cls)
            block = bucket.pop() if bucket else None
            if block is not None:
                self._cached -= cls
                self.stats["hits"] += 1
            else:
                self.stats["misses"] += 1
        if block is None:
            block = _Block(cls)
        self.memory.alloc(cls)
        owner = _Owner(block, shape, dtype)
        weakref.finalize(owner, self._give_back, block)
        return np.asarray(owner)

    def _give_back(self, block: _Block) -> None:
        self.memory.free(block.nbytes)
        with self._lock:
            if self._cached + block.nbytes > self.max_cached_bytes:
                self.stats["dropped"] += 1
                return
            self._free[block.nbytes].append(block)
            self._cached += block.nbytes
            self.stats["returned"] += 1

    @property
    def cached_bytes(self) -> int:
        """Bytes held in free blocks."""
        return self._cached

    def clear(self) -> None:
        """Drop every cached block."""
        with self._lock:
            self._free.clear()
            self._cached = 0


_default = BufferPool()


def alloc(shape, dtype) -> np.ndarray:
    """An aligned output buffer from the process-wide pool (see ``BufferPool.alloc``)."""
    return _default.alloc(shape, dtype)


def default_pool() -> BufferPool:
    """The process-wide pool."""
    return _default
