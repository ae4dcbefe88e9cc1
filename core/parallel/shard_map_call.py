"""The ``shard_map`` primitive: a call whose body runs on every device of a mesh, on that device's blocks.

``shard_map`` carries the per-device body (a ClosedJaxpr over the blocks), the mesh (every axis manual),
a PartitionSpec per input (``in_specs``: the mesh axes splitting each dimension) and per output
(``out_specs``). Evaluated on arrays, the body runs as one SPMD program over the mesh: each device takes
its block of every argument in place (an argument laid out otherwise is cut block by block, never
gathered onto one device) and its outputs stay on it as the blocks of MeshArrays laid out by
``NamedSharding(mesh, out_spec)``. Under jit on arrays laid out over the same mesh the sharding pass
(``partition``) inlines the body into its per-device program. Like ``xla_pmap`` it has every rule: jvp
is shard_map of the jvp, batching adds an unsplit leading dimension to the specs, transpose is
shard_map of the transposed body (the cotangent of an output replicated over some mesh axes flows from
the first device along them, that of a replicated input is the psum of the devices'), partial
evaluation links a known and an unknown shard_map by per-device residuals.
"""
from __future__ import annotations

import contextlib
import math
import weakref
from typing import Any, Iterator, Sequence

from .. import dtypes
from ..ad_util import Zero, instantiate
from ..array import Array
from ..interpreters.batching import AxisData, batch_jaxpr, moveaxis
from ..interpreters.evaluation import eval_jaxpr
from ..interpreters.jvp import jvp_jaxpr
from ..interpreters.partial_eval import partial_eval_jaxpr
from ..interpreters.staging import convert_constvars, trace_to_jaxpr
from ..interpreters.transpose import is_undefined, transpose_jaxpr
from ..ir import ClosedJaxpr, ShapedArray
from ..primitives.elementwise import convert_element_type, eq, mul
from ..sharded import MeshArray, check_same_everywhere, local_spans, put_sharded
from ..sharding import Mesh, NamedSharding, PartitionSpec, spec_axes, typed
from ..trace import (abstract_eval_rules, batching_rules, get_aval, higher_order_primitives, impl_rules, is_tracer,
                     jvp_rules, partial_eval_jaxpr_rules, transpose_rules)
from . import spmd
from .axis_env import AxisPrimitive, extend_axis_env
from .pmap import _pick, _used_axis_names


def spec_dims(spec: PartitionSpec, ndim: int) -> tuple:
    """The mesh axes splitting each of ``ndim`` dimensions (a tuple of names per dimension)."""
    return tuple(spec_axes(spec[d]) if d < len(spec) else () for d in range(ndim))


def named(spec: PartitionSpec) -> set:
    """The mesh axes a spec names."""
    return {a for e in spec for a in spec_axes(e)}


def _splits(aval: ShapedArray, spec: PartitionSpec, mesh: Mesh) -> list[int]:
    return [math.prod(mesh.shape[a] for a in axes) for axes in spec_dims(spec, aval.ndim)]


