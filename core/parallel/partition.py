"""``jit(f, in_shardings=, out_shardings=)`` (and jit of arrays laid out over a mesh): the sharding pass
and the per-device program.

``propagate`` decides the layout (a ``Layout``: the mesh axes splitting each dimension) of every value of
the jitted jaxpr, one equation at a time from its inputs' layouts:
* elementwise operations keep the layout of their first split input (the others are resharded to it);
* transpose permutes it; broadcast_in_dim carries it to the broadcast dimensions; reshape keeps the
  split of the leading dimensions it leaves unchanged and of the first one it changes; squeeze, slice, pad
  and argmax/argmin keep the split of the dimensions they do not work along;
* concatenate, sort and cumulative scans along a split dimension run on it whole and split their result again
  as JAX does (concatenate and sort as their leading operand, ``_leading``; a 1-D sort stays whole);
* cond, while and scan run on each device's blocks, their bodies partitioned alike (``partition_flow``);
* reduce_sum/max/min over a split dimension reduce each device's block and combine the partial results
  with psum/pmax/pmin over that dimension's mesh axes;
* dot_general keeps split batch and free dimensions (batch-sharded work stays local) and, when both
  operands split a contracting dimension the same way, adds the partial products with a psum;
* a shard_map over the mesh needs its inputs laid out by its in_specs and gives outputs laid out by its
  out_specs: its body is inlined into the per-device program (each device runs it on its own blocks);
* a host callback (debug.print/callback, pure_callback, io_callback) runs once, on the mesh's first device,
  with the whole values, as JAX runs it under jit; its results are sent to every device (inside a
  shard_map it runs on every device, on its blocks);
* any other equation runs on whole (gathered) values on every device: correct, never a guess.
The jaxpr then runs as the body of a ``shard_map`` over the mesh (each device one program, compiled by
the backend holding the devices), resharding an input to the layout its equation needs with all_gather
(a split dimension made whole) and a slice at the device's ``axis_index`` (a whole dimension split).
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Callable, Sequence

from ..ad_util import zeros_like_aval
from ..config import config
from ..interpreters.evaluation import eval_jaxpr
from ..ir import Jaxpr, Literal, subjaxprs
from ..explicit_sharding import layout
from ..lru import LRUCache
from ..primitives import elementwise as ew
from ..primitives.callbacks import CALLBACKS
from ..primitives.collectives import all_gather, axis_index, pmax, pmin, psum
from ..primitives.control_flow import cond
from ..primitives.structural import dynamic_slice_in_dim, index_in_dim
from ..pytree import tree_flatten, tree_map, tree_unflatten
from ..sharded import MeshArray
from ..sharding import AxisType, Mesh, NamedSharding, PartitionSpec, current_mesh
from ..trace import get_aval, is_tracer, is_tracing
from . import partition_flow, spmd
from .axis_env import AxisPrimitive
from .shard_map import _body as shard_map_body, mesh_map
from .shard_map_call import MeshProgram, shard_map_p, spec_dims as layout_of

Layout = tuple  # per dimension, the tuple of mesh axes splitting it (major to minor)

_REDUCERS = {"reduce_sum": psum, "reduce_max": pmax, "reduce_min": pmin}
_ALONG_AXIS = frozenset({"cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp", "argmax", "argmin"})
_SHAPE_PARAMS = {"broadcast_in_dim": "shape", "reshape": "new_sizes", "slice": "limit_indices"}
_ELEMENTWISE = frozenset(p.name for p in ew.ELEMENTWISE)


def spec_of(layout: Layout) -> PartitionSpec:
    entries = [None if not axes else axes for axes in layout]
    while entries and entries[-1] is None:
        entries.pop()
    return PartitionSpec(*entries)


def _whole(ndim: int) -> Layout:
    return ((),) * ndim


def _fits(layout: Layout, shape: Sequence[int], mesh: Mesh) -> bool:
    return all(n % math.prod(mesh.shape[a] for a in axes) == 0 for n, axes in zip(shape, layout))


def _all_fit(layouts: list[Layout], values: Sequence, mesh: Mesh) -> bool:
    """Whether the mesh divides each layout of ``values`` (variables or literals)."""
    return all(_fits(l, get_aval(x).shape, mesh) for l, x in zip(layouts, values))


def decide(eqn, layouts: list[Layout], mesh: Mesh
           ) -> tuple[list[Layout], list[Layout], Callable | None, tuple, list[Layout]]:
    """For one equation: the layouts its inputs need, its outputs' layouts as computed, the collective (with
    its mesh axes) that completes the outputs' partial results (None: the outputs are complete), and the
    layouts the outputs are then cut to (as JAX lays them out: an operation working along a split dimension
    runs on it whole, its result is split again). Layouts the mesh does not divide fall back to whole values."""
    needs, outs, combine, axes, *then = _rule(eqn, layouts)
    if _all_fit(needs, eqn.inputs, mesh) and _all_fit(outs, eqn.out_binders, mesh):
        then = then[0] if then and _all_fit(then[0], eqn.out_binders, mesh) else outs
        return needs, outs, combine, axes, then
    whole = [_whole(v.aval.ndim) for v in eqn.out_binders]
    return [_whole(get_aval(x).ndim) for x in eqn.inputs], whole, None, (), whole


def _rule(eqn, layouts: list[Layout]) -> tuple:
    """``decide``'s choice before the divisibility check (the layouts the outputs are cut to last, when they
    differ from the computed ones)."""
    p, ins, outs = eqn.primitive.name, [get_aval(x) for x in eqn.inputs], [v.aval for v in eqn.out_binders]
    whole_ins, whole_outs = [_whole(a.ndim) for a in ins], [_whole(a.ndim) for a in outs]
    if p == "reshard":  # (a layout change: ``evaluate`` moves the blocks to the output's typed layout)
        return layouts, layouts, None, ()
    if p in _ELEMENTWISE and len({a.shape for a in ins + outs}) == 1:
        split = next((l for l in layouts if any(l)), None)
        if split is not None:
            return [split] * len(ins), [split] * len(outs), None, ()
    elif p == "transpose":
        perm = eqn.params["permutation"]
        return layouts, [tuple(layouts[0][i] for i in perm)], None, ()
    elif p == "broadcast_in_dim" and len(ins) == 1:
        out = [()] * outs[0].ndim
        src = list(layouts[0])
        for i, d in enumerate(eqn.params["broadcast_dimensions"]):
            if ins[0].shape[i] == outs[0].shape[d]:
                out[d] = src[i]
            else:
                src[i] = ()
        return [tuple(src)], [tuple(out)], None, ()
    elif p in _REDUCERS and ins[0].dtype.kind in ("iufc" if p == "reduce_sum" else "iuf"):
        axes = eqn.params["axes"]
        mesh_axes = tuple(a for d in axes for a in layouts[0][d])
        out = tuple(l for d, l in enumerate(layouts[0]) if d not in axes)
        return layouts, [out], (_REDUCERS[p] if mesh_axes else None), mesh_axes
    elif p == "dot_general":
        return _dot_rule(eqn, layouts)
    elif p in _ALONG_AXIS:  # scans and arg-reductions along dimensions: the others keep their split
        along = eqn.params["axes"] if "axes" in eqn.params else (eqn.params["axis"],)
        need = tuple(() if d in along else l for d, l in enumerate(layouts[0]))
        if p.startswith("cum"):  # (split again as the operand)
            return [need], [need], None, (), [layouts[0]]
        return [need], [tuple(l for d, l in enumerate(need) if d not in along)], None, ()
    elif p in ("concatenate", "sort") and any(map(any, layouts)):
        # Run along the dimension whole, split again as the leading operand (a 1-D sort stays whole, as in JAX).
        dim = eqn.params["dimension"]
        lead = _leading(layouts, dim)
        need = tuple(() if d == dim else l for d, l in enumerate(lead))
        then = need if p == "sort" and len(lead) == 1 else lead
        return [need] * len(ins), [need] * len(outs), None, (), [then] * len(outs)
    elif p == "slice":
        full = [(a, b, st or 1) == (0, n, 1) for a, b, st, n in zip(
            eqn.params["start_indices"], eqn.params["limit_indices"], eqn.params["strides"] or [1] * ins[0].ndim,
            ins[0].shape)]
        need = tuple(l if f else () for l, f in zip(layouts[0], full))
        return [need], [need], None, ()
    elif p == "reshape" and eqn.params.get("dimensions") is None:
        # The unchanged leading dimensions keep their split, and so does the first changed one: split into k
        # blocks, it cuts the (row-major) rest into k contiguous chunks, which the output's first changed
        # dimension split into k blocks cuts alike (the mesh dividing it, ``decide`` checks).
        keep = next((d + 1 for d, (a, b) in enumerate(zip(ins[0].shape, outs[0].shape)) if a != b),
                    min(ins[0].ndim, outs[0].ndim))
        need = tuple(l if d < keep else () for d, l in enumerate(layouts[0]))
        return [need], [need[:keep] + ((),) * (outs[0].ndim - keep)], None, ()
    elif p == "pad":  # the dimensions it does not pad keep their split
        need = tuple(l if cfg == (0, 0, 0) else () for l, cfg in zip(layouts[0], eqn.params["padding_config"]))
        return [need, ()], [need], None, ()
    elif p == "squeeze":  # (the squeezed dimensions have size 1)
        dims = eqn.params["dimensions"]
        return layouts, [tuple(l for d, l in enumerate(layouts[0]) if d not in dims)], None, ()
    return whole_ins, whole_outs, None, ()


def _as_typed(outs: list[Layout], binders: list) -> list[Layout]:
    """The layouts of an equation's outputs: those their types give (Explicit mesh axes), else ``outs``."""
    return [l if t is None else t for l, t in zip(outs, (layout(v.aval) for v in binders))]


