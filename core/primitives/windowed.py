"""Windowed reductions (reduce_window_sum/max/min, behind ``lax.reduce_window``) and ``top_k``.

A window reduction combines, for each output position, the operand elements under a (strided, dilated)
window over the base-dilated, padded operand; padding and base-dilation holes contribute nothing. The sum is
linear (its transpose is another window sum of the padded, dilated cotangent); max/min differentiate
through the tangent at the first maximal (minimal) element of each window, picked with selects over the
window offsets, so the derivative is exact, transposable and batchable with existing primitives.
"""
from __future__ import annotations

import itertools
import operator
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..ad_util import Zero
from ..interpreters import jvp as ad
from ..ir import ShapedArray
from ..pytree import tree_flatten
from ..trace import Primitive, abstract_eval_rules, batching_rules, concrete_or_none, get_aval, jvp_rules
from . import elementwise as ew
from . import structural as st
from .convolution import conv_general_vjp_lhs_padding, dilate_shape, padtype_to_pads, stride_dim
from .indexing import GatherDimensionNumbers, gather_p

_WINDOW_PARAMS = ("window_dimensions", "window_strides", "padding", "base_dilation", "window_dilation")


def reduce_window_shape_tuple(operand_shape, window_dimensions, window_strides, padding, base_dilation,
                              window_dilation) -> tuple:
    """Output shape of a window reduction."""
    padded = [d + lo + hi for d, (lo, hi) in zip(dilate_shape(operand_shape, base_dilation), padding)]
    if any(p < 0 for p in padded):
        raise ValueError(f"reduce_window: negative padding {tuple(padding)} is larger than the (base-dilated) operand "
                         f"shape {tuple(operand_shape)}")
    window = dilate_shape(window_dimensions, window_dilation)
    return tuple(stride_dim(p, w, s) for p, w, s in zip(padded, window, window_strides))


def identity(name: str, dtype: np.dtype) -> Any:
    """The identity of a window reduction ('sum', 'max' or 'min') in ``dtype``."""
    if name == "sum":
        return np.zeros((), dtype)[()]
    if dtypes.kind(dtype) == "b":
        return np.bool_(name == "min")
    if dtypes.kind(dtype) == "f":
        return dtype.type(-np.inf if name == "max" else np.inf)
    info = np.iinfo(dtype)
    return dtype.type(info.min if name == "max" else info.max)


def _rw_abstract(name: str, kinds: str, kinds_name: str):
    def rule(x: ShapedArray, **params):
        if dtypes.kind(x.dtype) not in kinds:
            raise TypeError(f"operand to {name} must have a {kinds_name} dtype, got {x.dtype.name}")
        return ShapedArray(check_window_params(x.shape, params), x.dtype, x.weak_type)
    return rule


def check_window_params(shape: tuple, params: dict) -> tuple:
    """JAX's checks of a window reduction's parameters; returns the output shape."""
    for pname in ("window_dimensions", "window_strides", "base_dilation", "window_dilation"):
        if any(v < 1 for v in params[pname]):
            raise TypeError(f"reduce_window {pname} must have every element be strictly positive, got "
                            f"{params[pname]}.")
    wd = params["window_dimensions"]
    if len(wd) != len(shape):
        raise TypeError(f"reduce_window got the wrong number of window_dimensions for operand: got operand "
                        f"shape {shape} with window_dimensions {wd}.")
    for pname in _WINDOW_PARAMS[1:]:
        if len(params[pname]) != len(shape):
            raise TypeError(f"reduce_window got inconsistent {pname} and window_dimensions: got {pname} "
                            f"{params[pname]} and window_dimensions {wd}.")
    return reduce_window_shape_tuple(shape, **params)


def _rw_batch(p: Primitive):
    """The vmapped axis gets a window of size 1."""
    def rule(axis, vals, dims, **params):
        (x,), (d,) = vals, dims
        defaults = {"window_dimensions": 1, "window_strides": 1, "padding": (0, 0), "base_dilation": 1,
                    "window_dilation": 1}
        new = {k: tuple(v[:d]) + (defaults[k],) + tuple(v[d:]) for k, v in params.items()}
        return p.bind(x, **new), d
    return rule


def _rw_prim(name: str, kinds: str, kinds_name: str) -> Primitive:
    p = Primitive(name)
    abstract_eval_rules[p] = _rw_abstract(name, kinds, kinds_name)
    batching_rules[p] = _rw_batch(p)
    return p