def block_aval(aval: ShapedArray, spec: PartitionSpec, mesh: Mesh) -> ShapedArray:
    """One device's block of an array of ``aval`` laid out by ``spec`` (untyped: mesh axes are manual in a body)."""
    return ShapedArray(tuple(n // k for n, k in zip(aval.shape, _splits(aval, spec, mesh))), aval.dtype, aval.weak_type)


def whole_aval(block: ShapedArray, spec: PartitionSpec, mesh: Mesh) -> ShapedArray:
    """The array whose blocks (laid out by ``spec``) are of ``block``, typed by the Explicit axes of ``spec``."""
    shape = tuple(n * k for n, k in zip(block.shape, _splits(block, spec, mesh)))
    return typed(ShapedArray(shape, block.dtype, block.weak_type), NamedSharding(mesh, spec))


@contextlib.contextmanager
def mesh_axes(mesh: Mesh, names: Sequence[Any] | None = None) -> Iterator[None]:
    """Make the mesh axes ``names`` (default: all) visible to collectives traced in this block."""
    with contextlib.ExitStack() as stack:
        for a in mesh.axis_names if names is None else names:
            stack.enter_context(extend_axis_env(a, mesh.shape[a]))
        yield


_used_names_cache: "weakref.WeakKeyDictionary[ClosedJaxpr, frozenset]" = weakref.WeakKeyDictionary()


def _free_axis_names(params: dict) -> tuple:
    """Axis names the body uses besides the mesh's (those of enclosing vmaps)."""
    closed = params["jaxpr"]
    names = _used_names_cache.get(closed)
    if names is None:
        names = _used_names_cache[closed] = frozenset(_used_axis_names(closed.jaxpr))
    return tuple(names - set(params["mesh"].axis_names))


shard_map_p = AxisPrimitive("shard_map", _free_axis_names, multiple_results=True)
higher_order_primitives.add(shard_map_p)


def bind(body: ClosedJaxpr, args: Sequence, in_specs: Sequence[PartitionSpec], out_specs: Sequence[PartitionSpec],
         mesh: Mesh, check_vma: bool, name: str) -> list:
    """``shard_map_p`` of ``body`` on ``args``; constants of the body that are tracers become replicated
    arguments."""
    consts = list(body.consts)
    if any(map(is_tracer, consts)):
        body = ClosedJaxpr(convert_constvars(body.jaxpr), [])
        args, in_specs = [*consts, *args], [PartitionSpec()] * len(consts) + list(in_specs)
    return shard_map_p.bind(*args, jaxpr=body, mesh=mesh, in_specs=tuple(in_specs), out_specs=tuple(out_specs),
                            check_vma=check_vma, name=name)


def _abstract(*avals, jaxpr, mesh, in_specs, out_specs, **_):
    for i, (a, spec, body_aval) in enumerate(zip(avals, in_specs, jaxpr.in_avals)):
        block = block_aval(a, spec, mesh)
        if (block.shape, block.dtype) != (body_aval.shape, body_aval.dtype):
            raise TypeError(f"shard_map: argument {i} of type {a.str_short()} gives blocks {block.str_short()} "
                            f"under in_specs {spec}, but the body expects {body_aval.str_short()}")
    return [whole_aval(a, s, mesh) for a, s in zip(jaxpr.out_avals, out_specs)]


def _jvp(primals, tangents, *, jaxpr, mesh, in_specs, out_specs, **params):
    nonzeros = [type(t) is not Zero for t in tangents]
    with mesh_axes(mesh):
        body, out_nz = jvp_jaxpr(jaxpr, nonzeros, instantiate_out=False)
    outs = shard_map_p.bind(*primals, *_pick(tangents, nonzeros), jaxpr=body, mesh=mesh,
                            in_specs=in_specs + _pick(in_specs, nonzeros),
                            out_specs=out_specs + _pick(out_specs, out_nz), **params)
    n = len(out_specs)
    tangents_out = iter(outs[n:])
    return outs[:n], [next(tangents_out) if nz else Zero(whole_aval(a, s, mesh).at_least_vspace())
                      for nz, a, s in zip(out_nz, jaxpr.out_avals, out_specs)]


def _batch(axis, vals, dims, *, jaxpr, mesh, in_specs, out_specs, **params):
    if axis.name is not None and axis.name in mesh.axis_names:
        axis = AxisData(axis.size, object())  # inside the body the mesh axis shadows the vmap's
    vals = [v if d is None else moveaxis(v, d, 0) for v, d in zip(vals, dims)]
    with mesh_axes(mesh):
        body, out_batched = batch_jaxpr(jaxpr, axis, [d is not None for d in dims], instantiate=False)
    lead = lambda s, b: PartitionSpec(None, *s) if b else s
    outs = shard_map_p.bind(*vals, jaxpr=body, mesh=mesh,
                            in_specs=tuple(lead(s, d is not None) for s, d in zip(in_specs, dims)),
                            out_specs=tuple(lead(s, b) for s, b in zip(out_specs, out_batched)), **params)
    return outs, [0 if b else None for b in out_batched]


def _unsplit(spec: PartitionSpec, mesh: Mesh) -> tuple:
    """The mesh axes over which a value laid out by ``spec`` is replicated."""
    return tuple(a for a in mesh.axis_names if a not in named(spec))


def _replicated_cotangents(body: ClosedJaxpr, n_res: int, ct_specs: tuple, lin_specs: tuple, mesh: Mesh
                           ) -> ClosedJaxpr:
    """The transposed body with replicated values fixed: an output replicated over some mesh axes is the
    value of the first device along them, so its cotangent flows back from that device only; an input
    replicated over some axes went to every device along them, so its cotangent is the psum of theirs."""
    from ..primitives.collectives import axis_index, psum

    def first_only(ct, axes):
        return ct if not axes else mul(ct, convert_element_type(eq(axis_index(axes), 0), get_aval(ct).dtype))

    def fun(*args):
        res, cts = args[:n_res], args[n_res:]
        cts = [first_only(c, _unsplit(s, mesh)) for c, s in zip(cts, ct_specs)]
        outs = eval_jaxpr(body.jaxpr, body.consts, *res, *cts)
        return [psum(o, _unsplit(s, mesh)) if _unsplit(s, mesh) else o for o, s in zip(outs, lin_specs)]

    with mesh_axes(mesh):
        jaxpr, consts = trace_to_jaxpr(fun, body.in_avals)
    return ClosedJaxpr(jaxpr, consts)


def _transpose(cts, *args, jaxpr, mesh, in_specs, out_specs, **params):
    linear = [is_undefined(a) for a in args]
    inexact = [dtypes.kind(a.dtype) in "fc" for a in jaxpr.out_avals]
    res_specs, ct_specs = _pick(in_specs, [not l for l in linear]), _pick(out_specs, inexact)
    lin_specs = _pick(in_specs, linear)
    with mesh_axes(mesh):
        body = transpose_jaxpr(jaxpr, linear)
    if any(_unsplit(s, mesh) for s in ct_specs + lin_specs):
        body = _replicated_cotangents(body, len(res_specs), ct_specs, lin_specs, mesh)
    res = [a for a in args if not is_undefined(a)]
    outs = iter(shard_map_p.bind(*res, *[instantiate(c) for c in _pick(cts, inexact)], jaxpr=body, mesh=mesh,
                                 in_specs=res_specs + ct_specs, out_specs=lin_specs, **params))
    return [next(outs) if l else None for l in linear]


def _residual_axis(closed: ClosedJaxpr, mesh: Mesh, first: int, add: bool) -> ClosedJaxpr:
    """``closed`` with the per-device residuals (outputs from ``first`` on if ``add``, else inputs
    before ``first``) given (``add``) or stripped of a leading axis of size 1, which the residuals' spec
    splits over every mesh axis."""
    from ..primitives.structural import expand_dims, squeeze

    def fun(*args):
        if add:
            outs = eval_jaxpr(closed.jaxpr, closed.consts, *args)
            return outs[:first] + [expand_dims(r, (0,)) for r in outs[first:]]
        return eval_jaxpr(closed.jaxpr, closed.consts, *[squeeze(r, (0,)) for r in args[:first]], *args[first:])

    avals = closed.in_avals if add else [a.update(shape=(1,) + a.shape) for a in closed.in_avals[:first]] + \
        list(closed.in_avals[first:])
    with mesh_axes(mesh):
        jaxpr, consts = trace_to_jaxpr(fun, avals)
    return ClosedJaxpr(jaxpr, consts)


def _partial_eval(trace, tracers, *, jaxpr, mesh, in_specs, out_specs, **params):
    """Known inputs run now in a shard_map returning known outputs and per-device residuals; the
    shard_map of the unknown half is staged on the residuals and unknown inputs."""
    unknowns = [not t.pval.is_known for t in tracers]
    with mesh_axes(mesh):
        known, unknown, out_unknowns, num_res = partial_eval_jaxpr(jaxpr, unknowns, False)
    n_known = len(known.out_avals) - num_res
    res_spec = (PartitionSpec(tuple(mesh.axis_names)),) * num_res
    known_outs = shard_map_p.bind(*[t.pval.const for t in tracers if t.pval.is_known],
                                  jaxpr=_residual_axis(known, mesh, n_known, True), mesh=mesh,
                                  in_specs=_pick(in_specs, [not u for u in unknowns]),
                                  out_specs=_pick(out_specs, [not u for u in out_unknowns]) + res_spec, **params)
    residuals = [trace.instantiate_const(trace.pure(r)) for r in known_outs[n_known:]]
    staged = trace.stage(shard_map_p, residuals + [t for t in tracers if not t.pval.is_known],
                         dict(params, jaxpr=_residual_axis(unknown, mesh, num_res, False), mesh=mesh,
                              in_specs=res_spec + _pick(in_specs, unknowns), out_specs=_pick(out_specs, out_unknowns)))
    known_it, staged_it = iter(known_outs[:n_known]), iter(staged)
    return [next(staged_it) if u else trace.pure(next(known_it)) for u in out_unknowns]


class MeshProgram:
    """The body as one SPMD program over the whole mesh, run on arrays: each device takes its block of
    every argument in place (cut block by block first if laid out otherwise) and its outputs stay on it
    as the blocks of the results. Over a mesh spanning processes each process runs its devices' blocks
    and the collectives between processes go through MPI (``spmd``)."""

    def __init__(self, body: ClosedJaxpr, out_specs: Sequence[PartitionSpec], mesh: Mesh, name: str):
        flat, axes = spmd.flatten(body, list(mesh.shape.items()))
        owners = tuple(d.process_index for d in mesh.devices.flat) if mesh.is_multi_process else None
        self.program = spmd.SpmdProgram(flat, axes, mesh.local_devices, owners, f"shard_map of {name}")
        self.mesh, self.out_avals = mesh, body.out_avals
        self.outs = []  # per output: its sharding, whole aval and this process's blocks' spans
        for a, s in zip(body.out_avals, out_specs):
            sharding, whole = NamedSharding(mesh, s), whole_aval(a, s, mesh)
            self.outs.append((sharding, whole, local_spans(sharding, whole.shape)))

    def __call__(self, args: Sequence, in_shardings: Sequence[NamedSharding], own: int = 0) -> list:
        """The results on ``args`` laid out by ``in_shardings`` (over the mesh); the first ``own`` are this process's
        own values (a program's constants), the others, unless global arrays, must be the same on every process
        (checked)."""
        if self.program.owners is not None:
            held = [x for x in args[own:] if not (isinstance(x, MeshArray) and not x.is_fully_addressable)]
            if held:
                check_same_everywhere(held)
        placed = [put_sharded(x, s, checked=True) for x, s in zip(args, in_shardings)]
        outs = self.program([[b._buf for b in x.shards] for x in placed])
        devices = self.program.devices
        return [MeshArray([Array(b, aval, d) for b, d in zip(bufs, devices)], sharding, whole, spans)
                for bufs, aval, (sharding, whole, spans) in zip(outs, self.out_avals, self.outs)]


_programs: "weakref.WeakKeyDictionary[ClosedJaxpr, dict]" = weakref.WeakKeyDictionary()


def _impl(*args, jaxpr, mesh, in_specs, out_specs, name, **_):
    per_jaxpr = _programs.setdefault(jaxpr, {})
    program = per_jaxpr.get((mesh, out_specs))
    if program is None:
        program = per_jaxpr[(mesh, out_specs)] = MeshProgram(jaxpr, out_specs, mesh, name)
    return program(args, [NamedSharding(mesh, s) for s in in_specs])


abstract_eval_rules[shard_map_p] = _abstract
jvp_rules[shard_map_p] = _jvp
batching_rules[shard_map_p] = _batch
transpose_rules[shard_map_p] = _transpose
partial_eval_jaxpr_rules[shard_map_p] = _partial_eval
impl_rules[shard_map_p] = _impl
