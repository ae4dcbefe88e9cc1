"""gather and scatter (set/add/mul/min/max) with XLA's dimension numbers, including batching dims.

Index vectors live in the last dimension of ``indices``. ``mode`` is ``"clip"`` (indices are clamped so
the whole window is in bounds) or ``"fill"`` (gather: out-of-bounds windows read ``fill_value``; scatter:
out-of-bounds updates are dropped), as in ``jax.lax.GatherScatterMode``.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from ..ad_util import Zero, add_tangents, instantiate, zeros_like_aval
from ..interpreters import batching, jvp as ad
from ..interpreters.transpose import is_undefined
from ..ir import ShapedArray
from ..trace import Primitive, abstract_eval_rules, batching_rules, get_aval, jvp_rules, transpose_rules
from . import elementwise as ew
from . import structural as st
from .gather_checks import check_gather, check_scatter


class GatherDimensionNumbers(NamedTuple):
    offset_dims: tuple
    collapsed_slice_dims: tuple
    start_index_map: tuple
    operand_batching_dims: tuple = ()
    start_indices_batching_dims: tuple = ()


class ScatterDimensionNumbers(NamedTuple):
    update_window_dims: tuple
    inserted_window_dims: tuple
    scatter_dims_to_operand_dims: tuple
    operand_batching_dims: tuple = ()
    scatter_indices_batching_dims: tuple = ()


class GatherScatterMode:
    CLIP = "clip"
    FILL_OR_DROP = "fill"
    PROMISE_IN_BOUNDS = "clip"

    @staticmethod
    def from_any(mode: Any) -> str:
        if mode is None:
            return "fill"
        m = str(mode).lower().split(".")[-1]
        if m in ("clip", "promise_in_bounds"):
            return "clip"
        if m in ("fill", "drop", "fill_or_drop"):
            return "fill"
        raise ValueError(f"Unknown gather/scatter mode {mode!r}; use 'clip' or 'fill'")


# --- gather ----------------------------------------------------------------------------------------------
def _gather_abstract(operand: ShapedArray, indices: ShapedArray, *, dimension_numbers, slice_sizes, mode,
                     fill_value):
    dn = dimension_numbers
    check_gather(operand, indices, dn, slice_sizes)
    batch_shape = indices.shape[:-1]
    window = [slice_sizes[d] for d in range(operand.ndim)
              if d not in dn.collapsed_slice_dims and d not in dn.operand_batching_dims]
    out_ndim = len(batch_shape) + len(window)
    shape, bi, wi = [], iter(batch_shape), iter(window)
    for i in range(out_ndim):
        shape.append(next(wi) if i in dn.offset_dims else next(bi))
    return ShapedArray(tuple(shape), operand.dtype, operand.weak_type)


def _gather_transpose(ct, operand, indices, *, dimension_numbers, slice_sizes, mode, fill_value):
    dn = dimension_numbers
    zeros = zeros_like_aval(operand.aval)
    sdn = ScatterDimensionNumbers(dn.offset_dims, dn.collapsed_slice_dims, dn.start_index_map,
                                  dn.operand_batching_dims, dn.start_indices_batching_dims)
    return [scatter_add_p.bind(zeros, indices, ct, dimension_numbers=sdn, indices_are_sorted=False,
                               unique_indices=False, mode=mode), None]


def _gather_batch(axis, vals, dims, *, dimension_numbers, slice_sizes, mode, fill_value):
    (operand, indices), (do, di) = vals, dims
    dn = dimension_numbers
    if do is None:  # only the indices are batched: one more batch dimension of indices
        indices = batching.moveaxis(indices, di, 0)
        new = dn._replace(offset_dims=tuple(d + 1 for d in dn.offset_dims),
                          start_indices_batching_dims=tuple(d + 1 for d in dn.start_indices_batching_dims))
        return gather_p.bind(operand, indices, dimension_numbers=new, slice_sizes=slice_sizes, mode=mode,
                             fill_value=fill_value), 0
    operand = batching.moveaxis(operand, do, 0)
    indices = batching.bdim_at_front(indices, di, axis.size)
    up = lambda ds: tuple(d + 1 for d in ds)
    new = GatherDimensionNumbers(up(dn.offset_dims), up(dn.collapsed_slice_dims), up(dn.start_index_map),
                                 (0,) + up(dn.operand_batching_dims), (0,) + up(dn.start_indices_batching_dims))
    if axis.size == 0:  # no slice of size 1 fits the empty batch dimension: the (empty) result directly
        shape = (0,) + _gather_abstract(get_aval(operand).update(shape=get_aval(operand).shape[1:]),
                                        get_aval(indices).update(shape=get_aval(indices).shape[1:]),
                                        dimension_numbers=dn, slice_sizes=slice_sizes, mode=mode,
                                        fill_value=fill_value).shape
        return st.full(shape, 0, get_aval(operand).dtype), 0
    return gather_p.bind(operand, indices, dimension_numbers=new, slice_sizes=(1,) + tuple(slice_sizes), mode=mode,
                         fill_value=fill_value), 0


def _gather_jvp(primals, tangents, *, dimension_numbers, slice_sizes, mode, fill_value):
    """Linear in the operand; out-of-bounds windows of the tangent are 0 whatever the primal's fill (as JAX)."""
    (operand, indices), (t, _) = primals, tangents
    params = dict(dimension_numbers=dimension_numbers, slice_sizes=slice_sizes, mode=mode)
    out = gather_p.bind(operand, indices, fill_value=fill_value, **params)
    if type(t) is Zero:
        return out, Zero(get_aval(out).at_least_vspace())
    return out, gather_p.bind(t, indices, fill_value=0, **params)


