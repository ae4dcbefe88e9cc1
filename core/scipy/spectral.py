"""Spectral estimation of ``jax.scipy.signal``: detrend, stft, csd and welch (scipy's ``_spectral_helper``), as
compositions over portax's numpy and FFT operations."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from .. import numpy as jnp
from ..numpy import fft as jfft
from ..numpy._util import canonicalize_axis, promote_to_inexact
from ..trace import concrete_or_error


def detrend(data: Any, axis: int = -1, type: str = "linear", bp: int | Sequence[int] | np.ndarray = 0,
            overwrite_data: None = None) -> Any:
    """``data`` less its mean ('constant') or less a least-squares line between breakpoints ``bp`` ('linear')."""
    if overwrite_data is not None:
        raise NotImplementedError("overwrite_data argument not implemented.")
    if type not in ("constant", "linear"):
        raise ValueError("Trend type must be 'linear' or 'constant'.")
    (x,) = promote_to_inexact(jnp.asarray(data))
    if type == "constant":
        return x - x.mean(axis, keepdims=True)
    n = x.shape[axis]
    bps = np.sort(np.unique(np.r_[0, bp, n]))
    if bps[0] < 0 or bps[-1] > n:
        raise ValueError("Breakpoints must be non-negative and less than length of data along given axis.")
    x = jnp.moveaxis(x, axis, 0)
    pieces = []
    for lo, hi in zip(bps[:-1], bps[1:]):
        seg = x[int(lo):int(hi)]
        t = jnp.arange(1, hi - lo + 1, dtype=x.dtype) / (hi - lo)
        t = t.reshape((-1,) + (1,) * (x.ndim - 1)) - t.mean()
        mean = seg.mean(0, keepdims=True)
        slope = (t * (seg - mean)).sum(0, keepdims=True) / (t * t).sum()
        pieces.append(seg - mean - slope * t)
    return jnp.moveaxis(jnp.concatenate(pieces, 0), 0, axis)


def _window(window: Any, nperseg: int | None, input_length: int, dtype: Any) -> tuple:
    """scipy's ``_triage_segments``: the window array and the segment length."""
    if isinstance(window, (str, tuple)):
        n = input_length if nperseg is None else int(nperseg)
        if n > input_length:
            warnings.warn(f"nperseg={n} is greater than input_length={input_length}, using nperseg={input_length}")
            n = input_length
        if window != "hann":
            raise NotImplementedError(f"window={window!r} is not supported: pass 'hann' or the window as an array "
                                      "(e.g. scipy.signal.get_window(window, nperseg)).")
        win = jnp.ones(1, dtype) if n == 1 else jnp.sin(jnp.linspace(0, np.pi, n, endpoint=False)) ** 2
        return win.astype(dtype), n
    win = jnp.asarray(window, dtype=dtype)
    n = win.size if nperseg is None else int(nperseg)
    if win.ndim != 1:
        raise ValueError("window must be 1-D")
    if input_length < win.size:
        raise ValueError("window is longer than input signal")
    if n != win.size:
        raise ValueError("value specified for nperseg is different from length of window")
    return win, n


def _odd_ext(x: Any, n: int) -> Any:
    """``x`` extended by ``n`` points at both ends of its last axis by odd (point) reflection."""
    if n < 1:
        return x
    if n > x.shape[-1] - 1:
        raise ValueError(f"The extension length n ({n}) is too big. It must not exceed x.shape[axis]-1, which is "
                         f"{x.shape[-1] - 1}.")
    left, right = x[..., :1], x[..., -1:]
    return jnp.concatenate([2 * left - jnp.flip(x[..., 1:n + 1], -1), x,
                            2 * right - jnp.flip(x[..., -(n + 1):-1], -1)], -1)


def _extend(x: Any, boundary: str, n: int) -> Any:
    if boundary == "odd":
        return _odd_ext(x, n)
    widths = [(0, 0)] * (x.ndim - 1) + [(n, n)]
    mode = {"even": "reflect", "constant": "edge", "zeros": "constant"}[boundary]
    return jnp.pad(x, widths, mode)


