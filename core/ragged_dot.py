"""``lax.ragged_dot``: a matmul whose lhs rows fall into consecutive groups, each multiplied by its own rhs
matrix; built from a group mask and one batched dot (rows past the last group are 0)."""
from __future__ import annotations

from typing import Any

from .primitives import contractions as ct, elementwise as ew, reductions as red, structural as st
from .trace import get_aval


def ragged_dot(lhs: Any, rhs: Any, group_sizes: Any, precision: Any = None, preferred_element_type: Any = None,
               group_offset: Any = None) -> Any:
    """``lhs`` (m, k) times ``rhs`` (g, k, n): row ``i`` of the (m, n) result uses ``rhs[j]`` for the group ``j``
    (of sizes ``group_sizes``, in order) that row ``i`` belongs to."""
    if group_offset is not None:
        raise NotImplementedError("lax.ragged_dot with group_offset is not implemented")
    lhs, rhs, group_sizes = ew.asarray(lhs), ew.asarray(rhs), ew.asarray(group_sizes)
    (m, k), (g, k2, n) = get_aval(lhs).shape, get_aval(rhs).shape
    if k != k2 or get_aval(group_sizes).shape != (g,):
        raise TypeError(f"ragged_dot requires lhs (m, k), rhs (g, k, n) and group_sizes (g,), got shapes "
                        f"{get_aval(lhs).shape}, {get_aval(rhs).shape} and {get_aval(group_sizes).shape}")
    dt = get_aval(group_sizes).dtype
    ends = red.cumsum(group_sizes, 0)
    rows = st.broadcasted_iota(dt, (g, m), 1)
    starts = ew.sub(ends, group_sizes)
    member = ew.bitwise_and(ew.ge(rows, st.broadcast_in_dim(starts, (g, m), (0,))),
                            ew.lt(rows, st.broadcast_in_dim(ends, (g, m), (0,))))  # (g, m): row in group
    grouped = ew.select(st.broadcast_in_dim(member, (g, m, k), (0, 1)), st.broadcast_in_dim(lhs, (g, m, k), (1, 2)),
                        st.full((g, m, k), 0, get_aval(lhs).dtype))
    out = ct.dot_general(grouped, rhs, (((2,), (1,)), ((0,), (0,))), precision=precision,
                         preferred_element_type=preferred_element_type)  # (g, m, n)
    return red.reduce_sum(out, (0,))
