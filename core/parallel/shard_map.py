"""``shard_map``: a function mapped over the blocks of its arguments on a mesh of devices.

The body is traced once per signature on the blocks; it is the ``shard_map`` primitive
(``shard_map_call``): on arrays each device takes its block of every argument in place and keeps its
outputs as the blocks of the results, laid out by ``NamedSharding(mesh, out_spec)``; under jit, grad and
vmap the primitive's rules apply, and jit on arrays laid out over the mesh inlines the body into its
per-device program, so sharded arguments are never gathered. Over some mesh axes only (``axis_names``)
the specs name only those axes: along the others every device holds and computes the same values.

Inside the body of a pmap or of another shard_map it is pmap over several axes: each argument is
reshaped so that the mesh axes splitting it lead (in mesh order), then one nested pmap per mesh axis
(the outermost on the mesh's devices) hands every device its block; the SPMD runner flattens the nest
into one program, and the outputs are reassembled by the inverse reshape.

``check_vma`` (JAX's replication check) is a static pass over the body: an output whose out_spec leaves
out a mesh axis it may vary over is an error.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

from ..api import _flatten_axes
from ..interpreters.memo import trace_once
from ..interpreters.staging import trace_to_jaxpr
from ..ir import ClosedJaxpr, Jaxpr, Literal, subjaxprs
from ..lru import LRUCache
from ..primitives.elementwise import asarray
from ..primitives.structural import reshape, transpose
from ..pytree import tree_flatten, tree_map, tree_unflatten
from ..sharded import MeshArray, put_sharded
from ..sharding import Mesh, NamedSharding, PartitionSpec, check_spec, current_mesh, spec_axes
from ..trace import get_aval, is_staging, is_tracer
from . import shard_map_call
from .axis_env import AxisPrimitive, in_mapped_body
from .pmap import _used_axis_names, pmap
from .shard_map_call import block_aval, mesh_axes, named as _named, spec_dims as _dims


def _mesh_major(x: Any, spec: PartitionSpec, mesh: Mesh) -> Any:
    """``x`` with the mesh axes splitting it as leading dimensions (mesh order), then its block."""
    sizes, shape = mesh.shape, get_aval(x).shape
    new_shape, labels = [], []
    for d, (n, axes) in enumerate(zip(shape, _dims(spec, len(shape)))):
        new_shape += [sizes[a] for a in axes] + [n // math.prod(sizes[a] for a in axes)]
        labels += [("mesh", a) for a in axes] + [("dim", d)]
    perm = [labels.index(("mesh", a)) for a in mesh.axis_names if ("mesh", a) in labels]
    perm += [labels.index(("dim", d)) for d in range(len(shape))]
    return transpose(reshape(x, new_shape), perm)


def _from_mesh_major(y: Any, spec: PartitionSpec, mesh: Mesh) -> Any:
    """The inverse of ``_mesh_major``: the leading mesh dimensions merged back into the block's."""
    sizes, shape = mesh.shape, get_aval(y).shape
    lead = [a for a in mesh.axis_names if a in _named(spec)]
    block = shape[len(lead):]
    labels = [("mesh", a) for a in lead] + [("dim", d) for d in range(len(block))]
    perm, final = [], []
    for d, axes in enumerate(_dims(spec, len(block))):
        perm += [labels.index(("mesh", a)) for a in axes] + [labels.index(("dim", d))]
        final.append(block[d] * math.prod(sizes[a] for a in axes))
    return reshape(transpose(y, perm), final)


