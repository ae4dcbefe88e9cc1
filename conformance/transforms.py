"""Running one case on one backend under one transform, with its operands in one memory layout.

* ``eval``: the case's jaxpr (one equation for a primitive case) compiled by ``backend.compile`` and fed
  buffers from ``backend.put`` (complex values as pairs of real buffers, see ``core.complex_lowering``); the ``transposed`` and ``broadcast`` layouts hand ``put`` non-contiguous
  numpy views (Fortran order, zero strides).
* ``jit``: ``portax.jit(..., backend=name)``; the layouts are built inside the program instead
  (a ``transpose`` or ``broadcast_in_dim`` equation feeding the primitive).
* ``vmap``, ``jvp``, ``vjp``: the transformed function, jitted on the backend.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import portax
from portax.core.array import get_host, put_host
from portax.core.backend import registry
from portax.core.dispatch import backend_compile
from portax.core.interpreters.staging import closed_call_jaxpr
from portax.core.ir import ShapedArray
from portax.core.primitives import structural as st
from portax.tree_util import tree_flatten

from .registry import Case

LAYOUTS = ("contiguous", "transposed", "broadcast")
VMAP_SIZE = 3


def _eligible(case: Case) -> list[int]:
    return list(range(len(case.args))) if case.layout_args is None else list(case.layout_args)


def _transposable(a: np.ndarray) -> bool:
    return a.ndim >= 2 and a.size > 0


def _broadcastable(a: np.ndarray) -> bool:
    return a.ndim >= 1 and a.shape[0] > 1


def layouts_for(case: Case, transform: str) -> list[str]:
    """Contiguous always; transposed/broadcast operands where an eligible operand has the rank for it."""
    if transform not in ("eval", "jit"):
        return ["contiguous"]
    args = [case.args[i] for i in _eligible(case)]
    out = ["contiguous"]
    if any(_transposable(a) for a in args):
        out.append("transposed")
    if any(_broadcastable(a) for a in args):
        out.append("broadcast")
    return out


def applicable(case: Case, transform: str) -> bool:
    """Whether a transform makes sense for a case (vmap needs operands; AD needs float ins and outs)."""
    if transform not in case.transforms:
        return False
    if transform == "vmap":
        return bool(case.args)
    if transform in ("jvp", "vjp"):
        if not case.differentiable:
            return False
        outs = tree_flatten(portax.eval_shape(case.fn, *case.args))[0]
        return all(np.dtype(o.dtype).kind == "f" for o in outs)
    return True


def run(case: Case, transform: str, layout: str, backend_name: str) -> list[np.ndarray]:
    """The case's outputs (flattened, on the host) computed by the named backend."""
    return _RUNNERS[transform](case, layout, backend_name)


def _host(out: Any) -> list[np.ndarray]:
    return [np.asarray(o) for o in tree_flatten(out)[0]]


# --- eval: the jaxpr straight through the Backend protocol ------------------------------------------------
def _host_layout(case: Case, layout: str) -> list[np.ndarray]:
    args = list(case.args)
    for i in _eligible(case):
        a = args[i]
        if layout == "transposed" and _transposable(a):
            args[i] = np.asfortranarray(a)
        elif layout == "broadcast" and _broadcastable(a):
            args[i] = np.broadcast_to(a[:1], a.shape)
    return args


def _eval(case: Case, layout: str, backend_name: str) -> list[np.ndarray]:
    backend = registry.get(backend_name)
    device = backend.devices()[0]
    avals = [ShapedArray(a.shape, a.dtype) for a in case.args]
    closed, consts = closed_call_jaxpr(lambda *xs: tree_flatten(case.fn(*xs))[0], avals)
    exe = backend_compile(closed, device)  # backend.compile, complex values split into real parts
    bufs = [put_host(np.asarray(c), device) for c in consts]
    bufs += [put_host(a, device) for a in _host_layout(case, layout)]
    return [get_host(b, a.dtype, backend) for b, a in zip(exe(*bufs), closed.out_avals)]