gather_p = Primitive("gather")
abstract_eval_rules[gather_p] = _gather_abstract
batching_rules[gather_p] = _gather_batch
jvp_rules[gather_p] = _gather_jvp
transpose_rules[gather_p] = _gather_transpose


def gather(operand: Any, start_indices: Any, dimension_numbers: GatherDimensionNumbers, slice_sizes: Sequence[int],
           *, indices_are_sorted: bool = False, unique_indices: bool = False, mode: Any = None,
           fill_value: Any = None) -> Any:
    """``lax.gather``."""
    operand, start_indices = ew.asarray(operand), ew.asarray(start_indices)
    dn = GatherDimensionNumbers(*(tuple(int(d) for d in f) for f in dimension_numbers))
    return gather_p.bind(operand, start_indices, dimension_numbers=dn, slice_sizes=tuple(int(s) for s in slice_sizes),
                         mode=GatherScatterMode.from_any(mode), fill_value=fill_value)


# --- scatter ------------------------------------------------------------------------------------------------
def _scatter_abstract(operand: ShapedArray, indices: ShapedArray, updates: ShapedArray, *, dimension_numbers,
                      indices_are_sorted, unique_indices, mode):
    check_scatter(operand, indices, updates, dimension_numbers)
    return operand


def _window_sizes(operand_shape, updates_shape, dn: ScatterDimensionNumbers) -> tuple:
    it = iter(updates_shape[d] for d in dn.update_window_dims)
    return tuple(1 if d in dn.inserted_window_dims or d in dn.operand_batching_dims else next(it)
                 for d in range(len(operand_shape)))


def _gather_dn(dn: ScatterDimensionNumbers) -> GatherDimensionNumbers:
    return GatherDimensionNumbers(dn.update_window_dims, dn.inserted_window_dims, dn.scatter_dims_to_operand_dims,
                                  dn.operand_batching_dims, dn.scatter_indices_batching_dims)


def _gather_updates_like(x, indices, updates_aval, dn, mode):
    """The windows of ``x`` that a scatter with these indices writes; dropped (out-of-bounds) ones read 0."""
    sizes = _window_sizes(get_aval(x).shape, updates_aval.shape, dn)
    if any(s > n for s, n in zip(sizes, get_aval(x).shape)):  # an empty ``x``: no window is in bounds
        return zeros_like_aval(updates_aval)
    return gather_p.bind(x, indices, dimension_numbers=_gather_dn(dn), slice_sizes=sizes, mode=mode, fill_value=0)


