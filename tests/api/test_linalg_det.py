"""Derivatives of ``jnp.linalg.det`` at singular matrices (JAX's cofactor rule: the gradient is the transposed
adjugate, nonzero for corank 1 and zero for corank >= 2), small closed forms and batches."""
import numpy as np
import pytest

import portax
import portax.numpy as jnp
from portax.test_util import check_grads

RNG = np.random.RandomState(0)


def _adjugate_t(m):
    n = m.shape[0]
    return np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(m, i, 0), j, 1)) for j in range(n)]
                     for i in range(n)])


@pytest.mark.parametrize("n,rank", [(3, 2), (4, 3), (5, 4), (5, 3), (4, 1)])
def test_det_gradient_at_singular_matrices(n, rank):
    m = RNG.randn(n, rank) @ RNG.randn(rank, n)
    g = np.asarray(portax.grad(jnp.linalg.det)(m.astype(np.float32)))
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, _adjugate_t(m), atol=2e-4 * max(1.0, np.abs(_adjugate_t(m)).max()))


def test_det_gradients_and_zero_matrices():
    for shape in [(1, 1), (2, 2), (3, 3), (2, 4, 4), (3, 6, 6)]:
        a = RNG.randn(*shape).astype(np.float32) * 2
        check_grads(jnp.linalg.det, (a,), 2, atol=1e-1, rtol=1e-1)
        z = np.zeros_like(a)
        g = np.asarray(portax.grad(lambda x: jnp.linalg.det(x).sum())(z))
        np.testing.assert_array_equal(g, np.ones_like(g) if shape[-1] == 1 else np.zeros_like(g))
    np.testing.assert_allclose(jnp.linalg.det(np.array([[-1.0, 1.5], [2.0 / 3, -1.0]], np.float32)), 0, atol=1e-7)
