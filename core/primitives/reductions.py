"""Reductions (sum, max, min, prod, and, or, argmax, argmin) and cumulative ops (cumsum, cumprod,
cummax, cummin), plus ``associative_scan``, which also gives the cumulative ops their derivatives."""
from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..ad_util import Zero
from ..decompositions import register_decomposition
from ..interpreters import jvp as ad
from ..ir import ShapedArray
from ..trace import Primitive, abstract_eval_rules, batching_rules, get_aval, jvp_rules
from . import elementwise as ew
from . import structural as st

_REDUCE_KINDS = {"reduce_sum": "fiuc", "reduce_prod": "fiuc", "reduce_max": "fiubc", "reduce_min": "fiubc",
                 "reduce_and": "iub", "reduce_or": "iub", "reduce_xor": "iub"}


def _canon_axes(axes, ndim: int) -> tuple:
    return tuple(sorted(st.canonicalize_axis(a, ndim) for a in axes))


def _reduce_abstract(name):
    def rule(x: ShapedArray, *, axes):
        if dtypes.kind(x.dtype) not in _REDUCE_KINDS[name]:
            raise TypeError(f"{name} does not accept dtype {x.dtype.name}")
        if len(set(axes)) != len(axes):
            raise ValueError(f"duplicate value in 'axes' of reduction: {axes}")
        if any(not 0 <= a < x.ndim for a in axes):
            raise ValueError(f"reduction axes {axes} contains out-of-bounds indices for {x}.")
        return ShapedArray(tuple(s for i, s in enumerate(x.shape) if i not in axes), x.dtype, x.weak_type)
    return rule


def _reduce_batch(p):
    def rule(axis, vals, dims, *, axes, **params):
        (x,), (d,) = vals, dims
        new_axes = tuple(a + (a >= d) for a in axes)
        out_d = d - sum(a < d for a in new_axes)
        return p.bind(x, axes=new_axes, **params), out_d
    return rule


def _reduce_prim(name: str) -> Primitive:
    p = Primitive(name)
    abstract_eval_rules[p] = _reduce_abstract(name)
    batching_rules[p] = _reduce_batch(p)
    return p


reduce_sum_p = _reduce_prim("reduce_sum")
reduce_max_p = _reduce_prim("reduce_max")
reduce_min_p = _reduce_prim("reduce_min")
reduce_prod_p = _reduce_prim("reduce_prod")
reduce_and_p = _reduce_prim("reduce_and")
reduce_or_p = _reduce_prim("reduce_or")
reduce_xor_p = _reduce_prim("reduce_xor")


def _keep_dims_broadcast(ct, shape, axes):
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    return st.broadcast_in_dim(ct, shape, kept)


def _reduce_sum_transpose(ct, x, *, axes):
    """``ct`` broadcast back to the operand's shape, typed as the operand (as JAX types it)."""
    from ..explicit_sharding import as_typed_like, with_out_sharding
    out, target = _keep_dims_broadcast(ct, x.aval.shape, axes), as_typed_like(x.aval, ct)
    return [out if target is None or get_aval(out).sharding == target else with_out_sharding(out, target)]


ad.deflinear(reduce_sum_p, _reduce_sum_transpose)


def _chooser_jvp(p):
    def fn(g, x, *, axes):
        ans = p.bind(x, axes=axes)
        shape = get_aval(x).shape
        location = ew.convert_element_type(ew.eq(x, _keep_dims_broadcast(ans, shape, axes)), get_aval(g).dtype)
        counts = reduce_sum_p.bind(location, axes=axes)
        return ew.div(reduce_sum_p.bind(ew.mul(g, location), axes=axes), counts)
    return fn


ad.defjvp(reduce_max_p, _chooser_jvp(reduce_max_p))
ad.defjvp(reduce_min_p, _chooser_jvp(reduce_min_p))
for _p in (reduce_and_p, reduce_or_p, reduce_xor_p):
    ad.defjvp_zero(_p)


def _reduce_prod_jvp(g, x, *, axes):
    """sum_k g_k * prod_{j != k} x_j, computed with exclusive prefix/suffix products (exact with zeros)."""
    aval = get_aval(x)
    kept = [i for i in range(aval.ndim) if i not in axes]
    xt = st.transpose(x, kept + list(axes))
    gt = st.transpose(g, kept + list(axes))
    kept_shape = tuple(aval.shape[i] for i in kept)
    n = int(np.prod([aval.shape[a] for a in axes], dtype=np.int64))
    if n == 0:  # the empty product is the constant 1
        return st.full(kept_shape, 0, get_aval(g).dtype)
    xr = st.reshape(xt, kept_shape + (n,))
    gr = st.reshape(gt, kept_shape + (n,))
    last = len(kept_shape)
    one = ew._const(x, 1)
    cfg = lambda lo, hi: [(0, 0, 0)] * last + [(lo, hi, 0)]
    before = st.pad(_drop_last(cumprod(xr, last), last), one, cfg(1, 0))
    after = st.pad(_drop_first(cumprod(xr, last, reverse=True), last), one, cfg(0, 1))
    return reduce_sum_p.bind(ew.mul(gr, ew.mul(before, after)), axes=(last,))


