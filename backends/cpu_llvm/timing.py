"""Per-kernel timing for the profiler: a profiled build of a program reads the clock around each kernel.

The profiled ``main`` gets one more argv slot: an int64 table with a row ``(first start, total, calls)`` per
kernel site (in ns of CLOCK_MONOTONIC, which is Python's ``time.perf_counter_ns`` on Linux). Each kernel is
bracketed by calls to libc's ``clock_gettime`` made by the generated code itself (no Python in between), so a
kernel inside a loop body accumulates its iterations. Ordinary builds contain none of this.
"""
from __future__ import annotations

import ctypes
import functools

import llvmlite.binding as llvm
from llvmlite import ir

from . import lltypes as T
from .irutil import entry_alloca, gep, i32, i64

CLOCK_GETTIME = "portax_clock_gettime"
_CLOCK_MONOTONIC = 1
_TIMESPEC = ir.LiteralStructType([T.I64, T.I64])
ROW = 3  # int64s per kernel site: first start, total duration, calls


@functools.cache
def install() -> None:
    """Make libc's ``clock_gettime`` visible to generated code as ``portax_clock_gettime`` (idempotent)."""
    fn = ctypes.CDLL(None).clock_gettime
    llvm.add_symbol(CLOCK_GETTIME, ctypes.cast(fn, ctypes.c_void_p).value)


def now(b: ir.IRBuilder) -> ir.Value:
    """The current CLOCK_MONOTONIC time in ns (an i64)."""
    fn = T.intrinsic(b.module, CLOCK_GETTIME, T.I32, [T.I32, T.PTR])
    ts = entry_alloca(b, _TIMESPEC)
    b.call(fn, [i32(_CLOCK_MONOTONIC), ts])
    sec = b.load(b.gep(ts, [i32(0), i32(0)], inbounds=True), typ=T.I64)
    nsec = b.load(b.gep(ts, [i32(0), i32(1)], inbounds=True), typ=T.I64)
    return b.add(b.mul(sec, i64(1_000_000_000)), nsec)


def record(b: ir.IRBuilder, table: ir.Value, site: int, start: ir.Value) -> None:
    """Add the time since ``start`` to row ``site`` of ``table`` (setting its first start on the first call)."""
    end = now(b)
    row = [gep(b, table, site * ROW + k, T.I64) for k in range(ROW)]
    calls = b.load(row[2], typ=T.I64)
    first = b.load(row[0], typ=T.I64)
    b.store(b.select(b.icmp_signed("==", calls, i64(0)), start, first), row[0])
    b.store(b.add(b.load(row[1], typ=T.I64), b.sub(end, start)), row[1])
    b.store(b.add(calls, i64(1)), row[2])
