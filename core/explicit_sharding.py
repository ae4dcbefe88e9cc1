"""Sharding in types (JAX's explicit sharding): an array laid out over a mesh with Explicit axes carries in its
aval the NamedSharding (over the mesh's AbstractMesh, its spec naming only the Explicit axes) of its layout,
printed by ``jax.typeof`` as ``float32[8@x,4]``.

Each primitive on typed inputs gets its outputs' shardings at trace time from its sharding rule (JAX's, with
JAX's ``ShardingTypeError`` messages for the layouts JAX rejects); a primitive without a rule is a
NotImplementedError rather than a guess. ``reshard`` (the ``reshard`` primitive) changes a value's type; the
sharding pass (``parallel.partition``) lays out every typed value of a program as its type says.
"""
from __future__ import annotations

import contextlib
import math
import threading
from typing import Any, Callable, Iterator, Sequence

from .errors import ShardingTypeError
from .interpreters import batching, jvp as ad
from .ir import ShapedArray
from .sharding import (AbstractMesh, AxisType, Mesh, NamedSharding, PartitionSpec, current_mesh, spec_axes,
                       type_sharding)
from .trace import Primitive, abstract_eval_rules, batching_rules, get_aval, impl_rules, is_staging, is_tracer


def _entry(axes: tuple) -> Any:
    return None if not axes else axes[0] if len(axes) == 1 else axes


def _spec(aval: ShapedArray) -> tuple:
    """The type spec of ``aval``, one entry per dimension (all None for an untyped aval)."""
    return aval._spec()


def layout(aval: ShapedArray) -> tuple | None:
    """The mesh axes splitting each dimension of a typed aval (the sharding pass's ``Layout``); None if untyped."""
    return None if aval.sharding is None else tuple(spec_axes(e) for e in _spec(aval))


# --- the rules -------------------------------------------------------------------------------------------
Rule = Callable[..., Sequence[tuple]]  # (avals_in, avals_out, **params) -> one spec (tuple) per output
RULES: dict[str, Rule] = {}
# (their abstract evaluation types the outputs already: from their bodies, out_specs or parameters)
PASS_THROUGH = {"pjit", "checkpoint", "custom_jvp_call", "custom_vjp_call", "custom_lin", "shard_map", "reshard"}


def with_types(primitive: Primitive, avals_in: Sequence[ShapedArray], params: dict, out: Any) -> Any:
    """``out`` (the abstract evaluation of ``primitive`` with ``params`` on ``avals_in``: an aval or a list) with
    the output shardings of the primitive's sharding rule, when an input's type has a sharded dimension."""
    typed_in = [a for a in avals_in if a.sharding is not None]
    name = primitive.name
    if not typed_in or name in PASS_THROUGH:
        return out
    check_context_mesh(typed_in, name)
    mesh = typed_in[0].sharding.mesh
    for a in typed_in[1:]:
        if a.sharding.mesh != mesh:
            raise ValueError(f"Mesh for all inputs should be equal. Got one mesh: {mesh} and another mesh: "
                             f"{a.sharding.mesh}")
    rule = RULES.get(name)
    if not any(e is not None for a in typed_in for e in a.sharding.spec):  # no sharded dimension: none to keep
        rule = _unsharded_rule
    elif rule is None:
        raise NotImplementedError(
            f"explicit sharding: the sharding rule of '{name}' is not implemented in portax, so it cannot take "
            f"arrays whose types carry Explicit mesh axes (got {', '.join(a.str_short() for a in avals_in)}). "
            "Reshard them to replicated first (jax.sharding.reshard(x, P())), or use a mesh of Auto axes.")
    outs = out if primitive.multiple_results else [out]
    specs = rule(list(avals_in), outs, **params)
    res = []
    for o, spec in zip(outs, specs):
        _check_duplicates(name, avals_in, o, spec)
        check_divisible(o, spec, mesh)
        res.append(ShapedArray(o.shape, o.dtype, o.weak_type, NamedSharding(mesh, PartitionSpec(*spec))))
    return res if primitive.multiple_results else res[0]


class _Summing(threading.local):
    depth = 0


_summing = _Summing()


@contextlib.contextmanager
def summing_cotangents() -> Iterator[None]:
    """Primitives bound inside skip ``check_context_mesh``: they sum cotangents (JAX's ``add_any``, which has no
    such check: a value's cotangents come from equations run under other meshes by ``auto_axes``)."""
    _summing.depth += 1
    try:
        yield
    finally:
        _summing.depth -= 1


def check_context_mesh(avals: Sequence[ShapedArray], name: str) -> None:
    """JAX's ``check_avals_context_mesh``: typed avals must be typed over the mesh set by ``set_mesh`` (with its axis
    types: ``auto_axes`` and ``explicit_axes`` change them)."""
    cur = current_mesh()
    if cur.empty or _summing.depth:
        return
    for a in avals:
        if a.sharding is not None and a.sharding.mesh != cur.abstract_mesh:
            from .source_info import current
            raise ValueError(f"For primitive {name}, context mesh {cur.abstract_mesh} should match the aval mesh "
                             f"{a.sharding.mesh} for shape {a.str_short(short_dtypes=False)}. This error occurs at "
                             f"source:  {current().location()}")