reduce_window_sum_p = _rw_prim("reduce_window_sum", "fiu", "number")
reduce_window_max_p = _rw_prim("reduce_window_max", "fiub", "number or boolean")
reduce_window_min_p = _rw_prim("reduce_window_min", "fiub", "number or boolean")


def _rws_transpose(ct, x, *, window_dimensions, window_strides, padding, base_dilation, window_dilation):
    """Dilate the cotangent by the strides, pad it, and window-sum it at stride ``base_dilation``."""
    in_shape = x.aval.shape
    pads = conv_general_vjp_lhs_padding(in_shape, window_dimensions, window_strides, get_aval(ct).shape, padding,
                                        base_dilation, window_dilation)
    padded = st.pad(ct, ew._const(ct, 0), [(lo, hi, s - 1) for (lo, hi), s in zip(pads, window_strides)])
    n = len(in_shape)
    return [reduce_window_sum_p.bind(padded, window_dimensions=window_dimensions, window_strides=base_dilation,
                                     padding=((0, 0),) * n, base_dilation=(1,) * n, window_dilation=window_dilation)]


ad.deflinear(reduce_window_sum_p, _rws_transpose)


def window_views(x: Any, fill: Any, *, window_dimensions, window_strides, padding, base_dilation,
                 window_dilation) -> list:
    """``x`` seen at every window offset (row-major): arrays of the output's shape whose element j is the
    operand element at offset k of window j (``fill`` where the window covers padding or a dilation hole)."""
    out_shape = reduce_window_shape_tuple(get_aval(x).shape, window_dimensions, window_strides, padding,
                                          base_dilation, window_dilation)
    xp = st.pad(x, fill, [(lo, hi, b - 1) for (lo, hi), b in zip(padding, base_dilation)])
    views = []
    for offset in itertools.product(*(range(w) for w in window_dimensions)):
        start = [o * d if n else 0 for o, d, n in zip(offset, window_dilation, out_shape)]
        limit = [s + (n - 1) * k + 1 if n else 0 for s, n, k in zip(start, out_shape, window_strides)]
        views.append(st.slice(xp, start, limit, window_strides))
    return views


_SELECTORS = {ew.ge_p: ("max", ew.gt), ew.le_p: ("min", ew.lt)}  # select_prim -> (reduction, strict comparison)


def select_and_gather_add(tangents: Any, operand: Any, select_prim: Primitive, window_dimensions: Sequence[int],
                          window_strides: Sequence[int], padding: Sequence[tuple[int, int]],
                          base_dilation: Sequence[int], window_dilation: Sequence[int]) -> Any:
    """The element of ``tangents`` at the first maximum (``select_prim`` ``lax.ge_p``) or minimum (``lax.le_p``)
    of ``operand`` in each window (JAX's ``_select_and_gather_add``, the derivative of max/min window reductions);
    0 for a window over padding only."""
    if select_prim not in _SELECTORS:
        raise ValueError(f"select_and_gather_add: select_prim must be lax.ge_p or lax.le_p, got {select_prim}")
    name, better = _SELECTORS[select_prim]
    tangents, operand = ew.asarray(tangents), ew.asarray(operand)
    if get_aval(tangents).shape != get_aval(operand).shape:
        raise TypeError(f"select_and_gather_add tangents and operand shapes must match, got "
                        f"{get_aval(tangents).shape} and {get_aval(operand).shape}.")
    params = dict(window_dimensions=tuple(window_dimensions), window_strides=tuple(window_strides),
                  padding=tuple(map(tuple, padding)), base_dilation=tuple(base_dilation),
                  window_dilation=tuple(window_dilation))
    xs = window_views(operand, ew._const(operand, identity(name, get_aval(operand).dtype)), **params)
    gs = window_views(tangents, ew._const(tangents, 0), **params)
    best_x, best_g = xs[0], gs[0]
    for xk, gk in zip(xs[1:], gs[1:]):
        take = better(xk, best_x)
        best_x, best_g = ew.select(take, xk, best_x), ew.select(take, gk, best_g)
    return best_g


