"""Adapter enumeration and choice.

``PORTAX_WGPU_ADAPTER`` selects one adapter: an index into ``list_adapters()`` or a
case-insensitive substring of its summary (``"llvmpipe"``, ``"opengl"``, ``"nvidia"``...).
Without it the best adapters are chosen: native APIs (Vulkan/Metal/D3D12) over OpenGL, then
discrete over integrated over virtual over CPU (the high-performance preference); every
adapter tied for best is used, e.g. two identical discrete GPUs give two devices.
"""
from __future__ import annotations

import dataclasses
import os

import wgpu

from .errors import WgpuBackendError

ADAPTER_ENV = "PORTAX_WGPU_ADAPTER"

_BACKEND_RANK = {"Vulkan": 0, "Metal": 0, "D3D12": 0, "OpenGL": 1}
_TYPE_RANK = {"DiscreteGPU": 0, "IntegratedGPU": 1, "VirtualGPU": 2, "CPU": 3}


@dataclasses.dataclass(frozen=True)
class AdapterInfo:
    """A printable description of one adapter, for diagnostics."""

    index: int
    name: str
    backend_type: str  # "Vulkan", "Metal", "D3D12", "OpenGL", ...
    adapter_type: str  # "DiscreteGPU", "IntegratedGPU", "VirtualGPU", "CPU", "Unknown"
    vendor: str
    driver: str
    features: frozenset

    @property
    def summary(self) -> str:
        return f"{self.name} ({self.adapter_type}) via {self.backend_type}"


def enumerate_adapters() -> list[wgpu.GPUAdapter]:
    """All adapters wgpu can see, in wgpu's order (Vulkan, Metal, D3D12, then OpenGL)."""
    try:
        return list(wgpu.gpu.enumerate_adapters_sync())
    except Exception as e:  # wgpu-native missing or failing to load: no adapter at all
        raise WgpuBackendError(f"cannot enumerate wgpu adapters: {e}") from e


def describe(adapter: wgpu.GPUAdapter, index: int = -1) -> AdapterInfo:
    """The ``AdapterInfo`` of one adapter."""
    info = adapter.info
    return AdapterInfo(
        index=index,
        name=info.get("device", ""),
        backend_type=info.get("backend_type", "Unknown"),
        adapter_type=info.get("adapter_type", "Unknown"),
        vendor=info.get("vendor", ""),
        driver=info.get("description", ""),
        features=frozenset(adapter.features),
    )


def list_adapters() -> list[AdapterInfo]:
    """Every adapter with name, backend type and adapter type; the index is what
    ``PORTAX_WGPU_ADAPTER=<index>`` refers to."""
    return [describe(a, i) for i, a in enumerate(enumerate_adapters())]


def adapter_key(adapter: wgpu.GPUAdapter) -> tuple:
    """A key identifying an adapter across enumerations (for per-adapter caches)."""
    info = adapter.info
    return tuple(info.get(k) for k in ("vendor_id", "device_id", "device", "backend_type", "description"))


def _rank(adapter: wgpu.GPUAdapter) -> tuple[int, int]:
    info = adapter.info
    return _BACKEND_RANK.get(info.get("backend_type"), 2), _TYPE_RANK.get(info.get("adapter_type"), 4)


def select_adapters(spec: str | None = None) -> list[wgpu.GPUAdapter]:
    """The adapters to make devices on: the one ``spec`` (default: ``$PORTAX_WGPU_ADAPTER``)
    names, or all adapters tied for best rank. Raises ``WgpuBackendError`` if none."""
    adapters = enumerate_adapters()
    if not adapters:
        raise WgpuBackendError("no wgpu adapter found (no Vulkan/Metal/D3D12/OpenGL driver)")
    spec = os.environ.get(ADAPTER_ENV, "") if spec is None else spec
    spec = spec.strip()
    if spec:
        if spec.isdigit():
            if int(spec) >= len(adapters):
                raise WgpuBackendError(f"{ADAPTER_ENV}={spec}: only {len(adapters)} adapters: {_names(adapters)}")
            return [adapters[int(spec)]]
        matches = [a for a in adapters if spec.lower() in a.summary.lower()]
        if not matches:
            raise WgpuBackendError(f"{ADAPTER_ENV}={spec!r} matches no adapter among {_names(adapters)}")
        return [min(matches, key=_rank)]
    best = min(_rank(a) for a in adapters)
    return [a for a in adapters if _rank(a) == best]


def _names(adapters: list[wgpu.GPUAdapter]) -> str:
    return "; ".join(f"{i}: {a.summary}" for i, a in enumerate(adapters))
