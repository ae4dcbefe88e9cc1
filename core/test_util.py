"""Numerical derivative checks (``jax.test_util.check_grads``): JVPs against central finite differences,
VJPs against JVPs through the inner-product identity <ct, J t> = <J^T ct, t>."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import dtypes
from .api import jvp, vjp
from .pytree import tree_flatten, tree_map

_DEFAULT_EPS = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-6}
_DEFAULT_TOL = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 2e-2, np.dtype(np.float64): 1e-5}


def _np(x) -> np.ndarray:
    return np.asarray(x)


def _rand_like(rng: np.random.RandomState, x) -> np.ndarray:
    a = _np(x)
    return rng.standard_normal(a.shape).astype(a.dtype) if dtypes.kind(a.dtype) == "f" else np.zeros(a.shape, a.dtype)


def _inner(xs, ys) -> float:
    return float(sum(np.sum(_np(x).astype(np.float64) * _np(y).astype(np.float64))
                     for x, y in zip(tree_flatten(xs)[0], tree_flatten(ys)[0]) if dtypes.kind(_np(x).dtype) == "f"))


def _assert_close(name: str, a, b, tol: float) -> None:
    for x, y in zip(tree_flatten(a)[0], tree_flatten(b)[0]):
        x, y = _np(x).astype(np.float64), _np(y).astype(np.float64)
        if not np.allclose(x, y, rtol=tol, atol=tol, equal_nan=True):
            raise AssertionError(f"{name} mismatch (tol {tol}):\n{x}\nvs\n{y}")


def _dtype_of(args) -> np.dtype:
    """The widest float dtype the computation runs in (float64 inputs narrow to float32 without x64)."""
    from .dtypes import canonicalize
    floats = [canonicalize(_np(x).dtype) for x in tree_flatten(args)[0] if dtypes.kind(_np(x).dtype) == "f"]
    return max(floats, key=lambda d: d.itemsize) if floats else np.dtype(np.float32)


def check_jvp(f: Callable, args: Sequence, eps: float | None = None, atol: float | None = None,
              rng: np.random.RandomState | None = None) -> None:
    """The JVP of ``f`` at ``args`` along a random direction equals central finite differences."""
    rng = rng or np.random.RandomState(0)
    dt = _dtype_of(args)
    eps = eps or _DEFAULT_EPS[dt]
    tol = atol or _DEFAULT_TOL[dt]
    tangents = tree_map(lambda x: _rand_like(rng, x), tuple(args))
    _, t_out = jvp(f, tuple(args), tangents)
    shift = lambda s: tree_map(lambda x, t: (_np(x) + s * eps * t).astype(_np(x).dtype) if dtypes.kind(_np(x).dtype) == "f" else x,
                               tuple(args), tangents)
    f_pos, f_neg = f(*shift(1)), f(*shift(-1))
    fd = tree_map(lambda a, b: (_np(a).astype(np.float64) - _np(b).astype(np.float64)) / (2 * eps), f_pos, f_neg)
    _assert_close("JVP vs finite differences", t_out, fd, tol)


def check_vjp(f: Callable, args: Sequence, atol: float | None = None, rng: np.random.RandomState | None = None) -> None:
    """<ct, J t> computed by jvp equals <vjp(ct), t>: the transpose rules are the JVP's adjoints."""
    rng = rng or np.random.RandomState(1)
    dt = _dtype_of(args)
    tol = atol or _DEFAULT_TOL[dt]
    tangents = tree_map(lambda x: _rand_like(rng, x), tuple(args))
    out, t_out = jvp(f, tuple(args), tangents)
    _, pullback = vjp(f, *args)
    cts = tree_map(lambda o: _rand_like(rng, o), out)
    cts_in = pullback(cts)
    lhs, rhs = _inner(cts, t_out), _inner(cts_in, tangents)
    scale = max(1.0, abs(lhs), abs(rhs))
    if abs(lhs - rhs) > tol * scale:
        raise AssertionError(f"VJP/JVP inner products disagree: <ct, J t> = {lhs} but <J^T ct, t> = {rhs}")


def check_grads(f: Callable, args: Sequence, order: int = 1, modes: Sequence[str] = ("fwd", "rev"),
                atol: float | None = None, rtol: float | None = None, eps: float | None = None) -> None:
    """Check derivatives of ``f`` up to ``order`` in forward and/or reverse mode (as jax.test_util)."""
    tol = atol if atol is not None else rtol

    def check(fun, order_left):
        if "fwd" in modes:
            check_jvp(fun, args, eps, tol)
        if "rev" in modes:
            check_vjp(fun, args, tol)
        if order_left > 1:
            rng = np.random.RandomState(order_left)
            tangents = tree_map(lambda x: _rand_like(rng, x), tuple(args))
            if "fwd" in modes:
                check(lambda *a: jvp(fun, a, tangents)[1], order_left - 1)
            if "rev" in modes:
                out = fun(*args)
                cts = tree_map(lambda o: _rand_like(rng, o), out)
                check(lambda *a: vjp(fun, *a)[1](cts), order_left - 1)

    check(f, order)


__all__ = ["check_grads", "check_jvp", "check_vjp"]