def _drop_last(x, axis):
    n = get_aval(x).shape[axis]
    return st.slice_in_dim(x, 0, max(n - 1, 0), 1, axis)


def _drop_first(x, axis):
    n = get_aval(x).shape[axis]
    return st.slice_in_dim(x, min(1, n), n, 1, axis)


ad.defjvp(reduce_prod_p, _reduce_prod_jvp)


def _reducer(p):
    def fn(x: Any, axes: Sequence[int]) -> Any:
        x = ew.asarray(x)
        axes = _canon_axes(axes, get_aval(x).ndim)
        return p.bind(x, axes=axes) if axes else x
    fn.__name__ = p.name
    fn.__doc__ = f"``lax.{p.name}`` over ``axes``."
    return fn


reduce_sum, reduce_max, reduce_min, reduce_prod = map(_reducer, (reduce_sum_p, reduce_max_p, reduce_min_p, reduce_prod_p))
reduce_and, reduce_or, reduce_xor = map(_reducer, (reduce_and_p, reduce_or_p, reduce_xor_p))


# --- argmax / argmin ------------------------------------------------------------------------------------------
def _arg_abstract(name):
    def rule(x: ShapedArray, *, axes, index_dtype):
        if len(axes) != 1:
            raise ValueError(f"{name} requires exactly one axis, got axes={axes} for operand shape {x.shape}")
        axis, = axes
        if not 0 <= axis < x.ndim:
            raise ValueError(f"Invalid axis {axis} for operand shape {x.shape}")
        if x.shape[axis] < 1:
            raise ValueError(f"argmin and argmax require non-empty reduced dimension. operand.shape={x.shape} "
                             f"axis={axis}")
        if dtypes.kind(index_dtype) not in "iu":
            raise TypeError(f"index_dtype must be an integer type, but got {index_dtype.name}")
        return ShapedArray(tuple(s for i, s in enumerate(x.shape) if i != axes[0]), index_dtype)
    return rule


argmax_p = Primitive("argmax")
argmin_p = Primitive("argmin")
for _p in (argmax_p, argmin_p):
    abstract_eval_rules[_p] = _arg_abstract(_p.name)
    batching_rules[_p] = _reduce_batch(_p)
    ad.defjvp_zero(_p)


def argmax(x: Any, axis: int, index_dtype) -> Any:
    """Index of the first maximum along ``axis`` (NaN counts as the maximum, as in numpy)."""
    x = ew.asarray(x)
    return argmax_p.bind(x, axes=(operator.index(axis),),  # JAX does not wrap a negative axis here
                         index_dtype=dtypes.canonicalize(index_dtype))


def argmin(x: Any, axis: int, index_dtype) -> Any:
    x = ew.asarray(x)
    return argmin_p.bind(x, axes=(operator.index(axis),),
                         index_dtype=dtypes.canonicalize(index_dtype))


# --- cumulative ops -----------------------------------------------------------------------------------------
def _cum_abstract(name, kinds):
    def rule(x: ShapedArray, *, axis, reverse):
        if not 0 <= axis < max(x.ndim, 1) or (x.ndim == 0):
            raise ValueError(f"{name}: axis {axis} is out of bounds for array of shape {x.shape}")
        if dtypes.kind(x.dtype) not in kinds:
            raise TypeError(f"{name} does not accept dtype {x.dtype.name}")
        return x
    return rule


def _cum_batch(p):
    def rule(axis_data, vals, dims, *, axis, reverse):
        (x,), (d,) = vals, dims
        return p.bind(x, axis=axis + (axis >= d), reverse=reverse), d
    return rule


def _cum_prim(name: str, kinds: str) -> Primitive:
    p = Primitive(name)
    abstract_eval_rules[p] = _cum_abstract(name, kinds)
    batching_rules[p] = _cum_batch(p)
    return p


cumsum_p = _cum_prim("cumsum", "fiuc")
cumprod_p = _cum_prim("cumprod", "fiuc")
cummax_p = _cum_prim("cummax", "fiuc")
cummin_p = _cum_prim("cummin", "fiuc")
cumlogsumexp_p = _cum_prim("cumlogsumexp", "f")  # (JAX's: float dtypes; its decomposition is a logaddexp scan)

ad.deflinear(cumsum_p, lambda ct, x, *, axis, reverse: [cumsum_p.bind(ct, axis=axis, reverse=not reverse)])


def _logaddexp(a: Any, b: Any) -> Any:
    """``log(exp(a) + exp(b))``, stably (``max(a, b)`` where that is not finite): cumlogsumexp's combine."""
    amax = ew.max(a, b)
    delta = ew.neg(ew.abs(ew.sub(a, b)))
    return ew.select(ew.is_finite(amax), ew.add(amax, ew.log1p(ew.exp(delta))), amax)


