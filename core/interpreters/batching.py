"""Vectorisation (vmap): the batch trace, rule helpers, and batching of a jaxpr."""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from ..ir import ClosedJaxpr, ShapedArray
from ..sharding import spec_axes
from ..trace import Primitive, Trace, Tracer, batching_rules, full_raise, get_aval, new_main
from .memo import memoize_jaxpr_transform

not_mapped = None


class AxisData(NamedTuple):
    size: int
    name: Any  # the vmap's axis_name (None if unnamed)
    explicit_mesh_axis: tuple | None = None  # the Explicit mesh axes splitting the mapped dimension of the inputs


class BatchTracer(Tracer):
    __slots__ = ("val", "batch_dim")

    def __init__(self, trace: "BatchTrace", val: Any, batch_dim: int | None):
        self._trace = trace
        self.val = val
        self.batch_dim = batch_dim

    @property
    def aval(self) -> ShapedArray:
        aval = get_aval(self.val)
        if self.batch_dim is not_mapped:
            return aval
        shape = aval.shape[:self.batch_dim] + aval.shape[self.batch_dim + 1:]
        if aval.sharding is not None:  # (typed by Explicit mesh axes: the mapped dimension's entry goes too)
            spec = aval._spec()
            return aval.update(shape=shape, sharding=aval.sharding.with_spec(
                type(aval.sharding.spec)(*spec[:self.batch_dim], *spec[self.batch_dim + 1:])))
        return aval.update(shape=shape)

    def full_lower(self):
        return self.val if self.batch_dim is not_mapped else self

    def to_concrete_value(self):
        return None


class BatchTrace(Trace):
    @property
    def axis_data(self) -> AxisData:
        return self.main.global_data

    def pure(self, val: Any) -> BatchTracer:
        return BatchTracer(self, val, not_mapped)

    lift = pure

    def process_primitive(self, primitive, tracers, params):
        vals = [t.val for t in tracers]
        dims = [t.batch_dim for t in tracers]
        rule = batching_rules.get(primitive)
        if rule is None:
            raise NotImplementedError(f"Batching rule for '{primitive}' not implemented")
        out, out_dim = rule(self.axis_data, vals, dims, **params)
        if primitive.multiple_results:
            return [BatchTracer(self, o, d) for o, d in zip(out, out_dim)]
        return BatchTracer(self, out, out_dim)


# --- moving batch dimensions -------------------------------------------------------------------------
def moveaxis(x: Any, src: int, dst: int) -> Any:
    from ..primitives.structural import transpose_p
    ndim = get_aval(x).ndim
    src, dst = src % ndim, dst % ndim
    if src == dst:
        return x
    perm = [i for i in range(ndim) if i != src]
    perm.insert(dst, src)
    return transpose_p.bind(x, permutation=tuple(perm))


def broadcast_batched(x: Any, size: int, dim: int) -> Any:
    """Insert a batch axis of ``size`` at ``dim`` in an unbatched value."""
    from ..primitives.structural import broadcast_in_dim_p
    aval = get_aval(x)
    shape = list(aval.shape)
    shape.insert(dim, size)
    bdims = tuple(i if i < dim else i + 1 for i in range(aval.ndim))
    return broadcast_in_dim_p.bind(x, shape=tuple(shape), broadcast_dimensions=bdims)


def matchaxis(size: int, src: int | None, dst: int | None, x: Any) -> Any:
    """Move (or create by broadcasting) the batch axis of ``x`` from ``src`` to ``dst``."""
    if src == dst:
        return x
    if src is not_mapped:
        return broadcast_batched(x, size, dst)
    if dst is not_mapped:
        raise ValueError("vmap: cannot unbatch a batched value (out_axes=None for a value that varies along the mapped axis)")
    return moveaxis(x, src, dst)


def bdim_at_front(x: Any, dim: int | None, size: int) -> Any:
    return matchaxis(size, dim, 0, x)


