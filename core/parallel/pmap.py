"""``pmap`` and its primitive ``xla_pmap``: a call whose body runs once per device along a named axis.

``xla_pmap`` carries the per-device body (a ClosedJaxpr), the axis (name, size), which axis of each
input is split over devices (``in_axes``, None: replicated) and where each output stacks the devices'
results (``out_axes``, None: device 0's value). Like ``pjit`` it has every rule, so it composes with
grad, vmap, jit and itself: jvp is pmap of the jvp, batching moves the vmapped axis inside the body,
transpose is pmap of the transposed body, partial evaluation splits the body into a known and an
unknown pmap linked by per-device residuals. Evaluation is the SPMD runner (``spmd.execute``).
"""
from __future__ import annotations

import functools
import weakref
from typing import Any, Callable, Sequence

from .. import distributed, dtypes
from ..ad_util import Zero, instantiate
from ..api import _argnums_tuple, _check_axes_spec, _flatten_axes, _fun_name, _hashable_static, _output_builder
from ..array import Array
from ..backend import get_backend
from ..call_key import static_call_key
from ..config import config, hot as config_hot
from ..interpreters.batching import AxisData, batch_jaxpr, moveaxis
from ..interpreters.evaluation import eval_jaxpr
from ..interpreters.jvp import jvp_jaxpr
from ..interpreters.partial_eval import partial_eval_jaxpr
from ..interpreters.staging import convert_constvars, trace_to_jaxpr
from ..interpreters.transpose import is_undefined, transpose_jaxpr
from ..ir import ClosedJaxpr, ShapedArray, subjaxprs
from ..lru import LRUCache
from ..primitives.elementwise import asarray, convert_element_type, eq, mul
from ..pytree import tree_flatten, tree_unflatten
from ..sharded import MultiDeviceArray
from ..trace import (abstract_eval_rules, batching_rules, get_aval, higher_order_primitives, impl_rules, is_tracer,
                     is_tracing, jvp_rules, partial_eval_jaxpr_rules, transpose_rules)
from . import spmd
from .axis_env import AxisPrimitive, extend_axis_env

_used_names_cache: "weakref.WeakKeyDictionary[ClosedJaxpr, frozenset]" = weakref.WeakKeyDictionary()


def _used_axis_names(jaxpr) -> set:
    names: set = set()
    for e in jaxpr.eqns:
        if isinstance(e.primitive, AxisPrimitive):
            names.update(e.primitive.axis_names_of(e.params))
        else:
            for sub in subjaxprs(e.params):
                names |= _used_axis_names(sub)
    return names


def _free_axis_names(params: dict) -> tuple:
    """Axis names the body uses besides the pmap's own (those of enclosing pmaps or vmaps)."""
    closed = params["jaxpr"]
    names = _used_names_cache.get(closed)
    if names is None:
        names = _used_names_cache[closed] = frozenset(_used_axis_names(closed.jaxpr))
    return tuple(names - {params["axis_name"]})


pmap_p = AxisPrimitive("xla_pmap", _free_axis_names, multiple_results=True)
higher_order_primitives.add(pmap_p)


def _with_axis(aval: ShapedArray, axis: int | None, size: int) -> ShapedArray:
    return aval if axis is None else aval.update(shape=aval.shape[:axis] + (size,) + aval.shape[axis:])


def shard_avals(avals: Sequence[ShapedArray], axes: Sequence[int | None]) -> list[ShapedArray]:
    """Per-device avals: the mapped axis removed."""
    return [a if ax is None else a.update(shape=a.shape[:ax] + a.shape[ax + 1:]) for a, ax in zip(avals, axes)]


def _local_size(axis_size: int, params: dict) -> int:
    """The mapped axis's size in this process's arrays: over several processes (param ``processes``),
    ``axis_size`` is the global size and each process holds its equal part."""
    return axis_size // params.get("processes", 1)