def _check_divisible(name: str, mesh: Mesh, specs: list, avals: list) -> None:
    """JAX's error for argument dimensions that the mesh axes of their in_specs do not divide."""
    msgs = []
    for i, (spec, aval) in enumerate(zip(specs, avals)):
        if len(spec) > aval.ndim:
            raise ValueError(f"shard_map applied to the function '{name}' was given an in_specs entry {spec} of "
                             f"length {len(spec)} for an argument of rank {aval.ndim} ({aval.str_short()})")
        for d, axes in enumerate(_dims(spec, aval.ndim)):
            k = math.prod(mesh.shape[a] for a in axes)
            if aval.shape[d] % k:
                what = f"axes {axes}" if len(axes) > 1 else f"axis '{axes[0]}'"
                msgs.append(f"* the passed argument {i} of shape {aval.str_short()} corresponds to in_specs of value "
                            f"{spec}, which maps array axis {d} (of size {aval.shape[d]}) to mesh {what} (of "
                            f"{'total ' if len(axes) > 1 else ''}size {k}), but {k} does not evenly divide "
                            f"{aval.shape[d]}")
    if msgs:
        raise ValueError(f"shard_map applied to the function '{name}' was given argument arrays with axis sizes that "
                         f"are not evenly divisible by the corresponding mesh axis sizes:\n\nThe mesh given has shape "
                         f"{mesh.axis_sizes} with corresponding axis names {mesh.axis_names}.\n\n" + "\n\n".join(msgs)
                         + "\n\nArray arguments' axis sizes must be evenly divisible by the mesh axis or axes "
                         "indicated by the corresponding elements of the argument's in_specs entry.")


def _check_out_ranks(name: str, out_avals: list, out_specs: list) -> None:
    """JAX's error for out_specs entries longer than the rank of their output."""
    msgs = [f"out_specs{'' if len(out_specs) == 1 else f'[{i}]'} is {spec} which has length {len(spec)}, but "
            f"{name}(*args){'' if len(out_specs) == 1 else f'[{i}]'} has shape {aval.str_short()}, which has rank "
            f"{aval.ndim} (and {aval.ndim} < {len(spec)})"
            for i, (aval, spec) in enumerate(zip(out_avals, out_specs)) if len(spec) > aval.ndim]
    if msgs:
        raise ValueError(f"shard_map applied to the function '{name}' was given an out_specs entry which is too long "
                         f"to be compatible with the corresponding output value from the function:\n\n"
                         + "\n\n".join(msgs) + f"\n\nEntries in out_specs must be of length no greater than the "
                         f"number of axes in the corresponding output value.\n\nEither revise the spec to be "
                         f"shorter, or modify '{name}' so that its outputs have sufficient rank.")


def _check_specs(what: str, specs: list, mesh: Mesh, manual: tuple) -> None:
    for spec in specs:
        if not isinstance(spec, PartitionSpec):
            raise TypeError(f"shard_map {what} entries must be PartitionSpecs, got {spec!r}")
        check_spec(spec, mesh, f"shard_map {what}")
        extra = [a for axes in spec for a in spec_axes(axes) if a not in manual]
        if extra:
            raise ValueError(f"shard_map {what} {spec} names mesh axes {extra} outside axis_names {manual}")


def _varying(jaxpr: Jaxpr, in_vma: list) -> list[frozenset]:
    """The mesh axes each output of ``jaxpr`` may vary over, given its inputs': psum, pmax, pmin and
    all_gather make a value the same along their axes, axis_index and the other collectives make it vary,
    any other equation varies as its inputs (and, conservatively, over the axes its sub-jaxprs name)."""
    env = dict(zip(jaxpr.in_binders, in_vma))
    read = lambda x: frozenset() if type(x) is Literal else env.get(x, frozenset())
    for e in jaxpr.eqns:
        ins = frozenset().union(*map(read, e.inputs))
        p = e.primitive
        if isinstance(p, AxisPrimitive):
            axes = frozenset(p.axis_names_of(e.params))
            invariant = p.name in _INVARIANT and e.params.get("axis_index_groups") is None
            outs = [ins - axes if invariant else ins | axes] * len(e.out_binders)
        elif p.name == "pjit":
            outs = _varying(e.params["jaxpr"].jaxpr, list(map(read, e.inputs)))
        else:
            outs = [ins | frozenset().union(*map(_used_axis_names, subjaxprs(e.params)))] * len(e.out_binders)
        env.update(zip(e.out_binders, outs))
    return [read(x) for x in jaxpr.outs]