def _unsharded_rule(avals: list, outs: list, **_) -> list:
    return [(None,) * o.ndim for o in outs]


# Host callbacks take the whole (global) values; their results are replicated, as in JAX.
RULES.update(dict.fromkeys(("pure_callback", "io_callback", "debug_callback"), _unsharded_rule))


def _check_duplicates(name: str, avals_in: Sequence[ShapedArray], out: ShapedArray, spec: tuple) -> None:
    axes = [a for e in spec for a in spec_axes(e)]
    if len(axes) != len(set(axes)):
        shown = ShapedArray(out.shape, out.dtype, False, _Spec(spec))
        raise ShardingTypeError(f"{name} operation with inputs: {', '.join(a.str_short() for a in avals_in)} produces "
                                f"an illegally sharded result: {shown.str_short()}")


class _Spec:
    """A stand-in sharding holding only a spec (to print an illegal result's type)."""

    def __init__(self, spec: tuple):
        self.spec = spec


def check_divisible(out: ShapedArray, spec: tuple, mesh: AbstractMesh) -> None:
    for d, (n, e) in enumerate(zip(out.shape, spec)):
        axes = spec_axes(e)
        k = math.prod(mesh.shape[a] for a in axes)
        if n % k:
            raise ValueError(f"Sharding spec {axes} implies that array axis {d} is partitioned {k} times, but does not "
                             f"evenly divide the dimension size {n}. Got shape: {out.shape} and sharding "
                             f"{NamedSharding(mesh, PartitionSpec(*spec))}")


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for n in names:
            RULES[n] = fn
        return fn
    return register


def broadcasting(name: str, avals: list) -> tuple:
    """JAX's ``broadcasting_sharding_rule``: per dimension the inputs' common entry; an unsharded entry (or a size-1
    dimension's) gives way to a sharded one; two different sharded entries are an error."""
    shaped = [a for a in avals if a.shape]
    if not shaped:
        return ()
    specs = [_spec(a) for a in shaped]
    out = []
    for d in range(shaped[0].ndim):
        ss = [s[d] for s in specs]
        if all(s == ss[0] for s in ss):
            out.append(ss[0])
            continue
        nontrivial = [s for s, a in zip(ss, shaped) if not (a.shape[d] == 1 and s is None)]
        if not nontrivial:
            out.append(None)
        elif all(s == nontrivial[0] for s in nontrivial):
            out.append(nontrivial[0])
        else:
            res = None
            for s in ss:
                if res is None and s is not None:
                    res = s
                elif res is not None and s is not None and res != s:
                    raise ShardingTypeError(f"{name} got incompatible shardings for broadcasting: "
                                            f"{', '.join(str(tuple(s)) for s in specs)}.")
            out.append(res)
    return tuple(out)


def _elementwise_rule(name: str) -> Rule:
    return lambda avals, outs, **_: [broadcasting(name, avals)] * len(outs)


def _register_elementwise() -> None:
    from .primitives import elementwise as ew
    for p in ew.ELEMENTWISE:
        RULES.setdefault(p.name, _elementwise_rule(p.name))
    RULES["add_any"] = _elementwise_rule("add_any")


@rule("reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or", "reduce_xor", "argmax",
      "argmin")
def _reduce(avals, outs, *, axes, **_):
    return [tuple(e for d, e in enumerate(_spec(avals[0])) if d not in axes)]


@rule("cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp")
def _cumulative(avals, outs, *, axis, **_):
    if _spec(avals[0])[axis] is not None:
        raise ShardingTypeError(f"Input should be unsharded over the axis being reduced. Got input "
                                f"type={avals[0]} and axis={axis}")
    return [_spec(avals[0])]


@rule("transpose")
def _transpose(avals, outs, *, permutation):
    spec = _spec(avals[0])
    return [tuple(spec[i] for i in permutation)]


@rule("broadcast_in_dim")
def _broadcast_in_dim(avals, outs, *, shape, broadcast_dimensions, **_):
    spec, out = _spec(avals[0]), [None] * len(shape)
    for i, d in enumerate(broadcast_dimensions):
        out[d] = spec[i]
    return [tuple(out)]


@rule("squeeze")
def _squeeze(avals, outs, *, dimensions):
    return [tuple(e for d, e in enumerate(_spec(avals[0])) if d not in dimensions)]


@rule("concatenate")
def _concatenate(avals, outs, **_):
    typed_in = [a for a in avals if a.sharding is not None]
    if any(a.sharding != typed_in[0].sharding for a in avals):
        raise ShardingTypeError(f"All operands should have the same sharding. Got shardings "
                                f"{', '.join(str(_shown(a)) for a in avals)}")
    return [_spec(typed_in[0])]


def _shown(aval: ShapedArray) -> Any:
    return aval.sharding if aval.sharding is not None else NamedSharding(current_mesh().abstract_mesh, PartitionSpec())