def select_and_scatter_add(source: Any, operand: Any, select_prim: Primitive, window_dimensions: Sequence[int],
                           window_strides: Sequence[int], padding: Sequence[tuple[int, int]]) -> Any:
    """Each window's ``source`` value added at the position :func:`select_and_gather_add` picks in ``operand``
    (JAX's ``_select_and_scatter_add``): the transpose of that gather in its tangents."""
    from ..linear_transpose import linear_transpose
    operand = ew.asarray(operand)
    ones = (1,) * get_aval(operand).ndim
    gather = lambda t: select_and_gather_add(t, operand, select_prim, window_dimensions, window_strides, padding,
                                             ones, ones)
    return linear_transpose(gather, operand)(ew.asarray(source))[0]


# JAX's internal names (jax._src.lax.windowed_reductions), which JAX's tests call
_select_and_gather_add, _select_and_scatter_add = select_and_gather_add, select_and_scatter_add

ad.defjvp(reduce_window_max_p, lambda g, x, **params: select_and_gather_add(g, x, ew.ge_p, **params))
ad.defjvp(reduce_window_min_p, lambda g, x, **params: select_and_gather_add(g, x, ew.le_p, **params))


# --- lax.reduce_window ---------------------------------------------------------------------------------------------
def _monoid(computation: Callable) -> tuple[str, Primitive, Callable] | None:
    """The window reduction a binary ``computation`` is, if it is one of add/max/min (lax or numpy)."""
    from ..numpy import ufuncs
    table = {ew.add: "sum", ufuncs.add: "sum", ew.max: "max", ufuncs.maximum: "max", ew.min: "min",
             ufuncs.minimum: "min"}
    name = table.get(computation)
    if name is None:
        return None
    prim = {"sum": reduce_window_sum_p, "max": reduce_window_max_p, "min": reduce_window_min_p}[name]
    return name, prim, {"sum": ew.add, "max": ew.max, "min": ew.min}[name]


def _canon_pairs(padding: Any) -> tuple:
    try:
        return tuple((operator.index(lo), operator.index(hi)) for lo, hi in padding)
    except (ValueError, TypeError) as e:
        raise ValueError(f"reduce_window padding should be 'VALID', 'SAME', 'SAME_LOWER' or a sequence of "
                         f"(low, high) pairs, got {padding}") from e


def reduce_window(operand: Any, init_value: Any, computation: Callable, window_dimensions: Sequence[int],
                  window_strides: Sequence[int] | None = None, padding: str | Sequence[tuple[int, int]] = "VALID",
                  base_dilation: Sequence[int] | None = None, window_dilation: Sequence[int] | None = None) -> Any:
    """``lax.reduce_window``: reduce each (strided, dilated) window of the padded operand(s) with ``computation``,
    starting from ``init_value`` (padding is skipped). ``lax.add``/``lax.max``/``lax.min`` (and their numpy forms)
    on one array use the window-reduction primitives; any other computation, and pytrees of operands, reduce a
    stack of the windows' elements with :func:`lax.reduce`."""
    leaves, tree = tree_flatten(operand)
    inits, init_tree = tree_flatten(init_value)
    if tree != init_tree:
        raise ValueError(f"Operands must have the same tree structure as init_values: {tree} vs. {init_tree}")
    if not leaves:
        raise ValueError("reduce_window must have at least one operand.")
    xs = [ew.asarray(x) for x in leaves]
    n = get_aval(xs[0]).ndim
    window_dimensions = tuple(operator.index(w) for w in window_dimensions)
    window_strides = (1,) * n if window_strides is None else tuple(operator.index(s) for s in window_strides)
    base_dilation = (1,) * n if base_dilation is None else tuple(operator.index(b) for b in base_dilation)
    window_dilation = (1,) * n if window_dilation is None else tuple(operator.index(d) for d in window_dilation)
    if isinstance(padding, str):
        padding = padtype_to_pads(get_aval(xs[0]).shape, dilate_shape(window_dimensions, window_dilation),
                                  window_strides, padding)
    params = dict(window_dimensions=window_dimensions, window_strides=window_strides, padding=_canon_pairs(padding),
                  base_dilation=base_dilation, window_dilation=window_dilation)
    monoid = _monoid(computation) if len(xs) == 1 else None
    if monoid is None:
        from ..reduce_window_general import reduce_window_general
        return reduce_window_general(xs, tree, inits, computation, params)
    name, prim, combine = monoid
    out = prim.bind(xs[0], **params) if n else xs[0]  # a scalar's only window is itself
    return _combine_init(name, combine, out, inits[0])