# --- custom vmappable types (JAX's batching.register_vmappable) -----------------------------------------------------
vmappables: dict[type, tuple[type, type]] = {}  # data type -> (its spec type, its axis-size type)
spec_types: set[type] = set()  # types vmap accepts as in_axes/out_axes leaves besides int
to_elt_handlers: dict[type, Callable] = {}
from_elt_handlers: dict[type, Callable] = {}
make_iota_handlers: dict[type, Callable] = {}


def register_vmappable(data_type: type, spec_type: type, axis_size_type: type, to_elt: Callable,
                       from_elt: Callable, make_iota: Callable | None) -> None:
    """Let vmap map over ``data_type`` values (pytree leaves for vmap) with in/out axes of ``spec_type``:
    ``to_elt(cont, get_idx, x, spec)`` gives the element seen inside vmap, mapping contained arrays with
    ``cont(array, axis)``; ``from_elt(cont, axis_size, elt, spec)`` rebuilds a value from an output element, with
    ``cont(axis_size, array, axis)`` for contained arrays; ``make_iota(axis_size)`` the mapped positions."""
    vmappables[data_type] = (spec_type, axis_size_type)
    spec_types.add(spec_type)
    to_elt_handlers[data_type] = to_elt
    from_elt_handlers[data_type] = from_elt
    if make_iota:
        make_iota_handlers[axis_size_type] = make_iota


def unregister_vmappable(data_type: type) -> None:
    """Undo :func:`register_vmappable` for ``data_type`` (its spec type stays while another type uses it)."""
    if data_type not in vmappables:
        return
    spec_type, size_type = vmappables.pop(data_type)
    del to_elt_handlers[data_type], from_elt_handlers[data_type]
    if all(s is not spec_type for s, _ in vmappables.values()):
        spec_types.discard(spec_type)
    if all(a is not size_type for _, a in vmappables.values()):
        make_iota_handlers.pop(size_type, None)


def is_vmappable(x: Any) -> bool:
    return type(x) in vmappables


def _make_iota(axis_size: Any) -> Any:
    from ..primitives.structural import iota
    handler = make_iota_handlers.get(type(axis_size))
    return handler(axis_size) if handler else iota(np.int32, int(axis_size))


def _to_elt(trace: "BatchTrace", get_idx: Callable, x: Any, spec: Any) -> Any:
    """The element of input ``x`` mapped along ``spec`` (a BatchTracer, or ``x`` itself when unmapped)."""
    handler = to_elt_handlers.get(type(x))
    if handler:
        return handler(functools.partial(_to_elt, trace, get_idx), get_idx, x, spec)
    if spec is not_mapped:
        return x
    if type(spec) is not int:
        raise TypeError(f"vmap in_axes leaf {spec!r} of type {type(spec).__name__} is for a registered vmappable "
                        f"type, but the value mapped with it has type {type(x).__name__}")
    from ..primitives.structural import canonicalize_axis
    return BatchTracer(trace, x, canonicalize_axis(spec, get_aval(x).ndim))


def _from_elt(trace: "BatchTrace", axis_size: Any, i: int, x: Any, spec: Any) -> Any:
    """Output element ``x`` (flat output ``i``) with its batch axis moved to ``spec``."""
    handler = from_elt_handlers.get(type(x))
    if handler:
        return handler(lambda size, elt, axis: _from_elt(trace, size, i, elt, axis), axis_size, x, spec)
    t = _raise_output(trace, x)
    if spec is not_mapped:
        if t.batch_dim is not not_mapped:
            if trace.axis_data.name is not None:
                raise ValueError(f"vmap has mapped output (axis_name={trace.axis_data.name}) but out_axes is None")
            raise SpecMatchError(i, t.batch_dim)
        return t.val
    from ..primitives.structural import canonicalize_axis
    return matchaxis(axis_size, t.batch_dim, canonicalize_axis(spec, t.aval.ndim + 1), t.val)


# --- vmap of a flat function --------------------------------------------------------------------------
_FROM_ARGS: Any = object()