def _leading(layouts: list[Layout], dim: int) -> Layout:
    """The layout of the operand leading an operation along ``dim`` (as JAX's propagation picks it): the first
    splitting another dimension, else the first split one."""
    split = [l for l in layouts if any(l)]
    return next((l for l in split if any(a for d, a in enumerate(l) if d != dim)), split[0])


def _dot_rule(eqn, layouts: list[Layout]):
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = list(layouts[0]), list(layouts[1])
    for i, j in zip(lb + lc, rb + rc):  # paired dimensions must be split alike
        if lhs[i] != rhs[j]:
            lhs[i] = rhs[j] = ()
    lfree = [d for d in range(len(lhs)) if d not in lb + lc]
    rfree = [d for d in range(len(rhs)) if d not in rb + rc]
    used = {a for d in lfree for a in lhs[d]} | {a for d in lb + lc for a in lhs[d]}
    for d in rfree:  # a mesh axis splits at most one output dimension
        if set(rhs[d]) & used:
            rhs[d] = ()
        used |= set(rhs[d])
    out = tuple(lhs[d] for d in lb) + tuple(lhs[d] for d in lfree) + tuple(rhs[d] for d in rfree)
    contracted = tuple(a for d in lc for a in lhs[d])
    return [tuple(lhs), tuple(rhs)], [out], (psum if contracted else None), contracted