def _varying_out_shape(what: str) -> Rule:
    """JAX's ``_get_sharding_for_varying_out_shape``: the operand's sharding, if its mesh axes divide every
    dimension whose size changes."""
    def rule_(avals, outs, **_):
        x, o = avals[0], outs[0]
        mesh = x.sharding.mesh
        for n, m, e in zip(x.shape, o.shape, _spec(x)):
            k = math.prod(mesh.shape[a] for a in spec_axes(e))
            if n != m and e is not None and m % k:
                raise ShardingTypeError(f"{what} on sharded dims where out dim ({m}) is not divisible by mesh axes "
                                        f"({k}) with spec ({e}) is not implemented. Got input type={x.str_short()} and "
                                        f"output shape={o.shape}")
        return [_spec(x)]
    return rule_


RULES.update(slice=_varying_out_shape("slicing"), pad=_varying_out_shape("padding"),
             dynamic_slice=_varying_out_shape("dynamic_slice"), reduce_window_sum=_varying_out_shape("reduce_window"),
             reduce_window_max=_varying_out_shape("reduce_window"),
             reduce_window_min=_varying_out_shape("reduce_window"))


@rule("clamp")
def _clamp(avals, outs, **_):
    return [_spec(avals[1])]  # (the operand's, as JAX: min and max are not checked)


@rule("select_n")
def _select_n(avals, outs, **_):
    """JAX's ``_select_sharding_rule``: the typed cases' sharding, which all of them and a non-scalar typed
    ``which`` must have (untyped values, JAX's over the empty mesh, are left out)."""
    which, *cases = avals
    typed_cases = [c.sharding for c in cases if c.sharding is not None]
    if not typed_cases:
        return [(None,) * outs[0].ndim]
    first = typed_cases[0]
    shown = lambda a: a.sharding if a.sharding is not None else NamedSharding(AbstractMesh((), ()), PartitionSpec())
    if any(s != first for s in typed_cases[1:]):
        raise ShardingTypeError(f"select cases must have the same shardings, got "
                                f"[{', '.join(str(shown(c)) for c in cases)}].")
    if which.shape and which.sharding is not None and which.sharding.spec != first.spec:
        raise ShardingTypeError(f"select `which` must be scalar or have the same sharding as cases, got `which` "
                                f"sharding {which.sharding} but case sharding {shown(cases[0])}.")
    return [tuple(first.spec)]


@rule("reduce_precision")
def _operand_spec(avals, outs, **_):
    return [_spec(avals[0])] * len(outs)


RULES["fft"] = _operand_spec  # (JAX's ``fft`` keeps its operand's sharding, the transformed dimensions' too)


@rule("top_k")
def _top_k(avals, outs, *, axis, **_):
    if _spec(avals[0])[axis] is not None:
        raise ShardingTypeError("The input should be unsharded over the axis along which to compute the top_k values. "
                                f"Got input type={avals[0]} and axis={axis}")
    return [_spec(avals[0])] * 2


@rule("conv_general_dilated")
def _conv(avals, outs, *, dimension_numbers, **_):
    lhs, rhs = avals
    if all(e is None for e in _spec(rhs)) and _spec(lhs)[dimension_numbers.lhs_spec[1]] is None:
        return _varying_out_shape("conv_general_dilated")([lhs], outs)
    raise ShardingTypeError("Please specify the output sharding via `out_sharding` parameter of `conv_general_dilated`")


def _linalg(name: str) -> Rule:
    """JAX's ``linalg_sharding_rule``: the inputs split only along their (equally split) batch dimensions, which
    the outputs keep."""
    def rule_(avals, outs, **_):
        batch = []
        for i, a in enumerate(avals):
            spec = _spec(a)
            if any(e is not None for e in spec[a.ndim - 2:]):
                raise ShardingTypeError(f"Input {i} to {name} must be unsharded on non-batch dimensions, but got "
                                        f"{PartitionSpec(*spec)}.")
            batch.append(spec[:a.ndim - 2])
        if any(b != batch[0] for b in batch[1:]):
            raise ShardingTypeError(f"All inputs to {name} must have the same batch sharding, but got {batch}.")
        return [batch[0] + (None,) * (o.ndim - len(batch[0])) for o in outs]
    return rule_


RULES.update({n: _linalg(n) for n in ("cholesky", "qr", "svd", "eigh", "lu")})


@rule("triangular_solve")
def _triangular_solve(avals, outs, *, left_side, transpose_a, **_):
    a, b = avals
    (*ab, a0, a1), (*bb, b0, b1) = _spec(a), _spec(b)
    if ab != bb:
        raise ShardingTypeError(f"All inputs to triangular_solve must have the same batch sharding, but got "
                                f"{tuple(ab)} and {tuple(bb)}.")
    if (a0, a1)[left_side ^ transpose_a] is not None:
        raise ShardingTypeError(f"triangular solve input `a` must be unsharded on the contracting axis, but got "
                                f"{PartitionSpec(*_spec(a))} with {left_side=} and {transpose_a=}.")
    if (b0, b1)[not left_side] is not None:
        raise ShardingTypeError(f"triangular solve input `b` must be unsharded on the contracting axis, but got "
                                f"{PartitionSpec(*_spec(b))} with {left_side=} and {transpose_a=}.")
    return [tuple(ab) + ((a0, a1)[transpose_a], b1) if left_side else tuple(ab) + (b0, (a0, a1)[not transpose_a])]