def vmap_flat(fun: Callable, axis_size: int, axis_name: Any, in_dims: Sequence[Any], args: Sequence,
              out_dims: Sequence[Any] | Callable[[int], Sequence], explicit_mesh_axis: Any = _FROM_ARGS,
              spmd_axis_name: tuple | None = None) -> list:
    """``fun`` (flat lists in and out) vmapped: ``in_dims``/``out_dims`` give each value's mapped axis (an int, None,
    or a spec of a registered vmappable type); ``explicit_mesh_axis``: the mesh axes splitting the mapped dimension
    (by default those of the arguments' types, which must agree); ``spmd_axis_name``: vmap's (a tuple), which must
    then be those axes, as in JAX (without them it changes no type, so portax's layout ignores it)."""
    if explicit_mesh_axis is _FROM_ARGS:
        explicit_mesh_axis = mapped_mesh_axis(args, in_dims)
    if spmd_axis_name is not None and explicit_mesh_axis is not None and spmd_axis_name != explicit_mesh_axis:
        raise ValueError("Only one of spmd_axis_name or arrays sharded on `Explicit` mesh axis type is allowed. Got "
                         f"{spmd_axis_name=} and arrays sharded on {explicit_mesh_axis=}")
    with new_main(BatchTrace, AxisData(axis_size, axis_name, explicit_mesh_axis)) as main:
        trace = BatchTrace(main)
        get_idx = functools.cache(lambda: BatchTracer(trace, _make_iota(axis_size), 0))
        outs = fun(*[_to_elt(trace, get_idx, x, d) for x, d in zip(args, in_dims)])
        dst = out_dims(len(outs)) if callable(out_dims) else out_dims
        return [_from_elt(trace, axis_size, i, o, d) for i, (o, d) in enumerate(zip(outs, dst))]


def mapped_mesh_axis(args: Sequence, in_dims: Sequence[Any]) -> tuple | None:
    """JAX's ``_mapped_axis_spec`` and ``_check_ema_unmapped_args``: the Explicit mesh axes splitting the mapped
    dimension of the typed arguments (None if unsplit), which must be the same for all mapped arguments and split no
    unmapped one."""
    def entry(x: Any, d: Any) -> Any:
        try:
            aval = get_aval(x)
        except TypeError:  # (a registered vmappable)
            return None
        return aval._spec()[d] if type(d) is int and -aval.ndim <= d < aval.ndim else None

    out, seen = None, False
    for x, d in zip(args, in_dims):
        if d is not_mapped:
            continue
        e = entry(x, d)
        if seen and e != out:
            raise ValueError("Mapped away dimension of inputs passed to vmap should be sharded the same. Got "
                             f"inconsistent axis specs: {out} vs {e}")
        out, seen = e, True
    axes = None if out is None else out if isinstance(out, tuple) else (out,)
    if axes is not None:
        for x, d in zip(args, in_dims):
            if d is not_mapped and not is_vmappable(x):
                aval = get_aval(x)
                if set(axes) & {a for e in aval._spec() for a in spec_axes(e)}:
                    raise ValueError("Unmapped values passed to vmap cannot be sharded along the mesh axis you are "
                                     f"vmapping over. Got type: {aval.str_short()}, in_axes: {d} and vmapped mesh "
                                     f"axis: {axes}")
    return axes


class SpecMatchError(ValueError):
    """Output ``leaf_idx`` (of the flat outputs) is batched along ``src`` but its out_axes spec is None."""

    def __init__(self, leaf_idx: int, src: int):
        self.leaf_idx, self.src = leaf_idx, src
        super().__init__(f"at vmap out_axes, got axis spec None but output {leaf_idx} was batched on axis {src}")


def _raise_output(trace: BatchTrace, out: Any) -> BatchTracer:
    try:
        get_aval(out)
    except TypeError as e:
        raise TypeError(f"Output from batched function {out!r} with type {type(out)} is not a valid JAX type") from e
    return full_raise(trace, out)


