"""Shape primitives: iota, broadcast_in_dim, reshape, squeeze, transpose, rev, pad, concatenate, slice,
dynamic_slice, dynamic_update_slice. Every dtype the backend claims (bool included)."""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

from portax.core.primitives import structural as st

from ..inputs import values
from ..registry import Case, GenContext, register_cases
from .common import EVAL_JIT, LARGE_DTYPES, int32


def _one_operand(primitive, configs: Sequence, large: Callable[[int], tuple] | None = None) -> Callable:
    """Cases ``primitive(x, **params)`` for each ``(shape, params)`` of ``configs`` and every dtype, plus
    ``large(n)`` (a config whose output is ``n`` elements) past the backend's dispatch limit."""
    def generate(ctx: GenContext) -> Iterable[Case]:
        for dt in ctx.dtypes:
            for shape, params in configs:
                yield Case(primitive, dt, [values(ctx.rng, shape, dt)], params)
            if large is not None and ctx.large_size and dt in LARGE_DTYPES:
                shape, params = large(ctx.large_size)
                yield Case(primitive, dt, [values(ctx.rng, shape, dt)], params, transforms=("eval",), layout_args=())
    return generate


def _iota_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes_of("fiu"):
        for shape, dim in (((5,), 0), ((3, 4), 1), ((2, 3, 4), 0), ((0,), 0), ((1,), 0)):
            yield Case(st.iota_p, dt, [], {"dtype": dt, "shape": shape, "dimension": dim})
        if ctx.large_size and dt in LARGE_DTYPES:
            yield Case(st.iota_p, dt, [], {"dtype": dt, "shape": (ctx.large_size,), "dimension": 0},
                       transforms=("eval",))


BROADCASTS = (((3,), {"shape": (2, 3), "broadcast_dimensions": (1,)}),
              ((3, 1), {"shape": (3, 4), "broadcast_dimensions": (0, 1)}),
              ((), {"shape": (2, 3), "broadcast_dimensions": ()}),
              ((1,), {"shape": (0,), "broadcast_dimensions": (0,)}),
              ((2, 3), {"shape": (2, 4, 3), "broadcast_dimensions": (0, 2)}))
RESHAPES = (((2, 3, 4), {"new_sizes": (6, 4)}), ((6,), {"new_sizes": (2, 3)}), ((), {"new_sizes": (1, 1)}),
            ((0, 3), {"new_sizes": (3, 0)}), ((3, 5), {"new_sizes": (15,)}))
TRANSPOSES = (((2, 3, 4), {"permutation": (2, 0, 1)}), ((3, 5), {"permutation": (1, 0)}),
              ((0, 2), {"permutation": (1, 0)}))


register_cases(st.iota_p, _iota_cases)
register_cases(st.broadcast_in_dim_p, _one_operand(st.broadcast_in_dim_p, BROADCASTS, lambda n: (
    (1,), {"shape": (n,), "broadcast_dimensions": (0,)})))
register_cases(st.reshape_p, _one_operand(st.reshape_p, RESHAPES, lambda n: ((n,), {"new_sizes": (1, n)})))
register_cases(st.squeeze_p, _one_operand(st.squeeze_p, [
    ((1, 3, 1), {"dimensions": (0, 2)}), ((1,), {"dimensions": (0,)}), ((2, 1, 0), {"dimensions": (1,)})]))
register_cases(st.transpose_p, _one_operand(st.transpose_p, TRANSPOSES, lambda n: (
    (2, n // 2 + 1), {"permutation": (1, 0)})))
register_cases(st.rev_p, _one_operand(st.rev_p, [
    ((7,), {"dimensions": (0,)}), ((3, 5), {"dimensions": (0, 1)}), ((2, 3, 4), {"dimensions": (1,)}),
    ((0,), {"dimensions": (0,)}), ((3, 5), {"dimensions": ()})]))
register_cases(st.slice_p, _one_operand(st.slice_p, [
    ((7,), {"start_indices": (1,), "limit_indices": (6,), "strides": (2,)}),
    ((3, 5), {"start_indices": (0, 1), "limit_indices": (3, 4), "strides": None}),
    ((2, 3, 4), {"start_indices": (0, 0, 1), "limit_indices": (2, 3, 4), "strides": (1, 2, 3)}),
    ((5,), {"start_indices": (2,), "limit_indices": (2,), "strides": None})]))


def _pad_cases(ctx: GenContext) -> Iterable[Case]:
    configs = [((5,), ((1, 2, 0),)), ((5,), ((0, 0, 2),)), ((5,), ((-1, 1, 1),)),
               ((3, 4), ((1, 0, 1), (0, -1, 0))), ((0,), ((2, 1, 3),)), ((), ())]
    for dt in ctx.dtypes:
        for shape, config in configs:
            args = [values(ctx.rng, shape, dt), values(ctx.rng, (), dt)]
            yield Case(st.pad_p, dt, args, {"padding_config": config}, layout_args=(0,))


def _concatenate_cases(ctx: GenContext) -> Iterable[Case]:
    configs = [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 0)], 1), ([(5,), (0,), (1,)], 0), ([(1, 2, 2)] * 3, 2)]
    for dt in ctx.dtypes:
        for shapes, dim in configs:
            yield Case(st.concatenate_p, dt, [values(ctx.rng, s, dt) for s in shapes], {"dimension": dim})


def _dynamic_slice_cases(ctx: GenContext) -> Iterable[Case]:
    """In-bounds, clamped (past the end, negative) and whole-operand windows."""
    configs = [((1, 2), (3, 2)), ((5, -3), (3, 2)), ((0, 0), (6, 5)), ((2, 4), (0, 1))]
    for dt in ctx.dtypes:
        x = values(ctx.rng, (6, 5), dt)
        for starts, sizes in configs:
            yield Case(st.dynamic_slice_p, dt, [x] + [int32(s) for s in starts], {"slice_sizes": sizes},
                       layout_args=(0,))
        yield Case(st.dynamic_slice_p, dt, [values(ctx.rng, (7,), dt), np.asarray(3, np.uint32)],
                   {"slice_sizes": (2,)}, transforms=EVAL_JIT)


def _dynamic_update_slice_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes:
        x = values(ctx.rng, (6, 5), dt)
        for starts, ushape in (((1, 1), (2, 3)), ((5, 4), (2, 3)), ((-2, 0), (6, 5)), ((3, 3), (0, 2))):
            u = values(ctx.rng, ushape, dt)
            yield Case(st.dynamic_update_slice_p, dt, [x, u] + [int32(s) for s in starts], layout_args=(0, 1))


register_cases(st.pad_p, _pad_cases)
register_cases(st.concatenate_p, _concatenate_cases)
register_cases(st.dynamic_slice_p, _dynamic_slice_cases)
register_cases(st.dynamic_update_slice_p, _dynamic_update_slice_cases)