def propagate(jaxpr: Jaxpr, in_layouts: list[Layout], mesh: Mesh) -> list[Layout]:
    """The layouts of ``jaxpr``'s outputs (the equations' decisions are ``decide``'s)."""
    env = dict(zip(jaxpr.constvars, _as_typed([_whole(v.aval.ndim) for v in jaxpr.constvars], jaxpr.constvars)))
    env.update(zip(jaxpr.in_binders, in_layouts))
    read = lambda x: _whole(x.aval.ndim) if type(x) is Literal else env[x]
    for e in jaxpr.eqns:
        ins = [read(x) for x in e.inputs]
        body = _call_body(e)
        flow = _flow(e, ins, mesh)
        if e.primitive is shard_map_p:
            outs = [layout_of(s, v.aval.ndim) for s, v in zip(e.params["out_specs"], e.out_binders)]
        elif flow is not None:
            outs = flow.outs
        else:
            outs = propagate(body.jaxpr, ins, mesh) if body is not None else decide(e, ins, mesh)[4]
        env.update(zip(e.out_binders, _as_typed(outs, e.out_binders)))
    return [read(x) for x in jaxpr.outs]


def _flow(eqn, layouts: list[Layout], mesh: Mesh) -> partition_flow.Plan | None:
    """The plan of a control-flow equation run on each device's blocks (``partition_flow``), if some of its
    layouts are split and the mesh divides them; None for other equations (run on whole values)."""
    p = partition_flow.plan(eqn, layouts, mesh)
    return p if p is not None and any(map(any, p.needs + p.outs)) and _all_fit(p.needs, eqn.inputs, mesh) and \
        _all_fit(p.outs, eqn.out_binders, mesh) else None


def _call_body(eqn) -> Any:
    """The body of a call equation (jit, checkpoint, custom derivatives: run as their primal), inlined by
    the pass; None for other equations."""
    param = spmd.CALL_BODIES.get(eqn.primitive.name)
    return eqn.params[param] if param is not None and eqn.primitive.name != "custom_linear_solve" else None


def inlinable(jaxpr: Jaxpr, mesh: Mesh) -> bool:
    """Whether the pass can run ``jaxpr`` over ``mesh``: its collectives and pmaps, if any, all sit in
    shard_maps over ``mesh`` (outside control flow), whose bodies it inlines."""
    return _blocker(jaxpr, mesh) is None