@memoize_jaxpr_transform
def batch_jaxpr(closed: ClosedJaxpr, axis: AxisData, in_batched: Sequence[bool],
                instantiate: bool | Sequence[bool]) -> tuple[ClosedJaxpr, list[bool]]:
    """Batch ``closed`` over a leading axis on the inputs marked in ``in_batched``; batched outputs lead."""
    from .evaluation import eval_jaxpr
    from .staging import trace_to_jaxpr
    inst = [instantiate] * len(closed.out_avals) if isinstance(instantiate, bool) else list(instantiate)
    out_batched: list[bool] = []

    def fun(*args):
        with new_main(BatchTrace, axis) as main:
            trace = BatchTrace(main)
            tracers = [BatchTracer(trace, x, 0) if b else x for x, b in zip(args, in_batched)]
            outs = [full_raise(trace, o) for o in eval_jaxpr(closed.jaxpr, closed.consts, *tracers)]
            vals, dims = [t.val for t in outs], [t.batch_dim for t in outs]
        out_batched[:] = [d is not not_mapped or i for d, i in zip(dims, inst)]
        return [matchaxis(axis.size, d, 0 if b else None, v) for v, d, b in zip(vals, dims, out_batched)]

    in_avals = [_with_leading(a, axis.size) if b else a for a, b in zip(closed.in_avals, in_batched)]
    jaxpr, consts = trace_to_jaxpr(fun, in_avals)
    return ClosedJaxpr(jaxpr, consts), list(out_batched)


def _with_leading(aval: ShapedArray, size: int) -> ShapedArray:
    """``aval`` with a new leading (batch) dimension of ``size``, not split in its type (if typed)."""
    if aval.sharding is None:
        return aval.update(shape=(size,) + aval.shape)
    spec = type(aval.sharding.spec)(None, *aval._spec())
    return aval.update(shape=(size,) + aval.shape, sharding=aval.sharding.with_spec(spec))


# --- helpers for the common shapes of rule ----------------------------------------------------------------
def defvectorized(primitive: Primitive) -> None:
    """Elementwise unary ops: the batch dimension passes through."""
    def rule(axis, vals, dims, **params):
        return primitive.bind(*vals, **params), dims[0]
    batching_rules[primitive] = rule


def defbroadcasting(primitive: Primitive) -> None:
    """Elementwise n-ary ops on equal shapes: move every batch axis to the front, broadcast the rest."""
    def rule(axis, vals, dims, **params):
        first = next(d for d in dims if d is not not_mapped)
        if all(d == first for d in dims):
            return primitive.bind(*vals, **params), first
        vals = [bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims)]
        return primitive.bind(*vals, **params), 0
    batching_rules[primitive] = rule


# --- JAX's rule tables (jax.interpreters.batching) -----------------------------------------------------------------
fancy_primitive_batchers = batching_rules  # rule(axis_data, vals, dims, **params) -> (out, out_dim)


class _BatchersProxy:
    """A table of batching rules of an older JAX signature (``primitive_batchers``, ``axis_primitive_batchers``):
    assigning a rule stores it, adapted, in :data:`fancy_primitive_batchers`."""

    def __init__(self, adapt: Callable[[Primitive, Callable], Callable]) -> None:
        self._adapt = adapt

    def __setitem__(self, prim: Primitive, batcher: Callable) -> None:
        batching_rules[prim] = self._adapt(prim, batcher)

    def __delitem__(self, prim: Primitive) -> None:
        del batching_rules[prim]


def _adapt_plain(prim: Primitive, batcher: Callable) -> Callable:
    """``batcher(vals, dims, **params)``, called only when some operand is mapped (else ``prim`` binds as is)."""
    def rule(axis, vals, dims, **params):
        if all(d is not_mapped for d in dims):
            out = prim.bind(*vals, **params)
            return (out, [not_mapped] * len(out)) if prim.multiple_results else (out, not_mapped)
        return batcher(vals, dims, **params)
    return rule


primitive_batchers = _BatchersProxy(_adapt_plain)
axis_primitive_batchers = _BatchersProxy(lambda prim, batcher: lambda axis, vals, dims, **params: batcher(
    axis.size, axis.name, None, vals, dims, **params))  # batcher(axis_size, axis_name, main_type, vals, dims)
