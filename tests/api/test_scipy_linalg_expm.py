"""portax.scipy.linalg.expm (real and complex) and expm_frechet against scipy, with derivative checks."""
import numpy as np
import pytest
import scipy.linalg as sla

import portax
from portax.scipy import linalg
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
CPLX = RNG.randn(2, 4, 4) + 1j * RNG.randn(2, 4, 4)


@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0])
def test_expm_complex(scale, x64):
    a = CPLX * scale / 4
    np.testing.assert_allclose(linalg.expm(a), sla.expm(a), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(linalg.expm(a.astype(np.complex64)), sla.expm(a), rtol=5e-4, atol=1e-5)


def test_expm_is_nan_beyond_max_squarings():
    a = np.diag([1e6, 1.0]).astype(np.float32)  # ||a||_1 needs ~18 squarings
    assert np.isnan(np.asarray(linalg.expm(a, max_squarings=4))).all()
    np.testing.assert_allclose(linalg.expm(np.diag([3.0, 1.0]).astype(np.float32), max_squarings=4),
                               np.diag(np.exp([3.0, 1.0])), rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_expm_frechet(dtype, x64):
    a, e = CPLX[0] * 0.5, CPLX[1]
    if dtype == np.float64:
        a, e = a.real, e.real
    expm_a, frechet = portax.jit(lambda a, e: linalg.expm_frechet(a, e))(a, e)
    ref_expm, ref_frechet = sla.expm_frechet(a, e)
    np.testing.assert_allclose(expm_a, ref_expm, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(frechet, ref_frechet, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(linalg.expm_frechet(a, e, compute_expm=False), ref_frechet, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="expected A and E to be the same shape"):
        linalg.expm_frechet(a, e[:3, :3])


def test_expm_reverse_mode_complex(x64):
    """expm is holomorphic: the VJP is the transpose of the JVP (scipy's Frechet derivative)."""
    a, e, ct = CPLX[0] * 0.3, CPLX[1], RNG.randn(4, 4) + 1j * RNG.randn(4, 4)
    _, vjp = portax.vjp(linalg.expm, a)
    (grad,) = vjp(ct)
    np.testing.assert_allclose(np.sum(grad * e), np.sum(ct * sla.expm_frechet(a, e)[1]), rtol=1e-10)


def test_expm_gradient_real(x64):
    check_grads(linalg.expm, (CPLX[0].real * 0.3,), order=1, modes=["fwd", "rev"])
