"""Helpers shared by the case generators: representative shapes and dtype probing."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from portax.core.ir import ShapedArray
from portax.core.trace import abstract_eval_rules

from ..registry import TRANSFORMS, GenContext

# 0-d, empty, one element, odd sizes, rank 2 and 3 (the ones the transposed/broadcast layouts apply to).
SHAPES = ((), (0,), (1,), (7,), (3, 5), (2, 3, 4))
# the subset that the transforms beyond eval/jit run on (enough to exercise every batching/AD path)
TRANSFORM_SHAPES = ((), (7,), (3, 5))
EVAL_JIT = ("eval", "jit")
# Operands past a backend's single-dispatch limit can have ~16M elements: they are made for these dtypes
# only, contiguous, under eval (splitting work into dispatches depends on sizes, not on the op).
LARGE_DTYPES = (np.dtype(np.float32), np.dtype(np.int32))


def accepts(primitive: Any, avals: Sequence[ShapedArray], params: dict | None = None) -> bool:
    """Whether the core's shape/dtype rule accepts these operands (TypeError/ValueError mean no)."""
    rule = abstract_eval_rules.get(primitive)
    if rule is None:
        return False
    try:
        rule(*avals, **(params or {}))
    except (TypeError, ValueError):
        return False
    return True


def accepted_dtypes(primitive: Any, ctx: GenContext, arity: int, params: dict | None = None) -> list:
    """The dtypes under test that an elementwise primitive accepts, probed on its abstract-eval rule."""
    return [d for d in ctx.dtypes if accepts(primitive, [ShapedArray((), d)] * arity, params)]


def transforms_for(shape: tuple) -> tuple:
    """All transforms for the representative shapes, eval and jit for the others."""
    return TRANSFORMS if tuple(shape) in TRANSFORM_SHAPES else EVAL_JIT


def int32(v) -> np.ndarray:
    return np.asarray(v, dtype=np.int32)