def _cumulative_jvp(combine: Callable):
    def rule(primals, tangents, *, axis, reverse):
        from ..interpreters.jvp import jvp_flat
        (x,), (t,) = primals, tangents
        p = {ew.mul: cumprod_p, ew.max: cummax_p, ew.min: cummin_p, _logaddexp: cumlogsumexp_p}[combine]
        out = p.bind(x, axis=axis, reverse=reverse)
        if type(t) is Zero:
            return out, Zero(get_aval(out).at_least_vspace())
        _, (t_out,) = jvp_flat(lambda v: [associative_scan(combine, v, reverse=reverse, axis=axis)], [x], [t])
        return out, t_out
    return rule


jvp_rules[cumprod_p] = _cumulative_jvp(ew.mul)
jvp_rules[cummax_p] = _cumulative_jvp(ew.max)
jvp_rules[cummin_p] = _cumulative_jvp(ew.min)
jvp_rules[cumlogsumexp_p] = _cumulative_jvp(_logaddexp)


def _cum(p):
    def fn(x: Any, axis: int = 0, reverse: bool = False) -> Any:
        x = ew.asarray(x)
        return p.bind(x, axis=st.canonicalize_axis(axis, get_aval(x).ndim), reverse=bool(reverse))
    fn.__name__ = p.name
    fn.__doc__ = f"``lax.{p.name}`` along ``axis`` (from the end if ``reverse``)."
    return fn


cumsum, cumprod, cummax, cummin, cumlogsumexp = map(_cum, (cumsum_p, cumprod_p, cummax_p, cummin_p, cumlogsumexp_p))
cumlogsumexp.__doc__ = "``lax.cumlogsumexp``: ``log(cumsum(exp(x)))`` along ``axis`` (from the end if ``reverse``)."


# --- associative_scan -----------------------------------------------------------------------------------------
def associative_scan(fn: Callable, elems: Any, reverse: bool = False, axis: int = 0) -> Any:
    """``lax.associative_scan``: inclusive prefix scan of an associative ``fn`` over pytrees, in
    O(log n) rounds of strided slices (the parallel algorithm of Blelloch / Ladner-Fischer)."""
    from ..pytree import tree_flatten, tree_unflatten
    if not callable(fn):
        raise TypeError("lax.associative_scan: fn argument should be callable.")
    leaves, treedef = tree_flatten(elems)
    leaves = [ew.asarray(x) for x in leaves]
    if not leaves:
        return elems
    axis = st.canonicalize_axis(axis, get_aval(leaves[0]).ndim)
    n = get_aval(leaves[0]).shape[axis]
    if any(get_aval(x).shape[axis] != n for x in leaves):
        raise ValueError("associative_scan: all leaves need the same length along the scan axis")
    if reverse:
        leaves = [st.rev(x, (axis,)) for x in leaves]

    def combine(a, b):
        out = fn(tree_unflatten(treedef, a), tree_unflatten(treedef, b))
        return tree_flatten(out)[0]

    def sl(x, start, stop, stride=1):
        return st.slice_in_dim(x, start, stop, stride, axis)

    def interleave(a, b):
        """Elements of ``a`` at even positions and of ``b`` at odd ones."""
        na, nb = get_aval(a).shape[axis], get_aval(b).shape[axis]
        zero = ew._const(a, 0)
        cfg_a = [(0, 0, 0)] * get_aval(a).ndim  # the leaves may differ in rank
        cfg_b = [(0, 0, 0)] * get_aval(b).ndim
        cfg_a[axis] = (0, 1 if na == nb else 0, 1)
        cfg_b[axis] = (1, 0 if na == nb else 1, 1)
        return ew.add(st.pad(a, zero, cfg_a), st.pad(b, zero, cfg_b)) if get_aval(a).dtype != dtypes.bool_ else \
            ew.bitwise_or(st.pad(a, zero, cfg_a), st.pad(b, zero, cfg_b))

    def scan(elems):
        k = get_aval(elems[0]).shape[axis]
        if k < 2:
            return elems
        reduced = combine([sl(x, 0, k - 1, 2) for x in elems], [sl(x, 1, k, 2) for x in elems])
        odd = scan(reduced)
        if k % 2 == 0:
            even = combine([sl(x, 0, -1) for x in odd], [sl(x, 2, k, 2) for x in elems])
        else:
            even = combine(odd, [sl(x, 2, k, 2) for x in elems])
        even = [st.concatenate([sl(x, 0, 1), e], axis) for x, e in zip(elems, even)]
        return [interleave(e, o) for e, o in zip(even, odd)]

    out = scan(leaves)
    if reverse:
        out = [st.rev(x, (axis,)) for x in out]
    return tree_unflatten(treedef, out)


REDUCTIONS = (reduce_sum_p, reduce_max_p, reduce_min_p, reduce_prod_p, reduce_and_p, reduce_or_p, reduce_xor_p,
              argmax_p, argmin_p, cumsum_p, cumprod_p, cummax_p, cummin_p, cumlogsumexp_p)


def _cumlogsumexp_decomposition(x: Any, *, axis: int, reverse: bool) -> Any:
    return associative_scan(_logaddexp, x, reverse=reverse, axis=axis)


register_decomposition(cumlogsumexp_p, _cumlogsumexp_decomposition)
