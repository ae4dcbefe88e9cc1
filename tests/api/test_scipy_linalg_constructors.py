"""portax.scipy.linalg's special-matrix constructors against scipy (batched over leading axes as JAX), under jit,
and their argument errors as JAX's."""
import numpy as np
import pytest
import scipy.linalg as sla

import portax
from portax.scipy import linalg

RNG = np.random.RandomState(0)


def _check(fun, ref, *args, rtol=1e-6, atol=1e-6):
    out = fun(*args)
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(portax.jit(fun)(*args), ref, rtol=rtol, atol=atol)
    return out


def _batched(fun, signature):
    return np.vectorize(fun, signature=signature)


C = RNG.randn(2, 1, 4).astype(np.float32)
R = (RNG.randn(3, 5) + 1j * RNG.randn(3, 5)).astype(np.complex64)


def test_toeplitz_batched_and_conjugate_default():
    _check(linalg.toeplitz, sla.toeplitz(C, R), C, R)
    z = np.array([1.0, 2 + 3j, 4 - 1j], np.complex64)
    _check(linalg.toeplitz, sla.toeplitz(z), z)  # r defaults to conj(c)
    assert linalg.toeplitz(np.zeros((2, 0), np.float32), np.ones(3, np.int32)).shape == (2, 0, 3)


def test_hankel_circulant_leslie_fiedler():
    _check(linalg.hankel, _batched(sla.hankel, "(m),(n)->(m,n)")(C, R), C, R)
    _check(linalg.hankel, sla.hankel(C[0, 0]), C[0, 0])  # r defaults to zeros
    _check(linalg.circulant, sla.circulant(C), C)
    assert linalg.circulant(np.zeros((0,), np.float32)).shape == (0, 0)
    f, s = RNG.randn(3, 4), RNG.randn(3, 3)
    _check(linalg.leslie, sla.leslie(f, s), f, s)
    x = np.array([[1, 5, 2], [7, -3, 0]], np.int32)
    np.testing.assert_array_equal(linalg.fiedler(x), sla.fiedler(x))


def test_companion_and_fiedler_companion():
    a = RNG.randn(2, 5) + 2
    _check(linalg.companion, sla.companion(a), a, rtol=1e-5)
    _check(linalg.fiedler_companion, sla.fiedler_companion(a), a, rtol=1e-5)
    assert linalg.fiedler_companion(np.ones((3, 1))).shape == (3, 0, 0)
    np.testing.assert_allclose(linalg.fiedler_companion(np.array([2.0, 3.0])), [[-1.5]])


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("m,n", [(3, 5), (5, 2), (1, 1)])
def test_convolution_matrix(m, n, mode):
    a = RNG.randn(2, m).astype(np.float32)
    fun = lambda a: linalg.convolution_matrix(a, n, mode)
    _check(fun, np.stack([sla.convolution_matrix(r, n, mode) for r in a]), a, rtol=1e-6)


def test_sized_constructors():
    for n in [0, 1, 3, 6]:
        np.testing.assert_allclose(linalg.invhilbert(n), sla.invhilbert(n), rtol=1e-3, atol=1e-3)
        for kind in ["symmetric", "lower", "upper"]:
            np.testing.assert_allclose(linalg.pascal(n, kind), sla.pascal(n, kind, exact=False), rtol=1e-5)
            np.testing.assert_allclose(linalg.invpascal(n, kind), sla.invpascal(n, kind, exact=False), atol=1e-4)
    for n in [1, 2, 5]:
        for full in [False, True]:
            np.testing.assert_allclose(linalg.helmert(n, full), sla.helmert(n, full), rtol=1e-6, atol=1e-7)
    for n, dt in [(1, np.int32), (8, np.float32), (4, np.int8)]:
        out = linalg.hadamard(n, dt)
        assert out.dtype == dt
        np.testing.assert_array_equal(out, sla.hadamard(n, dt))
    for n in [0, 1, 5, 16]:
        for scale in [None, "sqrtn", "n"]:
            np.testing.assert_allclose(linalg.dft(n, scale), sla.dft(n, scale), rtol=1e-5, atol=1e-6)
    assert linalg.dft(4, dtype=np.complex64).dtype == np.complex64


@pytest.mark.parametrize("call,match", [
    (lambda: linalg.hadamard(6), "positive power of 2"), (lambda: linalg.helmert(0), "n must be a positive integer"),
    (lambda: linalg.dft(4, scale="bad"), "scale must be"), (lambda: linalg.dft(4, dtype=np.float32), "dtype must be"),
    (lambda: linalg.invpascal(3, kind="bad"), "Expected kind to be one of"),
    (lambda: linalg.companion(np.zeros((3, 1))), "length of `a` along the last axis"),
    (lambda: linalg.fiedler_companion(np.ones((3, 0))), "nonzero"),
    (lambda: linalg.leslie(np.ones(3), np.ones(1)), "Incorrect lengths for f and s"),
    (lambda: linalg.leslie(np.ones(1), np.ones(0)), "length of f along the last axis"),
    (lambda: linalg.convolution_matrix(np.ones(3), 0), "n must be a positive integer"),
    (lambda: linalg.convolution_matrix(np.ones(3), 2, mode="bad"), "mode must be one of"),
    (lambda: linalg.convolution_matrix(np.zeros((2, 0)), 3), r"len\(a\) must be at least 1"),
    (lambda: linalg.convolution_matrix(np.float32(5), 3), "must be at least 1-dimensional"),
    (lambda: linalg.hankel(np.float32(1.0)), "c must be at least 1-dimensional"),
])
def test_argument_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