def _blocker(jaxpr: Jaxpr, mesh: Mesh) -> str | None:
    """The name of the first equation that keeps the pass from running ``jaxpr`` over ``mesh``, if any."""
    for e in jaxpr.eqns:
        body = _call_body(e)
        if e.primitive is shard_map_p:
            if e.params["mesh"] != mesh:
                return "shard_map over another mesh"
        elif body is not None:
            inner = _blocker(body.jaxpr, mesh)
            if inner is not None:
                return inner
        elif isinstance(e.primitive, AxisPrimitive) or any(map(spmd.uses_axes, subjaxprs(e.params))):
            return e.primitive.name
    return None


def reshard(x: Any, src: Layout, dst: Layout, mesh: Mesh) -> Any:
    """Inside the per-device program: the block of ``x`` for layout ``dst`` from its block for ``src``."""
    for d, (s, t) in enumerate(zip(src, dst)):
        if s and s != t:
            x = all_gather(x, s, axis=d, tiled=True)
    for d, (s, t) in enumerate(zip(src, dst)):
        if t and s != t:
            n = get_aval(x).shape[d] // math.prod(mesh.shape[a] for a in t)
            x = dynamic_slice_in_dim(x, ew.mul(axis_index(t), n), n, d)
    return x


@functools.lru_cache(maxsize=256)
def resharding(src: PartitionSpec, dst: PartitionSpec, mesh: Mesh, ndim: int) -> Callable:
    """A shard_map over ``mesh`` taking arrays of rank ``ndim`` laid out by ``src`` to ``dst``."""
    return mesh_map(lambda x: reshard(x, layout_of(src, ndim), layout_of(dst, ndim), mesh), mesh, src, dst,
                    check_vma=False)


def evaluate(jaxpr: Jaxpr, consts: Sequence, blocks: Sequence, in_layouts: list[Layout], mesh: Mesh
             ) -> tuple[list, list[Layout]]:
    """Run ``jaxpr`` on each device's blocks (inside shard_map), following ``propagate``'s layouts: the
    output blocks and their layouts."""
    # constants are whole on every device; a typed one (a global array laid out over an Explicit mesh) is cut
    # to its type's layout, so that its blocks are what its type says
    typed = _as_typed([_whole(v.aval.ndim) for v in jaxpr.constvars], jaxpr.constvars)
    env = {v: reshard(c, _whole(v.aval.ndim), t, mesh) for v, c, t in zip(jaxpr.constvars, consts, typed)}
    layout = dict(zip(jaxpr.constvars, typed))
    env.update(zip(jaxpr.in_binders, blocks))
    layout.update(zip(jaxpr.in_binders, in_layouts))
    read = lambda x: (x.val, _whole(x.aval.ndim)) if type(x) is Literal else (env[x], layout[x])
    for e in jaxpr.eqns:
        vals, have = zip(*map(read, e.inputs)) if e.inputs else ((), ())
        body = _call_body(e)
        if body is not None:
            res, outs = evaluate(body.jaxpr, body.consts, vals, list(have), mesh)
            env.update(zip(e.out_binders, res))
            layout.update(zip(e.out_binders, outs))
            continue
        if e.primitive is shard_map_p:  # each device runs the body on its blocks
            p = e.params
            needs = [layout_of(s, get_aval(x).ndim) for s, x in zip(p["in_specs"], e.inputs)]
            vals = [reshard(v, h, n, mesh) for v, h, n in zip(vals, have, needs)]
            env.update(zip(e.out_binders, eval_jaxpr(p["jaxpr"].jaxpr, p["jaxpr"].consts, *vals)))
            layout.update((v, layout_of(s, v.aval.ndim)) for v, s in zip(e.out_binders, p["out_specs"]))
            continue
        flow = _flow(e, list(have), mesh)
        if flow is not None:
            env.update(zip(e.out_binders, partition_flow.run(e, vals, list(have), flow, mesh)))
            layout.update(zip(e.out_binders, flow.outs))
            continue
        needs, outs, combine, axes, then = decide(e, list(have), mesh)
        vals = [reshard(v, h, n, mesh) for v, h, n in zip(vals, have, needs)]
        if e.primitive.name == "reshard":
            res = vals
        elif e.primitive in CALLBACKS:
            res = _on_first_device(e, vals, mesh)
        else:
            res = e.primitive.bind(*vals, **_block_params(e, needs, outs, mesh))
            res = res if e.primitive.multiple_results else [res]
        if combine is not None:
            res = [combine(r, axes) for r in res]
        then = _as_typed(then, e.out_binders)
        env.update((v, reshard(r, o, t, mesh)) for v, r, o, t in zip(e.out_binders, res, outs, then))
        layout.update(zip(e.out_binders, then))
    return [read(x)[0] for x in jaxpr.outs], [read(x)[1] for x in jaxpr.outs]


