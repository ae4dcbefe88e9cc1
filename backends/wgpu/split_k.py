"""Split-K: a reduction each invocation runs as one long loop (a window, a convolution's products, a matmul's
contraction) split across invocations. The first kernel computes partial results over chunks of the reduction
into an array ``(chunks, *out.shape)``; a reduce kernel of the renderer (``program.lower_fused``) folds the
chunk axis. Used when the loop would pass the driver's ``loop_trip_limit`` (lavapipe stops an invocation's
loops after 65,535 iterations), or when it is long and the outputs are too few to occupy the device.
Max and min stay exact; sums are summed per chunk, then over the chunks (pairwise-like, more accurate).
"""
from __future__ import annotations

import math

import numpy as np

from portax.core import fusion
from portax.core.ir import JaxprEqn, ShapedArray, Var
from portax.core.primitives import reductions as red

from . import lower_structural
from .kernel_writer import MAX_INDEX, KernelWriter, u32
from .program import LoweringContext, lower_fused

MIN_WORKGROUPS = 64  # fewer workgroups than this leave a GPU idle: long reductions are split ...
MIN_CHUNK_TRIPS = 2048  # ... into chunks of at least this many loop iterations
_REG_DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "u32": np.uint32, "i64": np.int64,
               "u64": np.uint64, "bool": np.bool_}
COMBINE = {"sum": red.reduce_sum_p, "max": red.reduce_max_p, "min": red.reduce_min_p}


class Split:
    """A reduction of ``n`` elements per output as ``chunks`` chunks of ``length`` (a multiple of the
    alignment) whose partial results go to ``partials`` (a variable of shape ``(chunks, *out.shape)``)."""

    def __init__(self, n: int, chunks: int, length: int, partials: Var):
        self.n, self.chunks, self.length, self.partials = n, chunks, length, partials

    def bounds(self, w: KernelWriter, chunk: str, prefix: str = "k") -> tuple[str, str]:
        """(first, end) reduction index of chunk ``chunk`` (declared as ``{prefix}_begin``/``{prefix}_end``)."""
        w.line(f"let {prefix}_begin = {chunk} * {u32(self.length)};")
        w.line(f"let {prefix}_end = min({prefix}_begin + {u32(self.length)}, {u32(self.n)});")
        return f"{prefix}_begin", f"{prefix}_end"


def output_kernel(name: str, out: Var, count: int,
                  split: Split | None) -> tuple[KernelWriter, list[str], int, str, str]:
    """``lower_structural.output_kernel`` for a loop over ``count`` reduction elements per element of ``out``, or
    per element of ``split``'s partials (one per chunk): the writer, the coordinates in ``out``, the invocation
    count, and the first and end reduction index of the element's loop (its trips counted)."""
    w, coords, n = lower_structural.output_kernel(name, out if split is None else split.partials)
    if split is None:
        w.loops(count)
        return w, coords, n, "0u", u32(count)
    w.loops(split.length)
    return (w, coords[1:], n, *split.bounds(w, coords[0]))


def label(split: Split | None) -> str:
    """What a split kernel's context adds (`` split-k xN``)."""
    return "" if split is None else f" split-k x{split.chunks}"


def acc_dtype(reg: str) -> np.dtype:
    """The dtype of partial results accumulated in WGSL register type ``reg``."""
    return np.dtype(_REG_DTYPES[reg])


def plan(ctx: LoweringContext, trips: int, workgroups: int, n: int, out: Var, acc: np.dtype,
         align: int = 1) -> Split | None:
    """How to split a reduction of ``n`` elements whose invocations run ``trips`` loop iterations each in an
    unsplit kernel of ``workgroups`` workgroups, writing ``out`` from accumulators of dtype ``acc``; None to
    keep it whole (short, or the partials would not fit a binding: then a kernel past the limit is refused)."""
    limit = ctx.caps.loop_trip_limit
    need = 1 if limit is None else -(-trips // max(1, limit * 3 // 4))  # (a margin for rounding the chunks)
    want = 1
    if workgroups < MIN_WORKGROUPS and trips >= 2 * MIN_CHUNK_TRIPS:
        want = min(trips // MIN_CHUNK_TRIPS, -(-MIN_WORKGROUPS // workgroups))
    chunks = max(need, want)
    if chunks <= 1 or not _combinable(acc, out.aval.dtype):
        return None
    per_chunk = -(-n // chunks)
    length = -(-per_chunk // align) * align
    chunks = -(-n // length)
    size = chunks * math.prod(out.aval.shape)
    if chunks <= 1 or size > MAX_INDEX or size * acc.itemsize > ctx.limits.max_storage_buffer_binding_size:
        return None
    return Split(n, chunks, length, Var(ShapedArray((chunks, *out.aval.shape), acc)))


def _combinable(acc: np.dtype, out: np.dtype) -> bool:
    """Whether the reduce kernel folding ``acc`` partials can write ``out`` itself (the same dtype, or a
    narrower one of the same kind, which it rounds or wraps to)."""
    return acc == out or (acc.kind == out.kind and acc.kind in "fiu" and acc.itemsize >= out.itemsize)


def combine(ctx: LoweringContext, split: Split, how: str, out: Var) -> None:
    """``out`` = the ``how`` ("sum", "max" or "min") of ``split``'s partial results over the chunks."""
    eqn = JaxprEqn(COMBINE[how], [split.partials], {"axes": (0,)}, [out])
    lower_fused(ctx, fusion.Kernel("reduce", [eqn], split.partials.aval.shape, [split.partials], [out]))