# --- jit: the layouts are made by equations inside the program ------------------------------------------------
def _program_layout(case: Case, layout: str) -> tuple[list[np.ndarray], Callable]:
    """The arrays to pass and a function that turns them back into the case's operands, in-program."""
    shipped = list(case.args)
    undo: dict[int, Callable] = {}
    for i in _eligible(case):
        a = case.args[i]
        if layout == "transposed" and _transposable(a):
            perm = tuple(reversed(range(a.ndim)))
            shipped[i] = np.ascontiguousarray(np.transpose(a, perm))
            undo[i] = lambda x, perm=perm: st.transpose(x, perm)
        elif layout == "broadcast" and _broadcastable(a):
            shipped[i] = np.ascontiguousarray(a[:1])
            undo[i] = lambda x, shape=a.shape: st.broadcast_in_dim_p.bind(
                x, shape=shape, broadcast_dimensions=tuple(range(len(shape))))

    def prepare(xs):
        return [undo[i](x) if i in undo else x for i, x in enumerate(xs)]
    return shipped, prepare


def _jit(case: Case, layout: str, backend_name: str) -> list[np.ndarray]:
    shipped, prepare = _program_layout(case, layout)
    f = portax.jit(lambda *xs: case.fn(*prepare(xs)), backend=backend_name)
    return _host(f(*shipped))


# --- vmap / jvp / vjp -------------------------------------------------------------------------------------------
def _batch_of(a: np.ndarray, axis: int) -> np.ndarray:
    """VMAP_SIZE permutations of ``a`` (same values, so the operand's domain holds) stacked along ``axis``."""
    flat = a.ravel()
    variants = [a, np.roll(flat, 1).reshape(a.shape), flat[::-1].reshape(a.shape)]
    return np.stack(variants, axis=axis)


def vmap_axes(case: Case) -> tuple:
    """Operand i is batched along its last axis, not batched, or batched along axis 0 (cycling)."""
    return tuple([a.ndim, None, 0][i % 3] for i, a in enumerate(case.args))


def _vmap(case: Case, layout: str, backend_name: str) -> list[np.ndarray]:
    axes = vmap_axes(case)
    args = [a if ax is None else _batch_of(a, ax) for a, ax in zip(case.args, axes)]
    f = portax.jit(portax.vmap(case.fn, in_axes=axes), backend=backend_name)
    return _host(f(*args))


def _split_diff(case: Case) -> tuple[list[np.ndarray], Callable]:
    """The differentiable operands and ``fn`` as a function of them alone (the rest are constants)."""
    diff = case.differentiable

    def f(*dargs):
        full = list(case.args)
        for i, d in zip(diff, dargs):
            full[i] = d
        return case.fn(*full)
    return [case.args[i] for i in diff], f


def _like(template: Any, seed: int) -> list[np.ndarray]:
    """Deterministic random values shaped like ``template`` (tangents and cotangents, same on both backends)."""
    rng = np.random.RandomState(seed)
    return [rng.uniform(-1.0, 1.0, size=t.shape).astype(t.dtype) for t in template]


def _jvp(case: Case, layout: str, backend_name: str) -> list[np.ndarray]:
    primals, f = _split_diff(case)
    tangents = _like(primals, 1)
    g = portax.jit(lambda p, t: portax.jvp(f, p, t), backend=backend_name)
    return _host(g(tuple(primals), tuple(tangents)))


def _vjp(case: Case, layout: str, backend_name: str) -> list[np.ndarray]:
    primals, f = _split_diff(case)
    out_shape = portax.eval_shape(f, *primals)
    leaves, tree = tree_flatten(out_shape)
    cts = tree.unflatten(_like(leaves, 2))
    def primal_and_cotangents(p, ct):
        out, pullback = portax.vjp(f, *p)
        return out, pullback(ct)
    g = portax.jit(primal_and_cotangents, backend=backend_name)
    return _host(g(tuple(primals), cts))


_RUNNERS = {"eval": _eval, "jit": _jit, "vmap": _vmap, "jvp": _jvp, "vjp": _vjp}
