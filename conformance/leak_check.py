"""Leak check: many calls of a small jitted function keep host memory (tracemalloc and RSS) and, where
the backend reports it, device memory stable. Host memory traced by tracemalloc is judged by its growth over the
second half of the calls (doubled), so that a cache filling once is not taken for a leak.

A backend reports device memory through ``device.memory_stats()`` or ``backend.memory_stats(device)``
returning a dict with ``"bytes_in_use"`` (as ``jax.Device.memory_stats``)."""
from __future__ import annotations

import gc
import os
import tracemalloc
from typing import Any, Callable, Iterator

import numpy as np

import portax
from portax.core.backend import registry

from .report import FAIL, PASS, SKIP, Cell

WARMUP = 200
TRACED_LIMIT = 128 * 1024  # bytes of Python allocations that may remain (caches filled once)
TRACED_PER_CALL = 16  # ... and never more than this per call, so short runs stay sensitive
RSS_LIMIT = 32 * 1024 * 1024
DEVICE_LIMIT = 1024 * 1024
NAME = "jit(x * 2 + 1)"


def run(backend_name: str, calls: int = 10_000) -> Iterator[Cell]:
    backend = registry.get(backend_name)
    device = backend.devices()[0]
    f = portax.jit(lambda x: x * 2.0 + 1.0, backend=backend_name)
    x = portax.device_put(np.arange(16, dtype=np.float32), device)
    try:
        for _ in range(WARMUP):
            f(x).block_until_ready()
    except Exception as e:
        yield Cell("leak", NAME, "f32", f"{calls} calls", FAIL,
                   f"the leak-check function failed: {type(e).__name__}: {e}")
        return
    stats = _device_stats(backend, device)
    gc.collect()
    rss0, dev0 = _rss(), stats() if stats else None
    tracemalloc.start()
    try:  # growth over the second half of the calls, doubled: a leak grows steadily, a cache filling once does not
        half = []
        for _ in range(2):
            for _ in range(calls // 2):
                f(x).block_until_ready()
            gc.collect()
            half.append(tracemalloc.get_traced_memory()[0])
        traced = 2 * (half[1] - half[0])
    finally:
        tracemalloc.stop()
    limit = min(TRACED_LIMIT, TRACED_PER_CALL * calls)
    yield _cell(f"{calls} calls: host (tracemalloc)", traced, limit)
    rss1 = _rss()
    if rss0 is None or rss1 is None:
        yield Cell("leak", NAME, "f32", f"{calls} calls: host (RSS)", SKIP, "no /proc/self/statm on this system")
    else:
        yield _cell(f"{calls} calls: host (RSS)", rss1 - rss0, RSS_LIMIT)
    if stats is None:
        yield Cell("leak", NAME, "f32", f"{calls} calls: device", SKIP,
                   f"backend '{backend_name}' does not report device memory (memory_stats)")
    else:
        yield _cell(f"{calls} calls: device", stats() - dev0, DEVICE_LIMIT)


def _cell(transform: str, growth: int, limit: int) -> Cell:
    text = f"memory grew by {growth} bytes over the calls (limit {limit})"
    return Cell("leak", NAME, "f32", transform, PASS if growth <= limit else FAIL, f"{NAME} {transform}: {text}", 1)


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _device_stats(backend: Any, device: Any) -> Callable[[], int] | None:
    if callable(getattr(device, "memory_stats", None)) and device.memory_stats() is not None:
        return lambda: int(device.memory_stats()["bytes_in_use"])
    if callable(getattr(backend, "memory_stats", None)):
        return lambda: int(backend.memory_stats(device)["bytes_in_use"])
    return None
