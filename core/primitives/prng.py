"""threefry2x32: the counter-based PRNG block function behind ``portax.random`` (uint32 arithmetic)."""
from __future__ import annotations

from typing import Any

from .. import dtypes
from ..interpreters import batching, jvp as ad
from ..ir import ShapedArray
from ..trace import Primitive, abstract_eval_rules, batching_rules, get_aval
from . import elementwise as ew
from . import structural as st


def _threefry_abstract(k1: ShapedArray, k2: ShapedArray, x1: ShapedArray, x2: ShapedArray):
    for a in (k1, k2, x1, x2):
        if a.dtype != dtypes.uint32:
            raise TypeError(f"threefry2x32 requires uint32 arguments, got {[b.dtype.name for b in (k1, k2, x1, x2)]}")
    if not (k1.shape == k2.shape == x1.shape == x2.shape):
        raise TypeError(f"threefry2x32 requires arguments of one shape, got "
                        f"{[b.shape for b in (k1, k2, x1, x2)]}")
    return [ShapedArray(x1.shape, dtypes.uint32), ShapedArray(x1.shape, dtypes.uint32)]


def _threefry_batch(axis, vals, dims):
    vals = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims)]
    return threefry2x32_p.bind(*vals), [0, 0]


threefry2x32_p = Primitive("threefry2x32", multiple_results=True)
abstract_eval_rules[threefry2x32_p] = _threefry_abstract
batching_rules[threefry2x32_p] = _threefry_batch
ad.defjvp_zero(threefry2x32_p)


def threefry2x32(k1: Any, k2: Any, x1: Any, x2: Any) -> list:
    """Apply the Threefry-2x32 block cipher (20 rounds) to counters ``(x1, x2)`` under key ``(k1, k2)``;
    scalar keys broadcast to the counters' shape."""
    x1, x2 = ew.asarray(x1), ew.asarray(x2)
    shape = get_aval(x1).shape
    k1, k2 = (st.broadcast_in_dim(ew.asarray(k), shape, ()) if get_aval(ew.asarray(k)).shape != shape else k
              for k in (k1, k2))
    return threefry2x32_p.bind(k1, k2, x1, x2)


PRNG = (threefry2x32_p,)
