"""Compiling LLVM IR for the host CPU with llvmlite's MCJIT.

``load(ir, names)`` has the compile worker (``compile_worker``: a child process, since llvmlite's O3 pipeline
keeps ~60 KB per run that nothing frees) optimise LLVM IR with the new pass manager at O3 (loop and SLP
vectorisation on; with or without loop unrolling, see ``llvm_build``) and emit object code for the host, and loads it
into an MCJIT engine of its own: the returned ``LoadedModule`` holds the function addresses, and its code is
freed when the last reference to it goes (executables hold theirs), so evicted programs give their memory
back. ``compile(ir, names)`` returns the addresses of code loaded for the life of the process (library
functions). Object code is cached in memory (while loaded) and on disk (see ``cache``), keyed by the IR text,
the exported names, the pipeline, the llvmlite/LLVM versions and the host CPU, so a warm process skips LLVM
entirely.
No global fast-math: the IR's own per-instruction flags decide.

LLVM's global context is not thread-safe: every LLVM call in this process runs under ``_lock`` (IR generation
in Python, before, and the worker's build run concurrently), and an engine whose module died is disposed
under it too.

Exported functions are renamed ``<name>.<key prefix>`` inside the engine so that modules may reuse names;
every other function defined in the module is made internal so LLVM may inline and drop it.
"""
from __future__ import annotations

import hashlib
import threading
import time
import weakref
from typing import Iterable

import llvmlite
import llvmlite.binding as llvm
from llvmlite import ir as llvm_ir

from . import cache
from .compile_worker import CompileWorker
from .llvm_build import TargetInfo, host_target_info, new_target_machine, target_machine  # noqa: F401
from . import llvm_build

FORMAT_VERSION = "3"  # bump when the produced object code changes for the same IR

_lock = threading.RLock()
_modules: "weakref.WeakValueDictionary[str, LoadedModule]" = weakref.WeakValueDictionary()
_pinned: dict[str, "LoadedModule"] = {}  # compile()'s modules, loaded for the life of the process
_dead_engines: list = []  # engines of collected modules, disposed at the next chance to take _lock
_stats = {"memory_hits": 0, "disk_hits": 0, "compiles": 0, "optimize_seconds": 0.0}


_worker = CompileWorker()


def _new_engine() -> llvm.ExecutionEngine:
    """An empty MCJIT engine (it owns its target machine, so each gets a new one)."""
    return llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine())


class LoadedModule:
    """Object code loaded into its own engine: ``addresses`` maps exported names to function addresses,
    valid while this object lives (then the engine and its code are freed)."""

    __slots__ = ("key", "addresses", "__weakref__")

    def __init__(self, key: str, addresses: dict[str, int], engine: llvm.ExecutionEngine):
        self.key, self.addresses = key, addresses
        weakref.finalize(self, _dispose, engine)


def _dispose(engine: llvm.ExecutionEngine) -> None:
    """Free a dead module's engine now if no LLVM work is under way, else at the next compile."""
    _dead_engines.append(engine)
    if _lock.acquire(blocking=False):
        try:
            _dispose_dead()
        finally:
            _lock.release()


def _dispose_dead() -> None:
    while _dead_engines:
        _dead_engines.pop().close()


def live_modules() -> int:
    """How many compiled modules are loaded (for tests of memory release)."""
    return len(_modules)


def _ir_text(ir: str | llvm_ir.Module) -> str:
    return ir if isinstance(ir, str) else str(ir)


def cache_key(ir: str | llvm_ir.Module, function_names: Iterable[str], unroll: bool = True) -> str:
    """sha256 over the IR text, the exported names, the pipeline, the toolchain versions and the host CPU."""
    info = host_target_info()
    parts = [FORMAT_VERSION, llvmlite.__version__, ".".join(map(str, llvm.llvm_version_info)),
             info.triple, info.cpu, info.features, "unroll" if unroll else "lean",
             ",".join(sorted(function_names)), _ir_text(ir)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def optimize(ir: str | llvm_ir.Module, exported: Iterable[str] | None = None,
             unroll: bool = True) -> llvm.ModuleRef:
    """Parse, verify and O3-optimise ``ir`` for the host, in this process (for inspection and tests)."""
    return llvm_build.optimize(_ir_text(ir), exported, unroll)


def emit_assembly(ir: str | llvm_ir.Module, exported: Iterable[str] | None = None, unroll: bool = True) -> str:
    """Host assembly of the optimised ``ir``, as ``load`` builds it (for inspection and tests)."""
    with _lock:
        return llvm_build.emit_assembly(optimize(ir, exported, unroll), unroll)


def _build_object(ir: str | llvm_ir.Module, names: list[str], key: str, unroll: bool) -> bytes:
    t0 = time.perf_counter()
    obj = _worker.build(_ir_text(ir), names, key[:16], unroll)
    _stats["optimize_seconds"] += time.perf_counter() - t0
    _stats["compiles"] += 1
    return obj


def load(ir: str | llvm_ir.Module, function_names: Iterable[str], unroll: bool = True) -> LoadedModule:
    """Compile ``ir`` (text or ``llvmlite.ir.Module``; ``unroll``: with the loop unroller, see ``llvm_build``)
    and load it; keep the result to keep the code."""
    names = sorted(set(function_names))
    key = cache_key(ir, names, unroll)
    with _lock:
        _dispose_dead()
        found = _modules.get(key)
        if found is not None:
            _stats["memory_hits"] += 1
            return found
        obj = cache.load(key)
        found = None if obj is None else _add_object(obj, names, key)
        if found is not None:
            _stats["disk_hits"] += 1
            _modules[key] = found
            return found
    # not on disk, or an entry without these functions: a miss, built by the worker (other threads go on)
    obj = _build_object(ir, names, key, unroll)
    with _lock:
        found = _modules.get(key)  # another thread may have built it meanwhile
        if found is None:
            cache.store(key, obj)
            found = _add_object(obj, names, key)
            if found is None:
                raise KeyError(f"functions not found after compilation: {names}")
            _modules[key] = found
        return found


def compile(ir: str | llvm_ir.Module, function_names: Iterable[str]) -> dict[str, int]:
    """Compile ``ir`` and return ``{name: function address}``; the code stays loaded for the process's life."""
    module = load(ir, function_names)
    with _lock:
        _pinned[module.key] = module
    return dict(module.addresses)


def _add_object(obj: bytes, names: list[str], key: str) -> LoadedModule | None:
    """Load ``obj`` into a new engine, or None (the engine freed) if it lacks any of ``names``."""
    engine = _new_engine()
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    found = {name: engine.get_function_address(f"{name}.{key[:16]}") for name in names}
    if not all(found.values()):
        engine.close()
        return None
    return LoadedModule(key, found, engine)


def stats() -> dict[str, float]:
    """Counters: memory_hits, disk_hits, compiles (LLVM runs) and optimize_seconds spent in LLVM."""
    with _lock:
        return dict(_stats)
