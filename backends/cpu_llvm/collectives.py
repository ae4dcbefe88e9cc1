"""Collectives between virtual CPU devices (``CpuLlvmBackend.collective``), in generated code.

Each collective is written with lax over the group's buffers, traced to a jaxpr and compiled like any other
program (cached per name, avals and params), so combining runs in fused LLVM kernels. Buffers are host
memory for every virtual device, so a result may be shared by several devices (arrays are immutable).
"""
from __future__ import annotations

from typing import Callable

from portax.core.interpreters.staging import trace_to_jaxpr
from portax.core.ir import ClosedJaxpr, ShapedArray
from portax.core.primitives import elementwise as ew, structural as st


def _psum(xs: list) -> list:
    total = xs[0]
    for x in xs[1:]:
        total = ew.add(total, x)
    return [total] * len(xs)


def _extreme(op: Callable) -> Callable:
    def fn(xs: list) -> list:
        acc = xs[0]
        for x in xs[1:]:
            acc = op(acc, x)
        return [acc] * len(xs)
    return fn


def _all_gather(xs: list, *, all_gather_dimension: int, tiled: bool) -> list:
    if not tiled:
        xs = [st.expand_dims(x, (all_gather_dimension,)) for x in xs]
    joined = st.concatenate(xs, all_gather_dimension)
    return [joined] * len(xs)


def _blocks(x, n: int, axis: int) -> list:
    size = x.aval.shape[axis] // n
    return [st.slice_in_dim(x, i * size, (i + 1) * size, axis=axis) for i in range(n)]


def _reduce_scatter(xs: list, *, scatter_dimension: int, tiled: bool) -> list:
    total = _psum(xs)[0]
    n = len(xs)
    if tiled:
        return _blocks(total, n, scatter_dimension)
    return [st.squeeze(st.slice_in_dim(total, i, i + 1, axis=scatter_dimension), (scatter_dimension,))
            for i in range(n)]


def _ppermute(xs: list, *, perm: tuple) -> list:
    out = [st.full_like(x, 0) for x in xs]
    for src, dst in perm:
        out[dst] = xs[src]
    return out


def _all_to_all(xs: list, *, split_axis: int, concat_axis: int) -> list:
    n = len(xs)
    blocks = [_blocks(x, n, split_axis) for x in xs]
    return [st.concatenate([b[i] for b in blocks], concat_axis) for i in range(n)]


COLLECTIVES: dict[str, Callable] = {
    "psum": _psum, "pmax": _extreme(ew.max), "pmin": _extreme(ew.min), "all_gather": _all_gather,
    "reduce_scatter": _reduce_scatter, "ppermute": _ppermute, "all_to_all": _all_to_all,
}


def _freeze(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return v


def program(name: str, avals: tuple[ShapedArray, ...], params: dict) -> ClosedJaxpr:
    """The jaxpr of collective ``name`` over one buffer per device of the group."""
    fn = COLLECTIVES.get(name)
    if fn is None:
        raise NotImplementedError(f"cpu_llvm backend: no collective '{name}'")
    jaxpr, consts = trace_to_jaxpr(lambda *xs: fn(list(xs), **params), list(avals))
    return ClosedJaxpr(jaxpr, consts)


def cache_key(name: str, buffers: list, params: dict) -> tuple:
    return name, tuple((b.shape, b.dtype) for b in buffers), _freeze(params)