@rule("rev")
def _rev(avals, outs, **_):
    return [_spec(avals[0])]


@rule("dynamic_update_slice")
def _dynamic_update_slice(avals, outs, **_):
    x, u = avals[:2]
    if _spec(x) != _spec(u):
        raise ShardingTypeError(f"dynamic_update_slice operand sharding must be equal to update sharding, got operand "
                                f"sharding {_with_axis_types(x)} and update sharding {_with_axis_types(u)}.")
    return [_spec(x)]


def _with_axis_types(aval: ShapedArray) -> str:
    """``aval`` as JAX's ``str_short(mesh_axis_types=True)`` prints it: ``float32[8@x,4]({Explicit: ('x', 'y')})``."""
    mesh = aval.sharding.mesh if aval.sharding is not None else current_mesh().abstract_mesh
    by_type: dict = {}
    for n, t in zip(mesh.axis_names, mesh.axis_types):
        by_type.setdefault(t, []).append(n)
    return f"{aval.str_short(short_dtypes=False)}({ {t: tuple(n) for t, n in by_type.items()} })"


def gather_spec(operand: ShapedArray, indices: ShapedArray, dn: Any, slice_sizes: Sequence[int]) -> tuple | None:
    """JAX's ``_gather_spec_computation``: the spec of the gather's result, None if ambiguous (a sliced operand
    dimension split, operand and indices batch dimensions split differently, or a query dimension of the indices
    split)."""
    ospec, ispec = _spec(operand), list(_spec(indices))
    if all(e is None for e in ospec + tuple(ispec)):
        return (None,) * (len(dn.offset_dims) + indices.ndim - 1)
    if any(slice_sizes[i] != operand.shape[i] and ospec[i] is not None for i in dn.start_index_map):
        return None
    batch = list(zip(dn.operand_batching_dims, dn.start_indices_batching_dims))
    if any(ispec[i] is not None and ospec[o] is not None and ispec[i] != ospec[o] for o, i in batch):
        return None
    if any(e is not None for i, e in enumerate(ispec) if i not in dn.start_indices_batching_dims):
        return None
    for o, i in batch:
        ispec[i] = ispec[i] or ospec[o]
    window = iter(i for i in range(operand.ndim)
                  if i not in dn.collapsed_slice_dims and i not in dn.operand_batching_dims)
    queries = iter(ispec)
    return tuple(ospec[next(window)] if d in dn.offset_dims else next(queries)
                 for d in range(len(dn.offset_dims) + indices.ndim - 1))


def gather_error(operand: ShapedArray, indices: ShapedArray) -> ShardingTypeError:
    return ShardingTypeError("Use `.at[...].get(out_sharding=)` to provide output PartitionSpec for the gather "
                             "indexing as out sharding could not be resolved unambiguously (or would require "
                             f"collectives on inputs). Got operand={operand!r}, indices={indices!r}")


@rule("gather")
def _gather(avals, outs, *, dimension_numbers, slice_sizes, **_):
    spec = gather_spec(avals[0], avals[1], dimension_numbers, slice_sizes)
    if spec is None:
        raise gather_error(*avals)
    return [spec]


def scatter_spec(operand: ShapedArray, indices: ShapedArray, updates: ShapedArray, dn: Any) -> tuple | None:
    """JAX's ``_scatter_spec_computation``: the spec of the scatter's result, None if ambiguous."""
    ospec, ispec, uspec = _spec(operand), _spec(indices), _spec(updates)
    if all(e is None for e in ospec + ispec + uspec):
        return ospec
    vector = indices.ndim - 1
    in_updates: list = list(range(vector))
    for i in dn.update_window_dims:
        in_updates.insert(i, None)
    ubatch = tuple(in_updates.index(i) for i in dn.scatter_indices_batching_dims)
    batch = list(zip(dn.operand_batching_dims, dn.scatter_indices_batching_dims, ubatch))
    owindow = [i for i in range(operand.ndim) if i not in dn.inserted_window_dims and i not in dn.operand_batching_dims]
    windows = list(zip(dn.update_window_dims, owindow))
    if not (all(len({ospec[o], ispec[i], uspec[u]} - {None}) <= 1 for o, i, u in batch) and
            all((updates.shape[u] == operand.shape[o] and uspec[u] == ospec[o]) or
                (uspec[u] is None and ospec[o] is None) for u, o in windows) and
            all(ospec[i] is None for i in dn.inserted_window_dims) and
            all(e is None for i, e in enumerate(uspec) if i not in ubatch and i not in dn.update_window_dims) and
            all(e is None for i, e in enumerate(ispec[:vector]) if i not in dn.scatter_indices_batching_dims) and
            ispec[vector] is None):
        return None
    out = list(ospec)
    for o, i, u in batch:
        out[o] = out[o] or ispec[i] or uspec[u]
    for u, o in windows:
        out[o] = out[o] or uspec[u]
    return tuple(out)


