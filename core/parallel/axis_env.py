"""Named axes: which ``vmap(..., axis_name=)`` or ``pmap`` an axis name refers to.

A vmap's named axis is its ``BatchTrace`` on the trace stack; a pmap's axis is a frame pushed while its
per-device body is traced (and while its rules re-trace that body). An ``AxisPrimitive`` is processed
by the innermost trace among its arguments' traces and the vmaps naming the axes it uses, so a
collective over a vmapped axis reaches the vmap even when its operand is not batched
(as JAX's ``AxisPrimitive``, through the ``Primitive.top_trace`` hook of ``bind``).
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from .. import trace as trace_module
from ..interpreters.batching import BatchTrace
from ..ir import subjaxprs
from ..trace import MainTrace, Primitive, Trace, find_top_trace, trace_stack


class AxisFrame(NamedTuple):
    name: Any
    size: int
    position: float  # place in the trace stack: the innermost frame has the largest position
    main: MainTrace | None  # the vmap's BatchTrace; None for a pmap axis (its collectives are staged)


class _PmapFrames(threading.local):
    """The pmap axes of the calling thread's traces (thread-local, like the trace stack)."""

    def __init__(self) -> None:
        self.frames: list[AxisFrame] = []


_pmap = _PmapFrames()


@contextlib.contextmanager
def extend_axis_env(name: Any, size: int) -> Iterator[None]:
    """Make the pmap axis ``name`` of ``size`` devices visible to collectives traced in this block."""
    if name is None:
        yield
        return
    frames = _pmap.frames
    frames.append(AxisFrame(name, int(size), len(trace_stack()), None))
    try:
        yield
    finally:
        frames.pop()


def in_mapped_body() -> bool:
    """Whether the body of a pmap (or of a shard_map) is being traced on this thread."""
    return bool(_pmap.frames)


def _frames() -> list[AxisFrame]:
    vmaps = [AxisFrame(m.global_data.name, m.global_data.size, m.level + 0.5, m) for m in trace_stack()
             if m.trace_type is BatchTrace and m.global_data.name is not None]
    return vmaps + _pmap.frames


def axis_env_key() -> tuple:
    """The named axes in scope with their sizes, innermost last (what a trace reading them depends on)."""
    return tuple((f.name, f.size) for f in sorted(_frames(), key=lambda f: f.position))


def lookup_axis(name: Any) -> AxisFrame:
    """The innermost frame naming ``name``; an unbound name is JAX's ``NameError``."""
    best = None
    for f in _frames():
        if f.name == name and (best is None or f.position > best.position):
            best = f
    if best is None:
        bound = sorted({repr(f.name) for f in _frames()})
        raise NameError(f"unbound axis name: {name}. The following axis names (e.g. defined by pmap) are "
                        f"available to collective operations: [{', '.join(bound)}]")
    return best


def axis_names_tuple(axis_name: Any) -> tuple:
    """``axis_name`` as a tuple of names (collectives accept one name or a tuple of names)."""
    return tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)


def axis_size(axis_name: Any) -> int:
    """``lax.axis_size``: the number of devices (or vmapped instances) along the named axis or axes."""
    size = 1
    for name in axis_names_tuple(axis_name):
        size *= lookup_axis(name).size
    return size


class AxisPrimitive(Primitive):
    """A primitive using named axes, listed by ``axis_names_of(params)``: processed by the innermost of
    its arguments' traces and the vmaps naming those axes."""

    def __init__(self, name: str, axis_names_of: Callable[[dict], Iterable], multiple_results: bool = False):
        super().__init__(name, multiple_results)
        self.axis_names_of = axis_names_of

    def top_trace(self, args: tuple, params: dict) -> Trace:
        return _innermost(find_top_trace(args), map(lookup_axis, self.axis_names_of(params)))


def _innermost(trace: Trace, frames: Iterable[AxisFrame]) -> Trace:
    """``trace``, or the innermost vmap among ``frames`` if it is above ``trace``."""
    named = max((f.main for f in frames if f.main is not None), key=lambda m: m.level, default=None)
    return named.trace_type(named) if named is not None and named.level > trace.main.level else trace


def _higher_order_top_trace(trace: Trace, params: dict) -> Trace:
    """A higher-order primitive (jit, cond, while, scan, ...) whose jaxprs use the axis of a vmap above ``trace``
    goes to that vmap, as a collective would (so ``axis_index`` inside a jit of unbatched arguments is batched)."""
    if not any(m.trace_type is BatchTrace and m.global_data.name is not None and m.level > trace.main.level
               for m in trace_stack()):
        return trace
    names = _free_axis_names(params)
    frames = {f.name: f for f in sorted(_frames(), key=lambda f: f.position)}  # the innermost frame of each name
    return _innermost(trace, (frames[n] for n in names if n in frames))


def _free_axis_names(params: dict) -> set:
    """The axis names the collectives in the jaxprs of ``params`` use, but those a nested pmap or shard_map binds."""
    names: set = set()
    for sub in subjaxprs(params):
        for eqn in sub.eqns:
            if isinstance(eqn.primitive, AxisPrimitive):
                names.update(eqn.primitive.axis_names_of(eqn.params))
            mesh = eqn.params.get("mesh")
            bound = {eqn.params.get("axis_name"), *(getattr(mesh, "axis_names", None) or ())}
            names.update(_free_axis_names(eqn.params) - bound)
    return names


trace_module.higher_order_top_trace = _higher_order_top_trace
