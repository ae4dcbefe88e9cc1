"""sort: one operand along each dimension, key/value pairs, two keys with ties (stability), and special
values (NaN sorts last, -0 before +0)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from portax.core import dtypes
from portax.core.primitives import sorting as so

from ..inputs import edge_values, values
from ..registry import Case, GenContext, register_cases
from .common import EVAL_JIT


def _params(dimension: int, num_keys: int = 1, is_stable: bool = True) -> dict:
    return {"dimension": dimension, "is_stable": is_stable, "num_keys": num_keys}


def _sort_cases(ctx: GenContext) -> Iterable[Case]:
    for dt in ctx.dtypes:
        for shape, dim in (((7,), 0), ((3, 5), 1), ((3, 5), 0), ((0,), 0), ((1,), 0), ((2, 3, 4), 2)):
            yield Case(so.sort_p, dt, [values(ctx.rng, shape, dt)], _params(dim))
        keys = values(ctx.rng, (9,), dt)
        vals = np.arange(9, dtype=np.int32)
        yield Case(so.sort_p, dt, [keys, vals], _params(0), label="keys and int32 values")
        ties = np.asarray(ctx.rng.randint(0, 2, size=(2, 6))).astype(dt)
        yield Case(so.sort_p, dt, [ties, values(ctx.rng, (2, 6), dt), vals[:6].reshape(1, 6).repeat(2, 0)],
                   _params(1, num_keys=2), label="two keys with ties, stable")
        if dtypes.kind(dt) == "f":
            yield Case(so.sort_p, dt, [values(ctx.rng, (8,), dt)], _params(0, is_stable=False), label="unstable")
        if dtypes.kind(dt) != "f" or ctx.ieee_specials:
            yield Case(so.sort_p, dt, [edge_values(dt)], _params(0), transforms=EVAL_JIT,
                       label=f"special values {dt.name}")


register_cases(so.sort_p, _sort_cases)