@rule("scatter", "scatter_add", "scatter_mul", "scatter_min", "scatter_max")
def _scatter(avals, outs, *, dimension_numbers, **_):
    spec = scatter_spec(*avals[:3], dimension_numbers)
    if spec is None:
        raise scatter_error(*avals[:3])
    return [spec]


def scatter_error(operand: ShapedArray, indices: ShapedArray, updates: ShapedArray) -> ShardingTypeError:
    return ShardingTypeError("Use `.at[...].set/add/mul/...(out_sharding=)` to provide output PartitionSpec for the "
                             "scatter update as out sharding could not be resolved unambiguously (or would require "
                             f"collectives on inputs). Got operand={operand!r}, indices={indices!r}, "
                             f"updates={updates!r}")


@rule("sort")
def _sort(avals, outs, *, dimension, **_):
    typed_in = [a for a in avals if a.sharding is not None]
    for a in typed_in:
        if _spec(a)[dimension] is not None:
            raise ShardingTypeError(f"Arguments to sort must be unsharded over the sorting dimension. Got arg "
                                    f"sharding={a.sharding} and sorting dimension={dimension}")
        if _spec(a) != _spec(typed_in[0]):
            raise ShardingTypeError(f"Arguments to sort must have equal shardings, got: "
                                    f"{' '.join(str(b.sharding) for b in typed_in)}")
    return [_spec(typed_in[0])] * len(outs)


@rule("dot_general")
def _dot_general(avals, outs, *, dimension_numbers, **_):
    lhs, rhs = avals
    (lc, rc), (lb, rb) = dimension_numbers
    ls, rs = _spec(lhs), _spec(rhs)
    lcs, rcs = tuple(ls[i] for i in lc), tuple(rs[i] for i in rc)
    lbs, rbs = tuple(ls[i] for i in lb), tuple(rs[i] for i in rb)
    _match(lbs, rbs, f"dot_general requires lhs batch dimensions and rhs batch dimensions to have the consistent "
                     f"sharding, got {lbs} and {rbs}.")
    _match(lcs, rcs, f"dot_general requires contracting dimensions to have consistent sharding, got {lcs} and {rcs}.")
    if any(l is not None and r is not None for l, r in zip(lcs, rcs)):
        raise ShardingTypeError("Contracting dimensions are sharded and it is ambiguous how the output should be "
                                "sharded. Please specify the output sharding via the `out_sharding` parameter. Got "
                                f"lhs_contracting_spec={lcs} and rhs_contracting_spec={rcs}")
    lfree = tuple(e for d, e in enumerate(ls) if d not in lc and d not in lb)
    rfree = tuple(e for d, e in enumerate(rs) if d not in rc and d not in rb)
    return [lbs + lfree + rfree]


def _match(lhs: tuple, rhs: tuple, msg: str) -> None:
    if any(l is not None and r is not None and l != r for l, r in zip(lhs, rhs)):
        raise ShardingTypeError(msg)


@rule("reshape")
def _reshape(avals, outs, *, new_sizes, dimensions=None, **_):
    """JAX's ``_reshape_sharding_rule``: size-1 dimensions come and go; one dimension split into several keeps
    its sharding on the leading ones it covers; several merged into one keep theirs (major to minor)."""
    x, spec = avals[0], _spec(avals[0])
    new_sizes = tuple(new_sizes)
    if all(e is None for e in spec):
        return [(None,) * len(new_sizes)]
    if [n for n in x.shape if n != 1] == [n for n in new_sizes if n != 1]:
        kept = iter(e for n, e in zip(x.shape, spec) if n != 1)
        return [tuple(None if n == 1 else next(kept) for n in new_sizes)]
    mesh = x.sharding.mesh
    split = _split_on_one_axis(x, x.shape, new_sizes, new_sizes)
    if split is not None:
        out = []
        for part, e in zip(split, spec):
            if not isinstance(part, list):
                out.append(e)
            elif e is None:
                out.extend([None] * len(part))
            elif dimensions is None:
                out.extend(_partitions(x, new_sizes, mesh, spec_axes(e), part))
            else:
                _reshape_error(x, new_sizes)
        return [tuple(out)]
    merge = _split_on_one_axis(x, new_sizes, x.shape, new_sizes) if len(new_sizes) < x.ndim else None
    if merge is None:
        _reshape_error(x, new_sizes)
    out, it = [], iter(spec)
    for n, part in zip(new_sizes, merge):
        if not isinstance(part, list):
            out.append(next(it))
            continue
        group = [next(it) for _ in part]
        if all(e is None for e in group):
            out.append(None)
            continue
        flat = [a for e in group for a in (spec_axes(e) or (None,))]
        while flat and flat[-1] is None:
            flat.pop()
        if None in flat or dimensions is not None:
            _reshape_error(x, new_sizes)
        out.extend(_partitions(x, new_sizes, mesh, tuple(flat), [n]))
    return [tuple(out)]


@rule("cond")
def _cond(avals, outs, *, branches):
    first = branches[0].out_avals
    for b in branches[1:]:
        for t, f in zip(first, b.out_avals):
            if _spec(t) != _spec(f):
                raise TypeError(f"cond branches must have equal output types but they differ.\n\nThe output of "
                                f"true_fun has type {f} but the corresponding output of false_fun has type {t}.\n\n"
                                "Revise true_fun and/or false_fun so that all output types match.")
    return [_spec(a) for a in first]


