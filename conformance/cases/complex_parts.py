"""real, imag, conj and complex: the primitives between complex values and their parts. Backends without
complex dtypes run them (like every complex value) as pairs of real buffers; the cases are listed under the
dtype of the parts."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from portax.core import dtypes
from portax.core.primitives import elementwise as ew

from ..inputs import values
from ..registry import Case, GenContext, register_cases
from .common import TRANSFORM_SHAPES


def _complex_values(ctx: GenContext, shape: tuple, dt: np.dtype) -> np.ndarray:
    return (values(ctx.rng, shape, dt) + 1j * values(ctx.rng, shape, dt)).astype(dtypes.complex_dtype(dt))


def _part_cases(prim):
    def cases(ctx: GenContext) -> Iterable[Case]:
        for dt in ctx.dtypes_of("f"):
            if dt == dtypes.float16 or dtypes.is_custom_float(dt):  # complex parts are float32 or float64
                continue
            for shape in TRANSFORM_SHAPES:
                if prim is ew.complex_p:
                    yield Case(prim, dt, [values(ctx.rng, shape, dt), values(ctx.rng, shape, dt)])
                else:
                    yield Case(prim, dt, [_complex_values(ctx, shape, dt)], label="complex operand")
    return cases


for _prim in (ew.real_p, ew.imag_p, ew.conj_p, ew.complex_p):
    register_cases(_prim, _part_cases(_prim))