def _pmap_abstract(*avals, jaxpr, axis_name, axis_size, in_axes, out_axes, **params):
    axis_size = _local_size(axis_size, params)
    for i, (a, ax, body_aval) in enumerate(zip(avals, in_axes, jaxpr.in_avals)):
        if ax is not None and (ax >= a.ndim or a.shape[ax] != axis_size):
            raise ValueError(f"pmap: argument {i} of type {a.str_short()} has no axis {ax} of size {axis_size} to map")
        per = shard_avals([a], [ax])[0]
        if (per.shape, per.dtype) != (body_aval.shape, body_aval.dtype):
            raise TypeError(f"pmap: argument {i} gives per-device values {per.str_short()} but the body expects "
                            f"{body_aval.str_short()}")
    return [_with_axis(a, o, axis_size) for a, o in zip(jaxpr.out_avals, out_axes)]


def _pick(xs: Sequence, mask: Sequence[bool]) -> tuple:
    return tuple(x for x, m in zip(xs, mask) if m)


def _pmap_jvp(primals, tangents, *, jaxpr, axis_name, axis_size, in_axes, out_axes, **params):
    nonzeros = [type(t) is not Zero for t in tangents]
    with extend_axis_env(axis_name, axis_size):
        body, out_nz = jvp_jaxpr(jaxpr, nonzeros, instantiate_out=False)
    outs = pmap_p.bind(*primals, *_pick(tangents, nonzeros), jaxpr=body, axis_name=axis_name, axis_size=axis_size,
                       in_axes=in_axes + _pick(in_axes, nonzeros), out_axes=out_axes + _pick(out_axes, out_nz),
                       **params)
    n = len(out_axes)
    tangents_out = iter(outs[n:])
    local = _local_size(axis_size, params)
    return outs[:n], [next(tangents_out) if nz else Zero(_with_axis(a, o, local).at_least_vspace())
                      for nz, a, o in zip(out_nz, jaxpr.out_avals, out_axes)]


def _pmap_batch(axis, vals, dims, *, jaxpr, axis_name, axis_size, in_axes, out_axes, **params):
    if axis.name is not None and axis.name == axis_name:
        axis = AxisData(axis.size, object())  # inside the body the pmap's axis shadows the vmap's
    vals = [v if d is None else moveaxis(v, d, 0) for v, d in zip(vals, dims)]
    with extend_axis_env(axis_name, axis_size):
        body, out_batched = batch_jaxpr(jaxpr, axis, [d is not None for d in dims], instantiate=False)
    outs = pmap_p.bind(*vals, jaxpr=body, axis_name=axis_name, axis_size=axis_size,
                       in_axes=tuple(a if d is None or a is None else a + 1 for a, d in zip(in_axes, dims)),
                       out_axes=tuple(o + 1 if b and o is not None else o for o, b in zip(out_axes, out_batched)),
                       **params)
    return outs, [0 if b else None for b in out_batched]


def _unmapped_cotangents(body: ClosedJaxpr, n_res: int, ct_axes: tuple, lin_axes: tuple, axis_name: Any
                         ) -> ClosedJaxpr:
    """The transposed body with unmapped values fixed: an unmapped output was device 0's value, so its
    cotangent flows back from device 0 only; an unmapped input was broadcast to every device, so its
    cotangent is the psum of the devices' cotangents."""
    from ..primitives.collectives import axis_index, psum

    def fun(*args):
        res, cts = args[:n_res], args[n_res:]
        first = eq(axis_index(axis_name), 0)
        cts = [c if o is not None else mul(c, convert_element_type(first, get_aval(c).dtype))
               for c, o in zip(cts, ct_axes)]
        outs = eval_jaxpr(body.jaxpr, body.consts, *res, *cts)
        return [o if a is not None else psum(o, axis_name) for o, a in zip(outs, lin_axes)]

    jaxpr, consts = trace_to_jaxpr(fun, body.in_avals)
    return ClosedJaxpr(jaxpr, consts)


