"""Convolutions, window reductions, FFTs and the decompositions on wgpu vs the reference backend."""
import numpy as np
import pytest

import portax.numpy as jnp
from portax import jit, lax
from portax.core.primitives import fft as ff, linalg as la

from wgpu_helpers import check

R = np.random.RandomState(9)


@pytest.mark.parametrize("kw", [
    dict(window_strides=(1, 1), padding="SAME"),
    dict(window_strides=(2, 1), padding=((1, 0), (2, 1)), lhs_dilation=(1, 2), rhs_dilation=(2, 1)),
    dict(window_strides=(1, 1), padding="VALID", feature_group_count=2),
], ids=["same", "strided_dilated", "grouped"])
def test_conv_general_dilated(kw):
    x = R.randn(2, 4, 7, 6).astype(np.float32)
    w = R.randn(6, 4 // kw.get("feature_group_count", 1), 3, 2).astype(np.float32)
    check(lambda a, b: lax.conv_general_dilated(a, b, **kw), x, w, tol=1e-4)


def test_conv_nhwc_layout():
    x = R.randn(2, 7, 6, 3).astype(np.float32)
    w = R.randn(3, 3, 3, 5).astype(np.float32)
    check(lambda a, b: lax.conv_general_dilated(a, b, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")),
          x, w, tol=1e-4)


@pytest.mark.parametrize("op", [lax.add, lax.max, lax.min], ids=["sum", "max", "min"])
def test_reduce_window(op):
    x = R.randn(3, 9, 8).astype(np.float32)
    init = {lax.add: 0.0, lax.max: -np.inf, lax.min: np.inf}[op]
    check(lambda v: lax.reduce_window(v, np.float32(init), op, (1, 3, 2), (1, 2, 2), "SAME"), x, tol=1e-5)
    check(lambda v: lax.reduce_window(v, np.float32(init), op, (1, 2, 2), (1, 1, 1), ((0, 0), (1, 2), (0, 1)),
                                      base_dilation=(1, 2, 1), window_dilation=(1, 1, 2)), x, tol=1e-5)


@pytest.mark.parametrize("kind,shapes,lengths", [
    (ff.FftType.FFT, [(3, 8), (3, 8)], (8,)), (ff.FftType.IFFT, [(4, 6), (4, 6)], (4, 6)),
    (ff.FftType.RFFT, [(2, 5, 8)], (5, 8)), (ff.FftType.IRFFT, [(3, 5), (3, 5)], (8,)),
    (ff.FftType.IRFFT, [(3, 4), (3, 4)], (7,))], ids=["fft", "ifft2", "rfft2", "irfft_even", "irfft_odd"])
def test_fft(kind, shapes, lengths):
    parts = [R.randn(*s).astype(np.float32) for s in shapes]
    check(lambda *p: ff.fft_split(p, kind, lengths), *parts, tol=1e-4)


def _spd(shape):
    m = R.randn(*shape)
    return (m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(np.float32)


def test_cholesky_and_triangular_solve():
    a = _spd((2, 4, 4))
    check(la.cholesky, a, tol=1e-5)
    check(la.cholesky, -a, tol=1e-5)  # not positive definite: all NaN
    t = np.tril(R.randn(2, 4, 4)).astype(np.float32) + 4 * np.eye(4, dtype=np.float32)
    for left, lower, trans in [(True, True, False), (False, True, True), (True, False, True), (False, False, False)]:
        tt = t if lower else np.ascontiguousarray(np.swapaxes(t, -1, -2))
        b = R.randn(2, 4, 3).astype(np.float32) if left else R.randn(2, 3, 4).astype(np.float32)
        check(lambda x, y: la.triangular_solve(x, y, left_side=left, lower=lower, transpose_a=trans), tt, b, tol=1e-4)


def test_lu():
    check(la.lu, R.randn(2, 4, 4).astype(np.float32), tol=1e-5)
    check(la.lu, R.randn(3, 5).astype(np.float32), tol=1e-5)


def _qr_unique(x, full):
    q, r = la.qr(x, full_matrices=full)
    k = min(x.shape[-2:])
    s = jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))
    return q[..., :, :k] * s[..., None, :], r[..., :k, :] * s[..., :, None]


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)], ids=str)
def test_qr(shape):
    x = R.randn(*shape).astype(np.float32)
    check(lambda v: _qr_unique(v, False), x, tol=1e-4)
    q = np.asarray(jit(lambda v: la.qr(v, full_matrices=True)[0], backend="wgpu")(x))  # complete Q: orthogonal
    np.testing.assert_allclose(np.swapaxes(q, -1, -2) @ q, np.broadcast_to(np.eye(shape[-2]), q.shape), atol=1e-5)


def test_eigh():
    a = _spd((2, 5, 5))
    check(lambda v: (la.eigh(v)[1], jnp.matmul(la.eigh(v)[0] * la.eigh(v)[1][..., None, :],
                                                jnp.swapaxes(la.eigh(v)[0], -1, -2))), a, tol=1e-4)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)], ids=str)
def test_svd(shape):
    x = R.randn(*shape).astype(np.float32)

    def unique(v):
        u, s, vt = la.svd(v, full_matrices=False)
        return s, jnp.matmul(u * s[..., None, :], vt)
    check(unique, x, tol=1e-4)
    check(lambda v: la.svd(v, compute_uv=False), x, tol=1e-4)
    u, s, vt = (np.asarray(a) for a in jit(lambda v: la.svd(v, full_matrices=True), backend="wgpu")(x))
    eye = lambda n: np.broadcast_to(np.eye(n), x.shape[:-2] + (n, n))
    np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, eye(shape[-2]), atol=1e-5)
    np.testing.assert_allclose(vt @ np.swapaxes(vt, -1, -2), eye(shape[-1]), atol=1e-5)
