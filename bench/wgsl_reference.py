"""Hand-written WGSL reference shaders (``bench/wgsl/``) run through ``portax.backends.wgpu.runtime``.

``references(device, key, sizes)`` gives, for the workloads that have them (selu, sum(x + y*z), the first
matmul), one ``Reference`` per shader variant: ``run()`` records and submits one call, and ``check()``
reads the result back and compares it with NumPy (raising if a shader computes something else), so a
ratio against a reference is never a ratio against a wrong kernel.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .workloads import SELU_ALPHA, SELU_SCALE, Sizes, elementwise_inputs, matmul_inputs

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
    check: Callable[[], None]


def _u32(*values: int) -> np.ndarray:
    return np.array(values, np.uint32)


def _checker(device: Any, out: Any, shape: tuple, expected: np.ndarray, rtol: float, what: str) -> Callable[[], None]:
    def check() -> None:
        got = device.download(out, shape, np.float32, what)
        err = float(np.max(np.abs(got - expected)) / max(float(np.max(np.abs(expected))), 1e-30))
        if not err <= rtol:
            raise AssertionError(f"hand-written shader {what} is wrong: max relative error {err:.3g} > {rtol}")
    return check


def _selu(device: Any, sizes: Sizes) -> list[Reference]:
    (x,) = elementwise_inputs(sizes.elementwise, 1)
    n = x.size
    xb, yb = device.upload(x, "selu x"), device.empty((n,), np.float32, "selu y")
    pipe = device.pipeline(shader("selu"), context="selu reference")

    def run() -> None:
        with device.batch("selu reference") as batch:
            batch.dispatch(pipe, [xb, yb], -(-n // WORKGROUP), _u32(n))
    expected = SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))
    return [Reference("selu", run, _checker(device, yb, (n,), expected, 1e-5, "selu"))]


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
    expected = np.array([np.sum(x.astype(np.float64) + y.astype(np.float64) * z)], np.float32)
    scale = float(np.sum(np.abs(x) + np.abs(y * z)))  # a sum's rounding error grows with the sum of |terms|
    check_total = _checker(device, total, (1,), expected, 1e-5 * scale / max(abs(float(expected[0])), 1e-30),
                           "sum(x + y*z)")
    return [Reference("sum two-pass", run, check_total)]


def _matmul(device: Any, sizes: Sizes) -> list[Reference]:
    n = sizes.matmuls[0]
    if n % 4:
        raise ValueError(f"the register-blocked matmul shader reads vec4: n={n} must be a multiple of 4")
    a, b = matmul_inputs(n)
    ab, bb = device.upload(a, "matmul a"), device.upload(b, "matmul b")
    expected = (a.astype(np.float64) @ b).astype(np.float32)
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
        refs.append(Reference(name, run, _checker(device, out, (n, n), expected, 1e-4, f"matmul {name}")))
    return refs


BUILDERS = {"selu": _selu, "sum_xyz": _sum_xyz, "matmul_0": _matmul}


def references(device: Any, key: str, sizes: Sizes) -> list[Reference]:
    """The hand-written shaders of workload ``key`` (none for the other workloads)."""
    builder = BUILDERS.get(key)
    return builder(device, sizes) if builder is not None else []
