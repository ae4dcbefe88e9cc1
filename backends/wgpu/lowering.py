"""The lowering rules of opaque kernels: ``LOWERINGS[primitive](ctx, eqn)`` appends the dispatches (or
custom steps) computing one equation to ``ctx`` (a ``program.LoweringContext``).

The rule modules (``lower_*``) register themselves here; plugins add rules of the same signature
through the ``portax_lowerings`` hook (``WgpuBackend.add_lowerings``).
"""
from __future__ import annotations

from typing import Callable

from portax.core import fusion
from portax.core.ir import JaxprEqn
from portax.core.primitives import elementwise as ew

LOWERINGS: dict = {}


def lowering(*primitives) -> Callable:
    """Register the decorated function as the lowering rule of ``primitives``."""
    def register(rule: Callable) -> Callable:
        for p in primitives:
            LOWERINGS[p] = rule
        return rule
    return register


def can_fuse(eqn: JaxprEqn) -> bool:
    """The fusion policy's filter: width-changing bitcasts change the shape, so they stay opaque."""
    if eqn.primitive is ew.bitcast_convert_type_p:
        return eqn.inputs[0].aval.dtype.itemsize == eqn.out_binders[0].aval.dtype.itemsize
    return True


def lower_opaque_as_fused(ctx, kernel: fusion.Kernel) -> bool:
    """Lower a lone elementwise/index-mapped equation or reduction that fusion left opaque (e.g. a sum
    of a jaxpr input) with the fused-kernel renderer; False when it is not one of those."""
    from .program import lower_fused
    eqn: JaxprEqn = kernel.root
    p = eqn.primitive
    if not can_fuse(eqn):
        return False
    if p in fusion.REDUCTIONS:
        shape = eqn.inputs[0].aval.shape
        kind = "reduce"
    elif p in fusion.ELEMENTWISE or p in fusion.INDEX_MAPPED or p in fusion.GENERATORS:
        shape = eqn.out_binders[0].aval.shape
        kind = "loop"
    else:
        return False
    lower_fused(ctx, fusion.Kernel(kind, [eqn], shape, list(kernel.inputs), list(eqn.out_binders)))
    return True


def load_rules() -> None:
    """Import the rule modules (each registers its primitives)."""
    from . import (lower_callbacks, lower_control, lower_conv, lower_cumulative, lower_dot, lower_fft,  # noqa: F401
                   lower_indexing, lower_linalg, lower_sort, lower_structural, lower_windowed)
