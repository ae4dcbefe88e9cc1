"""The machine's memory bandwidth, measured with NumPy on every core.

``copy``: ``np.copyto`` of an array, each thread its own slice, counting bytes read plus bytes written
(STREAM's convention; it is what an elementwise op like selu moves). ``read``: ``np.max`` over the slices
(a vectorised reduction with no dependency chain), counting bytes read. As STREAM does, the best of
repeats; ``best`` combines several measurements (the bench measures at its start and at its end: on a
shared machine the bandwidth drifts, and a fraction of the best one is the least overstated).
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np


def _threaded(fn: Callable, arrays: list[np.ndarray], threads: int, repeats: int) -> float:
    """Fastest seconds of ``fn`` over ``threads`` slices of ``arrays`` at once (NumPy releases the GIL)."""
    parts = list(zip(*(np.array_split(a, threads) for a in arrays)))
    times = []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats + 1):
            start = time.perf_counter()
            list(pool.map(lambda p: fn(*p), parts))
            times.append(time.perf_counter() - start)
    return min(times[1:])


def measure(nbytes: int, repeats: int = 7, threads: int | None = None) -> dict:
    """``{"copy_GBps", "read_GBps", "threads", "bytes"}`` for arrays of ``nbytes``."""
    threads = threads or os.cpu_count() or 1
    src = np.ones(nbytes // 4, np.float32)
    dst = np.zeros_like(src)
    copy_s = _threaded(np.copyto, [dst, src], threads, repeats)
    read_s = _threaded(np.max, [src], threads, repeats)
    return {"copy_GBps": 2 * src.nbytes / copy_s / 1e9, "read_GBps": src.nbytes / read_s / 1e9,
            "threads": threads, "bytes": src.nbytes}


def best(measurements: list[dict]) -> dict:
    """The highest copy and read bandwidths of several measurements, with each measurement kept."""
    return {"copy_GBps": max(m["copy_GBps"] for m in measurements),
            "read_GBps": max(m["read_GBps"] for m in measurements),
            "threads": measurements[0]["threads"], "bytes": measurements[0]["bytes"], "measurements": measurements}
