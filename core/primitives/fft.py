"""Fast Fourier transforms over the trailing ``len(fft_lengths)`` axes (``jax.lax.fft``).

The primitive works on complex values split into real and imaginary parts ("split-complex"), so every
backend runs it on real buffers; ``fft`` is the complex-valued ``lax.fft`` composed over it: ``FFT``/``IFFT`` map ``(re, im) -> (re, im)``, ``RFFT`` maps a real ``x`` to the
``(re, im)`` half spectrum (last axis ``n // 2 + 1``), and ``IRFFT`` maps a half spectrum ``(re, im)`` to a
real signal whose last axis is ``fft_lengths[-1]``. Every form is real-linear: its JVP applies it to the
tangents and its transpose is another FFT with a rescaling (the real transposes, i.e. the adjoints, of
the split maps).
"""
from __future__ import annotations

import enum
from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..ad_util import Zero, instantiate
from ..interpreters import batching
from ..ir import ShapedArray
from ..trace import Primitive, abstract_eval_rules, batching_rules, get_aval, jvp_rules, transpose_rules
from . import elementwise as ew, structural as st


class FftType(enum.IntEnum):
    """The four transforms, numbered as ``jax.lax.FftType``."""
    FFT = 0
    IFFT = 1
    RFFT = 2
    IRFFT = 3


def _n_inputs(fft_type: FftType) -> int:
    return 1 if fft_type == FftType.RFFT else 2


