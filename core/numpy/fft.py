"""``jnp.fft``: complex and real transforms over one, two or n (at most 3) axes, with numpy's ``n``/``s``
cropping and zero-padding and its ``norm`` modes, composed over the split-complex ``lax.fft`` primitive;
plus ``fftfreq``, ``rfftfreq``, ``fftshift`` and ``ifftshift``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..primitives import elementwise as ew, fft as ff, structural as st
from ..trace import get_aval
from ._util import asarray_any, canonicalize_axis, promote_to_inexact
from .shape import moveaxis, roll

_NORMS = (None, "backward", "ortho", "forward")
_INVERSE = (ff.FftType.IFFT, ff.FftType.IRFFT)


def _resize(x: Any, axis: int, size: int) -> Any:
    """Crop or zero-pad ``x`` along ``axis`` to ``size`` (numpy's handling of ``n``/``s``)."""
    n = get_aval(x).shape[axis]
    if size < n:
        return st.slice_in_dim(x, 0, size, 1, axis)
    if size > n:
        cfg = [(0, 0, 0)] * get_aval(x).ndim
        cfg[axis] = (0, size - n, 0)
        return st.pad(x, ew._const(x, 0), cfg)
    return x


def _operand(name: str, a: Any, kind: ff.FftType) -> Any:
    """``a`` as float32/float64 (RFFT) or complex64/complex128 (the others)."""
    a = asarray_any(a)
    if kind == ff.FftType.RFFT:
        if get_aval(a).dtype.kind == "c":
            raise TypeError(f"jnp.fft.{name} requires real input, got {get_aval(a).dtype.name}")
        (a,) = promote_to_inexact(a)
        return a if get_aval(a).dtype != dtypes.float16 else ew.convert_element_type(a, dtypes.float32)
    if get_aval(a).dtype.kind != "c":
        (a,) = promote_to_inexact(a)
        a = ew.convert_element_type(a, dtypes.complex_dtype(get_aval(a).dtype))
    return a


def _transform(name: str, kind: ff.FftType, a: Any, s: Sequence[int] | None, axes: Sequence[int] | None,
               norm: str | None) -> Any:
    """The ``kind`` transform over ``axes`` (for RFFT/IRFFT the last one is the halved axis)."""
    if norm not in _NORMS:
        raise ValueError(f'jnp.fft.{name}: invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    a = _operand(name, a, kind)
    nd = get_aval(a).ndim
    if axes is None:
        axes = tuple(range(nd)) if s is None else tuple(range(nd - len(s), nd))
    axes = tuple(canonicalize_axis(ax, nd) for ax in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"jnp.fft.{name} does not support repeated axes, got {axes}")
    if not 1 <= len(axes) <= 3:
        raise ValueError(f"jnp.fft.{name} supports 1 to 3 axes, got {len(axes)}")
    shape = get_aval(a).shape
    if s is None:
        lengths = [shape[ax] for ax in axes]
        if kind == ff.FftType.IRFFT:
            lengths[-1] = 2 * (lengths[-1] - 1)
    else:
        if len(s) != len(axes):
            raise ValueError(f"jnp.fft.{name}: shape s {tuple(s)} and axes {axes} have different lengths")
        lengths = [int(v) for v in s]
    if any(v < 1 for v in lengths):
        raise ValueError(f"jnp.fft.{name}: invalid number of data points {lengths} specified")
    k = len(axes)
    x = moveaxis(a, axes, tuple(range(nd - k, nd)))
    for i, n_i in enumerate(lengths):
        x = _resize(x, nd - k + i, n_i // 2 + 1 if kind == ff.FftType.IRFFT and i == k - 1 else n_i)
    parts = (x,) if kind == ff.FftType.RFFT else (ew.real(x), ew.imag(x))
    outs = ff.fft_split(parts, kind, lengths)
    out = outs[0] if kind == ff.FftType.IRFFT else ew.complex(*outs)
    size = float(np.prod(lengths))
    scale = {None: 1.0, "backward": 1.0, "ortho": np.sqrt(size), "forward": size}[norm]
    if kind not in _INVERSE:
        scale = 1.0 / scale if norm in ("ortho", "forward") else 1.0
    if scale != 1.0:
        out = ew.mul(out, ew._const(out, scale))
    return moveaxis(out, tuple(range(nd - k, nd)), axes)


def _one_axis(n: int | None, axis: int) -> tuple:
    return (None if n is None else (n,)), (axis,)


def fft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    return _transform("fft", ff.FftType.FFT, a, *_one_axis(n, axis), norm)


def ifft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    return _transform("ifft", ff.FftType.IFFT, a, *_one_axis(n, axis), norm)


def rfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    return _transform("rfft", ff.FftType.RFFT, a, *_one_axis(n, axis), norm)


def irfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Inverse of rfft; output length ``n`` (default ``2 (m - 1)``)."""
    return _transform("irfft", ff.FftType.IRFFT, a, *_one_axis(n, axis), norm)


def fft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    return _transform("fft2", ff.FftType.FFT, a, s, axes, norm)


def ifft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    return _transform("ifft2", ff.FftType.IFFT, a, s, axes, norm)


def rfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    return _transform("rfft2", ff.FftType.RFFT, a, s, axes, norm)


def irfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    return _transform("irfft2", ff.FftType.IRFFT, a, s, axes, norm)


def fftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None, norm: str | None = None) -> Any:
    return _transform("fftn", ff.FftType.FFT, a, s, axes, norm)


def ifftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None, norm: str | None = None) -> Any:
    return _transform("ifftn", ff.FftType.IFFT, a, s, axes, norm)


def rfftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None, norm: str | None = None) -> Any:
    return _transform("rfftn", ff.FftType.RFFT, a, s, axes, norm)


def irfftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None, norm: str | None = None) -> Any:
    return _transform("irfftn", ff.FftType.IRFFT, a, s, axes, norm)


_SWAPPED_NORM = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}


def hfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """FFT of a signal with Hermitian symmetry given by its first half: ``irfft(conj(a), n)`` scaled by ``n``."""
    a = asarray_any(a)
    a = ew.conj(a) if get_aval(a).dtype.kind == "c" else a
    return _transform("hfft", ff.FftType.IRFFT, a, *_one_axis(n, axis), _SWAPPED_NORM.get(norm, norm))


def ihfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Inverse of hfft: ``conj(rfft(a, n)) / n`` for real ``a``."""
    return ew.conj(_transform("ihfft", ff.FftType.RFFT, a, *_one_axis(n, axis), _SWAPPED_NORM.get(norm, norm)))


def fftfreq(n: int, d: float = 1.0, *, dtype: Any = None, device: Any = None) -> Any:
    """Sample frequencies ``[0, 1, ..., n/2-1, -n/2, ..., -1] / (d n)``."""
    n = int(n)
    dt = dtypes.canonicalize(dtype) if dtype is not None else dtypes.default_float()
    k = st.iota(dtypes.int32, n)
    k = ew.select(ew.ge(k, ew._const(k, (n + 1) // 2)), ew.sub(k, ew._const(k, n)), k)
    return ew.div(ew.convert_element_type(k, dt), ew.convert_element_type(asarray_any(d * n), dt))


def rfftfreq(n: int, d: float = 1.0, *, dtype: Any = None, device: Any = None) -> Any:
    """Sample frequencies of rfft: ``[0, 1, ..., n//2] / (d n)``."""
    n = int(n)
    dt = dtypes.canonicalize(dtype) if dtype is not None else dtypes.default_float()
    k = ew.convert_element_type(st.iota(dtypes.int32, n // 2 + 1), dt)
    return ew.div(k, ew.convert_element_type(asarray_any(d * n), dt))


def _shift(x: Any, axes: Any, inverse: bool) -> Any:
    x = asarray_any(x)
    nd = get_aval(x).ndim
    axes = tuple(range(nd)) if axes is None else ((axes,) if isinstance(axes, int) else tuple(axes))
    shape = get_aval(x).shape
    shifts = [-(shape[a] // 2) if inverse else shape[a] // 2 for a in axes]
    return roll(x, shifts, axes)


def fftshift(x: Any, axes: None | int | Sequence[int] = None) -> Any:
    """Move the zero-frequency term to the centre."""
    return _shift(x, axes, False)


def ifftshift(x: Any, axes: None | int | Sequence[int] = None) -> Any:
    return _shift(x, axes, True)


__all__ = ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2", "rfftn", "irfftn",
           "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]