def _pmap_transpose(cts, *args, jaxpr, axis_name, axis_size, in_axes, out_axes, **params):
    linear = [is_undefined(a) for a in args]
    floats = [dtypes.kind(a.dtype) == "f" for a in jaxpr.out_avals]
    res_axes, ct_axes, lin_axes = _pick(in_axes, [not l for l in linear]), _pick(out_axes, floats), _pick(in_axes, linear)
    if None in ct_axes + lin_axes and axis_name is None:
        axis_name = object()  # the fix below needs to name the axis
    with extend_axis_env(axis_name, axis_size):
        body = transpose_jaxpr(jaxpr, linear)
        if None in ct_axes + lin_axes:
            body = _unmapped_cotangents(body, len(res_axes), ct_axes, lin_axes, axis_name)
    res = [a for a in args if not is_undefined(a)]
    outs = iter(pmap_p.bind(*res, *[instantiate(c) for c in _pick(cts, floats)], jaxpr=body, axis_name=axis_name,
                            axis_size=axis_size, in_axes=res_axes + ct_axes, out_axes=lin_axes, **params))
    return [next(outs) if l else None for l in linear]


def _pmap_partial_eval(trace, tracers, *, jaxpr, axis_name, axis_size, in_axes, out_axes, **params):
    """Known inputs run now in a pmap returning known outputs and per-device residuals (stacked along
    axis 0); the pmap of the unknown half is staged on the residuals and unknown inputs."""
    unknowns = [not t.pval.is_known for t in tracers]
    knowns = [not u for u in unknowns]
    with extend_axis_env(axis_name, axis_size):
        known, unknown, out_unknowns, num_res = partial_eval_jaxpr(jaxpr, unknowns, False)
    kw = dict(params, axis_name=axis_name, axis_size=axis_size)
    known_outs = pmap_p.bind(*[t.pval.const for t in tracers if t.pval.is_known], jaxpr=known,
                             in_axes=_pick(in_axes, knowns),
                             out_axes=_pick(out_axes, [not u for u in out_unknowns]) + (0,) * num_res, **kw)
    n_known = len(known_outs) - num_res
    residuals = [trace.instantiate_const(trace.pure(r)) for r in known_outs[n_known:]]
    staged = trace.stage(pmap_p, residuals + [t for t in tracers if not t.pval.is_known],
                         dict(kw, jaxpr=unknown, in_axes=(0,) * num_res + _pick(in_axes, unknowns),
                              out_axes=_pick(out_axes, out_unknowns)))
    known_it, staged_it = iter(known_outs[:n_known]), iter(staged)
    return [next(staged_it) if u else trace.pure(next(known_it)) for u in out_unknowns]


abstract_eval_rules[pmap_p] = _pmap_abstract
jvp_rules[pmap_p] = _pmap_jvp
batching_rules[pmap_p] = _pmap_batch
transpose_rules[pmap_p] = _pmap_transpose
partial_eval_jaxpr_rules[pmap_p] = _pmap_partial_eval
impl_rules[pmap_p] = lambda *args, **params: spmd.execute(args, **params)


# --- the user-facing transformation --------------------------------------------------------------------------------
def _pmap_arg(x: Any) -> Any:
    """Arrays (sharded or not), host arrays and tracers stay as they are; Python scalars become Arrays."""
    import numpy as np
    if is_tracer(x) or isinstance(x, (Array, MultiDeviceArray, np.ndarray, np.generic)):
        return x
    return asarray(x)


def on_pmap_general_path() -> None:
    """Called at each pmap call that misses the fast path (``_FastCall``s keyed by argument signature): a hook for
    counting them."""


class _FastCall:
    """A pmap call of one signature (``call_key``'s key: structure, avals, shard devices, static values, context)
    going straight to its SPMD program: the constants' per-device buffers, how each argument becomes per-device
    buffers (``spmd.arg_sharder``) and each output an array (``spmd.assemblers``), how the outputs make the result."""

    __slots__ = ("prog", "consts", "sharders", "assemble", "build")

    def __init__(self, prog: spmd.SpmdProgram, consts: list, leaves: list, axes: list, closed: ClosedJaxpr,
                 out_axes: tuple, out_tree: Any):
        self.prog = prog
        self.consts = [spmd.shard_arg(c, None, prog) for c in consts]
        self.sharders = [_sharder(x, a, prog) for x, a in zip(leaves, axes)]
        self.assemble = spmd.assemblers(prog, closed.out_avals, out_axes)
        self.build = _output_builder(out_tree)

    def __call__(self, leaves: list) -> Any:
        outs = self.prog([*self.consts, *[shard(x) for shard, x in zip(self.sharders, leaves)]])
        return self.build([make(bufs) for make, bufs in zip(self.assemble, outs)])


