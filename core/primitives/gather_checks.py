"""Well-formedness checks of gather's and scatter's dimension numbers, in the order and words of JAX's shape
rules (which follow XLA's ShapeInference::InferGatherShape / InferScatterShape). The index vector is the last
dimension of the indices."""
from __future__ import annotations

from typing import Sequence

from .. import dtypes
from ..ir import ShapedArray


def _is_sorted(dims: Sequence[int], op: str, name: str) -> None:
    if any(dims[i] < dims[i - 1] for i in range(1, len(dims))):
        raise TypeError(f"{name} in {op} op must be sorted; got {dims}")


def _dims_in_range(dims: Sequence[int], rank: int, op: str, name: str) -> None:
    for d in dims:
        if d < 0 or d >= rank:
            raise TypeError(f"Invalid {name} set in {op} op; valid range is [0, {rank}); got: {d}.")


def _sorted_dims_in_range(dims: Sequence[int], rank: int, op: str, name: str) -> None:
    if not dims:
        return
    bad = dims[0] if dims[0] < 0 else dims[-1] if dims[-1] >= rank else None
    if bad:
        raise TypeError(f"Invalid {name} set in {op} op; valid range is [0, {rank}); got: {bad}.")


def _no_duplicate_dims(dims: Sequence[int], op: str, name: str) -> None:
    if len(set(dims)) != len(dims):
        raise TypeError(f"{name} in {op} op must not repeat; got: {dims}.")


def _disjoint_dims(dims1: Sequence[int], dims2: Sequence[int], op: str, name1: str, name2: str) -> None:
    if not set(dims1).isdisjoint(dims2):
        raise TypeError(f"{name1} and {name2} in {op} op must be disjoint; got: {dims1} and {dims2}.")


def _check_integer_indices(indices: ShapedArray) -> None:
    if dtypes.kind(indices.dtype) not in "iu":
        raise ValueError("indices must have an integer type")


def _check_batching_dims(op: str, operand: ShapedArray, indices: ShapedArray, operand_batching_dims: Sequence[int],
                         indices_batching_dims: Sequence[int], indices_name: str) -> tuple:
    """The checks gather and scatter share on the batching dims; returns the operand's batch shape."""
    index_vector_dim = indices.ndim - 1
    _no_duplicate_dims(indices_batching_dims, op, indices_name)
    _dims_in_range(indices_batching_dims, indices.ndim, op, indices_name)
    Op = op.capitalize()
    if index_vector_dim in indices_batching_dims:
        raise TypeError(f"{Op} op cannot have the index vector dimension as a batching dimension; got "
                        f"{indices_batching_dims}.")
    if len(operand_batching_dims) != len(indices_batching_dims):
        sep = "" if op == "gather" else " "  # JAX's gather message lacks the space
        raise TypeError(f"{Op} op requires equal numbers of operand_batching_dims and {indices_name}, got "
                        f"{operand_batching_dims} and{sep}{indices_batching_dims}.")
    operand_batch = tuple(operand.shape[i] for i in operand_batching_dims)
    indices_batch = tuple(indices.shape[i] for i in indices_batching_dims)
    if operand_batch != indices_batch:
        raise TypeError(f"{Op} op requires operand batching dimensions and indices batching dimensions to have the "
                        f"same shape, got {operand_batch} and {indices_batch}.")
    return operand_batch


