"""``jnp.fft``. portax has no complex dtype: transforms with complex results (fft, ifft, rfft, ihfft and
their 2-D/n-D forms) raise NotImplementedError. Transforms of real input with real results are exact and
supported: ``irfft``/``irfft2``/``irfftn`` (a real half spectrum, i.e. zero imaginary part) and ``hfft``,
plus the helpers ``fftfreq``, ``rfftfreq``, ``fftshift`` and ``ifftshift``.
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


def _complex_result(name: str) -> NotImplementedError:
    return NotImplementedError(
        f"jnp.fft.{name} returns a complex array, and portax has no complex dtype yet. Real-valued transforms "
        "are available: jnp.fft.irfft/irfft2/irfftn and hfft of real input.")


def fft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    raise _complex_result("fft")


def ifft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    raise _complex_result("ifft")


def rfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    raise _complex_result("rfft")


def ihfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    raise _complex_result("ihfft")


def fft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    raise _complex_result("fft2")


def ifft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    raise _complex_result("ifft2")


def rfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    raise _complex_result("rfft2")


def fftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None, norm: str | None = None) -> Any:
    raise _complex_result("fftn")


def ifftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None, norm: str | None = None) -> Any:
    raise _complex_result("ifftn")


def rfftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None, norm: str | None = None) -> Any:
    raise _complex_result("rfftn")


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


def _irfftn(name: str, a: Any, s: Sequence[int] | None, axes: Sequence[int] | None, norm: str | None) -> Any:
    """Inverse real FFT of a real half spectrum over ``axes`` (the last one is the halved axis)."""
    if norm not in _NORMS:
        raise ValueError(f'jnp.fft.{name}: invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    (a,) = promote_to_inexact(asarray_any(a))
    if get_aval(a).dtype not in (dtypes.float32, dtypes.float64):
        a = ew.convert_element_type(a, dtypes.float32)
    nd = get_aval(a).ndim
    if axes is None:
        axes = tuple(range(nd)) if s is None else tuple(range(nd - len(s), nd))
    axes = tuple(canonicalize_axis(ax, nd) for ax in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"jnp.fft.{name} does not support repeated axes, got {axes}")
    if len(axes) > 3:
        raise ValueError(f"jnp.fft.{name} supports at most 3 axes, got {len(axes)}")
    shape = get_aval(a).shape
    if s is None:
        lengths = [shape[ax] for ax in axes[:-1]] + [2 * (shape[axes[-1]] - 1)]
    else:
        if len(s) != len(axes):
            raise ValueError(f"jnp.fft.{name}: shape s {tuple(s)} and axes {axes} have different lengths")
        lengths = [int(v) for v in s]
    if any(v < 1 for v in lengths):
        raise ValueError(f"jnp.fft.{name}: invalid number of data points {lengths} specified")
    k = len(axes)
    x = moveaxis(a, axes, tuple(range(nd - k, nd)))
    for i, n_i in enumerate(lengths[:-1]):
        x = _resize(x, nd - k + i, n_i)
    x = _resize(x, nd - 1, lengths[-1] // 2 + 1)
    (out,) = ff.fft_split((x, st.zeros_like_array(x)), ff.FftType.IRFFT, lengths)
    size = float(np.prod(lengths))
    if norm == "ortho":
        out = ew.mul(out, ew._const(out, np.sqrt(size)))
    elif norm == "forward":
        out = ew.mul(out, ew._const(out, size))
    return moveaxis(out, tuple(range(nd - k, nd)), axes)


def irfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Inverse of rfft for a real half spectrum (zero imaginary part); output length ``n`` (default 2(m-1))."""
    return _irfftn("irfft", a, None if n is None else (n,), (axis,), norm)


def irfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    return _irfftn("irfft2", a, s, axes, norm)


def irfftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None, norm: str | None = None) -> Any:
    return _irfftn("irfftn", a, s, axes, norm)


def hfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """FFT of a signal with Hermitian symmetry given by its (here real) first half: ``irfft(a) * n``."""
    (a,) = promote_to_inexact(asarray_any(a))
    nd = get_aval(a).ndim
    n_out = 2 * (get_aval(a).shape[canonicalize_axis(axis, nd)] - 1) if n is None else int(n)
    inverse_norm = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}[norm] \
        if norm in _NORMS else norm
    return _irfftn("hfft", a, (n_out,), (axis,), inverse_norm)


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