def _sharder(x: Any, axis: int | None, prog: spmd.SpmdProgram) -> Callable[[Any], list]:
    """``spmd.arg_sharder`` of a pmap argument (a Python scalar first becomes an Array, as in ``_pmap_arg``)."""
    if type(x) in (bool, int, float, complex):
        return functools.partial(_converted, spmd.arg_sharder(asarray(x), axis, prog))
    return spmd.arg_sharder(x, axis, prog)


def _converted(shard: Callable[[Any], list], x: Any) -> list:
    return shard(asarray(x))


def _processes(devices: tuple | None, backend: str | None) -> int:
    """How many processes a pmap spans: after ``distributed.initialize()`` (and without ``devices``), every one."""
    return distributed.process_count() if devices is None and distributed.spans(get_backend(backend)) else 1


def _mapped_size(leaves: list, axes: list, axis_size: int | None) -> tuple[list, int]:
    """Canonical in_axes and the mapped size; inconsistent sizes are JAX's ValueError."""
    norm, described = [], []
    for x, a in zip(leaves, axes):
        if a is None:
            norm.append(None)
            continue
        shape = get_aval(x).shape
        if not -len(shape) <= a < len(shape):
            raise ValueError(f"pmap was requested to map its argument along axis {a}, which implies that its rank "
                             f"should be at least {a + 1 if a >= 0 else -a}, but is only {len(shape)} (its shape is "
                             f"{shape})")
        norm.append(a % len(shape))
        described.append((shape[a % len(shape)], f"axis {a % len(shape)} of an argument of shape {shape}"))
    if axis_size is not None:
        described.append((axis_size, "axis_size"))
    sizes = {s for s, _ in described}
    if not sizes:
        raise ValueError("pmap requires at least one argument with a mapped axis (an in_axes entry that is not "
                         "None) or an explicit axis_size.")
    if len(sizes) > 1:
        lines = "\n".join(f"  * one axis had size {s}: {d}" for s, d in described)
        raise ValueError(f"pmap got inconsistent sizes for array axes to be mapped:\n{lines}")
    return norm, sizes.pop()