def leading_slice(aval: ShapedArray) -> ShapedArray:
    """The aval of one slice of ``aval`` along its leading dimension (a scan's xs): its type without that entry."""
    if aval.sharding is None:
        return aval.update(shape=aval.shape[1:])
    return aval.update(shape=aval.shape[1:], sharding=aval.sharding.with_spec(PartitionSpec(*_spec(aval)[1:])))


def _check_carry(what: str, carry: list, carry_out: list) -> None:
    for i, (c, o) in enumerate(zip(carry, carry_out)):
        if _spec(c) != _spec(o):
            raise TypeError(f"{what} function carry input and carry output must have equal types, but they differ:"
                            f"\n\nThe input carry component {i} has type {c} but the corresponding output carry "
                            f"component has type {o}.\n\nRevise the function so that all output types match the "
                            "corresponding input types.")


@rule("while")
def _while(avals, outs, *, body_jaxpr, cond_nconsts, body_nconsts, **_):
    carry = avals[cond_nconsts + body_nconsts:]
    _check_carry("while_loop body", carry, body_jaxpr.out_avals)
    return [_spec(a) for a in carry]


@rule("scan")
def _scan(avals, outs, *, jaxpr, num_consts, num_carry, **_):
    carry, xs = avals[num_consts:num_consts + num_carry], avals[num_consts + num_carry:]
    for x in xs:
        if _spec(x)[0] is not None:
            raise ValueError(f"0th dimension of all xs should be replicated. Got {x.sharding.spec}")
    for x, a in zip(xs, jaxpr.in_avals[num_consts + num_carry:]):
        if _spec(a) != _spec(x)[1:]:  # (a body built for other types: its per-device blocks would be wrong)
            raise NotImplementedError(f"explicit sharding: a scan over xs typed {x} whose body takes slices typed {a} "
                                      "(not the xs' slices' type) is not implemented in portax")
    _check_carry("scan body", carry, jaxpr.out_avals[:num_carry])
    return [_spec(a) for a in carry] + [(None,) + _spec(a) for a in jaxpr.out_avals[num_carry:]]


def _reshape_error(x: ShapedArray, new_sizes: tuple) -> None:
    raise ShardingTypeError("This reshape is not supported. Please specify the sharding of the output via the "
                            f"`out_sharding` argument of jax.lax.reshape. Got operand type: {x}, new sizes: {new_sizes}")


def _split_on_one_axis(x: ShapedArray, op_shape: tuple, new_sizes: tuple, reshape_to: tuple) -> list | None:
    """JAX's ``_split_on_one_axis``: per dimension of ``op_shape`` its size, or the list of the sizes of
    ``new_sizes`` it splits into (one dimension only); None if ``new_sizes`` is no such split; JAX's error (for the
    reshape of ``x`` to ``reshape_to``) if it splits several."""
    if len(new_sizes) <= len(op_shape):
        return None
    ones = 0
    while op_shape[-1] == 1 and new_sizes[-1] == 1:
        ones, op_shape, new_sizes = ones + 1, op_shape[:-1], new_sizes[:-1]
    i = j = count = 0
    out: list = []
    while j < len(new_sizes):
        if op_shape[i] == new_sizes[j]:
            out.append(op_shape[i])
        else:
            count += 1
            if count > 1:
                _reshape_error(x, reshape_to)
            temp, next_j, next_i = [new_sizes[j]], j + 1, i + 1
            while math.prod(temp) != op_shape[i] or (next_j < len(new_sizes) and new_sizes[next_j] == 1):
                if math.prod(temp) > op_shape[i]:
                    return None
                if math.prod(temp) == op_shape[i] and next_i < len(op_shape) and new_sizes[next_j] == op_shape[next_i]:
                    break
                j += 1
                if j >= len(new_sizes):
                    return None
                temp.append(new_sizes[j])
                next_j += 1
            out.append(temp)
        i += 1
        j += 1
    return out + [1] * ones


def _partitions(x: ShapedArray, new_sizes: tuple, mesh: AbstractMesh, axes: tuple, sizes: list) -> list:
    """JAX's ``split_partitions``: the mesh axes ``axes`` (major to minor) dealt to the dimensions of ``sizes``."""
    it, out = iter(axes), []
    for n in sizes:
        got = []
        while n > 1:
            a = next(it, None)
            if a is None:
                break
            n, r = divmod(n, mesh.shape[a])
            if r:
                _reshape_error(x, new_sizes)
            got.append(a)
        out.append(_entry(tuple(got)))
    if next(it, None) is not None:
        _reshape_error(x, new_sizes)
    return out


# --- reshard ---------------------------------------------------------------------------------------------
reshard_p = Primitive("reshard")


def _reshard_abstract(x: ShapedArray, *, dst_sharding: NamedSharding) -> ShapedArray:
    return ShapedArray(x.shape, x.dtype, x.weak_type, type_sharding(dst_sharding, x.ndim))


