"""``jax.scipy.linalg.expm`` and ``expm_frechet``: the matrix exponential by scaling and squaring with a Padé
approximant (Higham 2005), and its Fréchet derivative (the JVP of ``expm``)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import numpy as jnp
from ..api import jvp
from ..numpy import linalg as nla
from ..primitives.control_flow import fori_loop
from ..primitives.elementwise import stop_gradient


def _pade_coefficients(m: int) -> list[float]:
    """Coefficients b_j of the [m/m] Padé approximant of exp: (2m-j)! m! / ((2m)! j! (m-j)!)."""
    return [math.factorial(2 * m - j) * math.factorial(m) / (math.factorial(2 * m) * math.factorial(j) *
                                                             math.factorial(m - j)) for j in range(m + 1)]


# Higham (2005), "The scaling and squaring method for the matrix exponential revisited": theta_m bounds
# ||A||_1 for which the [m/m] Padé approximant is accurate to unit roundoff (m = 13 double, m = 7 single);
# keyed by the real dtype of A's entries.
_PADE = {np.dtype(np.float64): (13, 5.371920351148152), np.dtype(np.float32): (7, 3.925724783138660)}


def expm(A: Any, *, upper_triangular: bool = False, max_squarings: int = 16) -> Any:
    """Matrix exponential of (a batch of) square matrices, real or complex; NaN where ``||A||_1`` would need
    more than ``max_squarings`` squarings (as JAX)."""
    A = nla._matrix("expm", A, square=True)
    part = np.finfo(A.dtype).dtype
    if part not in _PADE:
        raise TypeError(f"expm: A.dtype={A.dtype} is not supported (use float32, float64, complex64 or complex128)")
    m, theta = _PADE[part]
    norm1 = stop_gradient(jnp.max(jnp.sum(jnp.abs(A), axis=-2), axis=-1))
    n_sq = jnp.maximum(jnp.ceil(jnp.log2(norm1 / theta)), 0)
    scaled = A / jnp.exp2(jnp.minimum(n_sq, max_squarings)).astype(A.dtype)[..., None, None]
    eye = jnp.broadcast_to(jnp.eye(A.shape[-1], dtype=A.dtype), A.shape)
    b = _pade_coefficients(m)
    powers = [eye, scaled]
    for _ in range(2, m + 1):
        powers.append(jnp.matmul(powers[-1], scaled))
    U = sum(b[j] * powers[j] for j in range(1, m + 1, 2))
    V = sum(b[j] * powers[j] for j in range(0, m + 1, 2))
    R = nla.solve(V - U, V + U)

    def square(i, r):
        return jnp.where((i.astype(n_sq.dtype) < n_sq)[..., None, None], jnp.matmul(r, r), r)

    R = fori_loop(0, max_squarings, square, R)
    return jnp.where((n_sq > max_squarings)[..., None, None], jnp.nan, R)


def expm_frechet(A: Any, E: Any, *, method: str | None = None, compute_expm: bool = True) -> Any:
    """The Fréchet derivative of ``expm`` at ``A`` in direction ``E``: ``(expm(A), L(A, E))``, or only
    ``L(A, E)`` when ``compute_expm`` is false."""
    A, E = jnp.asarray(A), jnp.asarray(E)
    if A.ndim < 2 or A.shape[-2] != A.shape[-1]:
        raise ValueError(f"expected A to be a (batched) square matrix, got A.shape={A.shape}")
    if E.ndim < 2 or E.shape[-2] != E.shape[-1]:
        raise ValueError(f"expected E to be a (batched) square matrix, got E.shape={E.shape}")
    if A.shape != E.shape:
        raise ValueError(f"expected A and E to be the same shape, got A.shape={A.shape} E.shape={E.shape}")
    expm_A, frechet = jvp(expm, (A,), (E,))
    return (expm_A, frechet) if compute_expm else frechet


__all__ = ["expm", "expm_frechet"]