def _scatter_add_transpose(ct, operand, indices, updates, *, dimension_numbers, indices_are_sorted,
                           unique_indices, mode):
    ct_op = ct if is_undefined(operand) else None
    ct_up = None
    if is_undefined(updates):
        ct_up = _gather_updates_like(ct, indices, updates.aval, dimension_numbers, mode)
    return [ct_op, None, ct_up]


def _scatter_transpose(ct, operand, indices, updates, *, dimension_numbers, indices_are_sorted, unique_indices, mode):
    """Transpose of scatter-set (exact for unique indices): the operand's cotangent has the overwritten
    positions zeroed; the updates' cotangent is gathered from them."""
    u_aval = updates.aval if is_undefined(updates) else get_aval(updates)
    ct_op = None
    if is_undefined(operand):
        ct_op = scatter_p.bind(ct, indices, zeros_like_aval(u_aval), dimension_numbers=dimension_numbers,
                               indices_are_sorted=indices_are_sorted, unique_indices=unique_indices, mode=mode)
    ct_up = _gather_updates_like(ct, indices, u_aval, dimension_numbers, mode) if is_undefined(updates) else None
    return [ct_op, None, ct_up]


def _scatter_batch(p):
    def rule(axis, vals, dims, *, dimension_numbers, **params):
        operand, indices, updates = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims)]
        dn = dimension_numbers
        up = lambda ds: tuple(d + 1 for d in ds)
        new = ScatterDimensionNumbers(up(dn.update_window_dims), up(dn.inserted_window_dims),
                                      up(dn.scatter_dims_to_operand_dims), (0,) + up(dn.operand_batching_dims),
                                      (0,) + up(dn.scatter_indices_batching_dims))
        return p.bind(operand, indices, updates, dimension_numbers=new, **params), 0
    return rule


def _scatter_prim(name: str) -> Primitive:
    p = Primitive(name)
    abstract_eval_rules[p] = _scatter_abstract
    batching_rules[p] = _scatter_batch(p)
    return p


scatter_p = _scatter_prim("scatter")
scatter_add_p = _scatter_prim("scatter_add")
scatter_mul_p = _scatter_prim("scatter_mul")
scatter_min_p = _scatter_prim("scatter_min")
scatter_max_p = _scatter_prim("scatter_max")

ad.linear_jvp(scatter_add_p, 0, 2)
transpose_rules[scatter_add_p] = _scatter_add_transpose
ad.linear_jvp(scatter_p, 0, 2)
transpose_rules[scatter_p] = _scatter_transpose


def _scatter_mul_jvp(primals, tangents, **params):
    """out = operand * S with S = scatter_mul(1, idx, updates); for unique indices dS = scatter(0, idx, du)."""
    operand, indices, updates = primals
    t_op, _, t_up = tangents
    out = scatter_mul_p.bind(operand, indices, updates, **params)
    if type(t_up) is not Zero and not params["unique_indices"]:
        raise NotImplementedError("scatter_mul gradients with respect to the updates are only implemented if "
                                  "`unique_indices=True`")
    t = Zero(get_aval(out).at_least_vspace())
    if type(t_op) is not Zero:
        t = scatter_mul_p.bind(t_op, indices, updates, **params)
    if type(t_up) is not Zero:
        d_s = scatter_p.bind(st.full_like(operand, 0), indices, t_up, **params)
        t = add_tangents(t, ew.mul(operand, d_s))
    return out, t


def _scatter_mul_transpose(ct, operand, indices, updates, **params):
    """Linear in the operand only: its cotangent is the cotangent scaled by the same updates."""
    if is_undefined(updates):
        raise NotImplementedError("scatter_mul transpose is only implemented where updates is a constant")
    ct_op = scatter_mul_p.bind(ct, indices, updates, **params) if is_undefined(operand) else None
    return [ct_op, None, None]


jvp_rules[scatter_mul_p] = _scatter_mul_jvp
transpose_rules[scatter_mul_p] = _scatter_mul_transpose


