"""Householder QR in LAPACK's packed form (lax.linalg.geqrf, householder_product, ormqr), scipy.linalg.qr_multiply,
lax.linalg.symmetric_product, svd's subset_by_index/algorithm and slogdet(method='qr'): values against
scipy/numpy, jit, batching and derivatives."""
import numpy as np
import pytest
import scipy.linalg as sla

import portax
import portax.numpy as jnp
from portax import lax
from portax.scipy import linalg
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
LAPACK = {np.float32: ("sgeqrf", "sorgqr"), np.complex64: ("cgeqrf", "cungqr")}


def _rand(shape, dtype):
    x = RNG.randn(*shape)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * RNG.randn(*shape)
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("shape", [(4, 3), (4, 4), (3, 5), (2, 5, 3)])
def test_geqrf_and_householder_product_match_lapack(shape, dtype):
    geqrf, orgqr = (getattr(sla.lapack, f) for f in LAPACK[dtype])
    a = _rand(shape, dtype)
    ref_a = np.vectorize(lambda x: geqrf(x)[0], signature="(m,n)->(m,n)")(a)
    ref_taus = np.vectorize(lambda x: geqrf(x)[1], signature="(m,n)->(k)")(a)
    out_a, taus = portax.jit(lax.linalg.geqrf)(a)
    np.testing.assert_allclose(out_a, ref_a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(taus, ref_taus, rtol=1e-5, atol=1e-5)
    if shape[-2] >= shape[-1]:
        ref_q = np.vectorize(lambda x, t: orgqr(x, t)[0], signature="(m,n),(k)->(m,n)")(ref_a, ref_taus)
        np.testing.assert_allclose(lax.linalg.householder_product(ref_a, ref_taus), ref_q, rtol=1e-5, atol=1e-5)


def test_geqrf_leaves_a_column_already_reduced():
    a = np.array([[2.0, 1.0], [0.0, 3.0], [0.0, 4.0]], np.float32)  # column 0 needs no reflection: tau = 0
    out, taus = lax.linalg.geqrf(a)
    ref, ref_taus = sla.lapack.sgeqrf(a)[:2]
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(taus, ref_taus, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("transpose", [True, False])
def test_ormqr_applies_q_without_forming_it(left, transpose):
    a = _rand((5, 3), np.complex64)
    c = _rand((5, 2) if left else (2, 5), np.complex64)
    packed, taus = lax.linalg.geqrf(a)
    q = lax.linalg.householder_product(jnp.pad(packed, [(0, 0), (0, 2)]), taus)  # the full 5x5 Q
    q = np.conj(np.asarray(q).T) if transpose else np.asarray(q)
    out = lax.linalg.ormqr(packed, taus, c, left=left, transpose=transpose)
    np.testing.assert_allclose(out, q @ c if left else c @ q, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="ormqr with left="):
        lax.linalg.ormqr(packed, taus, c.T, left=left)


def test_householder_product_errors_and_gradient(x64):
    with pytest.raises(ValueError, match="at least as many rows as columns"):
        lax.linalg.householder_product(np.ones((2, 3)), np.ones(1))
    with pytest.raises(ValueError, match="must not have more rows"):
        lax.linalg.householder_product(np.ones((3, 2)), np.ones(3))
    check_grads(lax.linalg.householder_product, (RNG.randn(4, 3), RNG.randn(2) * 0.5), order=1)
    check_grads(lambda a: lax.linalg.geqrf(a)[0], (RNG.randn(4, 3),), order=1)


@pytest.mark.parametrize("mode", ["left", "right"])
@pytest.mark.parametrize("conjugate", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_qr_multiply_matches_scipy(mode, conjugate, dtype):
    if dtype == np.complex64 and portax.default_backend() == "wgpu":
        pytest.skip("wgpu has no complex QR (it raises NotImplementedError)")
    a = _rand((5, 3), dtype)
    c = _rand((3, 2) if mode == "left" else (2, 5), dtype)
    out, r = linalg.qr_multiply(a, c, mode=mode, conjugate=conjugate)
    ref, ref_r = sla.qr_multiply(a, c, mode=mode, conjugate=conjugate)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(r, ref_r, rtol=1e-5, atol=1e-5)
    out1d, _ = linalg.qr_multiply(a, c[:, 0] if mode == "left" else c[0], mode=mode)
    assert out1d.shape == (5,) if mode == "left" else (3,)
    with pytest.raises(ValueError, match="Array shapes are not compatible"):
        linalg.qr_multiply(a, np.ones((4, 4)), mode=mode)


def test_symmetric_product():
    a, c = RNG.randn(3, 4, 2).astype(np.float32), RNG.randn(3, 4, 4).astype(np.float32)
    out = lax.linalg.symmetric_product(a, c, alpha=2.0, beta=0.5, symmetrize_output=True)
    ref = 2 * a @ np.swapaxes(a, -1, -2) + 0.5 * c
    ref = np.tril(ref) + np.swapaxes(np.tril(ref, -1), -1, -2)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    out = portax.vmap(lambda a, c: lax.linalg.symmetric_product(a, c))(a, c)
    np.testing.assert_allclose(np.tril(out), np.tril(a @ np.swapaxes(a, -1, -2)), rtol=1e-5, atol=1e-5)


def test_svd_subset_by_index_and_algorithm():
    a = RNG.randn(2, 5, 4).astype(np.float32)
    u, s, vh = lax.linalg.svd(a, full_matrices=False, subset_by_index=(1, 3), algorithm=lax.linalg.SvdAlgorithm.QR)
    assert (u.shape, s.shape, vh.shape) == ((2, 5, 2), (2, 2), (2, 2, 4))
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False)[:, 1:3], rtol=1e-5)
    np.testing.assert_allclose(jnp.linalg.svd(a, False, False, subset_by_index=(0, 1)),
                               np.linalg.svd(a, compute_uv=False)[:, :1], rtol=1e-5)
    with pytest.raises(ValueError, match="full_matrices and subset_by_index"):
        lax.linalg.svd(a, subset_by_index=(0, 2))
    with pytest.raises(TypeError, match="SvdAlgorithm"):
        lax.linalg.svd(a, algorithm="qr")


def test_svd_jvp_of_square_full_matrices(x64):
    f = lambda a: jnp.linalg.svd(a, full_matrices=True)[1]
    check_grads(f, (RNG.randn(3, 3),), order=1, modes=["fwd"])


def test_slogdet_qr(x64):
    a = RNG.randn(3, 4, 4)
    sign, logdet = jnp.linalg.slogdet(a, method="qr")
    ref_sign, ref_logdet = np.linalg.slogdet(a)
    np.testing.assert_allclose(sign, ref_sign)
    np.testing.assert_allclose(logdet, ref_logdet, rtol=1e-12)
    check_grads(lambda a: jnp.linalg.slogdet(a, method="qr")[1], (a[0],), order=1)
    with pytest.raises(NotImplementedError, match="complex"):
        jnp.linalg.slogdet(a.astype(np.complex64), method="qr")
    with pytest.raises(ValueError, match="Unknown slogdet method"):
        jnp.linalg.slogdet(a, method="bad")


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("lower", [True, False])
def test_tridiagonal_matches_lapack_sytrd(dtype, lower):
    if dtype == np.complex64 and portax.default_backend() == "wgpu":
        pytest.skip("wgpu has no complex linalg")
    sytrd = sla.lapack.ssytrd if dtype == np.float32 else sla.lapack.chetrd
    a = _rand((2, 5, 5), dtype)
    out = portax.jit(lambda a: lax.linalg.tridiagonal(a, lower=lower))(a)
    refs = [np.stack(r) for r in zip(*[sytrd(m, lower=lower)[:4] for m in a])]
    for x, ref in zip(out, refs):  # (a_out with the other triangle untouched, d, e, taus)
        np.testing.assert_allclose(x, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="must be a square matrix"):
        lax.linalg.tridiagonal(np.ones((2, 3), dtype))


@pytest.mark.parametrize("shape", [(5, 4), (4, 4), (3, 6)])
def test_pivoted_qr_matches_scipy(shape):
    a = _rand(shape, np.float32)
    q, r, p = linalg.qr(a, pivoting=True)
    ref_q, ref_r, ref_p = sla.qr(a, pivoting=True)
    np.testing.assert_array_equal(p, ref_p)
    np.testing.assert_allclose(q, ref_q, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(r, ref_r, rtol=1e-5, atol=1e-5)
    r_only, p_only = linalg.qr(a, mode="r", pivoting=True)
    np.testing.assert_array_equal(p_only, ref_p)
    out, r2, p2 = linalg.qr_multiply(a, np.eye(shape[0], dtype=np.float32), mode="right", pivoting=True)
    np.testing.assert_allclose(out, ref_q[:, :min(shape)], rtol=1e-5, atol=1e-5)
    batch = _rand((2, *shape), np.float32)
    np.testing.assert_array_equal(portax.jit(lambda a: lax.linalg.qr(a, pivoting=True)[2])(batch),
                                  [sla.qr(m, pivoting=True)[2] for m in batch])


def test_pivoted_qr_jvp_treats_the_permutation_as_constant(x64):
    def identity(a):
        q, r, p = linalg.qr(a, mode="economic", pivoting=True)
        return (q @ r)[:, jnp.argsort(p)]

    a = RNG.randn(5, 3)
    _, tangent = portax.jvp(identity, (a,), (np.ones_like(a),))
    np.testing.assert_allclose(tangent, np.ones_like(a), rtol=1e-10, atol=1e-10)


def test_numpy_qr_raw_and_full_modes():
    a = _rand((4, 3), np.float32)
    h, tau = jnp.linalg.qr(a, mode="raw")
    ref_h, ref_tau = np.linalg.qr(a, mode="raw")
    np.testing.assert_allclose(h, ref_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tau, ref_tau, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jnp.linalg.qr(a, mode="full")[1], np.linalg.qr(a)[1], rtol=1e-5, atol=1e-5)


def test_decompositions_of_narrow_floats_are_unsupported_as_in_jax():
    with pytest.raises(NotImplementedError, match="Unsupported dtype float16"):
        jnp.linalg.qr(np.ones((5, 6), np.float16))
    with pytest.raises(TypeError, match="int32"):
        lax.linalg.qr(np.ones((3, 3), np.int32))


@pytest.mark.parametrize("shape,full_matrices", [((3, 5), False), ((3, 5), True), ((2, 3, 6), True), ((5, 3), True),
                                                 ((2, 6, 2), True)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_qr_derivative_of_wide_inputs_and_complete_factors(shape, full_matrices, dtype, x64):
    """Was NotImplementedError (JAX 0.10.2 differentiates these cases)."""
    a = _rand(shape, dtype)
    mode = "complete" if full_matrices else "reduced"
    da = _rand(shape, dtype)
    (q, r), (dq, dr) = portax.jvp(lambda x: jnp.linalg.qr(x, mode=mode), (a,), (da,))
    eps = 1e-6
    q2, r2 = jnp.linalg.qr(a + eps * da, mode=mode)
    q1, r1 = jnp.linalg.qr(a - eps * da, mode=mode)
    np.testing.assert_allclose(dq, (np.asarray(q2) - np.asarray(q1)) / (2 * eps), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dr, (np.asarray(r2) - np.asarray(r1)) / (2 * eps), rtol=1e-5, atol=1e-5)
    check_grads(lambda x: jnp.matmul(*jnp.linalg.qr(x, mode=mode)), (a,), 1, modes=["fwd", "rev"])
