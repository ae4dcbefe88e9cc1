"""``lax.ragged_dot`` and ``lax.ragged_dot_general``: matmuls whose lhs ragged dimension falls into consecutive
groups (of sizes ``group_sizes``); built, as JAX's own lowering, from group masks and one ``dot_general``."""
from __future__ import annotations

import dataclasses
import enum
from typing import Any, Sequence

import numpy as np

from .primitives import contractions as ct, elementwise as ew, reductions as red, structural as st
from .trace import get_aval


@dataclasses.dataclass(frozen=True)
class RaggedDotDimensionNumbers:
    """``dot_dimension_numbers`` as in ``dot_general``, plus the lhs ragged dimension(s) and rhs group
    dimension(s)."""
    dot_dimension_numbers: tuple
    lhs_ragged_dimensions: Sequence[int]
    rhs_group_dimensions: Sequence[int]

    def __init__(self, dot_dimension_numbers, lhs_ragged_dimensions, rhs_group_dimensions) -> None:
        object.__setattr__(self, "dot_dimension_numbers", tuple(tuple(map(tuple, t)) for t in dot_dimension_numbers))
        object.__setattr__(self, "lhs_ragged_dimensions", tuple(lhs_ragged_dimensions))
        object.__setattr__(self, "rhs_group_dimensions", tuple(rhs_group_dimensions))


_BASIC = RaggedDotDimensionNumbers((([1], [1]), ([], [])), [0], [0])


class _Mode(enum.Enum):
    NONCONTRACTING = 1  # [b,m,k], [g,b,k,n], [b,g] -> [b,m,n]
    CONTRACTING = 2  # [b,m,k], [b,k,n], [b,g] -> [g,b,m,n]
    BATCH = 3  # [b,m,k], [b,k,n], [g] -> [b,m,n]


def _remaining(rank: int, *used: Sequence[int]) -> list[int]:
    return [i for i in range(rank) if not any(i in u for u in used)]


def _prefix_dims(mode: _Mode, rank: int, ragged: int, batch: Sequence[int], contract: Sequence[int]) -> list[int]:
    """The dimensions (in order) that a ``group_sizes`` of rank > 1 carries before its group axis."""
    batch, contract = list(batch), list(contract)
    if mode is _Mode.NONCONTRACTING:
        noncontract = _remaining(rank, contract, batch)
        return batch + noncontract[:noncontract.index(ragged)]
    if mode is _Mode.CONTRACTING:
        return batch + contract[:contract.index(ragged)]
    return batch[:batch.index(ragged)]


def _in_range(dim: int, rank: int, dim_name: str, arg_name: str) -> None:
    if dim < 0 or dim >= rank:
        raise TypeError(f"ragged_dot_general requires {dim_name} numbers to be nonnegative and less than the number "
                        f"of axes of the {arg_name} value, got {dim} for {arg_name} of rank {rank}.")


def _check(lhs, rhs, group_sizes, dn: RaggedDotDimensionNumbers) -> tuple[_Mode, int]:
    """JAX's shape and dtype rules for ``ragged_dot_general`` (its TypeErrors); the mode and lhs ragged dim."""
    if len(dn.lhs_ragged_dimensions) != 1:
        raise TypeError("ragged_dot_general expects exactly one lhs ragged dimension.")
    ragged = dn.lhs_ragged_dimensions[0]
    _in_range(ragged, lhs.ndim, "lhs ragged dimension", "lhs")
    (lc, rc), (lb, rb) = dn.dot_dimension_numbers
    mode = (_Mode.CONTRACTING if ragged in lc else _Mode.BATCH if ragged in lb else _Mode.NONCONTRACTING)
    if group_sizes.ndim == 0:
        raise TypeError("expected rank of group_sizes to be >=1.")
    if group_sizes.ndim != 1:
        expected = tuple(lhs.shape[i] for i in _prefix_dims(mode, lhs.ndim, ragged, lb, lc))
        expected += (group_sizes.shape[-1],)
        if tuple(group_sizes.shape) != expected:
            raise TypeError(f"expected group_sizes to have shape {expected}, got {tuple(group_sizes.shape)}.")
    groups = group_sizes.shape[-1]
    rg = dn.rhs_group_dimensions
    if mode is not _Mode.NONCONTRACTING and rg:
        raise TypeError("ragged_dot_general requires zero group dimensions in the rhs when lhs ragged dimension is "
                        "contracting or batch.")
    if mode is _Mode.NONCONTRACTING:
        if len(rg) != 1:
            raise TypeError("ragged_dot_general requires exactly one rhs group dimension when lhs ragged dimension "
                            "is noncontracting.")
        _in_range(rg[0], rhs.ndim, "rhs group dimension", "rhs")
        if rg[0] in rb or rg[0] in rc:
            raise TypeError("ragged_dot_general requires rhs group dimension numbers to be distinct from contracting "
                            "and batch dimensions.")
        if rhs.shape[rg[0]] != groups:
            raise TypeError(f"expected rhs group dimension size to be {groups}, got {rhs.shape[rg[0]]}.")
    if not np.issubdtype(group_sizes.dtype, np.integer):
        raise TypeError("ragged_dot_general requires that group_sizes.dtype is subtype of np.integer.")
    return mode, ragged


