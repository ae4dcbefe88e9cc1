"""``jax.scipy.signal``: N-d convolution and correlation (direct through ``conv_general_dilated``, or by FFT),
as compositions over portax's lax and numpy operations; spectral estimation comes from ``spectral``."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..numpy import fft as jfft
from ..numpy._util import asarray_any, canonicalize_axis, promote_to_inexact
from ..numpy.shape import flip
from ..numpy.ufuncs import conj, imag, multiply, real
from ..primitives import convolution as cv, elementwise as ew, structural as st
from .spectral import csd, detrend, stft, welch  # noqa: F401
from ..trace import get_aval

_MODES = ("full", "same", "valid")


def _slice_centered(x: Any, axes: Sequence[int], full: Sequence[int], out: Sequence[int]) -> Any:
    """The centered ``out``-sized block of ``x`` (whose ``axes`` have sizes ``full``)."""
    for ax, f, o in zip(axes, full, out):
        start = (f - o) // 2
        x = st.slice_in_dim(x, start, start + o, 1, ax)
    return x


def fftconvolve(in1: Any, in2: Any, mode: str = "full", axes: Sequence[int] | int | None = None) -> Any:
    """N-d convolution by FFT over ``axes`` (default all); the other axes must match and are batched."""
    in1, in2 = promote_to_inexact(asarray_any(in1), asarray_any(in2))
    shape1, shape2 = get_aval(in1).shape, get_aval(in2).shape
    if len(shape1) != len(shape2):
        raise ValueError("in1 and in2 should have the same dimensionality")
    if mode not in _MODES:
        raise ValueError("mode must be one of ['same', 'full', 'valid']")
    nd = len(shape1)
    axes = tuple(range(nd)) if axes is None else tuple(
        canonicalize_axis(int(ax), nd) for ax in ((axes,) if np.ndim(axes) == 0 else axes))
    if any(shape1[i] != shape2[i] for i in set(range(nd)) - set(axes)):
        raise ValueError(f"mapped axes must have same shape; got in1.shape={shape1} in2.shape={shape2} axes={axes}")
    s1, s2 = [shape1[ax] for ax in axes], [shape2[ax] for ax in axes]
    if mode == "valid":
        no_swap, swap = all(a >= b for a, b in zip(s1, s2)), all(a <= b for a, b in zip(s1, s2))
        if not (no_swap or swap):
            raise ValueError("For 'valid' mode, One input must be at least as large as the other in every dimension.")
        if swap:
            in1, in2, s1, s2 = in2, in1, s2, s1
    full = [a + b - 1 for a, b in zip(s1, s2)]
    if all(a == 1 or b == 1 for a, b in zip(s1, s2)):
        conv = multiply(in1, in2)
    elif dtypes.kind(get_aval(in1).dtype) == "c":
        conv = jfft.ifftn(jfft.fftn(in1, full, axes) * jfft.fftn(in2, full, axes), full, axes)
    else:
        conv = jfft.irfftn(jfft.rfftn(in1, full, axes) * jfft.rfftn(in2, full, axes), full, axes)
    out = {"full": full, "same": s1, "valid": [a - b + 1 for a, b in zip(s1, s2)]}[mode]
    return _slice_centered(conv, axes, full, out)


def _conv_real(lhs: Any, rhs: Any, padding: list, precision: Any) -> Any:
    nd = get_aval(lhs).ndim
    out = cv.conv_general_dilated(st.reshape(lhs, (1, 1) + get_aval(lhs).shape),
                                  st.reshape(rhs, (1, 1) + get_aval(rhs).shape), (1,) * nd, padding,
                                  precision=precision)
    return st.reshape(out, get_aval(out).shape[2:])


def _conv(lhs: Any, rhs: Any, padding: list, precision: Any) -> Any:
    """Cross-correlation of ``lhs`` with ``rhs`` (zero ``padding``); complex operands as four real ones."""
    if dtypes.kind(get_aval(lhs).dtype) != "c":
        return _conv_real(lhs, rhs, padding, precision)
    a, b, c, d = real(lhs), imag(lhs), real(rhs), imag(rhs)
    re = ew.sub(_conv_real(a, c, padding, precision), _conv_real(b, d, padding, precision))
    im = ew.add(_conv_real(a, d, padding, precision), _conv_real(b, c, padding, precision))
    return ew.complex(re, im)


def _convolve_nd(in1: Any, in2: Any, mode: str, precision: Any) -> Any:
    if mode not in _MODES:
        raise ValueError("mode must be one of ['full', 'same', 'valid']")
    in1, in2 = asarray_any(in1), asarray_any(in2)
    shape1, shape2 = get_aval(in1).shape, get_aval(in2).shape
    if len(shape1) != len(shape2):
        raise ValueError("in1 and in2 must have the same number of dimensions")
    if get_aval(in1).size == 0 or get_aval(in2).size == 0:
        raise ValueError(f"zero-size arrays not supported in convolutions, got shapes {shape1} and {shape2}.")
    in1, in2 = promote_to_inexact(in1, in2)
    no_swap, swap = all(a >= b for a, b in zip(shape1, shape2)), all(a <= b for a, b in zip(shape1, shape2))
    if not (no_swap or swap):
        raise ValueError("One input must be smaller than the other in every dimension.")
    shape_o = shape2
    if swap:
        in1, in2 = in2, in1
    shape = get_aval(in2).shape
    if mode == "valid":
        padding = [(0, 0) for _ in shape]
    elif mode == "same":
        padding = [(s - 1 - (so - 1) // 2, s - so + (so - 1) // 2) for s, so in zip(shape, shape_o)]
    else:
        padding = [(s - 1, s - 1) for s in shape]
    return _conv(in1, flip(in2), padding, precision)


def convolve(in1: Any, in2: Any, mode: str = "full", method: str = "auto", precision: Any = None) -> Any:
    """N-d convolution; ``method`` 'auto' and 'direct' use ``conv_general_dilated``, 'fft' ``fftconvolve``."""
    if method == "fft":
        return fftconvolve(in1, in2, mode=mode)
    if method in ("direct", "auto"):
        return _convolve_nd(in1, in2, mode, precision)
    raise ValueError(f"Got method={method!r}; expected 'auto', 'fft', or 'direct'.")


def correlate(in1: Any, in2: Any, mode: str = "full", method: str = "auto", precision: Any = None) -> Any:
    """N-d cross-correlation: ``convolve`` with ``in2`` flipped and conjugated."""
    return convolve(in1, flip(conj(asarray_any(in2))), mode, method=method, precision=precision)


def _check_2d(name: str, in1: Any, in2: Any, boundary: str, fillvalue: Any) -> None:
    if boundary != "fill" or fillvalue != 0:
        raise NotImplementedError(f"{name}() only supports boundary='fill', fillvalue=0")
    if np.ndim(in1) != 2 or np.ndim(in2) != 2:
        raise ValueError(f"{name}() only supports 2-dimensional inputs.")


def convolve2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill", fillvalue: float = 0,
               precision: Any = None) -> Any:
    """2-d convolution (zero fill only)."""
    _check_2d("convolve2d", in1, in2, boundary, fillvalue)
    return _convolve_nd(in1, in2, mode, precision)


def correlate2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill", fillvalue: float = 0,
                precision: Any = None) -> Any:
    """2-d cross-correlation (zero fill only), with scipy's choice of operand order."""
    _check_2d("correlate2d", in1, in2, boundary, fillvalue)
    in1, in2 = asarray_any(in1), asarray_any(in2)
    shape1, shape2 = get_aval(in1).shape, get_aval(in2).shape
    swap = all(a <= b for a, b in zip(shape1, shape2))
    same_shape = shape1 == shape2
    if mode == "same" or (mode == "valid" and not (swap and not same_shape)) or (mode == "full" and not swap):
        return flip(_convolve_nd(flip(in1), conj(in2), mode, precision))
    out = _convolve_nd(flip(in2), conj(in1), mode, precision)
    return conj(out) if mode == "full" else out


__all__ = ["convolve", "convolve2d", "correlate", "correlate2d", "csd", "detrend", "fftconvolve", "stft", "welch"]
