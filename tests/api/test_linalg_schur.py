"""Schur and Hessenberg decompositions (compositions over lax) and what is built on them: lax.linalg.schur /
hessenberg, scipy.linalg.schur, hessenberg, rsf2csf, sqrtm, funm and solve_sylvester, against scipy."""
import numpy as np
import pytest
import scipy.linalg as sl

import portax
import portax.scipy.linalg as psl
from portax import lax

RNG = np.random.RandomState(0)


def _mat(shape, dtype):
    a = 3 * RNG.randn(*shape)
    if np.dtype(dtype).kind == "c":
        a = a + 3j * RNG.randn(*shape)
    return a.astype(dtype)


def _check_schur(a, t, z, real):
    a, t, z = (np.asarray(v, np.complex128) for v in (a, t, z))
    n = a.shape[-1]
    scale = max(np.abs(a).max(), 1.0)
    np.testing.assert_allclose(z @ t @ np.conj(np.swapaxes(z, -1, -2)), a, atol=2e-5 * n * scale)
    np.testing.assert_allclose(z @ np.conj(np.swapaxes(z, -1, -2)), np.broadcast_to(np.eye(n), a.shape), atol=1e-5 * n)
    assert (np.tril(t, -2) == 0).all()
    sub = np.diagonal(t, -1, -2, -1)
    if not real:
        assert (sub == 0).all()
    else:  # a nonzero subdiagonal entry starts a 2x2 block of complex conjugate eigenvalues, never two in a row
        assert not (sub[..., 1:] != 0)[sub[..., :-1] != 0].any()
        blocks = np.nonzero(sub)
        for idx in zip(*blocks):
            *b, k = idx
            blk = t[tuple(b)][k:k + 2, k:k + 2]
            assert abs(np.linalg.eigvals(blk).imag).min() > 0
    for ev_t, ev_a in zip(np.linalg.eigvals(t.reshape(-1, n, n)), np.linalg.eigvals(a.reshape(-1, n, n))):
        assert np.abs(ev_t[:, None] - ev_a[None, :]).min(axis=1).max() <= 1e-3 * n * scale


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (12, 12), (3, 5, 5)])
def test_lax_schur(shape, dtype):
    a = _mat(shape, dtype)
    t, z = lax.linalg.schur(a)
    assert t.dtype == z.dtype == dtype and t.shape == z.shape == shape
    _check_schur(a, t, z, real=dtype == np.float32)
    (t_only,) = lax.linalg.schur(a, compute_schur_vectors=False)
    np.testing.assert_allclose(t_only, t)


