"""Conjugate gradients, BiCGSTAB and restarted GMRES over pytrees of arrays, differentiated implicitly through
``custom_linear_solve`` (the gradient is another solve, never a backward pass through the iterations)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ... import numpy as jnp
from ...array import Array
from ...primitives.control_flow import fori_loop, while_loop
from ...primitives.solves import custom_linear_solve
from ...pytree import tree_leaves, tree_map, tree_structure, tree_unflatten

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


def _flat(tree: Any) -> Any:
    return jnp.concatenate([jnp.ravel(x) for x in tree_leaves(tree)])


def _unflat(vector: Any, like: Any) -> Any:
    leaves, pieces, start = tree_leaves(like), [], 0
    for leaf in leaves:
        pieces.append(jnp.reshape(vector[start:start + leaf.size], leaf.shape))
        start += leaf.size
    return tree_unflatten(tree_structure(like), pieces)


def _gmres(A: Callable, b: Any, x0: Any, *, maxiter: int, tol: float, atol: float, M: Callable,
           restart: int) -> Any:
    """Restarted GMRES with left preconditioning: each cycle builds an orthonormal Krylov basis of ``restart``
    vectors (Arnoldi, Gram-Schmidt applied twice) and takes the least-squares step in it."""
    op = lambda v: _flat(M(A(_unflat(v, b))))
    precond_b = _flat(M(b))
    bound = jnp.maximum(tol * jnp.linalg.norm(_flat(b)), atol)
    n, m = precond_b.shape[0], restart

    def residual(x):
        return precond_b - op(x)

    def cycle(state):
        x, r, k = state
        beta = jnp.linalg.norm(r)
        basis = jnp.zeros((m + 1, n), r.dtype).at[0].set(r / jnp.where(beta > 0, beta, 1))
        hess = jnp.zeros((m + 1, m), r.dtype)

        def arnoldi(j, carry):
            basis, hess = carry
            w = op(basis[j])
            coeffs = jnp.zeros(m + 1, r.dtype)
            for _ in range(2):
                h = jnp.conj(basis) @ w
                coeffs, w = coeffs + h, w - h @ basis
            norm = jnp.linalg.norm(w)
            coeffs = coeffs.at[j + 1].set(norm)
            basis = basis.at[j + 1].set(w / jnp.where(norm > 0, norm, 1))
            return basis, hess.at[:, j].set(coeffs)

        basis, hess = fori_loop(0, m, arnoldi, (basis, hess))
        y = jnp.linalg.lstsq(hess, jnp.zeros(m + 1, r.dtype).at[0].set(beta))[0]
        x = x + y @ basis[:m]
        return x, residual(x), k + 1

    x = _flat(x0)
    state = (x, residual(x), 0)
    x = while_loop(lambda s: (jnp.linalg.norm(s[1]) > bound) & (s[2] < maxiter), cycle, state)[0]
    return _unflat(x, b)


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


def gmres(A: Any, b: Any, x0: Any = None, *, tol: float = 1e-5, atol: float = 0.0, restart: int = 20,
          maxiter: int | None = None, M: Any = None, solve_method: str = "batched") -> tuple[Any, None]:
    """Solve ``A x = b`` for a general ``A`` by restarted GMRES(``restart``); returns ``(x, None)``. Stops when
    the (preconditioned) residual norm is at most ``max(tol * norm(b), atol)`` or after ``maxiter`` restarts.
    ``solve_method`` is accepted for JAX compatibility ("batched" and "incremental" give the same iterates)."""
    if solve_method not in ("batched", "incremental"):
        raise ValueError(f"invalid solve_method {solve_method!r}, must be either 'incremental' or 'batched'")
    size = sum(int(np.size(x)) for x in tree_leaves(b))
    method = lambda *args, **kw: _gmres(*args, restart=max(1, min(int(restart), size)), **kw)
    return _isolve(method, A, b, x0, tol, atol, maxiter, M, symmetric=False)


def bicgstab(A: Any, b: Any, x0: Any = None, *, tol: float = 1e-5, atol: float = 0.0, maxiter: int | None = None,
             M: Any = None) -> tuple[Any, None]:
    """Solve ``A x = b`` for a general ``A`` (a matrix or a function) by BiCGSTAB; returns ``(x, None)``."""
    return _isolve(_bicgstab, A, b, x0, tol, atol, maxiter, M, symmetric=False)