def _reshard_transpose(ct: Any, x: Any, *, dst_sharding: NamedSharding) -> list:
    src = x.aval.sharding
    if src is None:  # (untyped: replicated over the mesh it was made under, the equation's, as JAX types it)
        cur = current_mesh()
        src = NamedSharding(dst_sharding.mesh if cur.empty else cur.abstract_mesh, PartitionSpec())
    return [reshard_p.bind(ct, dst_sharding=src)]


def _reshard_batch(axis: Any, vals: list, dims: list, *, dst_sharding: NamedSharding) -> tuple:
    (x,), (d,) = vals, dims
    spec = list(dst_sharding.spec) + [None] * (get_aval(x).ndim - 1 - len(dst_sharding.spec))
    spec.insert(d, _entry(axis.explicit_mesh_axis or ()))  # (the mesh axes the vmap maps over, as JAX keeps them)
    return reshard_p.bind(x, dst_sharding=dst_sharding.with_spec(PartitionSpec(*spec))), d


def _reshard_impl(x: Any, *, dst_sharding: NamedSharding) -> Any:
    """On a concrete array: laid out anew over the target's mesh (over an abstract mesh: the devices of the array's
    mesh, else of the mesh set by ``set_mesh``, whichever is of that abstract mesh but for its axis types, which
    ``auto_axes`` and ``explicit_axes`` change)."""
    from .api import device_put
    from .sharded import MeshArray
    mesh, dst = dst_sharding.mesh, dst_sharding.mesh
    if not isinstance(mesh, Mesh):
        meshes = ([x.sharding.mesh] if type(x) is MeshArray else []) + [current_mesh()]
        meshes = [m.update(axis_types=dst.axis_types) for m in meshes if m.axis_names == dst.axis_names and not m.empty]
        mesh = next((m for m in meshes if m.abstract_mesh == dst), None)
        if mesh is None:
            raise ValueError(f"reshard to {dst_sharding} needs its devices: an array over a mesh of that shape, or "
                             "that mesh set by `jax.set_mesh`")
    spec = tuple(dst_sharding.spec) + (None,) * (get_aval(x).ndim - len(dst_sharding.spec))
    return device_put(x, NamedSharding(mesh, PartitionSpec(*spec)))  # (the spec as the type writes it)


abstract_eval_rules[reshard_p] = _reshard_abstract
impl_rules[reshard_p] = _reshard_impl
ad.deflinear(reshard_p, _reshard_transpose)
batching_rules[reshard_p] = _reshard_batch


def _register_decomposition() -> None:
    from .decompositions import register_decomposition
    register_decomposition(reshard_p, lambda x, *, dst_sharding: x)  # (a layout change: the values as they are)


def reshard(xs: Any, out_shardings: Any) -> Any:
    """``jax.sharding.reshard``: ``xs`` (a pytree; ``out_shardings`` a prefix of it of PartitionSpecs, meaning the
    mesh set by ``set_mesh``, or NamedShardings, checked by ``canonicalize_sharding``) laid out, and typed, by the
    shardings."""
    from .pytree import tree_flatten, tree_unflatten
    leaves, tree = tree_flatten(xs)
    flat = _flatten_shardings("reshard out_shardings", tree, out_shardings)
    out = []
    for x, s in zip(leaves, flat):
        ds = canonicalize_sharding(s, "reshard", check_mesh_consistency=False)
        if ds is None:
            raise ValueError("Reshard should only be used with out_shardings which are non-None and have a non-empty "
                             f"mesh. Got sharding {s}.")
        aval, spec = get_aval(x), tuple(ds.spec)
        while len(spec) > aval.ndim and spec[-1] is None:  # (JAX's type keeps one entry per dimension)
            spec = spec[:-1]
        ds = ds.with_spec(PartitionSpec(*spec))
        if len(spec) > aval.ndim:  # (JAX: an internal assertion)
            ds.check_shape(aval.shape, "reshard args")
        check_divisible(aval, spec + (None,) * (aval.ndim - len(spec)), ds.mesh.abstract_mesh)
        out.append(relaid(x, ds))
    return tree_unflatten(tree, out)


def _flatten_shardings(what: str, tree: Any, shardings: Any) -> list:
    """JAX's ``flatten_axis_resources`` (``tupled_args``): ``shardings`` (a prefix of ``tree``) one per leaf."""
    from .api import _flatten_axes
    try:
        return _flatten_axes(what, tree, shardings, object)
    except ValueError:
        n = len(tree.children())
        if type(shardings) is not tuple or len(shardings) != n:
            msg = (f"{what} specification must be a tree prefix of the positional arguments tuple. In particular, "
                   f"{what} must either be a Sharding, a PartitionSpec, or a tuple of length equal to the number of "
                   "positional arguments.")
            if type(shardings) is not tuple:
                msg += f" But {what} is not a tuple: got {type(shardings)} instead."
            else:
                msg += (f" But {what} is the wrong length: got a tuple or list of length {len(shardings)} for an "
                        f"args tuple of length {n}.")
            raise ValueError(msg) from None
        raise


