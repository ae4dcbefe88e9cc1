"""LLVM IR to host object code: parse, verify, O3-optimise (loop and SLP vectorisation on) and emit, for the
CPU this process runs on (its name and features). Imports nothing of portax, so that the compile worker
(``compile_worker.py``) runs it without importing portax.

Two pipelines: with ``unroll`` (library routines such as the packed GEMMs, compiled once per process, and
programs with hand-written loop nests: see ``codegen.ModuleBuilder.unroll``) all of O3; without (programs of
fused loop and reduce kernels) O3 without the loop unroller and without codegen's loop strength reduction.
Fused kernels' loops are unrolled by the vectoriser's interleaving already; the unroller (its runtime
unrolling of every remainder loop) and strength reduction over the resulting loops made up half of such a
program's compile time, and fully unrolling a short reduction before the vectoriser runs made it 2-4x slower
(a sum over a 10-wide axis). Hand-written loop nests (small products, pooling windows) are 3-4x faster
unrolled."""
from __future__ import annotations

import dataclasses
import functools
from typing import Iterable

import llvmlite.binding as llvm


@dataclasses.dataclass(frozen=True)
class TargetInfo:
    """The host as LLVM sees it; ``vector_width`` is the widest SIMD register in bits."""

    triple: str
    cpu: str
    features: str
    vector_width: int


# LLVM 22 (llvmlite 0.50) miscompiles vectorised integer floor division with AVX-512DQ on znver4: a compare
# mask kept in a general register is read back from a k register never written, a silent wrong result
# (tests/cpu_llvm/test_miscompiles.py). DQ gives these kernels little (64-bit integer multiplies, int64<->float
# conversions), so code is generated without it.
DISABLED_FEATURES = ("avx512dq",)


@functools.cache
def host_target_info() -> TargetInfo:
    """CPU name, feature string (less ``DISABLED_FEATURES``) and SIMD width of the machine this process runs on."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    features = ",".join(f"-{f[1:]}" if f[1:] in DISABLED_FEATURES else f
                        for f in llvm.get_host_cpu_features().flatten().split(","))
    enabled = {f[1:] for f in features.split(",") if f.startswith("+")}
    width = 512 if "avx512f" in enabled else 256 if "avx" in enabled else 128
    return TargetInfo(llvm.get_process_triple(), llvm.get_host_cpu_name(), features, width)


def new_target_machine() -> llvm.TargetMachine:
    """A host target machine (opt level 3, JIT code model)."""
    info = host_target_info()
    return llvm.Target.from_triple(info.triple).create_target_machine(
        cpu=info.cpu, features=info.features, opt=3, codemodel="jitdefault", jit=True)


@functools.cache
def target_machine() -> llvm.TargetMachine:
    """The process's shared host target machine."""
    return new_target_machine()


def optimize(ir: str, exported: Iterable[str] | None = None, unroll: bool = True) -> llvm.ModuleRef:
    """Parse, verify and O3-optimise ``ir`` for the host (``unroll``: with the loop unroller); functions not
    in ``exported`` become internal."""
    tm = target_machine()
    mod = llvm.parse_assembly(ir)
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
    pto.loop_unrolling = unroll
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def _codegen_options(unroll: bool) -> None:
    """Loop strength reduction only with ``unroll`` (a process-wide option: set per build)."""
    llvm.set_option("", f"-disable-lsr={'false' if unroll else 'true'}")


def emit_assembly(mod: llvm.ModuleRef, unroll: bool = True) -> str:
    """Host assembly of the optimised ``mod`` (for inspection and tests)."""
    _codegen_options(unroll)
    return target_machine().emit_assembly(mod)


def build_object(ir: str, names: list[str], suffix: str, unroll: bool = True) -> bytes:
    """Object code of the optimised ``ir`` (with or without ``unroll``), its exported ``names`` renamed
    ``<name>.<suffix>``."""
    mod = optimize(ir, names, unroll)
    for name in names:
        mod.get_function(name).name = f"{name}.{suffix}"
    _codegen_options(unroll)
    return target_machine().emit_object(mod)
