"""Convolutions, window reductions and top_k, built through their lax wrappers (which compute the
primitives' many params): strides, padding, lhs/rhs dilation, feature and batch groups; ties and NaN
for top_k."""
from __future__ import annotations

from typing import Iterable

from portax import lax
from portax.core import dtypes
from portax.core.primitives import convolution as cv, windowed as wd

from ..inputs import edge_values, values
from ..registry import Case, GenContext, register_cases
from .common import EVAL_JIT

# (lhs shape, rhs shape, keyword arguments of lax.conv_general_dilated); layouts are NCHW/OIHW by default
CONVS = (
    ((2, 3, 6, 5), (4, 3, 3, 2), {"window_strides": (1, 1), "padding": "VALID"}),
    ((1, 3, 6, 5), (2, 3, 3, 3), {"window_strides": (2, 1), "padding": "SAME"}),
    ((1, 2, 5, 5), (3, 2, 2, 2), {"window_strides": (1, 1), "padding": ((1, 0), (0, 1)), "lhs_dilation": (2, 2),
                                  "rhs_dilation": (1, 2)}),
    ((2, 6, 5, 4), (4, 3, 2, 2), {"window_strides": (1, 1), "padding": "VALID", "feature_group_count": 2}),
    ((4, 3, 5, 5), (4, 3, 2, 2), {"window_strides": (1, 1), "padding": "VALID", "batch_group_count": 2}),
    ((2, 7, 3), (3, 3, 4), {"window_strides": (1,), "padding": "SAME", "dimension_numbers": ("NWC", "WIO", "NWC")}),
)
WINDOWS = (
    ((5, 6), {"window_dimensions": (2, 3), "window_strides": (1, 2), "padding": "VALID"}),
    ((5, 6), {"window_dimensions": (3, 3), "window_strides": (1, 1), "padding": "SAME"}),
    ((4, 5), {"window_dimensions": (2, 2), "window_strides": (1, 1), "padding": ((1, 0), (0, 1)),
              "base_dilation": (2, 1), "window_dilation": (1, 2)}),
    ((7,), {"window_dimensions": (3,), "window_strides": (2,), "padding": "VALID"}),
)
MONOIDS = {wd.reduce_window_sum_p: ("sum", lax.add), wd.reduce_window_max_p: ("max", lax.max),
           wd.reduce_window_min_p: ("min", lax.min)}


def _conv_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes_of("f"):
        for lshape, rshape, kw in CONVS:
            accum = 1
            for s in rshape[1:] if "dimension_numbers" not in kw else rshape[:-1]:
                accum *= s
            args = [values(ctx.rng, lshape, dt), values(ctx.rng, rshape, dt)]
            yield Case(cv.conv_general_dilated_p, dt, args, fn=lambda x, w, kw=kw: lax.conv_general_dilated(x, w, **kw),
                       label=f"{lshape} * {rshape} {kw}", accum=accum)


def _window_cases(primitive):
    name, op = MONOIDS[primitive]

    def generate(ctx: GenContext) -> Iterable[Case]:
        kinds = "fiu" if primitive is wd.reduce_window_sum_p else "fiub"
        for dt in ctx.dtypes_of(kinds):
            init = wd.identity(name, dt)
            for shape, kw in WINDOWS:
                accum = 1
                for s in kw["window_dimensions"]:
                    accum *= s
                yield Case(primitive, dt, [values(ctx.rng, shape, dt)], accum=accum,
                           fn=lambda x, kw=kw, init=init: lax.reduce_window(x, init, op, **kw),
                           label=f"{dt.name}{list(shape)} {kw}")
    return generate


def _top_k_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes_of("fiu"):
        for shape, k, axis in (((7,), 3, -1), ((3, 5), 2, -1), ((4, 5), 4, 0), ((6,), 0, -1), ((2, 3, 4), 4, 2)):
            yield Case(wd.top_k_p, dt, [values(ctx.rng, shape, dt)],
                       fn=lambda x, k=k, axis=axis: lax.top_k(x, k, axis=axis),
                       label=f"{dt.name}{list(shape)} k={k} axis={axis}")
        if dtypes.kind(dt) != "f" or ctx.ieee_specials:
            yield Case(wd.top_k_p, dt, [edge_values(dt)], fn=lambda x: lax.top_k(x, 5), transforms=EVAL_JIT,
                       label=f"special values {dt.name} k=5 (NaN is largest)")


register_cases(cv.conv_general_dilated_p, _conv_cases)
for _p in MONOIDS:
    register_cases(_p, _window_cases(_p))
register_cases(wd.top_k_p, _top_k_cases)
