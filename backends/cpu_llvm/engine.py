"""The process-wide llvmlite MCJIT engine for the host CPU.

``compile(ir, names)`` optimises LLVM IR with the new pass manager at O3 (loop and SLP vectorisation on),
emits object code for the host (CPU name + features), loads it into one shared MCJIT engine and returns
function addresses. Object code is cached in memory and on disk (see ``cache``), keyed by the IR text,
the exported names, the llvmlite/LLVM versions and the host CPU, so a warm process skips LLVM entirely.
No global fast-math: the IR's own per-instruction flags decide.

Exported functions are renamed ``<name>.<key prefix>`` inside the engine so that modules may reuse names;
every other function defined in the module is made internal so LLVM may inline and drop it.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
import time
from typing import Iterable

import llvmlite
import llvmlite.binding as llvm
from llvmlite import ir as llvm_ir

from . import cache

FORMAT_VERSION = "1"  # bump when the produced object code changes for the same IR

_lock = threading.RLock()
_addresses: dict[str, dict[str, int]] = {}
_stats = {"memory_hits": 0, "disk_hits": 0, "compiles": 0, "optimize_seconds": 0.0}


@dataclasses.dataclass(frozen=True)
class TargetInfo:
    """The host as LLVM sees it; ``vector_width`` is the widest SIMD register in bits."""

    triple: str
    cpu: str
    features: str
    vector_width: int


@functools.cache
def host_target_info() -> TargetInfo:
    """CPU name, feature string and SIMD width of the machine this process runs on."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    features = llvm.get_host_cpu_features().flatten()
    enabled = {f[1:] for f in features.split(",") if f.startswith("+")}
    width = 512 if "avx512f" in enabled else 256 if "avx" in enabled else 128
    return TargetInfo(llvm.get_process_triple(), llvm.get_host_cpu_name(), features, width)


@functools.cache
def target_machine() -> llvm.TargetMachine:
    """The host target machine (opt level 3, JIT code model) used for every compilation."""
    info = host_target_info()
    target = llvm.Target.from_triple(info.triple)
    return target.create_target_machine(cpu=info.cpu, features=info.features, opt=3,
                                        codemodel="jitdefault", jit=True)


@functools.cache
def _engine() -> llvm.ExecutionEngine:
    return llvm.create_mcjit_compiler(llvm.parse_assembly(""), target_machine())


def _ir_text(ir: str | llvm_ir.Module) -> str:
    return ir if isinstance(ir, str) else str(ir)


def cache_key(ir: str | llvm_ir.Module, function_names: Iterable[str]) -> str:
    """sha256 over the IR text, the exported names, the toolchain versions and the host CPU."""
    info = host_target_info()
    parts = [FORMAT_VERSION, llvmlite.__version__, ".".join(map(str, llvm.llvm_version_info)),
             info.triple, info.cpu, info.features, ",".join(sorted(function_names)), _ir_text(ir)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def optimize(ir: str | llvm_ir.Module, exported: Iterable[str] | None = None) -> llvm.ModuleRef:
    """Parse, verify and O3-optimise ``ir`` for the host; functions not in ``exported`` become internal."""
    tm = target_machine()
    mod = llvm.parse_assembly(_ir_text(ir))
    mod.verify()
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    if exported is not None:
        keep = set(exported)
        for fn in mod.functions:
            if not fn.is_declaration and fn.name not in keep:
                fn.linkage = "internal"
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_interleaving = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def emit_assembly(ir: str | llvm_ir.Module, exported: Iterable[str] | None = None) -> str:
    """Host assembly of the optimised ``ir`` (for inspection and tests)."""
    return target_machine().emit_assembly(optimize(ir, exported))


def _build_object(ir: str | llvm_ir.Module, names: list[str], key: str) -> bytes:
    t0 = time.perf_counter()
    mod = optimize(ir, names)
    for name in names:
        mod.get_function(name).name = f"{name}.{key[:16]}"
    obj = target_machine().emit_object(mod)
    _stats["optimize_seconds"] += time.perf_counter() - t0
    _stats["compiles"] += 1
    return obj


def compile(ir: str | llvm_ir.Module, function_names: Iterable[str]) -> dict[str, int]:
    """Compile ``ir`` (text or ``llvmlite.ir.Module``) and return ``{name: function address}``."""
    names = sorted(set(function_names))
    key = cache_key(ir, names)
    with _lock:
        found = _addresses.get(key)
        if found is not None:
            _stats["memory_hits"] += 1
            return dict(found)
        obj = cache.load(key)
        if obj is not None:
            _stats["disk_hits"] += 1
        else:
            obj = _build_object(ir, names, key)
            cache.store(key, obj)
        engine = _engine()
        engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        engine.finalize_object()
        found = {name: engine.get_function_address(f"{name}.{key[:16]}") for name in names}
        missing = [n for n, a in found.items() if not a]
        if missing:
            raise KeyError(f"functions not found after compilation: {missing}")
        _addresses[key] = found
        return dict(found)


def stats() -> dict[str, float]:
    """Counters: memory_hits, disk_hits, compiles (LLVM runs) and optimize_seconds spent in LLVM."""
    with _lock:
        return dict(_stats)
