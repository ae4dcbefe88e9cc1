"""``portax.scipy.sparse.linalg`` (``jax.scipy.sparse.linalg``): iterative solvers with implicit gradients."""
from portax.core.scipy.sparse.linalg import bicgstab, cg, gmres  # noqa: F401

__all__ = ["bicgstab", "cg", "gmres"]
