"""Run a compiled loop kernel ``void f(i64 start, i64 end, ptr...)`` over [0, n), split across cores.

Handing work to another Python thread costs ~20-110 us here, so a split only pays for big loops: a call
is split when ``n * kernel.cost >= min_work`` (``cost`` is the kernel's per-element cost relative to a
plain elementwise op, ``min_work`` defaults to ``DEFAULT_MIN_WORK`` such elements). The workers are
persistent daemon threads calling the ctypes function pointer, which releases the GIL; the range is cut into
a few chunks per thread, claimed dynamically. If another thread is already using the pool, the call runs on
the calling thread alone. ``limit_threads`` caps the threads of calls started on the calling thread: a
virtual device's programs use only its share of the cores, so N devices running at once don't oversubscribe.
"""
from __future__ import annotations

import ctypes
import itertools
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
        if n * self.cost < self.min_work:
            self.fn(0, n, *ptrs)
        else:
            _pool.run(self.fn, n, ptrs)


class _Job:
    """One split call: chunks of [0, n) claimed one at a time by the caller and the workers, so a core slowed
    down by other processes simply takes fewer chunks; the caller waits for the chunks others claimed, never
    for a worker to wake up (on a loaded machine that can take milliseconds: the caller then does it all)."""

    CHUNKS_PER_THREAD = 4

    def __init__(self, fn, n: int, ptrs: tuple, threads: int):
        self.fn, self.ptrs = fn, ptrs
        count = max(1, min(n, threads * self.CHUNKS_PER_THREAD))
        step = max(1, -(-n // count))
        if step >= 4 * _ALIGN:  # big chunks start on whole cache lines / vector blocks
            step = -(-step // _ALIGN) * _ALIGN
        self.bounds = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
        self._next = itertools.count()
        self._finished = itertools.count(1)
        self.done = threading.Event()  # set when the last chunk has finished
        if not self.bounds:
            self.done.set()
        self.error: BaseException | None = None

    def work(self) -> None:
        fn, ptrs, bounds = self.fn, self.ptrs, self.bounds
        for k in self._next:  # next() on a count is atomic under the GIL
            if k >= len(bounds):
                return
            try:
                fn(bounds[k][0], bounds[k][1], *ptrs)
            except BaseException as exc:  # surfaced to the caller by _Pool.run
                self.error = exc
            if next(self._finished) == len(bounds):
                self.done.set()


class _Worker:
    def __init__(self) -> None:
        self.go = threading.Semaphore(0)
        self.job: _Job | None = None
        threading.Thread(target=self._loop, daemon=True, name="portax-cpu-worker").start()

    def _loop(self) -> None:
        while True:
            self.go.acquire()
            job = self.job
            if job is not None:
                job.work()


class _Pool:
    """The caller and one persistent worker per extra core share each split call's chunks."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._busy = threading.Lock()
        self._workers: list[_Worker] = []

    def run(self, fn, n: int, ptrs: tuple) -> None:
        size = min(self.size, _limit.n or self.size)
        if size < 2 or not self._busy.acquire(blocking=False):
            fn(0, n, *ptrs)
            return
        try:
            while len(self._workers) < size - 1:
                self._workers.append(_Worker())
            job = _Job(fn, n, ptrs, size)
            for w in self._workers[:min(size, len(job.bounds)) - 1]:
                w.job = job
                w.go.release()
            job.work()
            job.done.wait()
            if job.error is not None:
                raise job.error
        finally:
            self._busy.release()


class _Limit(threading.local):
    n = 0  # threads split calls started on this thread may use; 0: the pool's size


_pool = _Pool(num_cores())
_limit = _Limit()


def set_num_threads(n: int) -> None:
    """Use at most ``n`` threads (including the caller) for split kernels; 1 disables splitting."""
    _pool.size = max(1, int(n))


def limit_threads(n: int) -> None:
    """Split calls started on the calling thread use at most ``n`` threads (0: no limit but the pool's)."""
    _limit.n = n


def get_num_threads() -> int:
    """The number of threads split kernels use."""
    return _pool.size


def run(address: int, n: int, *ptrs: int, cost: float = 1.0, min_work: int = DEFAULT_MIN_WORK) -> None:
    """One-off call of the kernel at ``address`` over [0, n); build a ``Kernel`` to call it repeatedly."""
    Kernel(address, len(ptrs), cost, min_work)(n, *ptrs)