def _expand(x: Any, dim: int, group_sizes: Any, prefix: Sequence[int]) -> Any:
    """``x`` with a new leading group axis: entry ``j`` keeps the slots of ``dim`` in group ``j`` (others 0);
    ``group_sizes`` has shape ``[x.shape[p] for p in prefix] + [g]`` (one set of groups per prefix index)."""
    aval, gs_aval = get_aval(x), get_aval(group_sizes)
    g = gs_aval.shape[-1]
    shape = (g, *aval.shape)
    ends = red.cumsum(group_sizes, gs_aval.ndim - 1)
    starts = ew.sub(ends, group_sizes)
    order = [len(prefix)] + sorted(range(len(prefix)), key=lambda i: prefix[i])  # group axis first, then sorted
    dims = (0, *sorted(p + 1 for p in prefix))
    ends, starts = (st.broadcast_in_dim(st.transpose(v, order), shape, dims) for v in (ends, starts))
    slot = st.broadcasted_iota(gs_aval.dtype, shape, dim + 1)
    member = ew.bitwise_and(ew.ge(slot, starts), ew.lt(slot, ends))
    return ew.select(member, st.broadcast_in_dim(x, shape, tuple(range(1, len(shape)))),
                     st.full(shape, 0, aval.dtype))


def ragged_dot_general(lhs: Any, rhs: Any, group_sizes: Any, ragged_dot_dimension_numbers: RaggedDotDimensionNumbers,
                       precision: Any = None, preferred_element_type: Any = None, group_offset: Any = None,
                       out_sharding: Any = None) -> Any:
    """``dot_general`` whose lhs ragged dimension is split into groups (JAX's three modes: ragged non-contracting
    dim, each group with its rhs group slice; ragged contracting dim, one result per group in a new leading axis;
    ragged batch dim, a plain ``dot_general``)."""
    if group_offset is not None:
        raise NotImplementedError("lax.ragged_dot_general with group_offset is not implemented")
    if out_sharding is not None:
        raise NotImplementedError("lax.ragged_dot_general with out_sharding is not implemented")
    lhs, rhs, group_sizes = ew.asarray(lhs), ew.asarray(rhs), ew.asarray(group_sizes)
    dn = ragged_dot_dimension_numbers
    la, ra, ga = get_aval(lhs), get_aval(rhs), get_aval(group_sizes)
    mode, ragged = _check(la, ra, ga, dn)
    (lc, rc), (lb, rb) = dn.dot_dimension_numbers
    lc, rc, lb, rb = map(list, (lc, rc, lb, rb))
    dot = lambda x, y, d: ct.dot_general(x, y, d, precision=precision, preferred_element_type=preferred_element_type)
    incr = lambda dims: [d + 1 for d in dims]
    l_prefix = _prefix_dims(mode, la.ndim, ragged, lb, lc) if ga.ndim > 1 else []
    if mode is _Mode.NONCONTRACTING:
        return dot(_expand(lhs, ragged, group_sizes, l_prefix), rhs,
                   ((incr(lc) + [0], rc + [dn.rhs_group_dimensions[0]]), (incr(lb), rb)))
    if mode is _Mode.CONTRACTING:
        r_ragged = rc[lc.index(ragged)]
        r_prefix = _prefix_dims(mode, ra.ndim, r_ragged, rb, rc) if ga.ndim > 1 else []
        return dot(_expand(lhs, ragged, group_sizes, l_prefix), _expand(rhs, r_ragged, group_sizes, r_prefix),
                   ((incr(lc), incr(rc)), ([0] + incr(lb), [0] + incr(rb))))
    return dot(lhs, rhs, dn.dot_dimension_numbers)


def ragged_dot(lhs: Any, rhs: Any, group_sizes: Any, precision: Any = None, preferred_element_type: Any = None,
               group_offset: Any = None, out_sharding: Any = None) -> Any:
    """``lhs`` (m, k) times ``rhs`` (g, k, n): row ``i`` of the (m, n) result uses ``rhs[j]`` for the group ``j``
    (of sizes ``group_sizes``, in order) that row ``i`` belongs to (rows past the last group are 0)."""
    return ragged_dot_general(lhs, rhs, group_sizes, _BASIC, precision=precision,
                              preferred_element_type=preferred_element_type, group_offset=group_offset,
                              out_sharding=out_sharding)