def check_gather(operand: ShapedArray, indices: ShapedArray, dn, slice_sizes: Sequence[int]) -> None:
    """JAX's ``_gather_shape_rule`` and ``_gather_dtype_rule`` checks."""
    offset_dims, collapsed = tuple(dn.offset_dims), tuple(dn.collapsed_slice_dims)
    start_index_map, operand_batching = tuple(dn.start_index_map), tuple(dn.operand_batching_dims)
    index_vector_dim = indices.ndim - 1
    if index_vector_dim < 0:
        raise TypeError(f"Gather index leaf dimension must be within [0, rank(indices) + 1). rank(indices) is "
                        f"{indices.ndim} and gather index leaf dimension is {index_vector_dim}.")
    _is_sorted(offset_dims, "gather", "offset_dims")
    _no_duplicate_dims(offset_dims, "gather", "offset_dims")
    out_rank = len(offset_dims) + indices.ndim - 1
    for i, d in enumerate(offset_dims):
        if d < 0 or d >= out_rank:
            raise TypeError(f"Offset dimension {i} in gather op is out of bounds; got {d}, but should have been in "
                            f"[0, {out_rank})")
    _check_index_map(start_index_map, indices, index_vector_dim, operand, "Gather", "start_index_map",
                     "start_index_map", ".")
    _is_sorted(collapsed, "gather", "collapsed_slice_dims")
    _sorted_dims_in_range(collapsed, operand.ndim, "gather", "collapsed_slice_dims")
    _no_duplicate_dims(collapsed, "gather", "collapsed_slice_dims")
    _no_duplicate_dims(operand_batching, "gather", "operand_batching_dims")
    _is_sorted(operand_batching, "gather", "operand_batching_dims")
    _sorted_dims_in_range(operand_batching, operand.ndim, "gather", "operand_batching_dims")
    _disjoint_dims(collapsed, operand_batching, "gather", "collapsed_slice_dims", "operand_batching_dims")
    _disjoint_dims(start_index_map, operand_batching, "gather", "start_index_map", "operand_batching_dims")
    _check_batching_dims("gather", operand, indices, operand_batching, tuple(dn.start_indices_batching_dims),
                         "start_indices_batching_dims")
    if operand.ndim != len(slice_sizes):
        raise TypeError(f"Gather op must have one slice size for every input dimension; got: "
                        f"len(slice_sizes)={len(slice_sizes)}, input_shape.rank={operand.ndim}")
    if len(slice_sizes) != len(offset_dims) + len(collapsed) + len(operand_batching):
        raise TypeError(f"All components of the offset index in a gather op must either be a offset dimension or "
                        f"explicitly collapsed/batching; got len(slice_sizes)={len(slice_sizes)}, "
                        f"output_slice_sizes={offset_dims}, collapsed_slice_dims={collapsed}, "
                        f"operand_batching_dims={operand_batching}.")
    if indices.size:
        for i, (s, n) in enumerate(zip(slice_sizes, operand.shape)):
            if not 0 <= s <= n:
                raise TypeError(f"Slice size at index {i} in gather op is out of range, must be within [0, {n} + 1), "
                                f"got {s}.")
    for i, d in enumerate(collapsed):
        if slice_sizes[d] != 1:
            raise TypeError(f"Gather op can only collapse slice dims with bound 1, but bound is {slice_sizes[d]} "
                            f"for index {d} at position {i}.")
    for i, d in enumerate(operand_batching):
        if slice_sizes[d] > 1:
            raise TypeError(f"Gather op can only have operand batching dims with bound 0/1, but bound is "
                            f"{slice_sizes[d]} for index {d} at position {i}.")
    _check_integer_indices(indices)


def _check_index_map(index_map, indices, index_vector_dim: int, operand, op: str, name: str, invalid: str,
                     end: str) -> None:
    """JAX's checks of a gather's ``start_index_map`` / a scatter's ``scatter_dims_to_operand_dims`` (``end``: the
    full stop JAX's gather message has and its scatter message lacks)."""
    if len(index_map) != indices.shape[index_vector_dim]:
        raise TypeError(f"{op} op has {len(index_map)} elements in {name} and the bound of dimension "
                        f"index_vector_dim={index_vector_dim} of indices is {indices.shape[index_vector_dim]}. "
                        f"These two numbers must be equal{end}")
    for i, d in enumerate(index_map):
        if d < 0 or d >= operand.ndim:
            raise TypeError(f"Invalid {invalid}; domain is [0, {operand.ndim}), got: {i}->{d}.")
    _no_duplicate_dims(index_map, op.lower(), name)


