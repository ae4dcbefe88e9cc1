"""``python -m portax`` / ``portax.print_environment_info()``: what is installed, which backends exist and
whether each works, for bug reports and for checking a new machine.

Backends describe themselves through the optional ``environment_info()`` method of the Backend protocol
(a dict of printable values: adapters, CPU, caches); the core adds what every backend has (priority,
devices, dtypes) and a smoke check: one small jitted program per backend, compared with its known value.
"""
from __future__ import annotations

import platform
import sys
import time
from importlib import metadata
from typing import Any, Callable, TextIO

import numpy as np

from .backend import BackendUnavailableError, registry
from .dtypes import SUPPORTED, short_name

_PACKAGES = ("portax", "portax-reference", "numpy", "llvmlite", "wgpu", "pluggy", "ml_dtypes", "scipy")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def smoke_check(name: str) -> tuple[bool, str]:
    """Compile and run ``sum(x * 2 + 1)`` over ``arange(1000)`` plus its gradient on backend ``name``."""
    from .api import grad, jit
    from .numpy import arange, sum as jsum
    start = time.perf_counter()
    try:
        f = lambda x: jsum(x * 2.0 + 1.0)
        x = arange(1000, dtype=np.float32)
        value = float(jit(f, backend=name)(x))
        slope = np.asarray(jit(grad(f), backend=name)(x))
    except Exception as e:  # reported, never raised: this is a diagnostic
        return False, f"{type(e).__name__}: {e}"
    ms = (time.perf_counter() - start) * 1e3
    if value != 1000.0 * 1000.0 or not np.all(slope == 2.0):
        return False, f"wrong result: sum {value} (expected 1000000.0), gradient {slope[:3]}... (expected 2.0)"
    return True, f"ok ({ms:.0f} ms, compile included)"


def environment_info(smoke: bool = True) -> tuple[list[str], bool]:
    """The report's lines, and whether the default backend works."""
    lines = [f"portax {_version('portax')} on Python {platform.python_version()} ({sys.executable}), "
             f"{platform.platform()}", "packages: " + ", ".join(f"{p} {_version(p)}" for p in _PACKAGES)]
    try:
        default = registry.default_name()
    except RuntimeError as e:
        return lines + [f"no backend: {e}"], False
    default_ok = False
    lines.append("backends (by priority; * = default):")
    specs = registry.specs()
    for name in registry.names():
        mark = "*" if name == default else " "
        lines.append(f"{mark} {name}  (priority {specs[name].priority}) {specs[name].description}")
        try:
            backend = registry.get(name)
        except (BackendUnavailableError, RuntimeError) as e:
            lines.append(f"    unavailable: {e}")
            continue
        devices = backend.devices()
        lines.append(f"    devices: {len(devices)}: " + ", ".join(f"{d!r} [{d.device_kind}]" for d in devices))
        lines.append("    dtypes: " + " ".join(short_name(d) for d in SUPPORTED if d in backend.capabilities.dtypes))
        describe: Callable[[], dict] | None = getattr(backend, "environment_info", None)
        for key, value in (describe() if describe else {}).items():
            lines.append(f"    {key}: {_indent(value)}")
        if smoke:
            ok, message = smoke_check(name)
            lines.append(f"    smoke check: {message}")
            default_ok = default_ok or (ok and name == default)
        else:
            default_ok = default_ok or name == default
    for name, why in registry.load_failures().items():
        if name not in specs:
            lines.append(f"  {name}  (plugin not loaded): {why}")
    if default not in specs:
        lines.append(f"default backend {default!r} (PORTAX_BACKEND or config) is not installed")
    return lines, default_ok


def _indent(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "".join(f"\n      {v}" for v in value) if value else "none"
    return str(value)


def print_environment_info(file: TextIO | None = None, smoke: bool = True) -> bool:
    """Print versions, backends (default marked, availability, devices, adapters, caches) and a smoke
    check per backend; returns whether the default backend works."""
    lines, ok = environment_info(smoke)
    print("\n".join(lines), file=file or sys.stdout)
    return ok
