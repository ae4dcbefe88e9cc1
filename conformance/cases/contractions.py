"""dot_general: matrix and vector products, batch dimensions, several and empty contractions, and
contractions over the operands' leading dimensions (transposed operands)."""
from __future__ import annotations

from typing import Iterable

from portax.core.primitives import contractions as ct

from ..inputs import values
from ..registry import Case, GenContext, register_cases

# (lhs shape, rhs shape, ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch)))
DOTS = (
    ((3, 4), (4, 5), (((1,), (0,)), ((), ()))),
    ((4,), (4,), (((0,), (0,)), ((), ()))),
    ((2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,)))),
    ((4, 3), (4, 5), (((0,), (0,)), ((), ()))),
    ((2, 3, 4), (3, 4, 2), (((1, 2), (0, 1)), ((), ()))),
    ((3, 0), (0, 2), (((1,), (0,)), ((), ()))),
    ((3,), (5,), (((), ()), ((), ()))),
    ((1, 7), (7, 1), (((1,), (0,)), ((), ()))),
)


def _dot_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes_of("iuf"):
        for lshape, rshape, dn in DOTS:
            k = 1
            for d in dn[0][0]:
                k *= lshape[d]
            params = {"dimension_numbers": dn, "precision": None, "preferred_element_type": None}
            yield Case(ct.dot_general_p, dt, [values(ctx.rng, lshape, dt), values(ctx.rng, rshape, dt)], params,
                       accum=max(k, 1))


register_cases(ct.dot_general_p, _dot_cases)