def _on_first_device(eqn, vals: Sequence, mesh: Mesh) -> list:
    """A host callback on whole values run once, by the mesh's first device (as JAX runs it under jit: on device 0
    of the computation, with the global values); its results, sent from there, on every device."""
    results = [zeros_like_aval(a) for a in eqn.params.get("result_avals", ())]
    first = ew.eq(axis_index(mesh.axis_names), 0)
    res = cond(first, lambda *xs: eqn.primitive.bind(*xs, **eqn.params), lambda *xs: results, *vals)
    return [index_in_dim(all_gather(r, mesh.axis_names), 0, keepdims=False) for r in res]


def _block_params(eqn, needs: list[Layout], outs: list[Layout], mesh: Mesh) -> dict:
    """The parameters for the per-device blocks: a shape parameter (of broadcast_in_dim, reshape, slice)
    divided along the output's split dimensions."""
    name = _SHAPE_PARAMS.get(eqn.primitive.name)
    if name is None or not any(outs[0]):
        return eqn.params
    sizes = tuple(n // math.prod(mesh.shape[a] for a in axes) for n, axes in zip(eqn.params[name], outs[0]))
    return dict(eqn.params, **{name: sizes})


class ShardedJit:
    """A jitted function with ``in_shardings``/``out_shardings``: arguments are laid out by the in
    shardings; when they lie on one mesh the jaxpr runs partitioned over it (``propagate``/``evaluate``
    inside ``shard_map``), else as a plain jit; results are laid out by the out shardings. Under a trace
    the shardings constrain nothing: the enclosing computation decides layouts."""

    def __init__(self, jitted: Any, in_shardings: Any, out_shardings: Any):
        functools.update_wrapper(self, jitted.fun)
        self.jitted, self.in_shardings, self.out_shardings = jitted, in_shardings, out_shardings
        self._programs = LRUCache()  # the partitioned program per signature and input layouts
        self._fast = LRUCache()  # per signature and input shardings: the program, its constants, the output tree

    def __getattr__(self, name: str) -> Any:
        if name == "jitted":  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.jitted, name)

    def clear_cache(self) -> None:
        self.jitted.clear_cache()
        self._programs.clear()
        self._fast.clear()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from ..sharded import with_sharding_constraint
        if self.in_shardings is not None:  # a prefix of the non-static positional arguments
            dyn = [i for i in range(len(args)) if i not in self.jitted.static_argnums]
            placed = with_sharding_constraint(tuple(args[i] for i in dyn), self.in_shardings)
            args = tuple(dict(zip(dyn, placed)).get(i, a) for i, a in enumerate(args))
        if is_tracing() or any(map(is_tracer, tree_flatten((args, kwargs))[0])):
            return self.jitted(*args, **kwargs)
        out = self._run(args, kwargs)
        return out if self.out_shardings is None else with_sharding_constraint(out, self.out_shardings)

    def _run(self, args: tuple, kwargs: dict, flat: tuple | None = None, jit_fast: tuple | None = None) -> Any:
        """A call on concrete arguments (``flat``: their static key, leaves and tree, if known already). Given
        ``jit_fast`` (jit's fast-path key of the call, ``call_key``), a call that runs partitioned over the mesh of its
        arguments (all MeshArrays or Arrays, on one mesh) is cached for jit's fast path: a call of the same signature
        (avals, shardings, tree, static values, context) runs the program straight away."""
        jitted = self.jitted
        if flat is None:
            static_key, dyn_args, dyn_kwargs = jitted._split(args, kwargs)
            flat = (static_key, *tree_flatten((dyn_args, dyn_kwargs)))
        static_key, leaves, in_tree = flat
        several = len({x.sharding.mesh for x in leaves if type(x) is MeshArray}) > 1
        if several:
            leaves = self._one_mesh(static_key, in_tree, leaves)
        fast_key = (static_key, in_tree, config.trace_context(),
                    tuple((get_aval(x), x.sharding if type(x) is MeshArray else None) for x in leaves),
                    None if leaves else current_mesh())  # (a call without arguments runs over the context mesh)
        hit = self._fast.get(fast_key)
        if hit is None:
            hit = self._program(fast_key, leaves)
            if hit is None:  # run on whole arrays
                whole = lambda x: x._gathered() if isinstance(x, MeshArray) else x
                return jitted(*tree_map(whole, args), **tree_map(whole, kwargs))
        fn, consts, out_tree = hit
        if jit_fast is not None and not jit_fast[2] and not several and not any(map(is_tracer, consts)):
            from ..api import _output_builder
            n = len(consts)
            self.jitted._fast.put(jit_fast[0], (lambda flat: fn(flat, n), consts, _output_builder(out_tree), None,
                                                [get_aval(x) for x in leaves]))
        return tree_unflatten(out_tree, fn([*consts, *leaves], len(consts)))

    def _program(self, fast_key: tuple, leaves: list) -> tuple | None:
        """The partitioned program of a call (``fast_key``: ``_run``'s key of it), its constants and output tree,
        cached; None for a call to run on whole arrays."""
        jitted = self.jitted
        static_key, in_tree = fast_key[:2]
        meshes = {x.sharding.mesh for x in leaves if isinstance(x, MeshArray)}
        if not leaves and context_mesh(leaves) is not None:  # (no arguments: over the mesh set by ``set_mesh``)
            meshes = {current_mesh()}
        entry = jitted._entry(static_key, in_tree, [get_aval(x) for x in leaves])
        # No mesh or several, or a program placing its own work elsewhere (pmap, a shard_map over another mesh,
        # collectives in control flow): the whole arrays on one device.
        if len(meshes) != 1 or not inlinable(entry.closed.jaxpr, next(iter(meshes))):
            _check_local(leaves, meshes, entry.closed.jaxpr, getattr(jitted.fun, "__name__", "a function"))
            return None
        mesh, jaxpr = meshes.pop(), entry.closed.jaxpr
        wanted = _wanted(jaxpr, mesh)
        in_layouts = [layout_of(x.sharding.spec, x.ndim) if isinstance(x, MeshArray) and x.sharding.mesh == mesh
                      else wanted.get(v, _whole(v.aval.ndim))
                      for x, v in zip(leaves, jaxpr.in_binders[len(entry.consts):])]
        first = leaves[0].sharding.spec if leaves and isinstance(leaves[0], MeshArray) else None
        key = (static_key, in_tree, tuple(map(get_aval, leaves)), tuple(in_layouts), mesh, first)
        fn = self._programs.get(key)
        if fn is None:
            layouts = _as_typed([_whole(get_aval(c).ndim) for c in entry.consts],
                                jaxpr.in_binders[:len(entry.consts)]) + in_layouts
            fn = self._programs.put(key, _partitioned(jaxpr, [], layouts, mesh,
                                                      None if first is None else (first, in_layouts[0])))
        return self._fast.put(fast_key, (fn, entry.consts, entry.out_tree))

    def _one_mesh(self, static_key: Any, in_tree: Any, leaves: list) -> list:
        """Arguments laid out over meshes of the first one's devices in its order (of other shapes or axis names)
        laid out over the first one's mesh, as JAX runs them (``onto``); JAX's error if an equation combines
        values of different meshes not all of Auto axes. Arguments over other devices stay (``_check_local``)."""
        entry = self.jitted._entry(static_key, in_tree, [get_aval(x) for x in leaves])
        _check_mesh_types(entry.closed.jaxpr, [None] * len(entry.consts) +
                          [x.sharding.mesh if type(x) is MeshArray else None for x in leaves])
        mesh = next(x.sharding.mesh for x in leaves if type(x) is MeshArray)
        devices = list(mesh.devices.flat)
        return [onto(x, mesh) if type(x) is MeshArray and list(x.sharding.mesh.devices.flat) == devices else x
                for x in leaves]