def _segments_fft(x: Any, win: Any, detrend_func: Callable, nperseg: int, noverlap: int, nfft: int,
                  sides: str) -> Any:
    """The windowed FFT of every (detrended) segment of the last axis: shape (..., segments, frequencies)."""
    step = nperseg - noverlap
    starts = jnp.arange(0, x.shape[-1] - nperseg + 1, step)
    segs = jnp.take(x, starts[:, None] + jnp.arange(nperseg)[None, :], axis=-1)
    segs = detrend_func(segs)
    if dtypes.kind(win.dtype) == "c":
        segs = segs.astype(dtypes.result_type(segs.dtype, win.dtype))
    segs = win * segs
    return jfft.fft(segs, n=nfft) if sides == "twosided" else jfft.rfft(jnp.real(segs), n=nfft)


def _spectral_helper(x: Any, y: Any, fs: Any, window: Any, nperseg: int | None, noverlap: int | None,
                     nfft: int | None, detrend_type: Any, return_onesided: bool, scaling: str, axis: int,
                     mode: str, boundary: str | None = None, padded: bool = False) -> tuple:
    """Frequencies, segment times and the (cross) spectra of ``x`` (and ``y``), as scipy's helper."""
    if mode not in ("psd", "stft"):
        raise ValueError(f"Unknown value for mode {mode}, must be one of: ('psd', 'stft')")
    if boundary not in ("even", "odd", "constant", "zeros", None):
        raise ValueError(f"Unknown boundary option '{boundary}', must be one of: "
                         "['even', 'odd', 'constant', 'zeros', None]")
    x = jnp.asarray(x)
    axis = canonicalize_axis(int(concrete_or_error(axis, "axis of windowed-FFT")), x.ndim)
    if y is None:
        (x,) = promote_to_inexact(x)
        outer = x.shape[:axis] + x.shape[axis + 1:]
    else:
        if mode != "psd":
            raise ValueError("two-argument mode is available only when mode=='psd'")
        x, y = promote_to_inexact(x, jnp.asarray(y))
        if x.ndim != y.ndim:
            raise ValueError(f"two-arguments must have the same rank ({x.ndim} vs {y.ndim}).")
        try:
            outer = jnp.broadcast_shapes(x.shape[:axis] + x.shape[axis + 1:], y.shape[:axis] + y.shape[axis + 1:])
        except ValueError as err:
            raise ValueError("x and y cannot be broadcast together.") from err
    result_dtype = dtypes.result_type(x.dtype, np.complex64)
    freq_dtype = np.finfo(result_dtype).dtype
    if nperseg is not None:
        nperseg = int(concrete_or_error(nperseg, "nperseg of windowed-FFT"))
        if nperseg < 1:
            raise ValueError("nperseg must be a positive integer")
    win, nperseg = _window(window, nperseg, x.shape[axis], x.dtype)
    noverlap = nperseg // 2 if noverlap is None else int(concrete_or_error(noverlap, "noverlap of windowed-FFT"))
    nfft = nperseg if nfft is None else int(concrete_or_error(nfft, "nfft of windowed-FFT"))
    if x.size == 0 or (y is not None and y.size == 0):
        shape = x.shape if y is None else outer[:axis] + (min(x.shape[axis], y.shape[axis]),) + outer[axis:]
        return jnp.zeros(shape, freq_dtype), jnp.zeros(shape, freq_dtype), jnp.zeros(shape, result_dtype)
    x = jnp.moveaxis(x, axis, -1)
    if y is not None:
        y = jnp.moveaxis(y, axis, -1)
        n = max(x.shape[-1], y.shape[-1])
        x, y = (jnp.pad(v, [(0, 0)] * (v.ndim - 1) + [(0, n - v.shape[-1])]) for v in (x, y))
    if nfft < nperseg:
        raise ValueError("nfft must be greater than or equal to nperseg.")
    if noverlap >= nperseg:
        raise ValueError("noverlap must be less than nperseg.")
    nstep = nperseg - noverlap
    if boundary is not None:
        x = _extend(x, boundary, nperseg // 2)
        y = None if y is None else _extend(y, boundary, nperseg // 2)
    if padded:  # a whole number of segments
        nadd = (-(x.shape[-1] - nperseg) % nstep) % nperseg
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, nadd)])
        y = None if y is None else jnp.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, nadd)])
    if isinstance(detrend_type, str):
        detrend_func = lambda d: detrend(d, type=detrend_type, axis=-1)  # noqa: E731
    elif callable(detrend_type):
        detrend_func = detrend_type
    elif not detrend_type:
        detrend_func = lambda d: d  # noqa: E731
    else:
        raise ValueError(f"Unsupported detrend type: {detrend_type}")
    if scaling == "density":
        scale = 1.0 / (fs * (win * win).sum())
    elif scaling == "spectrum":
        scale = 1.0 / win.sum() ** 2
    else:
        raise ValueError(f"Unknown scaling: {scaling}")
    if mode == "stft":
        scale = jnp.sqrt(scale)
    sides = "onesided" if return_onesided else "twosided"
    if return_onesided and (dtypes.kind(x.dtype) == "c" or (y is not None and dtypes.kind(y.dtype) == "c")):
        sides = "twosided"
        warnings.warn("Input data is complex, switching to return_onesided=False")
    freqs = (jfft.rfftfreq if sides == "onesided" else jfft.fftfreq)(nfft, 1 / fs, dtype=freq_dtype)
    result = _segments_fft(x, win, detrend_func, nperseg, noverlap, nfft, sides)
    if y is not None:
        result = jnp.conjugate(result) * _segments_fft(y, win, detrend_func, nperseg, noverlap, nfft, sides)
    elif mode == "psd":
        result = jnp.conjugate(result) * result
    result = result * scale
    if sides == "onesided" and mode == "psd":  # the one-sided spectrum counts each interior frequency twice
        k = jnp.arange(result.shape[-1])
        result = result * jnp.where((k >= 1) & (k < result.shape[-1] - (1 - nfft % 2)), 2.0, 1.0).astype(freq_dtype)
    time = jnp.arange(nperseg / 2, x.shape[-1] - nperseg / 2 + 1, nstep, dtype=freq_dtype) / fs
    if boundary is not None:
        time = time - (nperseg / 2) / fs
    result = result.astype(result_dtype)
    if y is None and mode != "stft":
        result = jnp.real(result)
    return freqs, time, jnp.moveaxis(result, -1, axis)


