"""Run a compiled loop kernel ``void f(i64 start, i64 end, ptr...)`` over [0, n), split across cores.

Handing work to another Python thread costs ~60-110 us here, so a split only pays for big loops: a call
is split when ``n * kernel.cost >= min_work`` (``cost`` is the kernel's per-element cost relative to a
plain elementwise op, ``min_work`` defaults to ``DEFAULT_MIN_WORK`` such elements). The workers are
persistent daemon threads calling the ctypes function pointer, which releases the GIL. If another thread
is already using the pool, the call runs on the calling thread alone.
"""
from __future__ import annotations

import ctypes
import os
import threading

DEFAULT_MIN_WORK = 1 << 20
_ALIGN = 64  # boundaries of big chunks in elements, so they start on whole cache lines / vector blocks


def num_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Kernel:
    """A compiled ``f(start, end, *ptrs)``: ``kernel(n, *ptrs)`` runs it over [0, n) with integer pointers."""

    __slots__ = ("fn", "cost", "min_work")

    def __init__(self, address: int, nptrs: int, cost: float = 1.0, min_work: int = DEFAULT_MIN_WORK):
        proto = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, *([ctypes.c_void_p] * nptrs))
        self.fn = proto(address)
        self.cost = cost
        self.min_work = min_work

    def __call__(self, n: int, *ptrs: int) -> None:
        if n * self.cost < self.min_work or _pool.size < 2:
            self.fn(0, n, *ptrs)
        else:
            _pool.run(self.fn, n, ptrs)


class _Worker:
    def __init__(self) -> None:
        self.go = threading.Lock()
        self.done = threading.Lock()
        self.go.acquire()
        self.done.acquire()
        self.task: tuple | None = None
        self.error: BaseException | None = None
        threading.Thread(target=self._loop, daemon=True, name="portax-cpu-worker").start()

    def _loop(self) -> None:
        while True:
            self.go.acquire()
            fn, start, end, ptrs = self.task
            try:
                fn(start, end, *ptrs)
            except BaseException as exc:  # surfaced to the caller by _Pool.run
                self.error = exc
            self.done.release()


class _Pool:
    """The caller runs the first chunk; one persistent worker per extra core runs each other chunk."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._busy = threading.Lock()
        self._workers: list[_Worker] = []

    def run(self, fn, n: int, ptrs: tuple) -> None:
        if not self._busy.acquire(blocking=False):
            fn(0, n, *ptrs)
            return
        try:
            while len(self._workers) < self.size - 1:
                self._workers.append(_Worker())
            step = -(-n // self.size)
            if step >= 4 * _ALIGN:  # big chunks start on whole cache lines / vector blocks
                step = -(-step // _ALIGN) * _ALIGN
            bounds = [min(i * step, n) for i in range(self.size + 1)]
            active = []
            for w, lo, hi in zip(self._workers, bounds[1:], bounds[2:]):
                if lo < hi:
                    w.task = (fn, lo, hi, ptrs)
                    w.go.release()
                    active.append(w)
            fn(0, bounds[1], *ptrs)
            for w in active:
                w.done.acquire()
            errors = [w.error for w in active if w.error is not None]
            for w in active:
                w.error = w.task = None
            if errors:
                raise errors[0]
        finally:
            self._busy.release()


_pool = _Pool(num_cores())


def set_num_threads(n: int) -> None:
    """Use at most ``n`` threads (including the caller) for split kernels; 1 disables splitting."""
    _pool.size = max(1, int(n))


def get_num_threads() -> int:
    """The number of threads split kernels use."""
    return _pool.size


def run(address: int, n: int, *ptrs: int, cost: float = 1.0, min_work: int = DEFAULT_MIN_WORK) -> None:
    """One-off call of the kernel at ``address`` over [0, n); build a ``Kernel`` to call it repeatedly."""
    Kernel(address, len(ptrs), cost, min_work)(n, *ptrs)