def context_mesh(leaves: Sequence, name: str = "jit") -> Mesh | None:
    """The mesh set by ``set_mesh`` that a jitted call (``name``) on ``leaves`` (none laid out over a mesh) runs over,
    as in JAX: a mesh of devices without Manual axes, else None; JAX's error if a leaf is committed to a device."""
    from ..placement import check_on_context_mesh
    mesh = current_mesh()
    if mesh.empty or not isinstance(mesh, Mesh) or AxisType.Manual in mesh.axis_types:
        return None
    check_on_context_mesh(leaves, mesh, name)
    return mesh


def onto(x: MeshArray, mesh: Mesh) -> MeshArray:
    """``x`` laid out over ``mesh`` (of the devices of its mesh, in the same order): its blocks as they are when
    a spec over ``mesh`` places them alike (``respec``), else ``x`` replicated over its mesh first."""
    if x.sharding.mesh == mesh:
        return x
    spec = respec(x.sharding, mesh, x.shape)
    if spec is None:
        x, spec = resharding(x.sharding.spec, PartitionSpec(), x.sharding.mesh, x.ndim)(x), PartitionSpec()
    return MeshArray(x.shards, NamedSharding(mesh, spec), x.aval)


@functools.lru_cache(maxsize=256)
def respec(sharding: NamedSharding, mesh: Mesh, shape: tuple) -> PartitionSpec | None:
    """A spec over ``mesh`` giving every device the block ``sharding`` gives it (for arrays of ``shape``), if
    any: the mesh axes splitting each dimension into as many blocks, tried in turn."""
    want = sharding.devices_indices_map(shape)
    counts = [math.prod(sharding.mesh.shape[a] for a in axes) for axes in layout_of(sharding.spec, len(shape))]
    names = mesh.axis_names
    options = [[p for r in range(len(names) + 1) for p in itertools.permutations(names, r)
                 if math.prod(mesh.shape[a] for a in p) == n] for n in counts]
    for layout in itertools.product(*options):
        used = [a for axes in layout for a in axes]
        if len(used) == len(set(used)) and NamedSharding(mesh, spec_of(layout)).devices_indices_map(shape) == want:
            return spec_of(layout)
    return None