def _scatter_chooser_jvp(p):
    """d scatter_max: the tangent of whichever value wins, averaged over ties (as reduce_max's rule)."""
    def rule(primals, tangents, **params):
        operand, indices, updates = primals
        t_op, _, t_up = tangents
        out = p.bind(operand, indices, updates, **params)
        if type(t_op) is Zero and type(t_up) is Zero:
            return out, Zero(get_aval(out).at_least_vspace())
        t_op, t_up = instantiate(t_op), instantiate(t_up)
        dn, mode = params["dimension_numbers"], params["mode"]
        dt = get_aval(t_op).dtype
        op_wins = ew.convert_element_type(ew.eq(operand, out), dt)
        out_at = _gather_updates_like(out, indices, get_aval(updates), dn, mode)
        up_wins = ew.convert_element_type(ew.eq(updates, out_at), dt)
        kw = dict(params)
        num = ew.add(op_wins, scatter_add_p.bind(st.full_like(t_op, 0), indices, up_wins, **kw))
        tot = ew.add(ew.mul(t_op, op_wins), scatter_add_p.bind(st.full_like(t_op, 0), indices, ew.mul(t_up, up_wins), **kw))
        return out, ew.div(tot, num)
    return rule


jvp_rules[scatter_min_p] = _scatter_chooser_jvp(scatter_min_p)
jvp_rules[scatter_max_p] = _scatter_chooser_jvp(scatter_max_p)


def _scatter_fn(p):
    def fn(operand: Any, scatter_indices: Any, updates: Any, dimension_numbers: ScatterDimensionNumbers, *,
           indices_are_sorted: bool = False, unique_indices: bool = False, mode: Any = None) -> Any:
        operand, scatter_indices, updates = map(ew.asarray, (operand, scatter_indices, updates))
        dn = ScatterDimensionNumbers(*(tuple(int(d) for d in f) for f in dimension_numbers))
        return p.bind(operand, scatter_indices, updates, dimension_numbers=dn,
                      indices_are_sorted=bool(indices_are_sorted), unique_indices=bool(unique_indices),
                      mode=GatherScatterMode.from_any(mode))
    fn.__name__ = p.name
    fn.__doc__ = f"``lax.{p.name}``."
    return fn


scatter, scatter_add, scatter_mul, scatter_min, scatter_max = map(
    _scatter_fn, (scatter_p, scatter_add_p, scatter_mul_p, scatter_min_p, scatter_max_p))


# --- batched dynamic_slice / dynamic_update_slice --------------------------------------------------------------
def _stack_batched_indices(axis, idx, didx):
    from ..dtypes import int32
    cols = []
    for i, d in zip(idx, didx):
        i = ew.convert_element_type(i, int32) if get_aval(i).dtype != int32 else i
        i = batching.bdim_at_front(i, d, axis.size)
        cols.append(st.reshape(i, (axis.size, 1)))
    return st.concatenate(cols, 1) if cols else st.full((axis.size, 0), 0, int32)


def dynamic_slice_via_gather(axis, x, dx, idx, didx, slice_sizes):
    x = batching.bdim_at_front(x, dx, axis.size)
    n = len(slice_sizes)
    indices = _stack_batched_indices(axis, idx, didx)
    dn = GatherDimensionNumbers(tuple(range(1, n + 1)), (), tuple(range(1, n + 1)), (0,), (0,))
    return gather_p.bind(x, indices, dimension_numbers=dn, slice_sizes=(1,) + tuple(slice_sizes), mode="clip",
                         fill_value=None)


def dynamic_update_slice_via_scatter(axis, x, dx, u, du, idx, didx):
    x = batching.bdim_at_front(x, dx, axis.size)
    u = batching.bdim_at_front(u, du, axis.size)
    n = len(idx)
    indices = _stack_batched_indices(axis, idx, didx)
    dn = ScatterDimensionNumbers(tuple(range(1, n + 1)), (), tuple(range(1, n + 1)), (0,), (0,))
    return scatter_p.bind(x, indices, u, dimension_numbers=dn, indices_are_sorted=True, unique_indices=True,
                          mode="clip")


INDEXING = (gather_p, scatter_p, scatter_add_p, scatter_mul_p, scatter_min_p, scatter_max_p)
