"""Entry point of the wgpu backend (``portax.backends.wgpu.plugin``): the pluggy hook registering it.

Priority 0: never the default unless asked for (``PORTAX_BACKEND=wgpu`` or ``jit(..., backend="wgpu")``).
"""
from __future__ import annotations

from portax.core.backend import BackendSpec, hookimpl


def _make_backend():
    from .backend import WgpuBackend
    return WgpuBackend()


@hookimpl
def portax_backends() -> list[BackendSpec]:
    return [BackendSpec("wgpu", _make_backend, priority=0,
                        description="WGSL compute shaders on any WebGPU adapter (Vulkan, Metal, D3D12, OpenGL)")]
