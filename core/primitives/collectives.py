"""Collective primitives over named axes (``jax.lax``'s parallel operators): psum, pmax, pmin,
all_gather, reduce_scatter (``psum_scatter``), ppermute, all_to_all and axis_index; ``pmean``,
``pshuffle`` and ``axis_size`` are built on them.

Inside ``pmap`` a collective combines the values of the devices along its axis (the SPMD runner hands
the per-device buffers to the backend's ``collective``). Inside ``vmap(..., axis_name=)`` its batching
rule computes the same result over the vmapped axis. The rules follow JAX: psum transposes to psum
(cotangents are per device), all_gather and reduce_scatter transpose to each other, ppermute to the
inverse permutation and all_to_all to the all_to_all with split and concat axes swapped.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..ad_util import Zero
from ..interpreters import jvp as ad
from ..interpreters.batching import bdim_at_front, moveaxis
from ..ir import ShapedArray
from ..parallel.axis_env import AxisPrimitive, axis_env_key, axis_names_tuple, axis_size, lookup_axis
from ..pytree import tree_map
from ..trace import abstract_eval_rules, batching_rules, get_aval, impl_rules, jvp_rules
from . import structural as st
from .elementwise import _const, add, asarray, convert_element_type, div, eq, mul, select
from .reductions import reduce_max, reduce_min, reduce_sum

__all__ = ["psum", "pmean", "pmax", "pmin", "all_gather", "psum_scatter", "ppermute", "pshuffle", "all_to_all",
           "axis_index", "axis_size"]


def _named(axis, name: Any) -> bool:
    """Whether the vmap of ``axis`` is the axis a collective names."""
    return axis.name is not None and axis.name == name


def _outside_axis_impl(p):
    def impl(*args, **params):
        names = ", ".join(map(repr, p.axis_names_of(params)))
        raise NameError(f"{p.name} over axis {names} was evaluated outside the pmap or vmap defining that axis; "
                        "collectives only run inside pmap(..., axis_name=) or vmap(..., axis_name=).")
    impl_rules[p] = impl


def _single_name(axis_name: Any, op: str) -> Any:
    """The one name of a collective with ``axis_index_groups`` (which index one axis)."""
    names = axis_names_tuple(axis_name)
    if len(names) != 1:
        raise NotImplementedError(f"{op} over several axes {names} with axis_index_groups is not supported.")
    return names[0]


def _groups(axis_index_groups: Any, op: str, axis_name: Any) -> tuple | None:
    """``axis_index_groups`` checked against the size of the named axis, as a tuple of tuples: the devices
    are split into groups of equal size (by axis index) and the collective combines each group apart."""
    if axis_index_groups is None:
        return None
    n = lookup_axis(axis_name).size
    groups = tuple(tuple(int(i) for i in g) for g in axis_index_groups)
    if len({len(g) for g in groups}) != 1:
        raise ValueError(f"{op}: axis_index_groups must all be the same size, got {[list(g) for g in groups]}")
    if sorted(i for g in groups for i in g) != list(range(n)):
        raise ValueError(f"{op}: axis_index_groups must cover all indices of axis '{axis_name}' (size {n}) exactly "
                         f"once, got {[list(g) for g in groups]}")
    return groups


def _no_vmap_groups(axis_index_groups: Any, op: str) -> None:
    if axis_index_groups is not None:
        raise NotImplementedError(f"{op}: axis_index_groups is not supported in vmap collectives (as in JAX); "
                                  "use pmap, or one vmap per group.")


# --- psum / pmax / pmin ------------------------------------------------------------------------------------------
def _reduction_prim(name: str) -> AxisPrimitive:
    p = AxisPrimitive(name, lambda params: params["axes"])

    def abstract(x: ShapedArray, *, axes, axis_index_groups):
        if dtypes.kind(x.dtype) not in ("iufc" if name == "psum" else "iuf"):
            raise TypeError(f"{name} does not accept dtype {x.dtype.name} (operand {x.str_short()})")
        return x
    abstract_eval_rules[p] = abstract
    _outside_axis_impl(p)
    return p


psum_p = _reduction_prim("psum")
pmax_p = _reduction_prim("pmax")
pmin_p = _reduction_prim("pmin")


def _reduction_batch(p, reduce, if_unmapped):
    """Over the vmapped axis: reduce its batch dimension (the result is the same for every instance)."""
    def rule(axis, vals, dims, *, axes, axis_index_groups):
        (x,), (d,) = vals, dims
        if axis.name is None or axis.name not in axes:
            return p.bind(x, axes=axes, axis_index_groups=axis_index_groups), d
        _no_vmap_groups(axis_index_groups, p.name)
        rest = tuple(a for a in axes if a != axis.name)
        out = if_unmapped(x, axis.size) if d is None else reduce(x, (d,))
        return (p.bind(out, axes=rest, axis_index_groups=None) if rest else out), None
    batching_rules[p] = rule


_reduction_batch(psum_p, reduce_sum, lambda x, n: mul(x, _const(x, n)))
_reduction_batch(pmax_p, reduce_max, lambda x, n: x)
_reduction_batch(pmin_p, reduce_min, lambda x, n: x)
ad.deflinear(psum_p, lambda ct, x, **params: [psum_p.bind(ct, **params)])


def _chooser_jvp(p):
    """The tangent of the devices holding the extreme value, averaged over ties (like reduce_max's)."""
    def rule(primals, tangents, **params):
        (x,), (t,) = primals, tangents
        ans = p.bind(x, **params)
        if type(t) is Zero:
            return ans, Zero(get_aval(ans).at_least_vspace())
        mask = convert_element_type(eq(x, ans), get_aval(t).dtype)
        return ans, div(psum_p.bind(mul(t, mask), **params), psum_p.bind(mask, **params))
    jvp_rules[p] = rule


_chooser_jvp(pmax_p)
_chooser_jvp(pmin_p)


def _reducer(p, op: str):
    def fn(x: Any, axis_name: Any, *, axis_index_groups: Any = None) -> Any:
        axes = axis_names_tuple(axis_name)
        if axis_index_groups is not None and len(axes) != 1:
            raise NotImplementedError(f"{op}: axis_index_groups needs exactly one axis name, got {axes}")
        groups = _groups(axis_index_groups, op, axes[0]) if axis_index_groups is not None else None

        def one(leaf):
            leaf = asarray(leaf)
            if get_aval(leaf).dtype == dtypes.bool_:
                leaf = convert_element_type(leaf, dtypes.int32)
            return p.bind(leaf, axes=axes, axis_index_groups=groups)
        return tree_map(one, x)
    fn.__name__ = op
    fn.__doc__ = f"``lax.{op}``: the {op[1:]} of ``x`` (a pytree) over the named axis or axes."
    return fn


psum = _reducer(psum_p, "psum")
pmax = _reducer(pmax_p, "pmax")
pmin = _reducer(pmin_p, "pmin")


def pmean(x: Any, axis_name: Any, *, axis_index_groups: Any = None) -> Any:
    """``lax.pmean``: the mean of ``x`` (a pytree) over the named axis or axes (or over each group of
    ``axis_index_groups``)."""
    n = axis_size(axis_name) if axis_index_groups is None else len(next(iter(axis_index_groups)))

    def one(s):
        if dtypes.kind(get_aval(s).dtype) not in "fc":
            s = convert_element_type(s, dtypes.default_float())
        return div(s, _const(s, n))
    return tree_map(one, psum(x, axis_name, axis_index_groups=axis_index_groups))


# --- all_gather / reduce_scatter -----------------------------------------------------------------------------------
def _one_axis(params: dict) -> tuple:
    return (params["axis_name"],)


def _gather_abstract(x: ShapedArray, *, all_gather_dimension, axis_name, axis_size, tiled, axis_index_groups):
    d = all_gather_dimension
    if tiled:
        if not 0 <= d < x.ndim:
            raise ValueError(f"all_gather: tiled axis {d} is out of range for operand {x.str_short()}")
        shape = x.shape[:d] + (x.shape[d] * axis_size,) + x.shape[d + 1:]
    else:
        if not 0 <= d <= x.ndim:
            raise ValueError(f"all_gather: axis {d} is out of range for operand {x.str_short()}")
        shape = x.shape[:d] + (axis_size,) + x.shape[d:]
    return x.update(shape=shape)


def _scatter_abstract(x: ShapedArray, *, scatter_dimension, axis_name, axis_size, tiled, axis_index_groups):
    d = scatter_dimension
    if not 0 <= d < x.ndim:
        raise ValueError(f"psum_scatter: scatter_dimension {d} is out of range for operand {x.str_short()}")
    n = x.shape[d]
    if tiled:
        if n % axis_size:
            raise ValueError(f"psum_scatter: the size of scatter_dimension {d} of operand {x.str_short()} ({n}) must "
                             f"be divisible by the axis size {axis_size}")
        return x.update(shape=x.shape[:d] + (n // axis_size,) + x.shape[d + 1:])
    if n != axis_size:
        raise ValueError(f"psum_scatter: the size of scatter_dimension {d} of operand {x.str_short()} ({n}) must "
                         f"equal the axis size {axis_size} (or pass tiled=True)")
    return x.update(shape=x.shape[:d] + x.shape[d + 1:])


all_gather_p = AxisPrimitive("all_gather", _one_axis)
reduce_scatter_p = AxisPrimitive("reduce_scatter", _one_axis)
psum_scatter_p = reduce_scatter_p
abstract_eval_rules[all_gather_p] = _gather_abstract
abstract_eval_rules[reduce_scatter_p] = _scatter_abstract
for _p in (all_gather_p, reduce_scatter_p):
    _outside_axis_impl(_p)
ad.deflinear(all_gather_p, lambda ct, x, *, all_gather_dimension, **params: [
    reduce_scatter_p.bind(ct, scatter_dimension=all_gather_dimension, **params)])
ad.deflinear(reduce_scatter_p, lambda ct, x, *, scatter_dimension, **params: [
    all_gather_p.bind(ct, all_gather_dimension=scatter_dimension, **params)])


def _merge_dims(x: Any, d: int) -> Any:
    """Merge dimensions ``d`` and ``d + 1`` (row-major)."""
    s = get_aval(x).shape
    return st.reshape(x, s[:d] + (s[d] * s[d + 1],) + s[d + 2:])


def _split_dim(x: Any, d: int, n: int) -> Any:
    """Split dimension ``d`` into ``(n, size // n)`` (row-major)."""
    s = get_aval(x).shape
    return st.reshape(x, s[:d] + (n, s[d] // n) + s[d + 1:])


def _gather_batch(axis, vals, dims, *, all_gather_dimension, axis_name, axis_size, tiled, axis_index_groups):
    (x,), (d,) = vals, dims
    if not _named(axis, axis_name):
        x = moveaxis(x, d, 0)
        return all_gather_p.bind(x, all_gather_dimension=all_gather_dimension + 1, axis_name=axis_name,
                                 axis_size=axis_size, tiled=tiled, axis_index_groups=axis_index_groups), 0
    _no_vmap_groups(axis_index_groups, "all_gather")
    out = moveaxis(bdim_at_front(x, d, axis.size), 0, all_gather_dimension)
    return (_merge_dims(out, all_gather_dimension) if tiled else out), None


def _scatter_batch(axis, vals, dims, *, scatter_dimension, axis_name, axis_size, tiled, axis_index_groups):
    (x,), (d,) = vals, dims
    if not _named(axis, axis_name):
        x = moveaxis(x, d, 0)
        return reduce_scatter_p.bind(x, scatter_dimension=scatter_dimension + 1, axis_name=axis_name,
                                     axis_size=axis_size, tiled=tiled, axis_index_groups=axis_index_groups), 0
    _no_vmap_groups(axis_index_groups, "psum_scatter")
    total = mul(x, _const(x, axis.size)) if d is None else reduce_sum(x, (d,))
    if tiled:
        total = _split_dim(total, scatter_dimension, axis.size)
    return moveaxis(total, scatter_dimension, 0), 0


batching_rules[all_gather_p] = _gather_batch
batching_rules[reduce_scatter_p] = _scatter_batch


def all_gather(x: Any, axis_name: Any, *, axis_index_groups: Any = None, axis: int = 0, tiled: bool = False) -> Any:
    """``lax.all_gather``: every device gets the values of all devices, stacked along ``axis`` (or
    concatenated along it if ``tiled``); with ``axis_index_groups``, the values of its group."""
    names = axis_names_tuple(axis_name)
    if len(names) > 1 and axis_index_groups is None:  # the minor axis first: results come out major-to-minor
        def several(leaf):
            d = st.canonicalize_axis(axis, get_aval(leaf).ndim + (not tiled))
            out = all_gather(all_gather(leaf, names[-1], axis=d, tiled=tiled), names[:-1], axis=d, tiled=tiled)
            return out if tiled else _merge_dims(out, d)
        return tree_map(several, x)
    name = _single_name(axis_name, "all_gather")
    groups = _groups(axis_index_groups, "all_gather", name)
    n = len(groups[0]) if groups else lookup_axis(name).size

    def one(leaf):
        leaf = asarray(leaf)
        nd = get_aval(leaf).ndim
        d = st.canonicalize_axis(axis, nd if tiled else nd + 1)
        return all_gather_p.bind(leaf, all_gather_dimension=d, axis_name=name, axis_size=n, tiled=bool(tiled),
                                 axis_index_groups=groups)
    return tree_map(one, x)


def psum_scatter(x: Any, axis_name: Any, *, scatter_dimension: int = 0, axis_index_groups: Any = None,
                 tiled: bool = False) -> Any:
    """``lax.psum_scatter``: the psum of ``x``, of which device ``i`` keeps block ``i`` along
    ``scatter_dimension`` (whose size must equal the axis size, or be a multiple of it if ``tiled``; with
    ``axis_index_groups``, the group's size and the device's index in its group)."""
    names = axis_names_tuple(axis_name)
    if len(names) > 1 and axis_index_groups is None:  # the major axis first: its blocks hold the minor ones'
        def several(leaf):
            leaf = asarray(leaf)
            d = st.canonicalize_axis(scatter_dimension, get_aval(leaf).ndim)
            leaf = leaf if tiled else _split_dim(leaf, d, lookup_axis(names[0]).size)
            return psum_scatter(psum_scatter(leaf, names[0], scatter_dimension=d, tiled=tiled), names[1:],
                                scatter_dimension=d, tiled=tiled)
        return tree_map(several, x)
    name = _single_name(axis_name, "psum_scatter")
    groups = _groups(axis_index_groups, "psum_scatter", name)
    n = len(groups[0]) if groups else lookup_axis(name).size

    def one(leaf):
        leaf = asarray(leaf)
        d = st.canonicalize_axis(scatter_dimension, get_aval(leaf).ndim)
        return reduce_scatter_p.bind(leaf, scatter_dimension=d, axis_name=name, axis_size=n, tiled=bool(tiled),
                                     axis_index_groups=groups)
    return tree_map(one, x)


# --- ppermute ------------------------------------------------------------------------------------------------
def _ppermute_names(params: dict) -> tuple:
    return axis_names_tuple(params["axis_name"])


ppermute_p = AxisPrimitive("ppermute", _ppermute_names)
abstract_eval_rules[ppermute_p] = lambda x, *, axis_name, perm: x
_outside_axis_impl(ppermute_p)
ad.deflinear(ppermute_p, lambda ct, x, *, axis_name, perm: [
    ppermute_p.bind(ct, axis_name=axis_name, perm=tuple((d, s) for s, d in perm))])


def _ppermute_batch(axis, vals, dims, *, axis_name, perm):
    (x,), (d,) = vals, dims
    names = axis_names_tuple(axis_name)
    if axis.name is None or axis.name not in names:
        return ppermute_p.bind(x, axis_name=axis_name, perm=perm), d
    x = bdim_at_front(x, d, axis.size)
    aval = get_aval(x)
    zeros = st.full((1,) + aval.shape[1:], 0, aval.dtype)
    if len(names) == 1:
        source = {dst: src for src, dst in perm}
        pieces = [st.index_in_dim(x, source[i], 0) if i in source else zeros for i in range(axis.size)]
        return st.concatenate(pieces, 0), 0
    return _ppermute_batch_several(x, zeros, names, perm, names.index(axis.name)), 0


def _ppermute_batch_several(x: Any, zeros: Any, names: tuple, perm: tuple, k: int) -> Any:
    """ppermute over several axes, the ``k``-th of which is vmapped (``x``'s leading dimension): per pair of
    (source, destination) instances, a ppermute over the other axes; each destination selects its pieces."""
    sizes = tuple(lookup_axis(nm).size for nm in names)
    rest = names[:k] + names[k + 1:]
    pairs: dict = {}  # (source instance, destination instance) -> pairs over the other axes
    for src, dst in perm:
        src_at, dst_at = np.unravel_index(src, sizes), np.unravel_index(dst, sizes)
        flat = [int(np.ravel_multi_index(c[:k] + c[k + 1:], sizes[:k] + sizes[k + 1:])) for c in (src_at, dst_at)]
        pairs.setdefault((int(src_at[k]), int(dst_at[k])), []).append(tuple(flat))
    index = axis_index(rest)
    out = []
    for i in range(sizes[k]):
        acc = zeros
        for (source, target), sub in pairs.items():
            if target == i:
                piece = ppermute_p.bind(st.index_in_dim(x, source, 0), axis_name=_axis_param(rest), perm=tuple(sub))
                for _, dst in sub:
                    acc = select(st.full(get_aval(acc).shape, eq(index, np.int32(dst)), dtypes.bool_), piece, acc)
        out.append(acc)
    return st.concatenate(out, 0)


batching_rules[ppermute_p] = _ppermute_batch


def _axis_param(names: tuple) -> Any:
    """A primitive's ``axis_name`` parameter: the one name, or the tuple of several."""
    return names[0] if len(names) == 1 else names


def _mesh_order(names: tuple) -> tuple:
    """``names`` in the order of their axes in the axis environment (outer first: a mesh's order)."""
    env = [nm for nm, _ in axis_env_key()]
    return tuple(sorted(names, key=lambda nm: max(i for i, e in enumerate(env) if e == nm)))


def ppermute(x: Any, axis_name: Any, perm: Sequence[tuple[int, int]]) -> Any:
    """``lax.ppermute``: device ``dst`` receives the value of device ``src`` for each ``(src, dst)`` in
    ``perm``; devices that are no destination receive zeros. Over several axes, device indices are
    row-major over the axes in the mesh's order (JAX's, whatever the order of ``axis_name``)."""
    names = axis_names_tuple(axis_name)
    n = axis_size(names)
    names = _mesh_order(names) if len(names) > 1 else names
    perm = tuple((int(s), int(d)) for s, d in perm)
    srcs, dsts = [s for s, _ in perm], [d for _, d in perm]
    if len(set(srcs)) != len(srcs) or len(set(dsts)) != len(dsts):
        raise ValueError(f"ppermute sources and destinations must be unique, got {perm}.")
    if any(not 0 <= i < n for i in srcs + dsts):
        shown = repr(names[0]) if len(names) == 1 else f"{names}"
        raise ValueError(f"ppermute permutation {perm} refers to devices outside the axis {shown} of size {n}.")
    return tree_map(lambda leaf: ppermute_p.bind(asarray(leaf), axis_name=_axis_param(names), perm=perm), x)


def pshuffle(x: Any, axis_name: Any, perm: Sequence[int]) -> Any:
    """``lax.pshuffle``: device ``i`` receives the value of device ``perm[i]``."""
    if sorted(perm) != list(range(len(perm))):
        raise ValueError(f"`perm` does not represent a permutation: {perm}")
    return ppermute(x, axis_name, [(src, dst) for dst, src in enumerate(perm)])


# --- all_to_all ---------------------------------------------------------------------------------------------------
def _all_to_all_abstract(x: ShapedArray, *, split_axis, concat_axis, axis_name, axis_size, axis_index_groups):
    if not (0 <= split_axis < x.ndim and 0 <= concat_axis < x.ndim):
        raise ValueError(f"all_to_all: split_axis {split_axis} or concat_axis {concat_axis} is out of range for "
                         f"operand {x.str_short()}")
    if x.shape[split_axis] % axis_size:
        raise ValueError(f"all_to_all: the size of split_axis {split_axis} of operand {x.str_short()} "
                         f"({x.shape[split_axis]}) must be divisible by the axis size {axis_size}")
    shape = list(x.shape)
    shape[split_axis] //= axis_size
    shape[concat_axis] *= axis_size
    return x.update(shape=tuple(shape))


all_to_all_p = AxisPrimitive("all_to_all", _one_axis)
abstract_eval_rules[all_to_all_p] = _all_to_all_abstract
_outside_axis_impl(all_to_all_p)
ad.deflinear(all_to_all_p, lambda ct, x, *, split_axis, concat_axis, **params: [
    all_to_all_p.bind(ct, split_axis=concat_axis, concat_axis=split_axis, **params)])


def _all_to_all_batch(axis, vals, dims, *, split_axis, concat_axis, axis_name, axis_size, axis_index_groups):
    (x,), (d,) = vals, dims
    if not _named(axis, axis_name):
        x = moveaxis(x, d, 0)
        return all_to_all_p.bind(x, split_axis=split_axis + 1, concat_axis=concat_axis + 1, axis_name=axis_name,
                                 axis_size=axis_size, axis_index_groups=axis_index_groups), 0
    _no_vmap_groups(axis_index_groups, "all_to_all")
    # Instance j holds x_j; instance i receives block i (along split) of every x_j, concatenated along concat.
    n = axis.size
    x = _split_dim(bdim_at_front(x, d, n), split_axis + 1, n)  # dims: j, t[:split], i, t[split:]
    rank = get_aval(x).ndim - 2
    pos = [1 + k if k < split_axis else 2 + k for k in range(rank)]
    perm = [1 + split_axis]
    for k in range(rank):
        perm += [0, pos[k]] if k == concat_axis else [pos[k]]
    return _merge_dims(st.transpose(x, perm), 1 + concat_axis), 0


batching_rules[all_to_all_p] = _all_to_all_batch


def all_to_all(x: Any, axis_name: Any, split_axis: int, concat_axis: int, *, axis_index_groups: Any = None,
               tiled: bool = False) -> Any:
    """``lax.all_to_all``: split ``x`` along ``split_axis`` into one block per device, send block ``i`` to
    device ``i``, and concatenate the received blocks along ``concat_axis``. Without ``tiled`` the split
    axis (of size equal to the axis size) is removed and a new axis is inserted at ``concat_axis``. With
    ``axis_index_groups``, blocks are exchanged within each group (one block per member)."""
    names = axis_names_tuple(axis_name)
    if len(names) != 1 and axis_index_groups is not None:
        raise NotImplementedError(f"all_to_all over several axes {names} with axis_index_groups is not supported.")
    groups = _groups(axis_index_groups, "all_to_all", names[0])
    n = len(groups[0]) if groups else int(np.prod([lookup_axis(nm).size for nm in names]))

    def one(leaf):
        leaf = asarray(leaf)
        nd = get_aval(leaf).ndim
        split, concat = st.canonicalize_axis(split_axis, nd), st.canonicalize_axis(concat_axis, nd)
        if not tiled:
            if get_aval(leaf).shape[split] != n:
                raise ValueError(f"all_to_all: the size of split_axis {split} of operand {get_aval(leaf).str_short()} "
                                 f"must equal the axis size {n} (or pass tiled=True)")
            if split < concat:
                concat += 1
                leaf = st.expand_dims(leaf, (concat,))
            elif concat < split:
                leaf = st.expand_dims(leaf, (concat,))
                split += 1
        out = _all_to_all_tiled(leaf, split, concat, names, n, groups)
        return st.squeeze(out, (split,)) if not tiled and split != concat else out
    return tree_map(one, x)


def _all_to_all_tiled(x: Any, split: int, concat: int, names: tuple, n: int, groups: tuple | None) -> Any:
    """Tiled all_to_all over one axis, or over several (devices in row-major order of ``names``): the split axis
    is cut into one sub-axis per name, each exchanged over its own name (a sender index replacing the receiver
    index), and the sender sub-axes are merged in front of the concat axis."""
    if len(names) == 1:
        return all_to_all_p.bind(x, split_axis=split, concat_axis=concat, axis_name=names[0], axis_size=n,
                                 axis_index_groups=groups)
    shape = get_aval(x).shape
    sizes = tuple(lookup_axis(nm).size for nm in names)
    m = len(sizes)
    if shape[split] % n:
        raise ValueError(f"all_to_all: the size of split_axis {split} of operand {get_aval(x).str_short()} "
                         f"({shape[split]}) must be divisible by the axis size {n}")
    x = st.reshape(x, shape[:split] + sizes + (shape[split] // n,) + shape[split + 1:])
    for k, (nm, size) in enumerate(zip(names, sizes)):
        x = all_to_all_p.bind(x, split_axis=split + k, concat_axis=split + k, axis_name=nm, axis_size=size,
                              axis_index_groups=None)
    senders = list(range(split, split + m))
    rest = [a for a in range(len(shape) + m) if a not in senders]
    at = rest.index(concat if concat < split else concat + m)
    out_shape = list(shape)
    out_shape[split] //= n
    out_shape[concat] *= n
    return st.reshape(st.transpose(x, tuple(rest[:at] + senders + rest[at:])), tuple(out_shape))


# --- axis_index ---------------------------------------------------------------------------------------------------
axis_index_p = AxisPrimitive("axis_index", _one_axis)
abstract_eval_rules[axis_index_p] = lambda *, axis_name: ShapedArray((), dtypes.int32)
_outside_axis_impl(axis_index_p)
ad.defjvp_zero(axis_index_p)


# AxisPrimitive.bind hands axis_index to a BatchTrace only when that vmap is the axis it names.
batching_rules[axis_index_p] = lambda axis, vals, dims, *, axis_name: (st.iota(dtypes.int32, axis.size), 0)


def axis_index(axis_name: Any) -> Any:
    """``lax.axis_index``: this device's (or vmapped instance's) position along the named axis (int32)."""
    names = axis_names_tuple(axis_name)
    if len(names) > 1:  # the position in the axes' grid, major to minor
        return add(mul(axis_index(names[:-1]), np.int32(lookup_axis(names[-1]).size)), axis_index(names[-1]))
    return axis_index_p.bind(axis_name=names[0])


def _parg(op: str, reduce_fn):
    def fn(x: Any, axis_name: Any) -> Any:
        if isinstance(axis_name, (tuple, list)):
            raise TypeError(f"pargmin only accepts a single axis, got {axis_name}")  # JAX's message for both
        x = asarray(x)
        idx = axis_index(axis_name)
        positions = st.full(get_aval(x).shape, idx, dtypes.int32)
        valid = select(eq(reduce_fn(x, axis_name), x), positions,
                       st.full(get_aval(x).shape, np.iinfo(np.int32).max, dtypes.int32))
        return pmin(valid, axis_name)
    fn.__name__ = op
    fn.__doc__ = (f"``{op}`` (JAX's ``jax._src.lax.parallel.{op}``): the first position along the named axis "
                  f"holding the {op[4:]} of ``x``, elementwise.")
    return fn


pargmax = _parg("pargmax", pmax)
pargmin = _parg("pargmin", pmin)


COLLECTIVES = (psum_p, pmax_p, pmin_p, all_gather_p, reduce_scatter_p, ppermute_p, all_to_all_p, axis_index_p)
