"""Splitting loops across cores: a native worker pool (``pool_ir``) that generated code calls directly.

Generated programs call ``portax_parallel_for(task, n, argv)`` (see ``codegen``), which runs
``task(start, end, argv)`` over [0, n) on the calling thread and the pool's workers with no Python in between:
workers are threads parked in native code, spinning briefly after each job (``SPIN_NS``) and then sleeping.
A call is split only when worth it (``codegen`` decides from the work per item; ``Kernel`` below from
``n * cost >= min_work``). If another thread is already using the pool, a call runs on the calling thread
alone. ``limit_threads`` caps the threads of calls started on the calling thread: a virtual device's programs
use only its share of the cores, so N devices running at once don't oversubscribe.
"""
from __future__ import annotations

import atexit
import ctypes
import functools
import os
import sys
import threading
import time

import llvmlite.binding as llvm

from . import engine, pool_ir

DEFAULT_MIN_WORK = 1 << 16  # elements of a plain elementwise op: the hand-off costs ~2 us, ~16K such elements
# how long an idle worker spins before it sleeps (``PORTAX_CPU_SPIN_US``): calls made in a loop find it awake
# (waking a sleeping thread can take milliseconds on a busy or virtual machine, longer than the call it was
# woken for); 0 saves power and shares the cores best with other busy processes
SPIN_NS = 1000 * int(os.environ.get("PORTAX_CPU_SPIN_US", "1000"))

_TASK_CALL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)
_WORKER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_libc = ctypes.CDLL(None, use_errno=True)
_KEY_T = ctypes.c_ulong if sys.platform == "darwin" else ctypes.c_uint


def num_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.cache
def _code() -> dict[str, int]:
    """The pool's native functions (compiled once per process; libc's symbols made visible to them)."""
    for name in pool_ir.LIBC_SYMBOLS:
        llvm.add_symbol(name, ctypes.cast(getattr(_libc, name), ctypes.c_void_p).value)
    arch = engine.host_target_info().triple.split("-")[0]
    return engine.compile(pool_ir.render(arch, 8 * ctypes.sizeof(_KEY_T)), pool_ir.EXPORTED)


class _Pool:
    """The pool's memory (``pool_ir``'s slots, a mutex and a condition variable) and its worker threads."""

    def __init__(self, size: int) -> None:
        # never freed: workers read it until the process ends, after Python objects are gone
        memory = ctypes.c_void_p()
        if _libc.posix_memalign(ctypes.byref(memory), 64, pool_ir.SLOTS * 8) != 0:
            raise MemoryError("portax: cannot allocate the worker pool")
        self.address = memory.value
        self.slots = (ctypes.c_int64 * pool_ir.SLOTS).from_address(self.address)
        self._reset()
        self.size = size

    def _reset(self) -> None:
        """Zero the state and (re)initialise the mutex and condition variable (also in a forked child)."""
        ctypes.memset(self.address, 0, pool_ir.SLOTS * 8)
        self.slots[pool_ir.SPIN_NS] = SPIN_NS
        _libc.pthread_mutex_init(ctypes.c_void_p(self.address + 8 * pool_ir.MUTEX), None)
        _libc.pthread_cond_init(ctypes.c_void_p(self.address + 8 * pool_ir.COND), None)
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self.slots[pool_ir.SIZE]

    @size.setter
    def size(self, n: int) -> None:
        self.start_workers(n - 1)
        self.slots[pool_ir.SIZE] = n

    @property
    def splits(self) -> int:
        """Calls split so far."""
        return self.slots[pool_ir.SPLITS]

    def start_workers(self, n: int) -> None:
        """Make sure ``n`` worker threads run."""
        with self._lock:
            worker = _WORKER(_code()["portax_pool_worker"])
            while len(self._workers) < n:
                t = threading.Thread(target=worker, args=(self.address,), daemon=True, name="portax-cpu-worker")
                t.start()
                self._workers.append(t)

    def stop(self) -> None:
        """Let the workers return (at exit: before the interpreter frees the code they run)."""
        self.slots[pool_ir.STOP] = 1
        mutex, cond = self.address + 8 * pool_ir.MUTEX, self.address + 8 * pool_ir.COND
        _libc.pthread_mutex_lock(ctypes.c_void_p(mutex))
        _libc.pthread_cond_broadcast(ctypes.c_void_p(cond))
        _libc.pthread_mutex_unlock(ctypes.c_void_p(mutex))
        for t in self._workers:
            t.join()
        self._workers = []


class _Limit(threading.local):
    n = 0  # threads split calls started on this thread may use; 0: the pool's size


_limit = _Limit()
_key = _KEY_T()
if _libc.pthread_key_create(ctypes.byref(_key), None) != 0:
    raise OSError(ctypes.get_errno(), "pthread_key_create failed")


@functools.cache
def _pool() -> _Pool:
    """The process's pool, bound to the native code (created on first use)."""
    pool = _Pool(1)
    ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32)(_code()["portax_pool_init"])(
        pool.address, _key.value, time.CLOCK_MONOTONIC)
    pool.size = num_cores()
    os.register_at_fork(after_in_child=_after_fork)
    atexit.register(pool.stop)
    return pool


def _after_fork() -> None:
    """A forked child has none of the parent's threads: a fresh pool state and new workers."""
    pool = _pool()
    size = pool.size
    pool._reset()
    pool.size = size


def parallel_for_address() -> int:
    """The address of ``portax_parallel_for`` (the pool started)."""
    _pool()
    return _code()["portax_parallel_for"]


@functools.cache
def _parallel_for() -> ctypes._CFuncPtr:
    return _TASK_CALL(parallel_for_address())


class Kernel:
    """A compiled ``f(start, end, *ptrs)``: ``kernel(n, *ptrs)`` runs it over [0, n) with integer pointers."""

    __slots__ = ("fn", "address", "cost", "min_work")

    def __init__(self, address: int, nptrs: int, cost: float = 1.0, min_work: int = DEFAULT_MIN_WORK):
        proto = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, *([ctypes.c_void_p] * nptrs))
        self.fn = proto(address)
        self.address = address
        self.cost = cost
        self.min_work = min_work

    def __call__(self, n: int, *ptrs: int) -> None:
        if n * self.cost < self.min_work or len(ptrs) > pool_ir.MAX_TRAMPOLINE_PTRS:
            self.fn(0, n, *ptrs)
            return
        argv = (ctypes.c_void_p * (1 + len(ptrs)))(self.address, *ptrs)
        _parallel_for()(_code()[f"portax_call_{len(ptrs)}"], n, ctypes.addressof(argv))


def set_num_threads(n: int) -> None:
    """Use at most ``n`` threads (including the caller) for split kernels; 1 disables splitting."""
    _pool().size = max(1, int(n))


def limit_threads(n: int) -> None:
    """Split calls started on the calling thread use at most ``n`` threads (0: no limit but the pool's)."""
    if _limit.n != n:
        _libc.pthread_setspecific(_key, ctypes.c_void_p(n or None))
        _limit.n = n


def get_num_threads() -> int:
    """The number of threads split kernels use."""
    return _pool().size


def split_calls() -> int:
    """How many calls have been split across threads so far in this process."""
    return _pool().splits
