"""The two host symbols generated code may call, registered with LLVM once per process.

- ``portax_parallel_for(task, n, argv)``: run ``task(start, end, argv)`` over [0, n) split across the worker
  threads (native code of its own: see ``threads`` and ``pool_ir``).
- ``portax_runtime_call(ctx, id, argv) -> i32``: the documented runtime calls of an executable (LAPACK-backed
  decompositions through numpy.linalg, FFTs, host callbacks), looked up by executable and index. It returns 0,
  or 1 when this call failed or an earlier one of the run did: the program then returns at once (so a failed
  callback inside a loop is neither repeated nor followed by more), and the executor raises the error.
"""
from __future__ import annotations

import ctypes
import functools
import threading
import weakref

import llvmlite.binding as llvm
import numpy as np

from . import threads
from .codegen import PARALLEL_FOR, RUNTIME_CALL

_RUNTIME_CALL = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)

_executables: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()
_errors = threading.local()


def _runtime_call(ctx: int, index: int, argv: int) -> int:
    if getattr(_errors, "pending", None) is not None:
        return 1
    try:
        exe = _executables[ctx]
        call = exe.runtime_calls[index]
        ptrs = (ctypes.c_void_p * len(call.avals)).from_address(argv)
        arrays = [view(p or 0, aval) for p, aval in zip(ptrs, call.avals)]
        call.fn(arrays[:call.n_inputs], arrays[call.n_inputs:])
    except BaseException as e:
        _errors.pending = e
        return 1
    return 0


def view(address: int, aval) -> np.ndarray:
    """A numpy array over ``aval.size`` elements at ``address`` (no copy)."""
    nbytes = aval.size * aval.dtype.itemsize
    if nbytes == 0:
        return np.empty(aval.shape, aval.dtype)
    raw = (ctypes.c_char * nbytes).from_address(address)
    return np.frombuffer(raw, dtype=aval.dtype).reshape(aval.shape)


_callback = _RUNTIME_CALL(_runtime_call)


@functools.cache
def install() -> None:
    """Make the runtime symbols visible to code loaded into the engine (idempotent)."""
    llvm.add_symbol(PARALLEL_FOR, threads.parallel_for_address())
    llvm.add_symbol(RUNTIME_CALL, ctypes.cast(_callback, ctypes.c_void_p).value)


def register(ctx: int, executable: object) -> None:
    _executables[ctx] = executable


def raise_pending() -> None:
    """Raise the error a runtime call hit during the last program run on this thread."""
    e = getattr(_errors, "pending", None)
    if e is not None:
        _errors.pending = None
        raise e
