"""Conformance cases of ``fused_softmax`` (entry point group ``portax.conformance``: ``register``).

Every float dtype the backend claims x row shapes (one element, odd lengths, rank 1 to 3, rows of length 1,
empty rows and empty batches, a long row that takes the workgroup path on wgpu), rows with NaN and +-inf
when the backend keeps IEEE specials, a wide dynamic range, the wrapper over other axes, and an operand past
the backend's single-dispatch limit. Each case runs under eval, jit, vmap, jvp and vjp.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from portax.conformance import Case, GenContext, Tolerance, register_cases, set_tolerance
from portax.conformance.registry import describe, generators_for

from .softmax import fused_softmax, fused_softmax_p

SHAPES = ((1,), (7,), (3, 5), (2, 3, 4), (4, 1), (2, 300), (0, 5), (3, 0))
# Backends sum a row in another order than the reference's pairwise sum and their exp differs from numpy's
# by a few ulps (measured on rows of up to 300: at most 10 ulps in float32 on lavapipe, 5 on cpu_llvm).
# float16 is computed in float32 and rounded once: at most 1 ulp, nothing absolute. Softmax normalizes,
# so errors are relative to each entry; the small absolute term (a few eps, not scaled by the row length)
# covers entries near zero, where a driver's exp loses relative accuracy or flushes subnormals.
TOLERANCES = {"float16": Tolerance(1, 0), "float32": Tolerance(16, 4), "float64": Tolerance(8, 4)}
EVAL_JIT = ("eval", "jit")
LARGE_ROW = 257


def _row_case(x: np.ndarray, **kwargs) -> Case:
    return Case(fused_softmax_p, x.dtype, [x], **kwargs)


def _special_rows(dt: np.dtype) -> np.ndarray:
    """Rows with NaN, +inf, -inf (alone, with finite values, everywhere), huge and tiny values."""
    inf, nan, big = np.inf, np.nan, float(np.finfo(dt).max) / 4
    return np.array([[1.0, nan, 2.0, 0.5], [1.0, inf, 2.0, 0.5], [1.0, -inf, 2.0, 0.5], [-inf, -inf, -inf, -inf],
                     [inf, inf, 0.0, 1.0], [big, -big, 0.0, big], [-0.0, 0.0, -0.0, 0.0],
                     [1e-30, -1e-30, 1e-38, 0.0]], dtype=np.float64).astype(dt)


def fused_softmax_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes_of("f"):
        for shape in SHAPES:
            yield _row_case(ctx.rng.uniform(-4, 4, size=shape).astype(dt))
        wide = 60.0 if dt == np.float16 else 200.0
        x = ctx.rng.uniform(-wide, wide, size=(5, 33)).astype(dt)
        yield _row_case(x, label=f"{describe([x])} wide range +-{wide:g}")
        if ctx.ieee_specials:
            x = _special_rows(dt)
            yield _row_case(x, transforms=EVAL_JIT, label=f"{describe([x])} special values")
        x = ctx.rng.uniform(-4, 4, size=(2, 3, 4)).astype(dt)
        for axis in (0, (0, 2), None):
            yield Case(fused_softmax_p, dt, [x], fn=lambda a, axis=axis: fused_softmax(a, axis=axis),
                       label=f"{describe([x])} fused_softmax(x, axis={axis})")
        if ctx.large_size:
            x = ctx.rng.uniform(-4, 4, size=(-(-ctx.large_size // LARGE_ROW), LARGE_ROW)).astype(dt)
            yield _row_case(x, transforms=("eval",), layout_args=(),
                            label=f"{describe([x])} (past max_dispatch_elements)")


def register() -> None:
    """Register the cases and tolerances (once: calling it again adds nothing)."""
    for dtype, tol in TOLERANCES.items():
        set_tolerance(fused_softmax_p.name, dtype, tol)
    if fused_softmax_cases not in generators_for(fused_softmax_p):
        register_cases(fused_softmax_p, fused_softmax_cases)
