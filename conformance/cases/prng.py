"""threefry2x32 on random keys and counters, compared bit for bit (the PRNG checks add known answers)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from portax.core.primitives import prng

from ..registry import Case, GenContext, register_cases


def _threefry_cases(ctx: GenContext) -> Iterable[Case]:
    u32 = np.dtype(np.uint32)
    if u32 not in ctx.dtypes:
        return
    for shape in ((7,), (3, 5), (), (0,)):
        args = [ctx.rng.randint(0, 2**32, size=shape, dtype=np.uint32) for _ in range(4)]
        yield Case(prng.threefry2x32_p, u32, args)


register_cases(prng.threefry2x32_p, _threefry_cases)
