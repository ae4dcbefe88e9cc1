"""Kernel variants chosen per GPU: where an op has several kernels (the matmul's ``blocked``,
``blocked_square`` and ``tiled``, the reductions' ``tree``, ``subgroup`` and ``runs``, the fused loops'
``scalar`` and ``vec4``),
the first big enough use of a problem class on an adapter times every candidate on the device and keeps the
fastest, remembered in memory and in ``variants.json`` of the wgpu disk cache (keyed by adapter, driver, op
and problem class), so later processes reuse it. Small problems take the adapter type's default without
timing. ``PORTAX_WGPU_<OP>=<variant>`` forces a variant (tests run every variant this way).
"""
from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
import threading
import time
from typing import Callable

import numpy as np

from portax.core.cache_dirs import backend_cache_dir

from .kernel_writer import KernelWriter
from .runtime import WgpuDevice

TUNE_MIN_WORK = 1 << 24  # multiply-adds (or elements) below which the default variant is taken untimed
TUNE_MIN_ELEMENTS = 1 << 20  # the same for kernels reading each element once (reductions)
REPEATS, SAMPLES = 1, 3  # dispatches per timed batch, batches per candidate (the median is kept)
Step = tuple[KernelWriter, int]  # a kernel and its workgroup count
_lock = threading.Lock()
_choices: dict[str, str] = {}
_loaded = False


def forced(op: str, variants: tuple[str, ...]) -> str | None:
    """The variant ``PORTAX_WGPU_<OP>`` forces, if set (an unknown one is a ValueError)."""
    env = f"PORTAX_WGPU_{op.upper()}"
    value = os.environ.get(env)
    if value and value not in variants:
        raise ValueError(f"{env} must be one of {', '.join(variants)}, got {value!r}")
    return value or None


def choose(device: WgpuDevice, op: str, problem: str, work: int, default: str,
           candidates: dict[str, Callable[[], Step]], known: tuple[str, ...] = (),
           min_work: int = TUNE_MIN_WORK) -> str:
    """The variant of ``op`` to run for ``problem`` (a problem-class string) on ``device``: forced, else
    remembered, else ``default`` for ``work`` below ``min_work``, else the fastest of ``candidates`` (each
    builds its kernel writer and workgroup count) timed here. ``known``: all of the op's variants, when some
    do not apply to every problem (forcing one of those chooses among the candidates where it does not apply)."""
    name = forced(op, known or tuple(candidates))
    if name in candidates:
        return name
    if work < min_work or len(candidates) == 1:
        return default
    key = "|".join((device.adapter_info.name, device.adapter_info.backend_type, device.adapter_info.driver,
                    op, problem))
    with _lock:
        _load()
        known = _choices.get(key)
    if known in candidates:
        return known
    times = _time(device, {name: build() for name, build in candidates.items()})
    best = min(times, key=times.get)
    with _lock:
        _choices[key] = best
        _save()
    return best


def size_class(*sizes: int) -> str:
    """Problem sizes rounded to powers of two (one tuning per class)."""
    return "x".join(str(1 << max(0, round(math.log2(max(s, 1))))) for s in sizes)


def _time(device: WgpuDevice, steps: dict[str, Step]) -> dict[str, float]:
    """Median seconds of REPEATS dispatches of each candidate's kernel over zero-filled buffers (shared by
    the candidates reading the same variables), the candidates' samples taken in turn so that a change of
    the device's load (a shared machine) slows them alike."""
    bufs = {}
    for writer, _ in steps.values():
        for key in writer.keys:
            if key not in bufs:
                shape, dtype = (key.aval.shape, key.aval.dtype) if hasattr(key, "aval") else (key.shape, key.dtype)
                bufs[key] = device.upload(np.zeros(shape, dtype), f"autotune {writer.name}")
    runs = {name: (device.pipeline(w.source(), context=f"autotune {w.name}"), [bufs[k] for k in w.keys], groups,
                   w.name) for name, (w, groups) in steps.items()}
    try:
        for pipe, args, groups, label in runs.values():
            device.run(pipe, args, groups, context=f"autotune {label}")  # warm-up
        device.synchronize()
        samples = {name: [] for name in runs}
        for _ in range(SAMPLES):
            for name, (pipe, args, groups, label) in runs.items():
                start = time.perf_counter()
                with device.batch(f"autotune {label}") as batch:
                    for _ in range(REPEATS):
                        batch.dispatch(pipe, args, groups)
                device.synchronize()
                samples[name].append(time.perf_counter() - start)
        return {name: statistics.median(s) for name, s in samples.items()}
    finally:
        for b in bufs.values():
            b.release()


def _path():
    d = backend_cache_dir("wgpu")
    return None if d is None else d / "variants.json"


def _load() -> None:
    """Read the remembered choices once (a missing or unreadable file is an empty one)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    path = _path()
    try:
        data = json.loads(path.read_text()) if path is not None else {}
    except (OSError, ValueError):
        data = {}
    if isinstance(data, dict):
        _choices.update({k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)})


def _save() -> None:
    """Write the choices (atomically; a choice only ever names a known variant, so the file runs no code)."""
    path = _path()
    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
            json.dump(_choices, f, indent=0, sort_keys=True)
        os.replace(f.name, path)
    except OSError:
        pass