def canonical_init(init_value: Any, dtype: np.dtype) -> Any:
    """A window reduction's ``init_value``: a scalar of the operand's dtype (a Python scalar takes it)."""
    init_aval = get_aval(init_value)
    if init_aval.shape != ():
        raise TypeError(f"reduce_window expected init_values to be scalars but init_values have shapes "
                        f"{[init_aval.shape]}.")
    if type(init_value) in (int, float, bool):
        return ew.convert_element_type(init_value, dtype)
    if init_aval.dtype != dtype:
        raise TypeError(f"reduce_window got inconsistent dtypes for operands and init_values: got operand dtypes "
                        f"[{dtype.name}] and init_value dtypes [{init_aval.dtype.name}].")
    return init_value


def _combine_init(name: str, combine: Callable, out: Any, init_value: Any) -> Any:
    """Fold ``init_value`` into every window's result unless it is statically the reduction's identity."""
    out_aval = get_aval(out)
    init_value = canonical_init(init_value, out_aval.dtype)
    known = concrete_or_none(init_value)
    if known is not None and np.array_equal(known, identity(name, out_aval.dtype)):
        return out
    return combine(out, st.broadcast_in_dim(init_value, out_aval.shape, ()))


# --- top_k ---------------------------------------------------------------------------------------------------------
def _top_k_abstract(x: ShapedArray, *, k, axis, is_stable):
    if x.ndim == 0:
        raise TypeError(f"top_k operand must have >= 1 dimension, got {x.shape}")
    if dtypes.kind(x.dtype) not in "fiub":
        raise TypeError(f"top_k does not accept dtype {x.dtype.name}")
    if k < 0:
        raise ValueError(f"k argument to top_k must be nonnegative, got {k}")
    if not 0 <= axis < x.ndim:
        raise ValueError(f"axis argument out of range: axis={axis} for operand.shape={x.shape}")
    if x.shape[axis] < k:
        raise ValueError(f"k argument to top_k must be no larger than size along axis; got k={k} with "
                         f"shape={list(x.shape)} and axis={axis}")
    if x.shape[axis] > 2**31:
        raise ValueError(f"top_k returns int32 indices, which will overflow for array dimensions larger than the "
                         f"maximum int32 ({2**31 - 1}). Got operand.shape={x.shape}")
    shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
    return [ShapedArray(shape, x.dtype, x.weak_type), ShapedArray(shape, dtypes.int32)]


def _top_k_jvp(primals, tangents, *, k, axis, is_stable):
    """The tangents gathered at the selected indices."""
    (x,), (t,) = primals, tangents
    values, indices = top_k_p.bind(x, k=k, axis=axis, is_stable=is_stable)
    idx_tangent = Zero(get_aval(indices).at_least_vspace())
    if type(t) is Zero:
        return [values, indices], [Zero(get_aval(values).at_least_vspace()), idx_tangent]
    shape = get_aval(indices).shape
    others = tuple(i for i in range(len(shape)) if i != axis)
    dn = GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(axis,), start_index_map=(axis,),
                                operand_batching_dims=others, start_indices_batching_dims=others)
    t_out = gather_p.bind(t, st.reshape(indices, shape + (1,)), dimension_numbers=dn, slice_sizes=(1,) * len(shape),
                          mode="clip", fill_value=None)
    return [values, indices], [t_out, idx_tangent]


def _top_k_batch(axis_data, vals, dims, *, k, axis, is_stable):
    (x,), (d,) = vals, dims
    return top_k_p.bind(x, k=k, axis=axis + (d <= axis), is_stable=is_stable), [d, d]


top_k_p = Primitive("top_k", multiple_results=True)
abstract_eval_rules[top_k_p] = _top_k_abstract
jvp_rules[top_k_p] = _top_k_jvp
batching_rules[top_k_p] = _top_k_batch


def top_k(operand: Any, k: int, *, axis: int = -1, is_stable: bool = True) -> tuple:
    """``lax.top_k``: the ``k`` largest entries along ``axis`` (descending; NaN largest; ties keep input order)
    and their int32 indices."""
    x = ew.asarray(operand)
    k = operator.index(k)
    if k < 0:
        raise ValueError(f"k argument to top_k must be nonnegative, got {k}")
    ndim = get_aval(x).ndim
    axis = operator.index(axis)
    if ndim and -ndim <= axis < ndim:
        axis %= ndim
    values, indices = top_k_p.bind(x, k=k, axis=axis, is_stable=bool(is_stable))
    return values, indices


WINDOWED = (reduce_window_sum_p, reduce_window_max_p, reduce_window_min_p, top_k_p)
