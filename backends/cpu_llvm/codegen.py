"""One LLVM module per compiled jaxpr: kernel functions, the program's entry function, and what the
executor needs to know (argument slots, constants, runtime calls, kernel descriptions).

Every kernel is ``void k(i64 start, i64 end, ptr noalias p0, ...)`` looping over [start, end) of its
outermost dimension. The entry function ``void main(ptr argv)`` calls kernels in order; a big kernel whose
outer loop may be split goes through ``portax_parallel_for(task, n, argv)`` (see ``runtime``), which runs
``task(start, end, argv)`` chunks on the worker threads. Library routines compiled once per process (the
packed GEMM) are such tasks too (``run_task``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
from llvmlite import ir

from portax.core.ir import ShapedArray

from . import threads
from .irutil import entry_alloca, gep, i64
from .lltypes import I64, PTR, VOID, intrinsic

PARALLEL_FOR = "portax_parallel_for"
RUNTIME_CALL = "portax_runtime_call"
MIN_PARALLEL_WORK = threads.DEFAULT_MIN_WORK


@dataclasses.dataclass
class Buf:
    """An array in generated code: a pointer (an IR value of the function being built) and its aval."""

    ptr: ir.Value
    aval: ShapedArray

    @property
    def dtype(self) -> np.dtype:
        return self.aval.dtype

    @property
    def shape(self) -> tuple:
        return self.aval.shape

    @property
    def nbytes(self) -> int:
        return self.aval.size * self.aval.dtype.itemsize


@dataclasses.dataclass(frozen=True)
class KernelInfo:
    """A generated kernel as ``executable.kernels`` lists it."""

    name: str
    kind: str  # "loop" | "reduce" | "opaque"
    description: str

    def __str__(self) -> str:
        return f"{self.name}: {self.description}"


@dataclasses.dataclass(frozen=True)
class RuntimeCall:
    """A documented call out of generated code into the host (``executable.runtime_calls``)."""

    name: str
    primitive: str
    fn: Callable[..., None]  # fn(list of numpy views of the argument buffers)
    avals: tuple  # avals of the buffers passed, inputs then outputs
    n_inputs: int

    def __str__(self) -> str:
        return f"{self.name} ({self.primitive})"


def _worth_splitting(n: int, work_per_item: float) -> bool:
    return n >= 2 and n * work_per_item >= MIN_PARALLEL_WORK


class Kernel:
    """A kernel function being built: ``b`` is positioned in its body; ``ptrs`` are its pointer arguments."""

    def __init__(self, module: ir.Module, name: str, nptrs: int):
        fnty = ir.FunctionType(VOID, [I64, I64] + [PTR] * nptrs)
        self.fn = ir.Function(module, fnty, name)
        self.fn.linkage = "internal"
        for a in self.fn.args[2:]:
            a.add_attribute("noalias")
        self.fn.attributes.add("nounwind")
        self.start, self.end = self.fn.args[:2]
        self.ptrs = list(self.fn.args[2:])
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.name = name

    def finish(self) -> None:
        self.b.ret_void()


class ModuleBuilder:
    """The module of one executable and the side tables the executor reads."""

    def __init__(self, name: str = "portax"):
        self.module = ir.Module(name=name)
        self.kernels: list[KernelInfo] = []
        self.runtime_calls: list[RuntimeCall] = []
        self.consts: list[np.ndarray] = []  # bound to argv slots after the program's own
        self._tasks: dict[str, ir.Function] = {}
        self._globals = 0
        self.parallel = False  # whether the program may split work across threads
        # whether LLVM's loop unroller runs on the module (see ``llvm_build``): it makes hand-written loop nests
        # (opaque kernels: small products, windows) up to 3-4x faster, fused loop and reduce kernels none
        self.unroll = False

    def kernel(self, kind: str, description: str, nptrs: int) -> Kernel:
        """A new kernel function (listed in ``kernels``) taking ``nptrs`` pointers."""
        name = f"k{len(self.kernels)}_{kind}"
        self.kernels.append(KernelInfo(name, kind, description))
        self.unroll |= kind == "opaque"
        return Kernel(self.module, name, nptrs)

    def call(self, b: ir.IRBuilder, k: Kernel, n: int, ptrs: list[ir.Value], work_per_item: float = 1.0,
             parallel: bool = True) -> None:
        """Run kernel ``k`` over [0, n) from the code at ``b``: split across threads when ``parallel`` and
        ``n * work_per_item`` is worth it, else one direct call."""
        if n <= 0:
            return
        if not parallel or not _worth_splitting(n, work_per_item):
            b.call(k.fn, [i64(0), i64(n)] + list(ptrs))
            return
        argv = entry_alloca(b, PTR, len(ptrs)) if ptrs else ir.Constant(PTR, None)
        for j, p in enumerate(ptrs):
            b.store(p, gep(b, argv, j, PTR))
        self._parallel_for(b, self._task(k), n, argv)

    def run_task(self, b: ir.IRBuilder, task: ir.Function, n: int, argv: ir.Value, work_per_item: float,
                 label: str) -> None:
        """Run a library task ``void task(i64 start, i64 end, ptr argv)`` over [0, n), listed as a kernel."""
        self.kernels.append(KernelInfo(f"k{len(self.kernels)}_opaque", "opaque", label))
        if n <= 0:
            return
        if not _worth_splitting(n, work_per_item):
            b.call(task, [i64(0), i64(n), argv])
        else:
            self._parallel_for(b, task, n, argv)

    def _parallel_for(self, b: ir.IRBuilder, task: ir.Function, n: int, argv: ir.Value) -> None:
        self.parallel = True
        pf = intrinsic(self.module, PARALLEL_FOR, VOID, [PTR, I64, PTR])
        b.call(pf, [task, i64(n), argv])

    def _task(self, k: Kernel) -> ir.Function:
        """``void task(i64 start, i64 end, ptr argv)`` unpacking argv for kernel ``k``."""
        fn = self._tasks.get(k.name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(VOID, [I64, I64, PTR]), f"{k.name}.task")
            b = ir.IRBuilder(fn.append_basic_block("entry"))
            start, end, argv = fn.args
            ptrs = [b.load(gep(b, argv, j, PTR), typ=PTR) for j in range(len(k.ptrs))]
            b.call(k.fn, [start, end] + ptrs)
            b.ret_void()
            self._tasks[k.name] = fn
        return fn

    def constant(self, value: np.ndarray) -> ir.GlobalVariable:
        """A small read-only array stored in the module (literals)."""
        value = np.ascontiguousarray(value)
        data = bytearray(value.tobytes()) or bytearray(1)
        ty = ir.ArrayType(ir.IntType(8), len(data))
        g = ir.GlobalVariable(self.module, ty, f"const.{self._globals}")
        self._globals += 1
        g.global_constant = True
        g.linkage = "internal"
        g.align = 64
        g.initializer = ir.Constant(ty, data)
        return g

    def add_const(self, value: Any) -> int:
        """Register a constant array passed through argv; returns its index among the constants."""
        self.consts.append(np.ascontiguousarray(value))
        return len(self.consts) - 1

    def add_runtime_call(self, call: RuntimeCall) -> int:
        self.runtime_calls.append(call)
        return len(self.runtime_calls) - 1
