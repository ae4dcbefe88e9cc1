"""Host callbacks: each callback primitive runs a numpy function on the host in the middle of the program
(the operands flipped along their first axis, so data must go to the host and back in the right layout);
ordered callbacks only where vmap allows them, none under jvp/vjp (callbacks are not differentiable)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

import portax
from portax.core.primitives import callbacks as cb
from portax.experimental import io_callback

from ..inputs import values
from ..registry import Case, GenContext, register_cases
from .common import EVAL_JIT

SHAPES = ((), (0,), (7,), (3, 5))
BATCHING = ("eval", "jit", "vmap")


def _flip(a: np.ndarray) -> np.ndarray:
    return np.flip(a, 0) if a.ndim else a.copy()


def _spec(x) -> portax.ShapeDtypeStruct:
    return portax.ShapeDtypeStruct(x.shape, x.dtype)


def _pure(x):
    return portax.pure_callback(_flip, _spec(x), x, vmap_method="sequential") * 1


def _io(ordered: bool):
    return lambda x: io_callback(_flip, _spec(x), x, ordered=ordered)


def _debug(x):
    portax.debug.callback(lambda a: None, x)
    return x * 1


def _cases(prim, fns) -> callable:
    def cases(ctx: GenContext) -> Iterable[Case]:
        for dt in ctx.dtypes:
            for shape in SHAPES:
                for fn, transforms, label in fns:
                    yield Case(prim, dt, [values(ctx.rng, shape, dt)], fn=fn, transforms=transforms,
                               label=f"{label} {dt.name}{list(shape)}")
    return cases


register_cases(cb.pure_callback_p, _cases(cb.pure_callback_p, [(_pure, BATCHING, "flip on the host")]))
register_cases(cb.io_callback_p, _cases(cb.io_callback_p, [(_io(False), BATCHING, "flip on the host"),
                                                           (_io(True), EVAL_JIT, "ordered flip on the host")]))
register_cases(cb.debug_callback_p, _cases(cb.debug_callback_p, [(_debug, BATCHING, "a no-op debug callback")]))
