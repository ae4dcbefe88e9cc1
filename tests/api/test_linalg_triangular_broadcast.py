"""scipy.linalg.solve_triangular / cho_solve over broadcast batch dimensions (as JAX and scipy >= 1.16), and
lax.linalg.triangular_solve with a vector right-hand side (one dimension less than ``a``)."""
import numpy as np
import pytest

import portax.scipy.linalg as psl
from portax import lax
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
SHAPES = [((2, 5, 5), (2, 5, 3)), ((3, 4, 4), (4,)), ((3, 4, 4), (4, 2)), ((4, 4), (3, 4, 2)), ((2, 1, 3, 3), (4, 3, 1))]


def _triangular(shape, lower):
    k = RNG.randn(*shape)
    l = np.linalg.cholesky(k @ np.swapaxes(k, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(np.float32)
    return l if lower else np.swapaxes(l, -1, -2)


def _solve(m, b):
    """``m^-1 b`` with numpy's broadcasting of batch dimensions; a 1-D ``b`` is a vector."""
    vector = b.ndim == 1
    b2 = b[:, None] if vector else b
    batch = np.broadcast_shapes(m.shape[:-2], b2.shape[:-2])
    x = np.linalg.solve(np.broadcast_to(m, batch + m.shape[-2:]), np.broadcast_to(b2, batch + b2.shape[-2:]))
    return x[..., 0] if vector else x


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("a_shape,b_shape", SHAPES)
def test_broadcast_solves(a_shape, b_shape, lower):
    a, b = _triangular(a_shape, lower), RNG.randn(*b_shape).astype(np.float32)
    np.testing.assert_allclose(psl.solve_triangular(a, b, lower=lower), _solve(a, b), rtol=1e-4, atol=1e-5)
    at = np.swapaxes(a, -1, -2)
    np.testing.assert_allclose(psl.cho_solve((a, lower), b), _solve(a @ at if lower else at @ a, b), rtol=1e-3,
                               atol=1e-4)


def test_deprecated_batched_vector():
    a, b = _triangular((3, 4, 4), True), RNG.randn(3, 4).astype(np.float32)
    with pytest.warns(FutureWarning, match="batched 1D solves"):
        out = psl.solve_triangular(a, b, lower=True)
    np.testing.assert_allclose(out, np.linalg.solve(a, b[..., None])[..., 0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("left_side,a_shape,b_shape", [(False, (4, 4), (4,)), (True, (4, 4), (4,)),
                                                       (True, (2, 3, 3), (2, 3))])
def test_lax_triangular_solve_vector_rhs(left_side, a_shape, b_shape):
    a = np.tril(RNG.randn(*a_shape) + 5 * np.eye(a_shape[-1])).astype(np.float32)
    b = RNG.randn(*b_shape).astype(np.float32)
    out = lax.linalg.triangular_solve(a, b, left_side=left_side, lower=True)
    assert out.shape == b.shape
    ref = np.linalg.solve(a if left_side else np.swapaxes(a, -1, -2), b[..., None])[..., 0]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    check_grads(lambda a, b: lax.linalg.triangular_solve(a, b, left_side=left_side, lower=True), (a, b), order=1,
                rtol=4e-2, eps=1e-3)