def _check_mesh_types(jaxpr: Jaxpr, meshes: list) -> list:
    """JAX's error (raised there by the abstract evaluation of the equation) when an equation of ``jaxpr`` takes
    values laid out over different meshes (``meshes``: per input, None for none) not all of Auto axes; the
    meshes of the outputs (None when unknown)."""
    env = dict(zip(jaxpr.in_binders, meshes))
    auto = lambda m: all(t == AxisType.Auto for t in m.axis_types)
    for e in jaxpr.eqns:
        got = list(dict.fromkeys(m for m in (env.get(x) for x in e.inputs if type(x) is not Literal) if m is not None))
        body = _call_body(e)
        if body is not None:
            outs = _check_mesh_types(body.jaxpr, [env.get(x) if type(x) is not Literal else None for x in e.inputs])
        elif len(got) > 1 and not all(map(auto, got)):
            raise ValueError(f"Mesh for all inputs should be equal. Got one mesh: {_abstract(got[0])} and another "
                             f"mesh: {_abstract(got[1])}")
        else:
            outs = [got[0] if len(got) == 1 else None] * len(e.out_binders)
        env.update(zip(e.out_binders, outs))
    return [None if type(x) is Literal else env.get(x) for x in jaxpr.outs]


def _abstract(mesh: Mesh) -> str:
    """``mesh`` printed as JAX prints its ``AbstractMesh``."""
    d = mesh.devices.flat[0]
    return (f"AbstractMesh({', '.join(f'{k!r}: {v}' for k, v in mesh.shape.items())}, axis_types={mesh.axis_types}, "
            f"device_kind={d.device_kind}, num_cores=None, platform={d.platform})")


def _check_local(leaves: list, meshes: set, jaxpr: Jaxpr, name: str) -> None:
    """A program that must run on whole arrays cannot take arrays spanning processes: a clear error (JAX's
    for arrays laid out over meshes of different devices or device orders)."""
    if all(x.is_fully_addressable for x in leaves if isinstance(x, MeshArray)):
        return
    if len(meshes) > 1:
        first = {}  # the first argument laid out over each mesh, in argument order
        for x in leaves:
            if isinstance(x, MeshArray):
                first.setdefault(x.sharding.mesh, x)
        arg = lambda x: (f"argument of {name} with shape {x.aval.str_short()} and device ids "
                         f"{[d.id for d in x.sharding.mesh.devices.flat]} on platform "
                         f"{x.sharding.mesh.devices.flat[0].platform.upper()}")
        a, b = list(first.values())[:2]
        raise ValueError(f"Received incompatible devices for jitted computation. Got {arg(a)} and {arg(b)}")
    blocker = _blocker(jaxpr, meshes.pop())
    raise NotImplementedError(f"jit over arrays spanning processes: the program holds '{blocker}' (a collective or "
                              "pmap outside a shard_map over the arrays' mesh, or inside control flow), which the "
                              "sharding pass cannot partition, and gathering the arrays onto one device across "
                              "processes is not supported.")


def _partitioned(jaxpr: Jaxpr, consts: Sequence, in_layouts: list[Layout], mesh: Mesh,
                 first: tuple[PartitionSpec, Layout] | None = None) -> Callable:
    """``jaxpr`` as the body of a shard_map over ``mesh`` taking its inputs laid out by ``in_layouts``: each
    device runs ``evaluate`` on its blocks, the outputs are laid out as ``propagate`` decides. Called on
    concrete arguments only (the first ``own`` being this process's constants), it runs the per-device
    program directly (``shard_map_call``'s impl). As in JAX, an output laid out as the first argument (``first``:
    its spec and layout) takes its spec as written (``P('x', None)``); the others' specs end at their last split
    dimension."""
    spmd.check_ordered(jaxpr, mesh.size)
    in_specs = [spec_of(l) for l in in_layouts]
    out_specs = [x.aval.sharding.spec if x.aval.sharding is not None  # (typed: its spec, as JAX writes it)
                 else first[0] if first is not None and l == first[1] else spec_of(l)
                 for x, l in zip(jaxpr.outs, propagate(jaxpr, in_layouts, mesh))]
    avals = [v.aval for v in jaxpr.in_binders]
    body, _ = shard_map_body(lambda *blocks: _weak_as(evaluate(jaxpr, consts, blocks, in_layouts, mesh)[0], jaxpr.outs),
                             tree_flatten((0,) * len(avals))[1], in_specs, avals, mesh, mesh.axis_names)
    program = MeshProgram(body, out_specs, mesh, "a jitted function")
    in_shardings = [NamedSharding(mesh, s) for s in in_specs]
    return lambda args, own=0: program(args, in_shardings, own)


