"""Hand-written WGSL reference shaders (``bench/wgsl/``) run through ``portax.backends.wgpu.runtime``.

``references(device, key, sizes)`` gives, for the workloads that have them (selu, sum(x + y*z), the first
matmul), one ``Reference`` per shader variant: ``run()`` records and submits one call, ``read()`` reads
its result back (the worker checks it against NumPy like every other result, so a ratio against a
reference is never a ratio against a wrong kernel). ``raw_submits`` times wgpu's launch cost itself.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .workloads import Sizes, elementwise_inputs, matmul_inputs

WGSL_DIR = Path(__file__).with_name("wgsl")
WORKGROUP = 256  # invocations per workgroup of the 1-D shaders
SUM_PARTIALS = 512  # at most this many workgroups in the first pass of the sum
SUM_VEC4_PER_INVOCATION = 8  # at least this many vec4 per invocation (fewer workgroups for small n)


def shader(name: str) -> str:
    return (WGSL_DIR / f"{name}.wgsl").read_text()


@dataclasses.dataclass
class Reference:
    name: str
    run: Callable[[], None]
    read: Callable[[], np.ndarray]


def _u32(*values: int) -> np.ndarray:
    return np.array(values, np.uint32)


def _reader(device: Any, out: Any, shape: tuple, what: str) -> Callable[[], np.ndarray]:
    return lambda: device.download(out, (int(np.prod(shape)),), np.float32, what).reshape(shape)


def _selu(device: Any, sizes: Sizes) -> list[Reference]:
    (x,) = elementwise_inputs(sizes.elementwise, 1)
    n = x.size
    xb, yb = device.upload(x, "selu x"), device.empty((n,), np.float32, "selu y")
    pipe = device.pipeline(shader("selu"), context="selu reference")

    def run() -> None:
        with device.batch("selu reference") as batch:
            batch.dispatch(pipe, [xb, yb], -(-n // WORKGROUP), _u32(n))
    return [Reference("selu", run, _reader(device, yb, (n,), "selu"))]


def _sum_xyz(device: Any, sizes: Sizes) -> list[Reference]:
    x, y, z = elementwise_inputs(sizes.elementwise, 3)
    n = x.size
    if n % 4:
        raise ValueError(f"the hand-written sum shader reads vec4: n={n} must be a multiple of 4")
    groups = min(SUM_PARTIALS, -(-n // (4 * WORKGROUP * SUM_VEC4_PER_INVOCATION)))
    bufs = [device.upload(v, "sum input") for v in (x, y, z)]
    partials = device.empty((groups,), np.float32, "sum partials")
    total = device.empty((1,), np.float32, "sum total")
    first = device.pipeline(shader("sum_partials"), context="sum partials reference")
    final = device.pipeline(shader("sum_final"), context="sum final reference")

    def run() -> None:
        with device.batch("sum(x + y*z) reference") as batch:
            batch.dispatch(first, [*bufs, partials], groups, _u32(n))
            batch.dispatch(final, [partials, total], 1, _u32(groups))
    return [Reference("sum two-pass", run, _reader(device, total, (), "sum(x + y*z)"))]


def _matmul(device: Any, sizes: Sizes) -> list[Reference]:
    n = sizes.matmuls[0]
    if n % 4:
        raise ValueError(f"the register-blocked matmul shader reads vec4: n={n} must be a multiple of 4")
    a, b = matmul_inputs(n)
    ab, bb = device.upload(a, "matmul a"), device.upload(b, "matmul b")
    params = _u32(n, n, n)
    variants = [("register-blocked 4x4 vec4", "matmul_register_blocked", (-(-n // 32), -(-n // 32), 1)),
                ("16x16 workgroup tile", "matmul_tiled16", (-(-n // 16), -(-n // 16), 1))]
    refs = []
    for name, file, grid in variants:
        out = device.empty((n, n), np.float32, f"matmul {name}")
        pipe = device.pipeline(shader(file), context=f"matmul {name}")

        def run(pipe=pipe, out=out, grid=grid, name=name) -> None:
            with device.batch(f"matmul {name}") as batch:
                batch.dispatch(pipe, [ab, bb, out], grid, params)
        refs.append(Reference(name, run, _reader(device, out, (n, n), f"matmul {name}")))
    return refs


RAW_BATCH = 32  # dispatches in the second raw submit (the difference gives the cost of one more dispatch)


def raw_submits(device: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """Two raw submits of the increment shader: one dispatch, and ``RAW_BATCH`` dependent dispatches."""
    pipe = device.pipeline(shader("increment"), context="raw submit")
    counter = device.upload(np.zeros(4, np.uint32), "raw submit counter")

    def submit(dispatches: int) -> None:
        with device.batch("raw submit") as batch:
            for _ in range(dispatches):
                batch.dispatch(pipe, [counter], 1)
    return (lambda: submit(1)), (lambda: submit(RAW_BATCH))


BUILDERS = {"selu": _selu, "sum_xyz": _sum_xyz, "matmul_0": _matmul}


def references(device: Any, key: str, sizes: Sizes) -> list[Reference]:
    """The hand-written shaders of workload ``key`` (none for the other workloads)."""
    builder = BUILDERS.get(key)
    return builder(device, sizes) if builder is not None else []