def check_scatter(operand: ShapedArray, indices: ShapedArray, updates: ShapedArray, dn) -> None:
    """JAX's ``_scatter_shape_rule`` and ``_scatter_dtype_rule`` checks."""
    window_dims, inserted = tuple(dn.update_window_dims), tuple(dn.inserted_window_dims)
    operand_batching, indices_batching = tuple(dn.operand_batching_dims), tuple(dn.scatter_indices_batching_dims)
    to_operand = tuple(dn.scatter_dims_to_operand_dims)
    index_vector_dim = indices.ndim - 1
    if index_vector_dim < 0:
        raise TypeError(f"Scatter index leaf dimension must be within [0, rank(indices) + 1). rank(indices) is "
                        f"{indices.ndim} and scatter index leaf dimension is {index_vector_dim}.")
    expected_rank = indices.ndim - 1 + len(window_dims)
    if updates.ndim != expected_rank:
        raise TypeError(f"Updates tensor must be of rank {expected_rank}; got {updates.ndim}.")
    _is_sorted(window_dims, "scatter", "update_window_dims")
    _no_duplicate_dims(window_dims, "scatter", "update_window_dims")
    _sorted_dims_in_range(window_dims, updates.ndim, "scatter", "update_window_dims")
    _is_sorted(inserted, "scatter", "inserted_window_dims")
    _no_duplicate_dims(inserted, "scatter", "inserted_window_dims")
    _sorted_dims_in_range(inserted, operand.ndim, "scatter", "inserted_window_dims")
    _is_sorted(operand_batching, "scatter", "operand_batching_dims")
    _no_duplicate_dims(operand_batching, "scatter", "operand_batching_dims")
    _sorted_dims_in_range(operand_batching, operand.ndim, "scatter", "operand_batching_dims")
    _disjoint_dims(inserted, operand_batching, "scatter", "inserted_window_dims", "operand_batching_dims")
    _disjoint_dims(to_operand, operand_batching, "scatter", "scatter_dims_to_operand_dims", "operand_batching_dims")
    operand_batch = _check_batching_dims("scatter", operand, indices, operand_batching, indices_batching,
                                         "scatter_indices_batching_dims")
    scatter_dim_in_updates: list = list(range(index_vector_dim))
    for i in window_dims:
        scatter_dim_in_updates.insert(i, None)
    updates_batch = tuple(updates.shape[scatter_dim_in_updates.index(i)] for i in indices_batching)
    if operand_batch != updates_batch:
        raise TypeError(f"Scatter op requires operand batching dimensions and updates batching dimensions to have "
                        f"the same shape, got {operand_batch} and {updates_batch}.")
    window_size = len(window_dims) + len(inserted) + len(operand_batching)
    if operand.ndim != window_size:
        raise TypeError(f"Scatter op has window of size {window_size}; doesn't match operand of rank {operand.ndim}.")
    _check_index_map(to_operand, indices, index_vector_dim, operand, "Scatter", "scatter_dims_to_operand_dims",
                     "scatter_dims_to_operand_dims mapping", "")
    max_sizes = [n for i, n in enumerate(operand.shape) if i not in inserted and i not in operand_batching]
    for i, d in enumerate(window_dims):
        if max_sizes[i] < updates.shape[d]:
            raise TypeError(f"Bounds of the window dimensions of updates must not exceed the bounds of the "
                            f"corresponding dimensions of operand. For dimension {d}, updates bound is "
                            f"{updates.shape[d]}, operand bound is {max_sizes[i]}.")
    seen = 0
    for i in (d for d in range(updates.ndim) if d not in window_dims):
        if seen == index_vector_dim:
            seen += 1
        if updates.shape[i] != indices.shape[seen]:
            raise TypeError(f"Bounds of the scatter dimensions of updates must be the same as the bounds of the "
                            f"corresponding dimensions of scatter indices. For scatter dimension {i}, updates bound "
                            f"is {updates.shape[i]}, indices bound is {indices.shape[seen]}.")
        seen += 1
    _check_integer_indices(indices)
    if operand.dtype != updates.dtype:
        raise TypeError(f"lax.scatter requires arguments to have the same dtypes, got {operand.dtype}, "
                        f"{updates.dtype}.")
