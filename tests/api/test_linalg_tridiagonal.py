"""``lax.linalg.tridiagonal_solve``: values against a dense solve (pivoting, batches, complex), gtsv's and the
perturbed solver's singular cases, endpoints not read, vmap, jit and derivatives (JAX's rules)."""
import numpy as np
import pytest

import portax
from portax import lax
from portax.test_util import check_grads

RNG = np.random.RandomState(0)


def _dense(dl, d, du):
    n = d.shape[-1]
    a = np.zeros(d.shape + (n,), d.dtype)
    i = np.arange(n)
    a[..., i, i] = d
    a[..., i[1:], i[:-1]] = dl[..., 1:]
    a[..., i[:-1], i[1:]] = du[..., :-1]
    return a


def _system(shape, dtype, k=2):
    mk = lambda s: (RNG.randn(*s) + (1j * RNG.randn(*s) if np.dtype(dtype).kind == "c" else 0)).astype(dtype)
    return mk(shape), (1 + RNG.rand(*shape)).astype(dtype), mk(shape), mk(shape + (k,))


@pytest.mark.parametrize("perturb", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("shape", [(1,), (2,), (5,), (3, 4)])
def test_solves_against_dense(shape, dtype, perturb):
    dl, d, du, b = _system(shape, dtype)
    x = lax.linalg.tridiagonal_solve(dl, d, du, b, perturb_singular=perturb)
    np.testing.assert_allclose(_dense(dl, d, du) @ np.asarray(x), b, atol=1e-4)


@pytest.mark.parametrize("perturb", [False, True])
def test_pivoting_and_unread_endpoints(perturb):
    # the first pivot is 1 < |2|: without row exchanges the elimination would be inaccurate or wrong
    dl = np.array([5.0, 2.0, -2.0, 3.0], np.float32)
    d = np.array([1.0, 4.0, 1.0, -1.0], np.float32)
    du = np.array([2.0, -1.0, 1.0, 7.0], np.float32)
    b = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)
    x = lax.linalg.tridiagonal_solve(dl, d, du, b, perturb_singular=perturb)
    np.testing.assert_allclose(np.asarray(x)[:, 0], [8.0, -3.5, 0.0, -4.0], atol=1e-5)


def test_singular_systems():
    z = np.zeros(3, np.float32)
    b = np.ones((3, 1), np.float32)
    assert np.isnan(np.asarray(lax.linalg.tridiagonal_solve(z, z, z, b))).all()  # gtsv's info > 0
    x = np.asarray(lax.linalg.tridiagonal_solve(z, z, z, b, perturb_singular=True))
    assert np.isfinite(x).all() and (np.abs(x) > 1e6).all()
    dl, d, du = (np.array(v, np.float32) for v in ([0.0, 1.0], [1.0, 3.0], [3.0, 0.0]))
    x = np.asarray(lax.linalg.tridiagonal_solve(dl, d, du, np.array([[1.0], [4.0]], np.float32),
                                                perturb_singular=True))
    assert np.isfinite(x).all() and (np.abs(x) > 1e6).all()


def test_vmap_and_jit():
    dl, d, du, b = _system((3, 5), np.float32)
    ref = lax.linalg.tridiagonal_solve(dl, d, du, b)
    np.testing.assert_allclose(portax.vmap(lax.linalg.tridiagonal_solve)(dl, d, du, b), ref, rtol=1e-5, atol=1e-5)
    out = portax.vmap(lax.linalg.tridiagonal_solve, in_axes=(None, None, None, 2), out_axes=2)(
        dl[0], d[0], du[0], b[0][:, None, :])
    np.testing.assert_allclose(np.asarray(out)[:, 0], ref[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(portax.jit(lax.linalg.tridiagonal_solve)(dl, d, du, b), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("perturb", [False, True])
def test_derivatives(x64, perturb):
    dl, d, du, b = _system((4,), np.float64, k=1)
    f = lambda dl, d, du, b: lax.linalg.tridiagonal_solve(dl, d, du, b, perturb_singular=perturb)
    check_grads(f, (dl, d, du, b), order=2, modes=("fwd", "rev"))


def test_errors():
    v = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="same shape"):
        lax.linalg.tridiagonal_solve(v, v, np.ones(4, np.float32), np.ones((3, 1), np.float32))
    with pytest.raises(TypeError, match="leading ndim-1 dimensions"):
        lax.linalg.tridiagonal_solve(v, v, v, np.ones((4, 1), np.float32))