def test_schur_vmap_jit_and_special_matrices():
    a = _mat((4, 6, 6), np.float32)
    t, z = portax.vmap(lax.linalg.schur)(a)
    _check_schur(a, t, z, real=True)
    t, z = portax.jit(psl.schur, static_argnames="output")(a[0], output="complex")
    assert t.dtype == np.complex64
    _check_schur(a[0], t, z, real=False)
    # symmetric (real eigenvalues: triangular), a rotation (a complex pair), a Jordan block, zeros
    for m in (a[1] + a[1].T, np.array([[0.0, -1.0], [1.0, 0.0]]), np.array([[2.0, 1.0, 0.0], [0, 2, 1], [0, 0, 2]]),
              np.zeros((3, 3))):
        m = m.astype(np.float32)
        _check_schur(m, *psl.schur(m), real=True)
    with pytest.raises(ValueError, match="'real' or 'complex'"):
        psl.schur(a[0], output="bad")
    with pytest.raises(ValueError, match="square"):
        lax.linalg.schur(np.ones((2, 3), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_hessenberg_matches_lapack(dtype):
    a = _mat((7, 7), dtype)
    h, q = psl.hessenberg(a, calc_q=True)
    h_ref, q_ref = sl.hessenberg(a, calc_q=True)
    np.testing.assert_allclose(h, h_ref, atol=1e-4)
    np.testing.assert_allclose(q, q_ref, atol=1e-5)
    packed, taus = lax.linalg.hessenberg(a)
    np.testing.assert_allclose(np.triu(np.asarray(packed), -1), h_ref, atol=1e-4)
    assert taus.shape == (6,)
    np.testing.assert_allclose(portax.vmap(psl.hessenberg)(np.stack([a, 2 * a])), np.stack([h, 2 * h]), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_rsf2csf_matches_scipy(dtype):
    t, z = _mat((5, 5), dtype), _mat((5, 5), dtype)
    for out, ref in zip(psl.rsf2csf(t, z), sl.rsf2csf(t, z)):
        np.testing.assert_allclose(out, ref, rtol=3e-5, atol=3e-5)
    a = _mat((6, 6), np.float32)
    tc, zc = psl.rsf2csf(*psl.schur(a))
    _check_schur(a, tc, zc, real=False)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_sqrtm(dtype):
    a = _mat((8, 8), dtype)
    psd = a @ a.T
    np.testing.assert_allclose(psl.sqrtm(psd), sl.sqrtm(psd), rtol=1e-3, atol=1e-3 * np.abs(psd).max() ** 0.5)
    r = np.asarray(psl.sqrtm(a))
    np.testing.assert_allclose(r @ r, a, atol=2e-3 * np.abs(a).max())
    np.testing.assert_allclose(psl.sqrtm(np.diag([0.0, 0, 9, 0, 0, 4]).astype(dtype)), np.diag([0.0, 0, 3, 0, 0, 2]),
                               atol=1e-6)


def test_funm():
    a = _mat((6, 6), np.float32) + 20 * np.eye(6, dtype=np.float32)
    f, err = psl.funm(a, lambda x: x ** 2, disp=False)
    np.testing.assert_allclose(f, a @ a, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(psl.funm(a, portax.numpy.exp), sl.funm(a, np.exp), rtol=1e-3)
    assert 0 < float(err) <= 1


@pytest.mark.parametrize("method", ["schur", "eigen"])
def test_solve_sylvester(method):
    a, b, x = _mat((4, 4), np.float32), _mat((3, 3), np.float32), _mat((4, 3), np.float32)
    c = a @ x + x @ b
    np.testing.assert_allclose(psl.solve_sylvester(a, b, c, method=method), x, rtol=1e-3, atol=1e-3)
    batched = psl.solve_sylvester(np.stack([a, a]), b, np.stack([c, 2 * c]), method=method)
    np.testing.assert_allclose(batched, np.stack([x, 2 * x]), rtol=1e-3, atol=1e-3)
    # eigenvalues of a and b summing to zero: no unique solution, NaN as JAX
    p = _mat((3, 3), np.float32) + 5 * np.eye(3, dtype=np.float32)
    d = np.diag([1.0, 2.0, 3.0]).astype(np.float32)
    a2, b2 = p @ d @ np.linalg.inv(p), p @ -d @ np.linalg.inv(p)
    assert np.isnan(np.asarray(psl.solve_sylvester(a2, b2, np.ones((3, 3), np.float32), method=method,
                                                   tol=1e-4))).all()
    with pytest.raises(ValueError, match="Incompatible shapes"):
        psl.solve_sylvester(a, b, c.T)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_tridiagonal_matches_lapack(dtype, lower):
    a = _mat((2, 6, 6), dtype)
    sytrd = sl.lapack.ssytrd if dtype == np.float32 else sl.lapack.chetrd
    out = lax.linalg.tridiagonal(a, lower=lower)
    for i in range(2):
        c, d, e, tau, info = sytrd(a[i], lower=lower)
        assert info == 0
        for o, r in zip(out, (c, d, e, tau)):
            np.testing.assert_allclose(np.asarray(o)[i], r, rtol=1e-4, atol=1e-4)
    assert out[1].dtype == out[2].dtype == np.float32
