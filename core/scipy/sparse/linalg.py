"""Conjugate gradients and BiCGSTAB over pytrees of arrays, differentiated implicitly through
``custom_linear_solve`` (the gradient is another solve, never a backward pass through the iterations)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ... import numpy as jnp
from ...array import Array
from ...primitives.control_flow import while_loop
from ...primitives.solves import custom_linear_solve
from ...pytree import tree_leaves, tree_map, tree_structure

_identity = lambda x: x


def _dot(x: Any, y: Any):
    """The inner product of two pytrees of arrays."""
    return sum(jnp.vdot(a, b) for a, b in zip(tree_leaves(x), tree_leaves(y)))


def _axpy(a, x: Any, y: Any) -> Any:
    return tree_map(lambda u, v: a * u + v, x, y)


def _sub(x: Any, y: Any) -> Any:
    return tree_map(lambda u, v: u - v, x, y)


def _as_matvec(a: Any, what: str) -> Callable:
    if callable(a):
        return a
    if isinstance(a, (np.ndarray, Array)) or hasattr(a, "__matmul__"):
        if getattr(a, "ndim", 2) != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"{what} must be a square matrix, but has shape: {a.shape}")
        return lambda x: jnp.matmul(a, x)
    raise TypeError(f"{what} must be either a function or ndarray: {a}")


def _cg(A: Callable, b: Any, x0: Any, *, maxiter: int, tol: float, atol: float, M: Callable) -> Any:
    bound = jnp.maximum(tol ** 2 * _dot(b, b), atol ** 2)
    r0 = _sub(b, A(x0))
    z0 = M(r0)
    gamma0 = _dot(r0, z0)

    def cond(state):
        _, r, gamma, _, k = state
        rs = gamma if M is _identity else _dot(r, r)
        return (rs > bound) & (k < maxiter)

    def body(state):
        x, r, gamma, p, k = state
        ap = A(p)
        alpha = gamma / _dot(p, ap)
        r = _axpy(-alpha, ap, r)
        z = M(r)
        gamma_new = _dot(r, z)
        return _axpy(alpha, p, x), r, gamma_new, _axpy(gamma_new / gamma, p, z), k + 1

    return while_loop(cond, body, (x0, r0, gamma0, z0, 0))[0]


def _bicgstab(A: Callable, b: Any, x0: Any, *, maxiter: int, tol: float, atol: float, M: Callable) -> Any:
    bound = jnp.maximum(tol ** 2 * _dot(b, b), atol ** 2)
    r0 = _sub(b, A(x0))
    one = jnp.ones((), jnp.result_type(*tree_leaves(b)))

    def cond(state):
        r, k = state[1], state[-1]
        return (_dot(r, r) > bound) & (k < maxiter) & (k >= 0)  # k < 0: breakdown

    def body(state):
        x, r, rhat, alpha, omega, rho, p, v, k = state
        rho_new = _dot(rhat, r)
        beta = (rho_new / rho) * (alpha / omega)
        p = tree_map(lambda r_, p_, v_: r_ + beta * (p_ - omega * v_), r, p, v)
        phat = M(p)
        v = A(phat)
        alpha = rho_new / _dot(rhat, v)
        s = _axpy(-alpha, v, r)
        done = _dot(s, s) < bound
        shat = M(s)
        t = A(shat)
        omega = _dot(t, s) / _dot(t, t)
        x_half = _axpy(alpha, phat, x)
        x = tree_map(lambda h, sh: jnp.where(done, h, h + omega * sh), x_half, shat)
        r = tree_map(lambda s_, t_: jnp.where(done, s_, s_ - omega * t_), s, t)
        k = jnp.where((rho_new == 0) | (omega == 0) | (alpha == 0), -1, k + 1)
        return x, r, rhat, alpha, omega, rho_new, p, v, k

    return while_loop(cond, body, (x0, r0, r0, one, one, one, r0, r0, 0))[0]


def _isolve(method: Callable, A: Any, b: Any, x0: Any, tol: float, atol: float, maxiter: int | None, M: Any,
            symmetric: bool) -> tuple[Any, None]:
    b = tree_map(jnp.asarray, b)
    x0 = tree_map(jnp.zeros_like, b) if x0 is None else tree_map(jnp.asarray, x0)
    if tree_structure(x0) != tree_structure(b):
        raise ValueError(f"x0 and b must have matching tree structure: {tree_structure(x0)} vs {tree_structure(b)}")
    shapes = lambda t: [np.shape(x) for x in tree_leaves(t)]
    if shapes(x0) != shapes(b):
        raise ValueError(f"arrays in x0 and b must have matching shapes: {shapes(x0)} vs {shapes(b)}")
    if maxiter is None:
        maxiter = 10 * sum(int(np.size(x)) for x in tree_leaves(b))
    A = _as_matvec(A, "linear operator")
    M = _identity if M is None else _as_matvec(M, "preconditioner")
    solve = lambda matvec, rhs: method(matvec, rhs, x0, maxiter=maxiter, tol=tol, atol=atol, M=M)
    return custom_linear_solve(A, b, solve=solve, transpose_solve=solve, symmetric=symmetric), None


def cg(A: Any, b: Any, x0: Any = None, *, tol: float = 1e-5, atol: float = 0.0, maxiter: int | None = None,
       M: Any = None) -> tuple[Any, None]:
    """Solve ``A x = b`` for symmetric positive definite ``A`` (a matrix or a function) by conjugate gradients;
    returns ``(x, None)``. Stops when ``norm(residual) <= max(tol * norm(b), atol)`` or after ``maxiter`` steps."""
    return _isolve(_cg, A, b, x0, tol, atol, maxiter, M, symmetric=True)


def bicgstab(A: Any, b: Any, x0: Any = None, *, tol: float = 1e-5, atol: float = 0.0, maxiter: int | None = None,
             M: Any = None) -> tuple[Any, None]:
    """Solve ``A x = b`` for a general ``A`` (a matrix or a function) by BiCGSTAB; returns ``(x, None)``."""
    return _isolve(_bicgstab, A, b, x0, tol, atol, maxiter, M, symmetric=False)