def stft(x: Any, fs: Any = 1.0, window: Any = "hann", nperseg: int = 256, noverlap: int | None = None,
         nfft: int | None = None, detrend: Any = False, return_onesided: bool = True, boundary: str | None = "zeros",
         padded: bool = True, axis: int = -1) -> tuple:
    """Short-time Fourier transform: (frequencies, segment times, Zxx)."""
    return _spectral_helper(x, None, fs, window, nperseg, noverlap, nfft, detrend, return_onesided,
                            scaling="spectrum", axis=axis, mode="stft", boundary=boundary, padded=padded)


def csd(x: Any, y: Any, fs: Any = 1.0, window: Any = "hann", nperseg: int | None = None,
        noverlap: int | None = None, nfft: int | None = None, detrend: Any = "constant",
        return_onesided: bool = True, scaling: str = "density", axis: int = -1, average: str = "mean") -> tuple:
    """Cross power spectral density by Welch's method: (frequencies, Pxy)."""
    freqs, _, pxy = _spectral_helper(x, y, fs, window, nperseg, noverlap, nfft, detrend, return_onesided,
                                     scaling, axis, mode="psd")
    if y is not None:
        pxy = pxy + 0j
    if pxy.ndim >= 2 and pxy.size > 0:
        if pxy.shape[-1] > 1:
            if average == "median":
                k = jnp.arange(2.0, pxy.shape[-1], 2)
                bias = (1 + jnp.sum(1.0 / (k + 1) - 1.0 / k)).astype(pxy.dtype)
                if dtypes.kind(pxy.dtype) == "c":
                    pxy = jnp.median(jnp.real(pxy), axis=-1) + 1j * jnp.median(jnp.imag(pxy), axis=-1)
                else:
                    pxy = jnp.median(pxy, axis=-1)
                pxy = pxy / bias
            elif average == "mean":
                pxy = pxy.mean(axis=-1)
            else:
                raise ValueError(f'average must be "median" or "mean", got {average}')
        else:
            pxy = jnp.reshape(pxy, pxy.shape[:-1])
    return freqs, pxy


def welch(x: Any, fs: Any = 1.0, window: Any = "hann", nperseg: int | None = None, noverlap: int | None = None,
          nfft: int | None = None, detrend: Any = "constant", return_onesided: bool = True,
          scaling: str = "density", axis: int = -1, average: str = "mean") -> tuple:
    """Power spectral density by Welch's method: (frequencies, Pxx)."""
    freqs, pxx = csd(x, None, fs=fs, window=window, nperseg=nperseg, noverlap=noverlap, nfft=nfft, detrend=detrend,
                     return_onesided=return_onesided, scaling=scaling, axis=axis, average=average)
    return freqs, jnp.real(pxx)


__all__ = ["csd", "detrend", "stft", "welch"]
