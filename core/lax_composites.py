"""``jax.lax`` functions that are compositions of primitives rather than primitives of their own:
batch_matmul, broadcast_shapes, broadcast_to_rank, collapse, split, tile, reduce,
scatter_sub and optimization_barrier."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .numpy._util import broadcast_shapes as _broadcast_shapes
from .primitives import contractions as ct, elementwise as ew, indexing as ix, reductions as red, structural as st
from .pytree import tree_flatten, tree_map, tree_unflatten
from .trace import get_aval


def batch_matmul(lhs: Any, rhs: Any, precision: Any = None) -> Any:
    """Batched matrix multiplication of ``[..., m, k]`` and ``[..., k, n]`` with equal batch dimensions."""
    lhs, rhs = ew.asarray(lhs), ew.asarray(rhs)
    la, ra = get_aval(lhs), get_aval(rhs)
    if la.ndim < 2 or la.ndim != ra.ndim or la.shape[:-2] != ra.shape[:-2]:
        raise ValueError(f"batch_matmul requires operands of equal rank >= 2 and equal batch dimensions, got "
                         f"{la.shape} and {ra.shape}")
    nb = la.ndim - 2
    batch = tuple(range(nb))
    return ct.dot_general(lhs, rhs, (((nb + 1,), (nb,)), (batch, batch)), precision)


def broadcast_shapes(*shapes: Sequence[int]) -> tuple:
    """The numpy broadcast of the shapes (a ValueError when they are incompatible; a TypeError for a shape that is
    not a sequence of non-negative integers, as ``lax.broadcast_shapes``)."""
    for shape in shapes:
        if not all(d >= 0 for d in st.canonicalize_shape(shape)):
            raise TypeError("Only non-negative indices are allowed when broadcasting static shapes, but got shape "
                            f"{shape!r}.")
    return _broadcast_shapes(*shapes)


def broadcast_to_rank(x: Any, rank: int) -> Any:
    """Prepend size-1 dimensions until ``x`` has ``rank`` dimensions."""
    x = ew.asarray(x)
    nd = get_aval(x).ndim
    if nd >= rank:
        return x
    return st.broadcast(x, (1,) * (rank - nd))


def collapse(operand: Any, start_dimension: int, stop_dimension: int | None = None) -> Any:
    """Merge dimensions ``[start_dimension, stop_dimension)`` into one."""
    operand = ew.asarray(operand)
    shape = get_aval(operand).shape
    nd = len(shape)
    lo = start_dimension % nd if nd else 0
    hi = nd if stop_dimension is None else (stop_dimension % (nd + 1) if stop_dimension < 0 else stop_dimension)
    if lo > hi:
        raise ValueError(f"collapse: start_dimension {start_dimension} must not exceed stop_dimension {stop_dimension}")
    size = int(np.prod(shape[lo:hi], dtype=np.int64))
    return st.reshape(operand, shape[:lo] + (size,) + shape[hi:])


def split(operand: Any, sizes: Sequence[int], axis: int = 0) -> list:
    """Split ``operand`` along ``axis`` into pieces of the given sizes (which must add up to its length)."""
    operand = ew.asarray(operand)
    shape = get_aval(operand).shape
    axis = st.canonicalize_axis(axis, len(shape))
    sizes = [int(s) for s in sizes]
    if any(s < 0 for s in sizes):
        raise ValueError(f"Sizes passed to split must be nonnegative, got {sizes}")
    if sum(sizes) != shape[axis]:
        raise ValueError(f"Sum of sizes {sum(sizes)} must be equal to dimension {axis} of the operand shape "
                         f"{list(shape)}")
    out, start = [], 0
    for s in sizes:
        out.append(st.slice_in_dim(operand, start, start + s, 1, axis))
        start += s
    return out


def tile(operand: Any, reps: Sequence[int]) -> Any:
    """Repeat ``operand`` ``reps[i]`` times along each dimension i."""
    operand = ew.asarray(operand)
    shape = get_aval(operand).shape
    reps = tuple(int(m) for m in reps)
    if len(reps) != len(shape):
        raise TypeError(f"reps length must be equal to the ndim of x, got len(reps)={len(reps)} and "
                        f"x.ndim={len(shape)}.")
    big = tuple(v for m, d in zip(reps, shape) for v in (m, d))
    b = st.broadcast_in_dim(operand, big, tuple(range(1, 2 * len(shape), 2)))
    return st.reshape(b, tuple(m * d for m, d in zip(reps, shape)))


_MONOIDS = {ew.add: red.reduce_sum, ew.mul: red.reduce_prod, ew.max: red.reduce_max, ew.min: red.reduce_min,
            ew.bitwise_and: red.reduce_and, ew.bitwise_or: red.reduce_or, ew.bitwise_xor: red.reduce_xor}


def reduce(operands: Any, init_values: Any, computation: Callable, dimensions: Sequence[int]) -> Any:
    """``lax.reduce``: fold ``computation`` over ``dimensions`` starting from ``init_values`` (pytrees of equal
    structure). Known monoids use the reduction primitives; any other associative computation is reduced
    by pairwise halving."""
    flat_ops, tree = tree_flatten(operands)
    flat_init, init_tree = tree_flatten(init_values)
    if init_tree != tree:
        raise ValueError(f"Operands must have the same tree structure as init_values: {tree} vs. {init_tree}")
    if any(np.ndim(v) != 0 for v in flat_init):
        raise ValueError(f"reduce found non-scalar initial value: {[np.shape(v) for v in flat_init]}")
    flat_ops = [ew.asarray(x) for x in flat_ops]
    nd = get_aval(flat_ops[0]).ndim
    dims = tuple(sorted(int(d) % nd for d in dimensions)) if nd else ()
    if len(flat_ops) == 1 and computation in _MONOIDS:
        out = _MONOIDS[computation](flat_ops[0], dims)
        return tree_unflatten(tree, [computation(out, ew.convert_element_type(flat_init[0], get_aval(out).dtype))])

    def combine(a, b):
        return tree_flatten(computation(tree_unflatten(tree, a), tree_unflatten(tree, b)))[0]

    out_shape = tuple(s for i, s in enumerate(get_aval(flat_ops[0]).shape) if i not in dims)
    inits = [st.broadcast_in_dim(ew.convert_element_type(v, get_aval(x).dtype), out_shape, ())
             for x, v in zip(flat_ops, flat_init)]
    if any(get_aval(flat_ops[0]).shape[d] == 0 for d in dims):
        return tree_unflatten(tree, inits)
    xs = flat_ops
    for d in reversed(dims):
        while get_aval(xs[0]).shape[d] > 1:
            n = get_aval(xs[0]).shape[d]
            half = n // 2
            lo = [st.slice_in_dim(x, 0, half, 1, d) for x in xs]
            hi = [st.slice_in_dim(x, half, 2 * half, 1, d) for x in xs]
            merged = combine(lo, hi)
            if n % 2:
                merged = [st.concatenate([m, st.slice_in_dim(x, n - 1, n, 1, d)], d) for m, x in zip(merged, xs)]
            xs = merged
    xs = [st.squeeze(x, dims) for x in xs]
    return tree_unflatten(tree, combine(xs, inits))


def scatter_sub(operand: Any, scatter_indices: Any, updates: Any, dimension_numbers: Any, *,
                indices_are_sorted: bool = False, unique_indices: bool = False, mode: Any = None) -> Any:
    """``lax.scatter_sub``: scatter-add of the negated updates."""
    return ix.scatter_add(operand, scatter_indices, ew.neg(ew.asarray(updates)), dimension_numbers,
                          indices_are_sorted=indices_are_sorted, unique_indices=unique_indices, mode=mode)


def scatter_apply(operand: Any, scatter_indices: Any, func: Callable, dimension_numbers: Any, *,
                  update_shape: Sequence[int] = (), indices_are_sorted: bool = False, unique_indices: bool = False,
                  mode: Any = None) -> Any:
    """``lax.scatter_apply``: ``operand`` with the scalar function ``func`` applied at each scattered position, once
    per time the position is hit (so duplicate indices apply it repeatedly, as XLA's scatter). As in JAX, it is not
    differentiable (NotImplementedError)."""
    from .api import vmap
    from .primitives.control_flow import while_loop
    from .primitives.custom_derivatives import custom_jvp
    operand = ew.asarray(operand)
    aval = get_aval(operand)
    hits = ix.scatter_add(st.full(aval.shape, 0, np.int32), scatter_indices, st.full(tuple(update_shape), 1, np.int32),
                          dimension_numbers, indices_are_sorted=indices_are_sorted, unique_indices=unique_indices,
                          mode=mode)
    apply = lambda x: st.reshape(vmap(func)(st.reshape(x, (aval.size,))), aval.shape)

    def body(carry: tuple) -> tuple:
        k, x = carry
        return ew.add(k, np.int32(1)), ew.select(ew.gt(hits, k), apply(x), x)

    total = red.reduce_max(hits, tuple(range(aval.ndim))) if aval.size else np.int32(0)
    applied = custom_jvp(lambda x: while_loop(lambda c: ew.lt(c[0], total), body, (np.int32(0), x))[1])

    @applied.defjvp
    def _no_jvp(primals, tangents):
        raise NotImplementedError("scatter_apply JVP not implemented")
    return applied(operand)


def stack(operands: Sequence[Any], axis: int = 0) -> Any:
    """``lax.stack``: arrays of one shape stacked along a new ``axis``."""
    arrays = [ew.asarray(x) for x in operands]
    axis = st.canonicalize_axis(axis, get_aval(arrays[0]).ndim + 1)
    return st.concatenate([st.expand_dims(x, (axis,)) for x in arrays], axis)


def unstack(x: Any, axis: int = 0) -> tuple:
    """``lax.unstack``: the slices of ``x`` along ``axis``, as a tuple."""
    x = ew.asarray(x)
    axis = st.canonicalize_axis(axis, get_aval(x).ndim)
    return tuple(st.index_in_dim(x, i, axis, keepdims=False) for i in range(get_aval(x).shape[axis]))


def optimization_barrier(operand: Any) -> Any:
    """Returns its (pytree) argument unchanged; portax's compilers do not reorder across Python calls."""
    return tree_map(ew.asarray, operand)


Precision = ct.Precision


__all__ = ["Precision", "batch_matmul", "broadcast_shapes", "broadcast_to_rank", "collapse",
           "optimization_barrier", "reduce", "scatter_sub", "split", "tile"]