_INVARIANT = ("psum", "pmax", "pmin", "all_gather")


def _body(f: Callable, in_tree: Any, specs: list, avals: list, mesh: Mesh, manual: tuple) -> tuple[ClosedJaxpr, Any]:
    """``f`` traced on the per-device blocks, with the manual mesh axes bound, and its output tree."""
    out_tree_box: list = []

    def flat(*blocks):
        leaves, tree = tree_flatten(f(*tree_unflatten(in_tree, list(blocks))))
        out_tree_box[:] = [tree]
        return [o if is_tracer(o) else asarray(o) for o in leaves]

    with mesh_axes(mesh, manual):
        jaxpr, consts = trace_to_jaxpr(flat, [block_aval(a, s, mesh) for a, s in zip(avals, specs)])
    return ClosedJaxpr(jaxpr, consts), out_tree_box[0]


def _check_replication(name: str, body: ClosedJaxpr, specs: list, out_specs: list, mesh: Mesh, manual: tuple) -> None:
    """JAX's check_vma error for an output whose out_spec leaves out a mesh axis it may vary over."""
    for vma, spec in zip(_varying(body.jaxpr, [frozenset(_named(s)) for s in specs]), out_specs):
        missing = [a for a in manual if a in vma and a not in _named(spec)]
        if missing:
            raise ValueError(
                f"shard_map applied to the function '{name}' was given out_specs which require replication which "
                f"can't be statically inferred given the mesh:\n\nThe mesh given has shape {mesh.axis_sizes} with "
                f"corresponding axis names {mesh.axis_names}.\n\nout_specs is {spec} which implies that the "
                f"corresponding output value is replicated across mesh axes {tuple(missing)}, but it may vary over "
                f"them.\n\nCheck if these output values are meant to be replicated over those mesh axes. If not, "
                f"consider revising the corresponding out_specs entries. If so, consider disabling the check by "
                f"passing the check_vma=False argument to `jax.shard_map`.")


def _nest(f: Callable, in_tree: Any, in_specs: list, out_specs: Any, mesh: Mesh, manual: tuple) -> Callable:
    """One pmap per manual mesh axis, the outermost over the mesh's devices (manual axes in mesh order,
    the first index of the others)."""
    def body(*blocks):
        return f(*tree_unflatten(in_tree, list(blocks)))

    order = [mesh.axis_names.index(a) for a in manual]
    rest = [i for i in range(len(mesh.axis_names)) if i not in order]
    devices = mesh.devices.transpose(order + rest)[(Ellipsis,) + (0,) * len(rest)].reshape(-1)
    fn = body
    for level in reversed(range(len(manual))):
        a = manual[level]
        fn = pmap(fn, axis_name=a, axis_size=mesh.shape[a],
                  in_axes=tuple(0 if a in _named(s) else None for s in in_specs),
                  out_axes=tree_map(lambda s: 0 if a in _named(s) else None, out_specs),
                  devices=tuple(devices) if level == 0 else None)
    return fn


def shard_map(f: Callable | None = None, /, *, out_specs: Any, in_specs: Any = None, mesh: Mesh | None = None,
              axis_names: Any = frozenset(), check_vma: bool = True) -> Any:
    """``jax.shard_map``: run ``f`` on every device of ``mesh`` on that device's block of the arguments
    (``in_specs``: a PartitionSpec per argument, a pytree prefix); ``out_specs`` say how the devices'
    outputs form the results. ``axis_names`` (default: all) are the mesh axes the body maps over;
    ``mesh`` defaults to the one set by ``set_mesh``.
    Without ``in_specs`` each argument must be an array laid out by a NamedSharding on ``mesh``."""
    if f is None:
        return functools.partial(shard_map, out_specs=out_specs, in_specs=in_specs, mesh=mesh, axis_names=axis_names,
                                 check_vma=check_vma)
    if not callable(f):
        raise TypeError(f"shard_map requires a callable for its first argument, but got {f} of type {type(f)}.")
    context = current_mesh()
    if mesh is None:
        mesh = context
        if mesh.empty:
            raise ValueError("The context mesh cannot be empty. Use `jax.set_mesh(mesh)` to enter into a mesh context")
    elif isinstance(mesh, Mesh) and not context.empty and \
            (mesh.shape_tuple, mesh.axis_types) != (context.shape_tuple, context.axis_types):
        raise ValueError(f"The context mesh {context} should match the mesh passed to shard_map {mesh}")
    return mesh_map(f, mesh, in_specs, out_specs, axis_names, check_vma)


