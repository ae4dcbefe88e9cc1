"""gather and the scatters with representative dimension numbers: row gathers, point gathers, windows,
batching dimensions, and out-of-bounds indices under both modes ("clip" clamps, "fill" fills or drops).
Scatter-set cases use unique indices (with duplicates the winner is unspecified, as in XLA)."""
from __future__ import annotations

from typing import Iterable

from portax.core import dtypes
from portax.core.primitives import indexing as ix

from ..inputs import values
from ..registry import Case, GenContext, register_cases
from .common import int32

GDN = ix.GatherDimensionNumbers
SDN = ix.ScatterDimensionNumbers

# (operand shape, indices, dimension numbers, slice sizes, mode)
GATHERS = (
    ((5, 3), [[4], [0], [2], [2]], GDN((1,), (0,), (0,)), (1, 3), "clip"),  # rows: x[idx]
    ((4, 5), [[0, 1], [3, 4], [2, 0]], GDN((), (0, 1), (0, 1)), (1, 1), "clip"),  # points: x[i, j]
    ((6,), [[1], [3]], GDN((1,), (), (0,)), (3,), "clip"),  # windows of 3
    ((3, 5), [[4], [0], [2]], GDN((), (1,), (1,), (0,), (0,)), (1, 1), "clip"),  # batched: take_along_axis
    ((5, 3), [[7], [-2], [1]], GDN((1,), (0,), (0,)), (1, 3), "clip"),  # out of bounds, clamped
    ((5, 3), [[7], [-2], [1]], GDN((1,), (0,), (0,)), (1, 3), "fill"),  # out of bounds, filled
    ((5,), [2], GDN((), (0,), (0,)), (1,), "clip"),  # one element: a 0-d result (x[i])
)
# (operand shape, indices, updates shape, dimension numbers, mode); the indices are unique
SCATTERS = (
    ((5, 3), [[4], [0], [2]], (3, 3), SDN((1,), (0,), (0,)), "clip"),
    ((4, 5), [[0, 1], [3, 4]], (2,), SDN((), (0, 1), (0, 1)), "clip"),
    ((5, 3), [[1], [9], [-1]], (3, 3), SDN((1,), (0,), (0,)), "fill"),  # out-of-bounds updates are dropped
)
DUPLICATE_SCATTER = ((5, 3), [[1], [3], [1], [1]], (4, 3), SDN((1,), (0,), (0,)), "clip")


def _gather_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes:
        for shape, idx, dn, sizes, mode in GATHERS:
            params = {"dimension_numbers": dn, "slice_sizes": sizes, "mode": mode, "fill_value": None}
            yield Case(ix.gather_p, dt, [values(ctx.rng, shape, dt), int32(idx)], params, layout_args=(0,))


def _scatter_cases(primitive, kinds: str, duplicates: bool):
    def generate(ctx: GenContext) -> Iterable[Case]:
        configs = SCATTERS + ((DUPLICATE_SCATTER,) if duplicates else ())
        for dt in ctx.dtypes_of(kinds):
            for shape, idx, ushape, dn, mode in configs:
                unique = (shape, idx) != DUPLICATE_SCATTER[:2]
                params = {"dimension_numbers": dn, "indices_are_sorted": False, "unique_indices": unique, "mode": mode}
                domain = "near1" if primitive is ix.scatter_mul_p else "real"
                args = [values(ctx.rng, shape, dt, domain), int32(idx), values(ctx.rng, ushape, dt, domain)]
                # scatter_mul differentiates w.r.t. its updates only for unique indices (as in JAX)
                diff = (0,) if primitive is ix.scatter_mul_p and not unique and dtypes.kind(dt) == "f" else None
                yield Case(primitive, dt, args, params, layout_args=(0, 2), accum=1 + len(idx), diff_argnums=diff)
    return generate


register_cases(ix.gather_p, _gather_cases)
register_cases(ix.scatter_p, _scatter_cases(ix.scatter_p, "biuf", duplicates=False))
register_cases(ix.scatter_add_p, _scatter_cases(ix.scatter_add_p, "iuf", duplicates=True))
register_cases(ix.scatter_mul_p, _scatter_cases(ix.scatter_mul_p, "iuf", duplicates=True))
register_cases(ix.scatter_min_p, _scatter_cases(ix.scatter_min_p, "iuf", duplicates=True))
register_cases(ix.scatter_max_p, _scatter_cases(ix.scatter_max_p, "iuf", duplicates=True))