def relaid(x: Any, s: NamedSharding) -> Any:
    """``x`` laid out and typed by ``s`` (a NamedSharding whose spec fits ``x``; unchecked: its Auto axes, which
    the type leaves out, too)."""
    if is_tracer(x) or is_staging():  # (a constant under jit: staged too)
        return reshard_p.bind(x, dst_sharding=NamedSharding(s.mesh.abstract_mesh, s.spec))
    return _reshard_impl(x, dst_sharding=s)


def with_out_sharding(x: Any, out_sharding: Any) -> Any:
    """``x`` resharded to ``out_sharding`` (a PartitionSpec or NamedSharding; None: ``x`` as it is): the
    ``out_sharding=`` argument of the creation functions."""
    return x if out_sharding is None else reshard(x, out_sharding)


def canonicalize_sharding(sharding: Any, api_name: str, check_mesh_consistency: bool = True) -> NamedSharding | None:
    """JAX's ``canonicalize_sharding`` of an ``out_sharding=`` argument of ``api_name``: a NamedSharding (a
    PartitionSpec means the mesh set by ``set_mesh``, whose Explicit axes only it may name; a NamedSharding's mesh
    must be that mesh if ``check_mesh_consistency``); None for None or a NamedSharding over an empty mesh."""
    from .source_info import current
    if sharding is None or (isinstance(sharding, NamedSharding) and sharding.mesh.empty):
        return None
    if not isinstance(sharding, (NamedSharding, PartitionSpec)):
        raise TypeError(f"`out_sharding` argument of {api_name} only supports instances of `NamedSharding` or "
                        f"`PartitionSpec`. Got {sharding} of type: {type(sharding)}")
    cur = current_mesh().abstract_mesh
    if isinstance(sharding, PartitionSpec):
        if cur.empty:
            raise ValueError("Using PartitionSpec when you are not under a mesh context is not allowed. Please pass a "
                             f"NamedSharding instance or enter into a mesh context via `jax.set_mesh`. Got {sharding}")
        sharding = NamedSharding(current_mesh(), sharding)
    elif check_mesh_consistency and not cur.empty and sharding.mesh.abstract_mesh != cur and not (
            all(t == AxisType.Auto for t in cur.axis_types) and
            all(t == AxisType.Auto for t in sharding.mesh.axis_types)):
        raise ValueError(f"Context mesh {cur} should match the mesh of sharding {sharding.mesh.abstract_mesh} passed "
                         f"to {api_name}. This error occurs at source:  {current().location()}")
    types = dict(zip(sharding.mesh.axis_names, sharding.mesh.axis_types))
    for a in (a for e in sharding.spec for a in spec_axes(e)):
        if types.get(a, AxisType.Explicit) in (AxisType.Auto, AxisType.Manual):
            raise ValueError(f"PartitionSpec passed to {api_name} cannot contain axis names that are of type Auto or "
                             f"Manual. Got PartitionSpec: {sharding.spec} with axis name: {a} of type: {types[a]}. "
                             f"This error occurs at source:  {current().location()}")
    return sharding


def computed_as(fn: Callable, out_sharding: Any, *operands: Any, api_name: str | None = None) -> Any:
    """``fn(*operands)`` laid out and typed by ``out_sharding`` (None: as ``fn`` gives it): the ``out_sharding=``
    argument of contractions and reshapes (``api_name``: the JAX function whose ``canonicalize_sharding`` checks it,
    if not done already). Operands whose shardings ``fn``'s rules reject (contracting dimensions sharded alike, a
    reshape JAX leaves to ``out_sharding``) are made unsharded first: the same values, which XLA would get through
    collectives too."""
    if api_name is not None:
        out_sharding = canonicalize_sharding(out_sharding, api_name)
    if out_sharding is None:
        return fn(*operands)
    try:
        out = fn(*operands)
    except ShardingTypeError:
        out = fn(*map(unsharded, operands))
    named = isinstance(out_sharding, NamedSharding)
    mesh = out_sharding.mesh if named else current_mesh()
    if not mesh.empty:  # (JAX's type check of the output's sharding)
        check_divisible(get_aval(out), tuple(out_sharding.spec if named else out_sharding), mesh.abstract_mesh)
    return reshard(out, out_sharding)


def as_typed_like(aval: ShapedArray, *operands: Any) -> NamedSharding | None:
    """The sharding a cotangent for a primal of ``aval`` computed from ``operands`` takes (JAX gives it the primal's):
    ``aval``'s, or unsharded when only the operands are typed; None when nothing is typed."""
    if aval.sharding is not None:
        return aval.sharding
    typed_in = [get_aval(x).sharding for x in operands if get_aval(x).sharding is not None]
    return NamedSharding(typed_in[0].mesh, PartitionSpec()) if typed_in else None


def unsharded(x: Any) -> Any:
    """``x`` laid out and typed unsharded, if its type has a sharded dimension (else ``x`` itself)."""
    aval = get_aval(x)
    if aval.sharding is None or all(e is None for e in aval.sharding.spec):
        return x
    return reshard(x, NamedSharding(aval.sharding.mesh, PartitionSpec()))


_register_elementwise()
_register_decomposition()