def mesh_map(f: Callable, mesh: Mesh, in_specs: Any, out_specs: Any, axis_names: Any = frozenset(),
             check_vma: bool = True) -> Callable:
    """``shard_map`` over ``mesh`` whatever mesh ``set_mesh`` set (for portax's own programs, e.g. jit's
    partitioned ones, which run over the mesh of their arguments)."""
    if not isinstance(mesh, Mesh):
        raise TypeError(f"shard_map requires a `jax.sharding.Mesh` instance for its second argument, but got {mesh} "
                        f"of type {type(mesh)}.")
    if mesh.empty:
        raise ValueError(f"shard_map requires a non-empty mesh. Got {mesh}")
    manual = tuple(a for a in mesh.axis_names if not axis_names or a in axis_names)
    name = getattr(f, "__name__", type(f).__name__)
    nests = LRUCache()  # the pmap nest per input structure and specs (its pmaps cache their traces)
    spec_leaves, spec_tree = tree_flatten(out_specs)

    @functools.wraps(f)
    def wrapped(*args):
        leaves, in_tree = tree_flatten(args)
        if in_specs is None:
            if not all(isinstance(x, MeshArray) and x.sharding.mesh == mesh for x in leaves):
                raise ValueError("shard_map without in_specs needs every argument laid out by a NamedSharding on its "
                                 "mesh (device_put(x, NamedSharding(mesh, spec))); pass in_specs otherwise.")
            specs = [x.sharding.spec for x in leaves]
        else:
            specs = [PartitionSpec() if s is None else s for s in
                     _flatten_axes("shard_map in_specs", in_tree, in_specs, PartitionSpec)]
        _check_specs("in_specs", specs, mesh, manual)
        _check_specs("out_specs", tree_flatten(out_specs)[0], mesh, manual)
        avals = [get_aval(x) for x in leaves]
        _check_divisible(name, mesh, specs, avals)
        key = (in_tree, tuple(specs), tuple(avals))

        def trace() -> tuple:
            body, out_tree = _body(f, in_tree, specs, avals, mesh, manual)
            flat_out_specs = _flatten_axes("shard_map out_specs", out_tree, out_specs, PartitionSpec)
            _check_out_ranks(name, body.out_avals, flat_out_specs)
            if check_vma:
                _check_replication(name, body, specs, flat_out_specs, mesh, manual)
            return body, out_tree, flat_out_specs

        # As in JAX, a jit tracing again (after its clear_cache(), or another jit) traces the body again, seeing the
        # closure's current values; eager calls reuse the body's trace until jax.clear_caches().
        body, out_tree, flat_out_specs = trace() if is_staging() else trace_once(
            (f,), ("shard_map", mesh, manual, check_vma, tuple(spec_leaves), spec_tree, key), trace)
        if not in_mapped_body():
            return tree_unflatten(out_tree, shard_map_call.bind(body, leaves, specs, flat_out_specs, mesh, check_vma,
                                                                name))
        nest = nests.get_or_create(key[:2], lambda: _nest(f, in_tree, specs, out_specs, mesh, manual))
        outs = tree_flatten(nest(*[_mesh_major(x, s, mesh) for x, s in zip(leaves, specs)]))[0]
        outs = [_from_mesh_major(y, s, mesh) for y, s in zip(outs, flat_out_specs)]
        if not any(map(is_tracer, outs)):
            outs = [put_sharded(y, NamedSharding(mesh, s)) for y, s in zip(outs, flat_out_specs)]
        return tree_unflatten(out_tree, outs)

    return wrapped