def _weak_as(blocks: list, outs: Sequence) -> list:
    """``blocks`` weakly typed where the outputs ``outs`` of the jaxpr are (``evaluate`` computes from its literals'
    values, whose weak types it does not keep)."""
    return [ew.convert_element_type(b, x.aval.dtype, True) if x.aval.weak_type and not get_aval(b).weak_type else b
            for b, x in zip(blocks, outs)]


def _wanted(jaxpr: Jaxpr, mesh: Mesh) -> dict:
    """For each input of ``jaxpr`` a shard_map over ``mesh`` reads, the layout its in_specs give it (the
    first such shard_map's): an argument laid out so is cut per device, never replicated first."""
    out: dict = {}
    for e in jaxpr.eqns:
        if e.primitive is shard_map_p and e.params["mesh"] == mesh:
            for x, spec in zip(e.inputs, e.params["in_specs"]):
                if type(x) is not Literal:
                    out.setdefault(x, layout_of(spec, x.aval.ndim))
    return out


def _shard_map_meshes(jaxpr: Jaxpr) -> set:
    """The meshes of the shard_maps of ``jaxpr`` and of its calls."""
    meshes: set = set()
    for e in jaxpr.eqns:
        body = _call_body(e)
        if e.primitive is shard_map_p:
            meshes.add(e.params["mesh"])
        elif body is not None:
            meshes |= _shard_map_meshes(body.jaxpr)
    return meshes


class MeshCall:
    """A jitted program on single-device arrays whose collectives all sit in shard_maps over one mesh, run
    partitioned over that mesh: an argument a shard_map reads is cut as its in_specs say, the others are
    copied to every device; the results stay laid out over the mesh (MeshArrays)."""

    def __init__(self, jaxpr: Jaxpr, consts: Sequence, out_avals: list, mesh: Mesh, device: Any):
        self.device, self.out_avals = device, out_avals
        wanted = _wanted(jaxpr, mesh)
        self.fn = _partitioned(jaxpr, consts, _as_typed([wanted.get(v, _whole(v.aval.ndim)) for v in jaxpr.in_binders],
                                                        jaxpr.in_binders), mesh)

    def __call__(self, arrays: Sequence) -> list:
        return list(self.fn(arrays))


def _check_device_assignment(out_avals: Sequence, devices: int) -> None:
    """JAX's check of a program's results typed over a mesh of Explicit axes: the program runs on ``devices``
    devices (those of the ``set_mesh`` mesh, else one), which must be the mesh's."""
    for a in out_avals:
        mesh = a.sharding.mesh if a.sharding is not None else None
        if mesh is not None and all(t == AxisType.Explicit for t in mesh.axis_types) and mesh.size != devices:
            types = {AxisType.Explicit: mesh.axis_names}  # (printed as JAX prints an aval's mesh axis types)
            raise ValueError(f"Length of device assignment {devices} is not equal to the size of the mesh {mesh.size} "
                             f"of aval {a.str_short()}({types}). Please enter your `jit` into a mesh context via "
                             "`jax.set_mesh`.")


def mesh_call(closed: Any, device: Any) -> MeshCall | None:
    """The partitioned program of a jaxpr whose shard_maps lie on one mesh the pass can inline, else None.
    (It keeps the jaxpr and constants, not ``closed``, a cache key of dispatch.)"""
    meshes = _shard_map_meshes(closed.jaxpr)
    if not meshes and any(x.aval.sharding is not None for x in closed.jaxpr.outs):  # typed results: over their mesh
        mesh = current_mesh()
        _check_device_assignment(closed.out_avals, 1 if mesh.empty else mesh.size)
        if mesh.abstract_mesh in {x.aval.sharding.mesh for x in closed.jaxpr.outs if x.aval.sharding is not None}:
            meshes = {mesh}
    if len(meshes) != 1 or not inlinable(closed.jaxpr, next(iter(meshes))):
        return None
    return MeshCall(closed.jaxpr, list(closed.consts), closed.out_avals, meshes.pop(), device)
