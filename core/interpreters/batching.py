"""Vectorisation (vmap): the batch trace, rule helpers, and batching of a jaxpr."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

from ..ir import ClosedJaxpr, ShapedArray
from ..trace import Primitive, Trace, Tracer, batching_rules, full_raise, get_aval, new_main
from .memo import memoize_jaxpr_transform

not_mapped = None


class AxisData(NamedTuple):
    size: int
    name: Any  # the vmap's axis_name (None if unnamed)


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


# --- vmap of a flat function --------------------------------------------------------------------------
def vmap_flat(fun: Callable, axis_size: int, axis_name: Any, in_dims: Sequence[int | None], args: Sequence,
              out_dims: Sequence[int | None] | Callable[[int], Sequence]) -> list:
    with new_main(BatchTrace, AxisData(axis_size, axis_name)) as main:
        trace = BatchTrace(main)
        tracers_in = [BatchTracer(trace, x, d) if d is not not_mapped else x for x, d in zip(args, in_dims)]
        outs = fun(*tracers_in)
        tracers_out = [_raise_output(trace, o) for o in outs]
        vals_out = [t.val for t in tracers_out]
        dims_out = [t.batch_dim for t in tracers_out]
    dst = out_dims(len(vals_out)) if callable(out_dims) else out_dims
    from ..primitives.structural import canonicalize_axis
    dst = [d if d is None else canonicalize_axis(d, t.aval.ndim + 1) for d, t in zip(dst, tracers_out)]
    for i, (s, d) in enumerate(zip(dims_out, dst)):
        if s is not not_mapped and d is None:
            if axis_name is not None:
                raise ValueError(f"vmap has mapped output (axis_name={axis_name}) but out_axes is None")
            raise SpecMatchError(i, s)
    return [matchaxis(axis_size, s, d, v) for v, s, d in zip(vals_out, dims_out, dst)]


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

    in_avals = [a.update(shape=(axis.size,) + a.shape) if b else a for a, b in zip(closed.in_avals, in_batched)]
    jaxpr, consts = trace_to_jaxpr(fun, in_avals)
    return ClosedJaxpr(jaxpr, consts), list(out_batched)


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

