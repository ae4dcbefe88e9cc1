"""The fft primitive (split-complex) against numpy.fft, its transforms and batching; jnp.fft's real-valued
functions, and the clear errors of the complex-valued ones."""
import numpy as np
import pytest

import portax
import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.test_util import check_grads

RNG = np.random.RandomState(0)


def _split(c):
    return np.real(c).astype(np.float32), np.imag(c).astype(np.float32)


@pytest.mark.parametrize("lengths", [(8,), (7,), (3, 4), (2, 3, 5)])
@pytest.mark.parametrize("fft_type", ["FFT", "IFFT", "RFFT", "IRFFT"])
def test_fft_primitive_matches_numpy(fft_type, lengths):
    k = len(lengths)
    axes = tuple(range(-k, 0))
    if fft_type == "RFFT":
        x = RNG.randn(2, *lengths).astype(np.float32)
        re, im = lax.fft_split((x,), fft_type, lengths)
        ref = np.fft.rfftn(x, axes=axes)
    elif fft_type == "IRFFT":
        half = lengths[:-1] + (lengths[-1] // 2 + 1,)
        c = RNG.randn(2, *half) + 1j * RNG.randn(2, *half)
        (out,) = lax.fft_split(_split(c), fft_type, lengths)
        np.testing.assert_allclose(out, np.fft.irfftn(c, s=lengths, axes=axes), rtol=1e-4, atol=1e-5)
        return
    else:
        c = RNG.randn(2, *lengths) + 1j * RNG.randn(2, *lengths)
        re, im = lax.fft_split(_split(c), fft_type, lengths)
        ref = (np.fft.fftn if fft_type == "FFT" else np.fft.ifftn)(c, axes=axes)
    np.testing.assert_allclose(re, ref.real, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(im, ref.imag, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fft_type,n", [("FFT", 6), ("IFFT", 5), ("RFFT", 6), ("RFFT", 5), ("IRFFT", 6),
                                        ("IRFFT", 7)])
def test_fft_derivatives(fft_type, n, x64):
    """The transpose rules are the real adjoints of the split-complex maps (checked through vjp == jvp^T)."""
    if fft_type == "RFFT":
        args = (RNG.randn(3, n),)
    else:
        m = n // 2 + 1 if fft_type == "IRFFT" else n
        args = (RNG.randn(3, m), RNG.randn(3, m))
    check_grads(lambda *p: lax.fft_split(p, fft_type, (n,)), args, order=2)
    check_grads(lambda *p: lax.fft_split(p, fft_type, (2, n)), tuple(np.stack([a, a[::-1]], 1) for a in args),
                order=1)


def test_fft_batching_and_jit():
    x = RNG.randn(4, 3, 8).astype(np.float32)
    direct = lax.fft_split((x,), "RFFT", (8,))
    mapped = portax.vmap(lambda v: lax.fft_split((v,), "RFFT", (8,)), in_axes=1, out_axes=1)(x)
    jitted = portax.jit(lambda v: lax.fft_split((v,), "RFFT", (8,)))(x)
    for a, b, c in zip(direct, mapped, jitted):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("norm", [None, "backward", "ortho", "forward"])
def test_real_valued_jnp_fft(norm):
    h = RNG.randn(3, 5).astype(np.float32)
    np.testing.assert_allclose(jnp.fft.irfft(h, norm=norm), np.fft.irfft(h, norm=norm), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.fft.irfft(h, n=7, axis=0, norm=norm), np.fft.irfft(h, n=7, axis=0, norm=norm),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.fft.irfft2(h, norm=norm), np.fft.irfft2(h, norm=norm), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.fft.irfftn(h, s=(4, 6), norm=norm), np.fft.irfftn(h, s=(4, 6), norm=norm),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.fft.hfft(h, norm=norm), np.fft.hfft(h, norm=norm), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jnp.fft.hfft(h, n=9, norm=norm), np.fft.hfft(h, n=9, norm=norm), rtol=1e-5, atol=1e-5)


def test_fft_helpers():
    for n, d in ((8, 1.0), (7, 0.1)):
        np.testing.assert_allclose(jnp.fft.fftfreq(n, d), np.fft.fftfreq(n, d), rtol=1e-6)
        np.testing.assert_allclose(jnp.fft.rfftfreq(n, d), np.fft.rfftfreq(n, d), rtol=1e-6)
    x = np.arange(15.0).reshape(3, 5)
    np.testing.assert_array_equal(jnp.fft.fftshift(x), np.fft.fftshift(x))
    np.testing.assert_array_equal(jnp.fft.ifftshift(x, axes=1), np.fft.ifftshift(x, axes=1))


COMPLEX_INPUT = (RNG.randn(4, 6) + 1j * RNG.randn(4, 6)).astype(np.complex64)
REAL_INPUT = RNG.randn(4, 6).astype(np.float32)


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn",
                                  "rfftn", "irfftn", "hfft", "ihfft"])
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_complex_transforms_match_numpy(name, norm):
    x = REAL_INPUT if name in ("rfft", "rfft2", "rfftn", "ihfft") else COMPLEX_INPUT
    got, want = getattr(jnp.fft, name)(x, norm=norm), getattr(np.fft, name)(x, norm=norm)
    assert got.shape == want.shape and got.dtype == (np.complex64 if want.dtype.kind == "c" else np.float32)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_complex_transforms_pad_crop_jit_and_grad():
    x = REAL_INPUT
    np.testing.assert_allclose(jnp.fft.fft(x, n=8), np.fft.fft(x, n=8), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(jnp.fft.ifft(COMPLEX_INPUT, n=3, axis=0), np.fft.ifft(COMPLEX_INPUT, n=3, axis=0),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(jax.jit(lambda v: jnp.fft.ifft(jnp.fft.fft(v)).real)(x), x, atol=1e-5)
    # Parseval: sum |fft(x)|^2 = n sum x^2, so its gradient is 2 n x
    g = jax.grad(lambda v: jnp.sum(jnp.abs(jnp.fft.fft(v)) ** 2))(x)
    np.testing.assert_allclose(g, 12 * x, rtol=1e-4, atol=1e-4)
    with pytest.raises(TypeError, match="real input"):
        jnp.fft.rfft(COMPLEX_INPUT)


def test_lax_fft_real_input():
    h = RNG.randn(5).astype(np.float32)
    np.testing.assert_allclose(lax.fft(h, lax.FftType.IRFFT, (8,)), np.fft.irfft(h, 8), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lax.fft(h, "FFT", (5,)), np.fft.fft(h), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lax.fft(h, "RFFT", (5,)), np.fft.rfft(h), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="trailing shape"):
        lax.fft_split((h, h), "IRFFT", (12,))


def test_lax_fft_without_lengths_returns_the_converted_operand():
    # JAX's lax.fft: empty fft_lengths transform no axis (lax_vmap_test testFft with fft_ndims=0)
    x = RNG.randn(2, 3).astype(np.float32)
    for ft, dtype in (("FFT", np.complex64), ("IFFT", np.complex64), ("IRFFT", np.complex64), ("RFFT", np.float32)):
        out = lax.fft(x, ft, ())
        assert out.dtype == dtype
        np.testing.assert_array_equal(np.asarray(out), x.astype(dtype))
    np.testing.assert_array_equal(np.asarray(jax.vmap(lambda v: lax.fft(v, "FFT", ()), in_axes=1)(x)), x.T)


def test_fftn_over_four_and_five_axes_and_empty_match_numpy():
    x = (RNG.randn(3, 2, 4, 2, 3) + 1j * RNG.randn(3, 2, 4, 2, 3)).astype(np.complex64)
    np.testing.assert_allclose(jnp.fft.fftn(x), np.fft.fftn(x), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(jnp.fft.ifftn(x, axes=(0, 1, 3, 4)), np.fft.ifftn(x, axes=(0, 1, 3, 4)),
                               rtol=1e-4, atol=1e-4)
    r = x.real.copy()
    np.testing.assert_allclose(jnp.fft.rfftn(r, axes=(0, 1, 2, 4)), np.fft.rfftn(r, axes=(0, 1, 2, 4)),
                               rtol=1e-4, atol=1e-3)
    y = np.fft.rfftn(r)
    np.testing.assert_allclose(jnp.fft.irfftn(y.astype(np.complex64), s=r.shape), r, rtol=1e-4, atol=1e-4)
    assert jnp.fft.fft(jnp.zeros((0,), jnp.complex64)).shape == (0,)


def test_fft_argument_errors_match_jax():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"jax.numpy.fft.fft does not support multiple axes. "
                                         r"Please use jax.numpy.fft.fftn. Got axis = \[1, 1\]."):
        jnp.fft.fft(x, axis=[1, 1])
    with pytest.raises(ValueError, match=r"jax.numpy.fft.rfft2 only supports 2 axes. Got axes = \[0\]."):
        jnp.fft.rfft2(x, axes=[0])
    with pytest.raises(ValueError, match=r"jax.numpy.fft.ifftn does not support repeated axes. Got axes \[1, 1\]."):
        jnp.fft.ifftn(x, axes=[1, 1])
    with pytest.raises(ValueError, match="Shape should be positive."):
        jnp.fft.fftn(x, s=(0, 3))
    with pytest.raises(ValueError, match=r"The n argument of jax.numpy.fft.fftfreq only takes an int. "
                                         r"Got n = \[0, 1\]."):
        jnp.fft.fftfreq([0, 1])


def test_lax_fft_operand_errors_match_jax():
    with pytest.raises(ValueError, match=r"FFT input shape \(14, 15\) must have at least as many input dimensions "
                                         r"as fft_lengths \(4, 5, 6\)"):
        lax.fft(np.ones((14, 15), np.float32), "fft", (4, 5, 6))
    with pytest.raises(ValueError, match=r"IRFFT input shape \(2, 14, 15\) minor dimensions must be equal to all "
                                         r"except the last fft_length, got fft_lengths=\(13, 15\)"):
        lax.fft(np.ones((2, 14, 15), np.complex64), "irfft", (13, 15))
    with pytest.raises(ValueError, match="RFFT input must be float32 or float64, got bfloat16"):
        lax.fft(jnp.ones((14, 15), jnp.bfloat16), "rfft", (5, 6))


@pytest.mark.parametrize("func_name", ["fft", "ifft"])
@pytest.mark.parametrize("norm", ["ortho", "forward"])
def test_fft_norm_of_sizes_whose_integer_product_overflows(func_name, norm):
    from portax.core.numpy.fft import _fft_norm
    sizes = jnp.array([3, 900, 900, 900], jnp.int32)  # the product overflows int32
    expected = float(np.prod([3.0, 900.0, 900.0, 900.0]))
    expected = np.sqrt(expected) if norm == "ortho" else expected
    expected = expected if func_name == "ifft" else 1 / expected
    np.testing.assert_allclose(_fft_norm(sizes, func_name, norm), expected, rtol=1e-6)
    np.testing.assert_allclose(_fft_norm(np.array([3, 900, 900, 900]), func_name, norm), expected, rtol=1e-12)
