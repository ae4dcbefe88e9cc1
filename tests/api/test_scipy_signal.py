"""portax.scipy.signal against scipy.signal: convolve/correlate (every mode and method), fftconvolve, the 2-d
variants, complex and integer inputs, JAX's errors, and jit/grad through them."""
import numpy as np
import pytest
import scipy.signal as ss

import portax
import portax.numpy as jnp
from portax.scipy import signal
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
SHAPES = [((7,), (3,)), ((3,), (7,)), ((5,), (5,)), ((1,), (4,)), ((6, 5), (3, 2)), ((3, 2), (6, 5)),
          ((4, 4), (4, 4)), ((5, 6), (1, 3)), ((2, 3, 4), (2, 2, 3))]
MODES = ["full", "same", "valid"]


def _operands(s1, s2, dtype):
    a, b = RNG.normal(size=s1) * 3, RNG.normal(size=s2) * 3
    if np.dtype(dtype).kind == "c":
        a, b = a + 1j * RNG.normal(size=s1), b + 1j * RNG.normal(size=s2)
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.int32])
@pytest.mark.parametrize("s1,s2", SHAPES, ids=[f"{a}x{b}" for a, b in SHAPES])
@pytest.mark.parametrize("name", ["convolve", "correlate"])
def test_convolve_correlate_match_scipy(name, s1, s2, dtype):
    a, b = _operands(s1, s2, dtype)
    for mode in MODES:
        for method in ["auto", "direct", "fft"]:
            try:
                expected = getattr(ss, name)(a, b, mode=mode, method=method)
            except ValueError:  # scipy's 'valid' needs one input to be larger in every dimension
                with pytest.raises(ValueError):
                    getattr(signal, name)(a, b, mode=mode, method=method)
                continue
            out = getattr(signal, name)(a, b, mode=mode, method=method)
            assert out.dtype == (np.complex64 if dtype == np.complex64 else np.float32)
            np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4, err_msg=f"{mode} {method}")


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("s1,s2", SHAPES, ids=[f"{a}x{b}" for a, b in SHAPES])
def test_fftconvolve_matches_scipy(s1, s2, dtype):
    a, b = _operands(s1, s2, dtype)
    for mode in MODES:
        try:
            expected = ss.fftconvolve(a, b, mode=mode)
        except ValueError:
            continue
        np.testing.assert_allclose(signal.fftconvolve(a, b, mode=mode), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("axes", [1, [-1], (1,), None])
@pytest.mark.parametrize("mode", MODES)
def test_fftconvolve_axes(mode, axes):
    a, b = RNG.normal(size=(3, 8)).astype(np.float32), RNG.normal(size=(3 if axes is not None else 2, 4))
    b = b.astype(np.float32)
    np.testing.assert_allclose(signal.fftconvolve(a, b, mode=mode, axes=axes),
                               ss.fftconvolve(a, b, mode=mode, axes=axes), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("s1,s2", [((6, 5), (3, 2)), ((3, 2), (6, 5)), ((4, 4), (4, 4)), ((5, 6), (1, 3)),
                                   ((2, 5), (3, 3))])
@pytest.mark.parametrize("name", ["convolve2d", "correlate2d"])
def test_2d_match_scipy(name, s1, s2, dtype):
    a, b = _operands(s1, s2, dtype)
    comparable = all(x <= y for x, y in zip(s1, s2)) or all(x >= y for x, y in zip(s1, s2))
    for mode in MODES:
        try:
            expected = getattr(ss, name)(a, b, mode=mode)
        except ValueError:
            expected = None
        if expected is None or not comparable:  # JAX also refuses shapes where neither input is the larger
            with pytest.raises(ValueError):
                getattr(signal, name)(a, b, mode=mode)
            continue
        np.testing.assert_allclose(getattr(signal, name)(a, b, mode=mode), expected, rtol=1e-4, atol=1e-4)


def test_errors_as_jax():
    x, k = jnp.ones(5), jnp.ones(3)
    with pytest.raises(ValueError, match=r"mode must be one of \['full', 'same', 'valid'\]"):
        signal.convolve(x, k, mode="wide")
    with pytest.raises(ValueError, match="Got method='spectral'; expected 'auto', 'fft', or 'direct'."):
        signal.convolve(x, k, method="spectral")
    with pytest.raises(ValueError, match="in1 and in2 must have the same number of dimensions"):
        signal.convolve(x, jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="zero-size arrays not supported in convolutions"):
        signal.convolve(x, jnp.ones(0))
    with pytest.raises(ValueError, match="One input must be smaller than the other in every dimension."):
        signal.convolve(jnp.ones((2, 5)), jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="in1 and in2 should have the same dimensionality"):
        signal.fftconvolve(x, jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="For 'valid' mode, One input must be at least as large"):
        signal.fftconvolve(jnp.ones((2, 5)), jnp.ones((3, 2)), mode="valid")
    with pytest.raises(ValueError, match="mapped axes must have same shape"):
        signal.fftconvolve(jnp.ones((2, 5)), jnp.ones((3, 2)), axes=1)
    with pytest.raises(NotImplementedError, match="boundary='fill', fillvalue=0"):
        signal.convolve2d(jnp.ones((3, 3)), jnp.ones((2, 2)), boundary="wrap")
    with pytest.raises(ValueError, match="correlate2d\\(\\) only supports 2-dimensional inputs."):
        signal.correlate2d(x, k)


def test_jit_and_grad():
    a, b = RNG.normal(size=9).astype(np.float32), RNG.normal(size=4).astype(np.float32)
    out = portax.jit(lambda x, y: signal.correlate(x, y, mode="same"))(a, b)
    np.testing.assert_allclose(out, ss.correlate(a, b, mode="same"), rtol=1e-5, atol=1e-5)
    check_grads(lambda x, y: signal.convolve(x, y, mode="same"), (a, b), order=1, rtol=2e-2)
    check_grads(lambda x, y: signal.fftconvolve(x, y), (a, b), order=1, rtol=2e-2)


# --- spectral estimation -----------------------------------------------------------------------------------------

SIG = RNG.normal(size=(3, 100)).astype(np.float32)
WELCH_KW = [{"nperseg": 16}, {"nperseg": 16, "noverlap": 4}, {"nperseg": 20, "nfft": 32},
            {"nperseg": 16, "detrend": "linear"}, {"nperseg": 16, "detrend": False},
            {"nperseg": 16, "scaling": "spectrum"}, {"nperseg": 16, "average": "median"},
            {"nperseg": 16, "return_onesided": False}, {"nperseg": 8, "fs": 10.0},
            {"window": np.hamming(16).astype(np.float32)}]


def _assert_all_close(out, expected):
    for o, e in zip(out, expected):
        np.testing.assert_allclose(o, e, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("kw", WELCH_KW, ids=range(len(WELCH_KW)))
def test_welch_and_csd_match_scipy(kw):
    _assert_all_close(signal.welch(SIG, **kw), ss.welch(SIG, **kw))
    _assert_all_close(signal.welch(SIG.T, axis=0, **kw), ss.welch(SIG.T, axis=0, **kw))
    _assert_all_close(signal.csd(SIG, SIG[::-1] * 2, **kw), ss.csd(SIG, SIG[::-1] * 2, **kw))


def test_welch_complex_input_is_two_sided():
    x = (RNG.normal(size=64) + 1j * RNG.normal(size=64)).astype(np.complex64)
    with pytest.warns(UserWarning, match="Input data is complex, switching to return_onesided=False"):
        out = signal.welch(x, nperseg=16)
    _assert_all_close(out, ss.welch(x, nperseg=16))


def test_welch_default_segment_is_the_whole_signal_as_jax():
    """JAX 0.10.2 takes the whole signal as the segment when nperseg is None (scipy would take 256)."""
    x = RNG.normal(size=300).astype(np.float32)
    _assert_all_close(signal.welch(x), ss.welch(x, nperseg=300))


STFT_KW = [{"nperseg": 16}, {"nperseg": 16, "noverlap": 4}, {"nperseg": 15},
           {"nperseg": 16, "boundary": None, "padded": False}, {"nperseg": 16, "boundary": "even"},
           {"nperseg": 16, "boundary": "odd"}, {"nperseg": 16, "boundary": "constant"},
           {"nperseg": 16, "return_onesided": False}, {"nperseg": 16, "nfft": 20, "detrend": "constant"}]


@pytest.mark.parametrize("kw", STFT_KW, ids=range(len(STFT_KW)))
def test_stft_matches_scipy(kw):
    _assert_all_close(signal.stft(SIG, **kw), ss.stft(SIG, **kw))


def test_detrend_matches_scipy():
    np.testing.assert_allclose(signal.detrend(SIG), ss.detrend(SIG), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(signal.detrend(SIG, bp=[30, 60]), ss.detrend(SIG, bp=[30, 60]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(signal.detrend(SIG, axis=0, type="constant"), ss.detrend(SIG, axis=0, type="constant"),
                               rtol=1e-4, atol=1e-5)


def test_spectral_errors():
    with pytest.raises(ValueError, match="noverlap must be less than nperseg."):
        signal.welch(SIG, nperseg=8, noverlap=8)
    with pytest.raises(ValueError, match="nfft must be greater than or equal to nperseg."):
        signal.welch(SIG, nperseg=16, nfft=8)
    with pytest.raises(ValueError, match="Unknown boundary option 'wrap'"):
        signal.stft(SIG, boundary="wrap")
    with pytest.raises(ValueError, match="Trend type must be 'linear' or 'constant'."):
        signal.detrend(SIG, type="quadratic")
    with pytest.raises(ValueError, match='average must be "median" or "mean", got mode'):
        signal.welch(SIG, nperseg=16, average="mode")
    with pytest.raises(NotImplementedError, match="window='hamming' is not supported"):
        signal.welch(SIG, window="hamming")


def test_spectral_under_jit():
    out = portax.jit(lambda v: signal.welch(v, nperseg=16)[1])(SIG)
    np.testing.assert_allclose(out, ss.welch(SIG, nperseg=16)[1], rtol=2e-4, atol=2e-5)
    out = portax.jit(lambda v: signal.stft(v, nperseg=16)[2])(SIG)
    np.testing.assert_allclose(out, ss.stft(SIG, nperseg=16)[2], rtol=2e-4, atol=2e-5)
