"""Collectives inside ``vmap(..., axis_name=)``: the mapped axis plays the devices, so each collective's
batching rule (and its JVP and transpose under jvp/vjp) is checked on one device of the backend. The
same collectives across real devices are the ``pmap`` group's checks (``pmap_checks``)."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

import portax
from portax import lax
from portax.core.primitives import collectives as co

from ..inputs import values
from ..registry import Case, GenContext, register_cases

AXIS = "i"
SIZES = (1, 3)  # vmapped axis sizes ("devices")
SUMS = (co.psum_p, co.reduce_scatter_p)  # their tolerance scales with the number of terms summed


def _vmapped(per_instance: Callable) -> Callable:
    return portax.vmap(per_instance, axis_name=AXIS)


# primitive -> (per-instance function, per-instance operand shape for axis size n, accepted dtype kinds)
COLLECTIVES = {
    co.psum_p: (lambda n: lambda x: lax.psum(x, AXIS), lambda n: (4,), "iuf"),
    co.pmax_p: (lambda n: lambda x: lax.pmax(x, AXIS), lambda n: (4,), "iuf"),
    co.pmin_p: (lambda n: lambda x: lax.pmin(x, AXIS), lambda n: (4,), "iuf"),
    co.all_gather_p: (lambda n: lambda x: lax.all_gather(x, AXIS, axis=1), lambda n: (2, 3), "biuf"),
    co.reduce_scatter_p: (lambda n: lambda x: lax.psum_scatter(x, AXIS, scatter_dimension=1, tiled=True),
                          lambda n: (2, 2 * n), "iuf"),
    co.ppermute_p: (lambda n: lambda x: lax.ppermute(x, AXIS, [(i, (i + 1) % n) for i in range(n)]),
                    lambda n: (4,), "biuf"),
    co.all_to_all_p: (lambda n: lambda x: lax.all_to_all(x, AXIS, 0, 1), lambda n: (n, 2), "biuf"),
    co.axis_index_p: (lambda n: lambda x: x * lax.axis_index(AXIS).astype(x.dtype), lambda n: (4,), "iuf"),
}


def _generator(prim) -> Callable[[GenContext], Iterable[Case]]:
    make_fn, shape_of, kinds = COLLECTIVES[prim]

    def cases(ctx: GenContext) -> Iterable[Case]:
        for dt in ctx.dtypes_of(kinds):
            for n in SIZES:
                x = values(ctx.rng, (n,) + shape_of(n), dt)
                yield Case(prim, dt, [x], fn=_vmapped(make_fn(n)), label=f"inside vmap(axis_name=), axis size {n}",
                           accum=n if prim in SUMS else 1)
    return cases


for _prim in COLLECTIVES:
    register_cases(_prim, _generator(_prim))
