"""Reductions (sum, prod, max, min, and, or, xor), argmax/argmin and the cumulative ops. Accumulating
ops carry the number of summed terms so the tolerance scales with it."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from portax.core import dtypes
from portax.core.ir import ShapedArray
from portax.core.primitives import reductions as rd

from ..inputs import edge_values, values
from ..registry import Case, GenContext, register_cases
from .common import EVAL_JIT, LARGE_DTYPES, accepts

# (shape, axes): full and partial reductions, an empty operand (the identity) and a size-1 axis
REDUCE_CONFIGS = (((7,), (0,)), ((3, 5), (1,)), ((3, 5), (0, 1)), ((2, 3, 4), (0, 2)), ((0, 3), (0,)),
                  ((3, 0), (1,)), ((1,), (0,)), ((), ()))
DOMAIN = {"reduce_prod": "near1", "cumprod": "near1"}


def _reduce_cases(primitive):
    def generate(ctx: GenContext) -> Iterable[Case]:
        domain = DOMAIN.get(primitive.name, "real")
        for dt in ctx.dtypes:
            if not accepts(primitive, [ShapedArray((3,), dt)], {"axes": (0,)}):
                continue
            for shape, axes in REDUCE_CONFIGS:
                accum = int(np.prod([shape[a] for a in axes], dtype=np.int64))
                yield Case(primitive, dt, [values(ctx.rng, shape, dt, domain)], {"axes": axes}, accum=accum)
            if ctx.large_size and primitive in (rd.reduce_sum_p, rd.reduce_max_p) and dt in LARGE_DTYPES:
                yield Case(primitive, dt, [values(ctx.rng, (ctx.large_size,), dt, domain)], {"axes": (0,)},
                           accum=ctx.large_size, transforms=("eval",), layout_args=())
            if primitive in (rd.reduce_max_p, rd.reduce_min_p) and (dtypes.kind(dt) != "f" or ctx.ieee_specials):
                x = edge_values(dt)
                yield Case(primitive, dt, [x], {"axes": (0,)}, transforms=EVAL_JIT,
                           label=f"special values {x.dtype.name}[{x.size}]")
    return generate


def _arg_cases(primitive):
    def generate(ctx: GenContext) -> Iterable[Case]:
        for dt in ctx.dtypes_of("fiu"):
            for shape, axis in (((7,), 0), ((3, 5), 1), ((2, 3, 4), 0), ((1, 4), 0)):
                params = {"axes": (axis,), "index_dtype": np.dtype(np.int32)}
                yield Case(primitive, dt, [values(ctx.rng, shape, dt)], params)
            if dtypes.kind(dt) != "f" or ctx.ieee_specials:
                yield Case(primitive, dt, [edge_values(dt)], {"axes": (0,), "index_dtype": np.dtype(np.int32)},
                           transforms=EVAL_JIT, label="special values (NaN is the maximum)")
    return generate


def _cumulative_cases(primitive):
    def generate(ctx: GenContext) -> Iterable[Case]:
        domain = DOMAIN.get(primitive.name, "real")
        for dt in ctx.dtypes:
            if not accepts(primitive, [ShapedArray((3,), dt)], {"axis": 0, "reverse": False}):
                continue
            for shape, axis in (((7,), 0), ((3, 5), 1), ((2, 3, 4), 1), ((0,), 0), ((1,), 0)):
                for reverse in (False, True):
                    yield Case(primitive, dt, [values(ctx.rng, shape, dt, domain)], {"axis": axis, "reverse": reverse},
                               accum=shape[axis])
    return generate


for _p in (rd.reduce_sum_p, rd.reduce_max_p, rd.reduce_min_p, rd.reduce_prod_p, rd.reduce_and_p, rd.reduce_or_p,
           rd.reduce_xor_p):
    register_cases(_p, _reduce_cases(_p))
for _p in (rd.argmax_p, rd.argmin_p):
    register_cases(_p, _arg_cases(_p))
for _p in (rd.cumsum_p, rd.cumprod_p, rd.cummax_p, rd.cummin_p, rd.cumlogsumexp_p):
    register_cases(_p, _cumulative_cases(_p))
