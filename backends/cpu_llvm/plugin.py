"""Entry point of the cpu_llvm backend (``portax.backends.cpu_llvm.plugin``)."""
from __future__ import annotations

from portax.core.backend import BackendSpec, hookimpl


@hookimpl
def portax_backends() -> list[BackendSpec]:
    from .backend import CpuLlvmBackend
    return [BackendSpec("cpu_llvm", CpuLlvmBackend, priority=100,
                        description="LLVM for the host CPU: fused, vectorised, multi-threaded kernels")]
