"""The LLVM compile worker (backends/cpu_llvm/compile_worker.py): object code built in a child process, so
llvmlite's per-run leak never reaches the user's process, and bad IR or a dying worker is an error, not a
crash; the worker is replaced after RECYCLE_AFTER builds."""
import ctypes

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax.backends.cpu_llvm import compile_worker, engine, llvm_build

IR = """define i64 @f(i64 %x) {
  %y = add i64 %x, {c}
  ret i64 %y
}
"""


def _call(address: int, x: int) -> int:
    return ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(address)(x)


def test_built_code_runs_and_bad_ir_is_an_error(monkeypatch):
    monkeypatch.setenv("PORTAX_DISABLE_DISK_CACHE", "1")
    module = engine.load(IR.replace("{c}", "41"), ["f"])
    assert _call(module.addresses["f"], 1) == 42
    with pytest.raises(RuntimeError, match="LLVM failed to compile f: .*"):
        engine.load("define i64 @f(i64 %x) { ret i32 %x }", ["f"])
    again = engine.load(IR.replace("{c}", "7"), ["f"])  # the worker goes on (keep the module: it owns the code)
    assert _call(again.addresses["f"], 1) == 8


def test_a_dead_worker_is_an_error_and_is_replaced():
    worker = compile_worker.CompileWorker()
    try:
        assert worker.build(IR.replace("{c}", "1"), ["f"], "a")
        worker._proc.kill()
        worker._proc.wait()
        obj = worker.build(IR.replace("{c}", "2"), ["f"], "b")  # a dead worker is restarted before a build
        assert obj
        first = worker._proc
        first.kill()  # dies unnoticed before the next request: the build reports it
        first.wait()
        first.poll = lambda: None
        with pytest.raises(RuntimeError, match="compile worker died"):
            worker.build(IR.replace("{c}", "3"), ["f"], "c")
        assert worker.build(IR.replace("{c}", "4"), ["f"], "d") and worker._proc is not first
    finally:
        worker.close()


def test_the_worker_is_recycled(monkeypatch):
    monkeypatch.setattr(compile_worker, "RECYCLE_AFTER", 2)
    worker = compile_worker.CompileWorker()
    try:
        pids = []
        for c in range(5):
            worker.build(IR.replace("{c}", str(c)), ["f"], f"s{c}")
            pids.append(worker._proc.pid)
        assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    finally:
        worker.close()


def test_where_no_worker_can_start_llvm_runs_in_process(monkeypatch):
    monkeypatch.setattr(compile_worker.sys, "executable", "/nonexistent/python")
    worker = compile_worker.CompileWorker()
    try:
        with pytest.warns(RuntimeWarning, match="no LLVM compile worker can run here"):
            obj = worker.build(IR.replace("{c}", "5"), ["f"], "e")
        assert obj and worker._in_process and worker._proc is None
        assert worker.build(IR.replace("{c}", "6"), ["f"], "g")  # stays in process, without warning again
    finally:
        worker.close()


RECURRENCE_IR = """define double @f(double %x, i64 %n) {
entry:
  %any = icmp sgt i64 %n, 0
  br i1 %any, label %loop, label %done
loop:
  %i = phi i64 [ 0, %entry ], [ %i.next, %loop ]
  %acc = phi double [ 1.0, %entry ], [ %acc.next, %loop ]
  %m = fmul double %acc, %x
  %acc.next = fadd double %m, 1.0
  %i.next = add nsw i64 %i, 1
  %more = icmp slt i64 %i.next, %n
  br i1 %more, label %loop, label %done
done:
  %r = phi double [ 1.0, %entry ], [ %acc.next, %loop ]
  ret double %r
}
"""


def test_the_lean_pipeline_skips_the_loop_unroller_in_the_worker_too():
    """Without ``unroll`` a loop the vectoriser leaves alone is not runtime-unrolled (one multiply, not 8+1),
    and the worker builds what was asked for (the lean object is the smaller one)."""
    muls = {u: str(llvm_build.optimize(RECURRENCE_IR, ["f"], u).get_function("f")).count("fmul") for u in (True, False)}
    assert muls[False] == 1 and muls[True] > 1
    worker = compile_worker.CompileWorker()
    try:
        sizes = {u: len(worker.build(RECURRENCE_IR, ["f"], "u" if u else "l", unroll=u)) for u in (True, False)}
    finally:
        worker.close()
    assert sizes[False] < sizes[True]
    module = engine.load(RECURRENCE_IR, ["f"], unroll=False)
    f = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_int64)(module.addresses["f"])
    assert f(2.0, 3) == 15.0  # ((1*2+1)*2+1)*2+1


def test_fused_programs_build_lean_and_loop_nests_unrolled(monkeypatch):
    """A program of fused kernels (the MLP's) is built without the unroller, one with a hand-written loop nest
    (a small product) with it; the pipeline is part of the cache key, so neither object is loaded for the
    other."""
    monkeypatch.setenv("PORTAX_DISABLE_DISK_CACHE", "1")
    x = np.ones((64, 10), np.float32)
    fused = jax.jit(lambda a: jax.nn.softmax(a, axis=-1), backend="cpu_llvm").lower(x).compile()
    loops = jax.jit(lambda a, b: jnp.einsum("bij,bjk->bik", a, b), backend="cpu_llvm").lower(
        np.ones((4, 8, 8), np.float32), np.ones((4, 8, 8), np.float32)).compile()
    for c, unroll in ((fused, False), (loops, True)):
        key = c.executable._module.key
        assert key == engine.cache_key(c.as_text(), ["main"], unroll) != engine.cache_key(c.as_text(), ["main"],
                                                                                         not unroll)
    np.testing.assert_allclose(fused(x), np.full((64, 10), 0.1, np.float32), rtol=1e-6)