def _fft_abstract(*xs: ShapedArray, fft_type, fft_lengths):
    n_in = _n_inputs(fft_type)
    if len(xs) != n_in:
        raise TypeError(f"fft {fft_type.name} takes {n_in} split-complex operand(s), got {len(xs)}")
    x = xs[0]
    if any(a.shape != x.shape or a.dtype != x.dtype for a in xs):
        raise TypeError(f"fft requires real and imaginary parts of one shape and dtype, got "
                        f"{', '.join(a.str_short() for a in xs)}")
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise TypeError(f"fft requires float32 or float64 operands, got {x.dtype.name}")
    k = len(fft_lengths)
    if not 1 <= k <= 3 or x.ndim < k:
        raise ValueError(f"fft: fft_lengths {fft_lengths} must name 1 to 3 trailing axes of an operand of shape "
                         f"{x.shape}")
    lead, tail = x.shape[:-k], tuple(x.shape[-k:])
    lengths = tuple(fft_lengths)
    if fft_type == FftType.IRFFT:
        expected = lengths[:-1] + (lengths[-1] // 2 + 1,)
        if tail != expected:
            raise ValueError(f"fft IRFFT: operand trailing shape {tail} must be {expected} for fft_lengths {lengths}")
        return [ShapedArray(lead + lengths, x.dtype)]
    if tail != lengths:
        raise ValueError(f"fft {fft_type.name}: operand trailing shape {tail} must equal fft_lengths {lengths}")
    if fft_type == FftType.RFFT:
        half = lead + lengths[:-1] + (lengths[-1] // 2 + 1,)
        return [ShapedArray(half, x.dtype), ShapedArray(half, x.dtype)]
    return [ShapedArray(x.shape, x.dtype), ShapedArray(x.shape, x.dtype)]


def _fft_jvp(primals, tangents, *, fft_type, fft_lengths):
    outs = fft_p.bind(*primals, fft_type=fft_type, fft_lengths=fft_lengths)
    if all(type(t) is Zero for t in tangents):
        return outs, [Zero(get_aval(o).at_least_vspace()) for o in outs]
    return outs, fft_p.bind(*[instantiate(t) for t in tangents], fft_type=fft_type, fft_lengths=fft_lengths)


def _scale(x: Any, factor: float) -> Any:
    return ew.mul(x, ew._const(x, factor))


def _half_spectrum_weights(like: Any, n: int, interior: float) -> Any:
    """Weights along the last axis of a half spectrum: 1 at DC (and Nyquist for even n), ``interior`` elsewhere."""
    m = n // 2 + 1
    w = np.full((m,), interior)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    aval = get_aval(like)
    return st.broadcast_in_dim(ew.constant(w.astype(aval.dtype)), aval.shape, (aval.ndim - 1,))


def _fft_transpose(cts, *xs, fft_type, fft_lengths):
    """Adjoints of the split-complex maps: FFT^T = N * IFFT, IFFT^T = FFT / N, RFFT^T = N * IRFFT(w * c)
    with w = 1/2 off DC/Nyquist, IRFFT^T = w' * RFFT / N with w' = 2 off DC/Nyquist."""
    size = float(np.prod(fft_lengths))
    cts = [instantiate(c) for c in cts]
    if fft_type == FftType.FFT:
        outs = fft_p.bind(*cts, fft_type=FftType.IFFT, fft_lengths=fft_lengths)
        return [_scale(o, size) for o in outs]
    if fft_type == FftType.IFFT:
        outs = fft_p.bind(*cts, fft_type=FftType.FFT, fft_lengths=fft_lengths)
        return [_scale(o, 1 / size) for o in outs]
    n = fft_lengths[-1]
    if fft_type == FftType.RFFT:
        w = _half_spectrum_weights(cts[0], n, 0.5)
        (x,) = fft_p.bind(ew.mul(cts[0], w), ew.mul(cts[1], w), fft_type=FftType.IRFFT, fft_lengths=fft_lengths)
        return [_scale(x, size)]
    re, im = fft_p.bind(cts[0], fft_type=FftType.RFFT, fft_lengths=fft_lengths)
    w = _half_spectrum_weights(re, n, 2.0)
    return [_scale(ew.mul(re, w), 1 / size), _scale(ew.mul(im, w), 1 / size)]


def _fft_batch(axis, vals, dims, **params):
    vals = [batching.bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims)]
    outs = fft_p.bind(*vals, **params)
    return outs, [0] * len(outs)


fft_p = Primitive("fft", multiple_results=True)
abstract_eval_rules[fft_p] = _fft_abstract
jvp_rules[fft_p] = _fft_jvp
transpose_rules[fft_p] = _fft_transpose
batching_rules[fft_p] = _fft_batch


def _as_fft_type(fft_type: Any) -> FftType:
    if isinstance(fft_type, str):
        return FftType[fft_type.upper().split(".")[-1]]
    return FftType(int(fft_type))


def fft_split(parts: Sequence[Any], fft_type: Any, fft_lengths: Sequence[int]) -> list:
    """The split-complex transform: ``parts`` is ``(x,)`` for RFFT and ``(re, im)`` otherwise; returns
    ``[re, im]`` (FFT, IFFT, RFFT) or ``[x]`` (IRFFT)."""
    ft = _as_fft_type(fft_type)
    return fft_p.bind(*[ew.asarray(p) for p in parts], fft_type=ft, fft_lengths=tuple(int(n) for n in fft_lengths))


def _check_lax_fft(x: ShapedArray, ft: FftType, fft_lengths: tuple) -> None:
    """JAX's errors for a ``lax.fft`` operand (shape against ``fft_lengths``; RFFT's real dtype)."""
    k = len(fft_lengths)
    if k > x.ndim:
        raise ValueError(f"FFT input shape {x.shape} must have at least as many input dimensions as fft_lengths "
                         f"{fft_lengths}.")
    if ft == FftType.RFFT and x.dtype not in (dtypes.float32, dtypes.float64):
        raise ValueError(f"RFFT input must be float32 or float64, got {x.dtype}")
    if ft == FftType.IRFFT:
        if x.shape[x.ndim - k:-1] != fft_lengths[:-1]:
            raise ValueError(f"IRFFT input shape {x.shape} minor dimensions must be equal to all except the last "
                             f"fft_length, got {fft_lengths=}")
    elif x.shape[x.ndim - k:] != fft_lengths:
        raise ValueError(f"{'RFFT' if ft == FftType.RFFT else 'FFT'} input shape {x.shape} minor dimensions must be "
                         f"equal to fft_lengths {fft_lengths}")


def fft(x: Any, fft_type: Any, fft_lengths: Sequence[int]) -> Any:
    """``lax.fft``: FFT/IFFT of a complex ``x``, RFFT of a real one (to the complex half spectrum), IRFFT of a
    complex half spectrum (to a real signal). A real operand of FFT/IFFT/IRFFT has a zero imaginary part."""
    ft = _as_fft_type(fft_type)
    x = ew.asarray(x)
    _check_lax_fft(get_aval(x), ft, tuple(int(n) for n in fft_lengths))
    if ft == FftType.RFFT and dtypes.kind(get_aval(x).dtype) == "c":
        raise TypeError(f"lax.fft RFFT requires a real operand, got {get_aval(x).str_short()}")
    if not len(fft_lengths):  # no axis to transform: the operand in the result's dtype kind, as JAX
        dt = get_aval(x).dtype
        inexact = dt if dtypes.kind(dt) in "fc" else dtypes.default_float()
        return ew.convert_element_type(x, inexact if ft == FftType.RFFT else dtypes.complex_dtype(inexact))
    if ft == FftType.RFFT:
        return ew.complex(*fft_split((x,), ft, fft_lengths))
    parts = (ew.real(x), ew.imag(x)) if dtypes.kind(get_aval(x).dtype) == "c" else (x, st.zeros_like_array(x))
    outs = fft_split(parts, ft, fft_lengths)
    return outs[0] if ft == FftType.IRFFT else ew.complex(*outs)


FFT = (fft_p,)
