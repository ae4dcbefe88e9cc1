"""Calling a compiled program with as little Python as possible.

Per call: take a prepared argv (a ctypes pointer array whose constant slots are already filled), allocate the
outputs, take an arena, make one ctypes call (which releases the GIL) into ``entry``'s code, which writes the
input, output and arena addresses into argv and runs the program, and hand back the outputs. Output buffers of
256 KiB and more come from the caching allocator.
"""
from __future__ import annotations

import ctypes
import itertools
import threading
import time
from typing import Callable

import numpy as np

from portax.core import profiler

from . import allocator, entry, runtime, threads, timing
from .engine import LoadedModule
from .program import ProgramSpec

_MAIN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_from_buffer = ctypes.c_char.from_buffer
_addressof = ctypes.addressof
empty = np.empty
_ids = itertools.count(1)


def buffer_address(a: np.ndarray) -> int:
    """The data address of a C-contiguous array (fast path for writable ones)."""
    try:
        return _addressof(_from_buffer(a))
    except (TypeError, ValueError, BufferError):  # read-only or empty
        return a.__array_interface__["data"][0]


def _empty(shape: tuple, dtype: np.dtype, nbytes: int) -> np.ndarray:
    if nbytes >= allocator.MIN_CACHED_BYTES:
        return allocator.alloc(shape, dtype)
    return np.empty(shape, dtype)


