"""The LLVM compile worker (backends/cpu_llvm/compile_worker.py): object code built in a child process, so
llvmlite's per-run leak never reaches the user's process, and bad IR or a dying worker is an error, not a
crash; the worker is replaced after RECYCLE_AFTER builds."""
import ctypes

import pytest

from portax.backends.cpu_llvm import compile_worker, engine

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