def pmap(fun: Callable, axis_name: Any = None, *, in_axes: Any = 0, out_axes: Any = 0,
         static_broadcasted_argnums: int | Sequence[int] = (), devices: Sequence | None = None,
         backend: str | None = None, axis_size: int | None = None, donate_argnums: Any = (),
         global_arg_shapes: Any = None) -> Callable:
    """Map ``fun`` over axis ``in_axes`` of its arguments with one device per entry (``jax.pmap``).

    Each device runs the same program on its slice, concurrently; collectives (``lax.psum``, ...)
    over ``axis_name`` combine the devices' values. Outputs are ShardedArrays stacked along ``out_axes``.
    The mapped size may not exceed the device count (of ``backend``, or ``len(devices)``). After
    ``portax.distributed.initialize()`` (and without ``devices``) the map spans every process: each passes
    its local part (the mapped size at most ``local_device_count()``, the same in every process), the
    body sees the global axis and collectives combine every process's devices.
    """
    if global_arg_shapes is not None:
        raise NotImplementedError("pmap: global_arg_shapes is not supported (single-process portax)")
    static = _argnums_tuple(static_broadcasted_argnums)
    in_axes = tuple(in_axes) if isinstance(in_axes, list) else in_axes
    _check_axes_spec("pmap in_axes", in_axes)
    _check_axes_spec("pmap out_axes", out_axes)
    devices = None if devices is None else tuple(devices)
    cache = LRUCache()  # bounded by config.compile_cache_size
    fast_calls = LRUCache()  # the fast path's _FastCalls, per call_key
    positions = static if all(i >= 0 for i in static) else None  # (negative: no fast path)
    axes_of_tree: dict = {}

    def trace_body(static_args, in_tree, avals, size):
        out_tree_box: list = []

        def flat(*leaves):
            dyn, kwargs = tree_unflatten(in_tree, leaves)
            it_s, it_d = iter(static_args), iter(dyn)
            full = [next(it_s) if i in static else next(it_d) for i in range(len(static_args) + len(dyn))]
            out_leaves, out_tree = tree_flatten(fun(*full, **kwargs))
            out_tree_box[:] = [out_tree]
            return [asarray(o) if not is_tracer(o) else o for o in out_leaves]

        with extend_axis_env(axis_name, size):
            jaxpr, consts = trace_to_jaxpr(flat, avals)
        out_tree = out_tree_box[0]
        outs = []
        for a, o in zip(jaxpr.out_avals, _flatten_axes("pmap out_axes", out_tree, out_axes)):
            if o is not None and not -(a.ndim + 1) <= o <= a.ndim:
                raise ValueError(f"pmap out_axes {o} is out of bounds for an output of shape {a.shape}")
            outs.append(None if o is None else o % (a.ndim + 1))
        return ClosedJaxpr(convert_constvars(jaxpr), []), consts, out_tree, tuple(outs)

    @functools.wraps(fun)
    def pmapped(*args, **kwargs):
        # Fast path: no trace active, no checking option set, a signature seen before.
        context, checked = config_hot()
        fast = None
        if not checked and positions is not None and not is_tracing():
            fast = static_call_key(args, kwargs, positions, (), (context, _processes(devices, backend)), sharded=True)
            if fast is not None:
                try:
                    hit = fast_calls.peek(fast[0])
                except Exception:  # a static value that cannot be hashed or compared: the general path raises
                    hit = fast = None
                if hit is not None:
                    return hit(fast[1])
        on_pmap_general_path()
        if static and max(static) >= len(args):
            raise ValueError(f"pmapped function has static_broadcasted_argnums={static} but was called with only "
                             f"{len(args)} positional argument{'s' if len(args) > 1 else ''}. All static broadcasted "
                             "arguments must be passed positionally.")
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(f"pmap in_axes must be an int, None, or a tuple of entries corresponding to the "
                             f"positional arguments passed to the function, but got len(in_axes)={len(in_axes)}, "
                             f"len(args)={len(args)}")
        static_args = tuple(_hashable_static(args[i]) for i in static if i < len(args))
        dyn_idx = [i for i in range(len(args)) if i not in static]
        dyn_axes = tuple(in_axes[i] for i in dyn_idx) if isinstance(in_axes, tuple) else in_axes
        leaves, in_tree = tree_flatten((tuple(args[i] for i in dyn_idx), kwargs))
        leaves = [_pmap_arg(x) for x in leaves]
        flat_axes = axes_of_tree.get(in_tree)
        if flat_axes is None:
            flat_axes = axes_of_tree[in_tree] = _flatten_axes("pmap in_axes", in_tree, (dyn_axes, 0))
        axes, size = _mapped_size(leaves, flat_axes, axis_size)
        # Over several processes each passes its part of the mapped axis; the body sees the global axis.
        processes = _processes(devices, backend)
        spanned = {"processes": processes} if processes > 1 else {}
        size *= processes
        avals = shard_avals([get_aval(x) for x in leaves], axes)
        key = (static_args, in_tree, tuple(avals), tuple(axes), size, config.trace_context())
        entry = cache.get(key)
        if entry is None:
            entry = trace_body(static_args, in_tree, avals, size)
            if not any(is_tracer(c) for c in entry[1]):
                entry = cache.put(key, entry)
        closed, consts, out_tree, outs_axes = entry
        outs = pmap_p.bind(*consts, *leaves, jaxpr=closed, axis_name=axis_name, axis_size=size,
                           in_axes=(None,) * len(consts) + tuple(axes), out_axes=outs_axes, devices=devices,
                           backend=backend, name=_fun_name(fun), **spanned)
        if fast is not None and not any(map(is_tracer, leaves)) and not any(map(is_tracer, consts)):
            prog = spmd.program(closed, axis_name, size, devices, backend, processes, _fun_name(fun))
            fast_calls.put(fast[0], _FastCall(prog, consts, fast[1], axes, closed, outs_axes, out_tree))
        return tree_unflatten(out_tree, outs)

    return pmapped