class Executable:
    """A compiled jaxpr: ``executable(*buffers) -> list of buffers``; ``kernels`` lists the generated kernels
    and ``runtime_calls`` the documented host calls it may make; ``as_text()`` is its LLVM IR. It holds its
    loaded module, whose code is freed with the last executable using it. Calls may run on many threads at
    once (each takes its own argv and arena from the pools)."""

    def __init__(self, spec: ProgramSpec, module: LoadedModule, ir_text: str, max_threads: int = 0,
                 build_profiled: Callable[[], "Executable"] | None = None):
        mb = spec.mb
        self._module = module
        self.kernels = list(mb.kernels)
        self.runtime_calls = list(mb.runtime_calls)
        self._ir = ir_text
        self._fn = _MAIN(module.addresses["main"])
        self._enter = entry.get()  # fills argv and calls main in one ctypes call (None: addresses read here)
        self._n_in = spec.n_inputs
        self._outs = [(a.shape, a.dtype, a.size * a.dtype.itemsize) for a in spec.out_avals]
        self._small_outs = [(shape, dtype) for shape, dtype, _ in self._outs]
        self._all_small = all(0 < nbytes < allocator.MIN_CACHED_BYTES for _, _, nbytes in self._outs)
        self._may_fail = bool(mb.runtime_calls) or mb.parallel
        self._max_threads = max_threads if mb.parallel else None  # the device's share of the cores
        self._assemble = spec.outputs
        self._simple = all(kind == "buf" and j == k for k, (kind, j) in enumerate(spec.outputs))
        self._arena_bytes = spec.arena_bytes
        self._one_small = self._small_outs[0] if len(self._outs) == 1 and self._all_small else None
        # a run with no arena, thread limit, failure check or assembly of outputs, entered by generated code
        self._plain = not (self._arena_bytes or self._max_threads is not None or self._may_fail or
                           not self._simple or self._enter is None)
        self._arena_slot = spec.n_inputs + len(spec.out_avals)
        self._consts = list(mb.consts)
        self._n_slots = spec.const_base + len(self._consts)
        self._block, self._template = entry.new_argv(self._n_slots, module.addresses["main"])
        self._ctx = next(_ids)
        self._template[self._arena_slot + 1] = self._ctx
        for k, c in enumerate(self._consts):
            self._template[spec.const_base + k] = c.ctypes.data if c.size else 0
        self._argvs: list = []
        self._arenas: list = []
        if self.runtime_calls:
            runtime.register(self._ctx, self)
        self._build_profiled = build_profiled
        self._profiled: Executable | None = None
        self._profiling = threading.Lock()  # the profiled build's timing table serves one run at a time
        self.sites = spec.sites
        self.timing_table = None
        if spec.profile_slot is not None:  # a profiled build: its kernels time themselves into this table
            self.timing_table = np.zeros((max(len(spec.sites), 1), timing.ROW), np.int64)
            self._template[spec.profile_slot] = self.timing_table.ctypes.data

    def as_text(self) -> str:
        return self._ir

    def profile(self, emit: Callable, *buffers) -> list:
        """The profiler's hook: run like ``__call__`` through a profiled build (made on first use) and
        ``emit`` each kernel that ran: its name, first start and total time (ns), bytes, flops and calls. A run
        while the profiled build is busy (another thread, or a host callback calling this program again) is
        timed as a whole."""
        if self._build_profiled is None or not self._profiling.acquire(blocking=False):
            start = time.perf_counter_ns()
            outs = self(*buffers)
            emit("main", start, time.perf_counter_ns() - start)
            return outs
        try:
            prof = self._profiled
            if prof is None:
                with profiler.span("compile (cpu_llvm, profiled build)", "compile", backend="cpu_llvm"):
                    prof = self._profiled = self._build_profiled()
            prof.timing_table[:] = 0
            outs = prof(*buffers)
            rows = prof.timing_table.tolist()
        finally:
            self._profiling.release()
        for (name, nbytes, flops), (start, total, calls) in zip(prof.sites, rows):
            if calls:
                emit(name, start, total, bytes=nbytes, flops=flops, calls=calls)
        return outs

    def _new_argv(self) -> tuple:
        return entry.copy_argv(self._block, self._n_slots)

    def _arena(self):
        n = self._arena_bytes
        if n >= allocator.MIN_CACHED_BYTES:
            return allocator.alloc(n, np.uint8)
        try:
            return self._arenas.pop()
        except IndexError:  # none free (checking first would race with other threads)
            return allocator.alloc(n, np.uint8)

    def __call__(self, *buffers) -> list:
        if len(buffers) != self._n_in:
            raise TypeError(f"cpu_llvm executable takes {self._n_in} buffers, got {len(buffers)}")
        try:
            argv, argv_address = self._argvs.pop()
        except IndexError:
            argv, argv_address = self._new_argv()
        if self._one_small is not None:  # (the common case, without a comprehension's cost)
            outs = [empty(*self._one_small)]
        elif self._all_small:
            outs = [empty(shape, dtype) for shape, dtype in self._small_outs]
        else:
            outs = [_empty(shape, dtype, nbytes) for shape, dtype, nbytes in self._outs]
        if self._plain:
            arrays = (*buffers, *outs)
            if self._enter(argv_address, arrays):
                self._run_from_python(argv, argv_address, arrays)
            self._argvs.append((argv, argv_address))
            return outs
        arena = None
        if self._arena_bytes:
            arena = self._arena()
            arrays = (*buffers, *outs, arena)  # argv's first slots: inputs, outputs, arena
        else:
            arrays = (*buffers, *outs)
        if self._max_threads is not None:
            threads.limit_threads(self._max_threads)
        if self._enter is None or self._enter(argv_address, arrays):
            self._run_from_python(argv, argv_address, arrays)
        self._argvs.append((argv, argv_address))
        if arena is not None and self._arena_bytes < allocator.MIN_CACHED_BYTES:
            self._arenas.append(arena)
        if self._may_fail:
            runtime.raise_pending()
        if self._simple:
            return outs
        return self._assemble_outputs(buffers, outs)

    def _run_from_python(self, argv: ctypes.Array, argv_address: int, arrays: tuple) -> None:
        """Run with the addresses of ``arrays`` written from Python (not all of them are exact ndarrays)."""
        for i, a in enumerate(arrays):
            argv[i] = buffer_address(a)
        self._fn(argv_address)

    def _assemble_outputs(self, buffers: tuple, outs: list) -> list:
        result: list = []
        for kind, j in self._assemble:
            if kind == "buf":
                result.append(outs[j])
            elif kind == "input":
                result.append(buffers[j])
            elif kind == "const":
                result.append(j)
            else:
                result.append(result[j])
        return result
