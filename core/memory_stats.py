"""``Device.memory_stats()`` bookkeeping shared by backends: a thread-safe counter of the buffers a backend
hands out, reported under JAX's keys (``bytes_in_use``, ``peak_bytes_in_use``, ``num_allocs``,
``largest_alloc_size`` and ``bytes_limit`` where the backend knows it)."""
from __future__ import annotations

import os
import threading


class MemoryCounter:
    """Bytes of live buffers: ``alloc(n)`` when a buffer is handed out, ``free(n)`` when it comes back."""

    def __init__(self, bytes_limit: int | None = None) -> None:
        self.bytes_limit = bytes_limit
        self._lock = threading.Lock()
        self.bytes_in_use = self.peak_bytes_in_use = self.num_allocs = self.largest_alloc_size = 0

    def alloc(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_in_use += nbytes
            self.num_allocs += 1
            self.largest_alloc_size = max(self.largest_alloc_size, nbytes)
            self.peak_bytes_in_use = max(self.peak_bytes_in_use, self.bytes_in_use)

    def free(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_in_use -= nbytes

    def stats(self, **extra: int) -> dict:
        """JAX's keys (``bytes_limit`` only when known), plus a backend's ``extra`` ones."""
        with self._lock:
            out = {"bytes_in_use": self.bytes_in_use, "peak_bytes_in_use": self.peak_bytes_in_use,
                   "num_allocs": self.num_allocs, "largest_alloc_size": self.largest_alloc_size}
        if self.bytes_limit is not None:
            out["bytes_limit"] = self.bytes_limit
        out.update(extra)
        return out


def host_memory_bytes() -> int | None:
    """Physical memory of this machine, where the OS tells (the limit of a host-memory backend)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
