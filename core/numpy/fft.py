"""``jnp.fft``: complex and real transforms over one, two or n (at most 3) axes, with numpy's ``n``/``s``
cropping and zero-padding and its ``norm`` modes, composed over the split-complex ``lax.fft`` primitive;
plus ``fftfreq``, ``rfftfreq``, ``fftshift`` and ``ifftshift``.
"""
from __future__ import annotations

import operator
from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..primitives import elementwise as ew, fft as ff, structural as st
from ..trace import get_aval
from . import ufuncs
from ._util import asarray_any, canonicalize_axis, promote_to_inexact
from .reductions import prod
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
        if dtypes.kind(get_aval(a).dtype) == "c":
            raise TypeError(f"jnp.fft.{name} requires real input, got {get_aval(a).dtype.name}")
        (a,) = promote_to_inexact(a)
        return a if get_aval(a).dtype != dtypes.float16 else ew.convert_element_type(a, dtypes.float32)
    if dtypes.kind(get_aval(a).dtype) != "c":
        (a,) = promote_to_inexact(a)
        a = ew.convert_element_type(a, dtypes.complex_dtype(get_aval(a).dtype))
    return a


def _transform(name: str, kind: ff.FftType, a: Any, s: Sequence[int] | None, axes: Sequence[int] | None,
               norm: str | None) -> Any:
    """The ``kind`` transform over ``axes`` (for RFFT/IRFFT the last one is the halved axis)."""
    full_name = f"jax.numpy.fft.{name}"
    if norm not in _NORMS:
        raise ValueError(f'{full_name}: invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    a = _operand(name, a, kind)
    nd = get_aval(a).ndim
    if s is not None:
        s = tuple(operator.index(v) for v in s)
        if any(v <= 0 for v in s):
            raise ValueError("Shape should be positive.")
        if axes is not None and len(s) != len(axes):
            raise ValueError("Shape and axes have different lengths.")
    if axes is None:
        axes = tuple(range(nd)) if s is None else tuple(range(nd - len(s), nd))
    canonical = tuple(canonicalize_axis(ax, nd) for ax in axes)
    if len(set(canonical)) != len(canonical):
        raise ValueError(f"{full_name} does not support repeated axes. Got axes {axes}.")
    axes, k = canonical, len(canonical)
    if k == 0 and kind == ff.FftType.IRFFT:
        raise ValueError(f"{full_name} needs at least one axis.")
    shape = get_aval(a).shape
    if s is None:
        lengths = [shape[ax] for ax in axes]
        if kind == ff.FftType.IRFFT:
            lengths[-1] = max(0, 2 * (lengths[-1] - 1))
    else:
        lengths = list(s)
    x = moveaxis(a, axes, tuple(range(nd - k, nd)))
    for i, n_i in enumerate(lengths):
        x = _resize(x, nd - k + i, n_i // 2 + 1 if kind == ff.FftType.IRFFT and i == k - 1 else n_i)
    out = _fft_nd(x, kind, tuple(lengths))
    scale = _fft_norm(np.array(lengths), "ifft" if kind in _INVERSE else "fft", norm)
    if scale != 1.0:
        out = ew.mul(out, ew._const(out, scale))
    return moveaxis(out, tuple(range(nd - k, nd)), axes)


def _fft_norm(s: Any, func_name: str, norm: str | None) -> Any:
    """The factor a transform over sizes ``s`` is scaled by under ``norm`` (JAX's helper of this name): a float64
    for a numpy ``s``, else computed in ``s``'s inexact type, as JAX (an integer product could overflow)."""
    if norm in (None, "backward"):
        return 1.0
    if norm not in _NORMS:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    if isinstance(s, np.ndarray):
        n, sqrt = np.prod(s, dtype=np.float64), np.sqrt
    else:
        n, sqrt = prod(promote_to_inexact(s)[0]), ufuncs.sqrt
    n = sqrt(n) if norm == "ortho" else n
    return n if func_name.startswith("i") else 1 / n


def _fft_nd(x: Any, kind: ff.FftType, lengths: tuple) -> Any:
    """The transform over the trailing ``len(lengths)`` axes of ``x``; more than 3 axes are split into
    transforms over at most 3 (as JAX does: 4 axes as 2 + 2)."""
    k = len(lengths)
    if k == 0:
        dt = get_aval(x).dtype
        return x if dtypes.kind(dt) == "c" else ew.convert_element_type(x, dtypes.complex_dtype(dt))
    if 0 in lengths and kind in (ff.FftType.FFT, ff.FftType.IFFT):
        return x  # an empty transform: the (empty) operand itself
    if k <= 3:
        parts = (x,) if kind == ff.FftType.RFFT else (ew.real(x), ew.imag(x))
        outs = ff.fft_split(parts, kind, list(lengths))
        return outs[0] if kind == ff.FftType.IRFFT else ew.complex(*outs)
    n = 2 if k == 4 else 3
    nd = get_aval(x).ndim
    src, dst = tuple(range(nd - k, nd - n)), tuple(range(nd - k + n, nd))
    if kind in (ff.FftType.RFFT, ff.FftType.FFT):
        x = moveaxis(_fft_nd(x, kind, lengths[-n:]), src, dst)
        return moveaxis(_fft_nd(x, ff.FftType.FFT, lengths[:-n]), dst, src)
    x = moveaxis(_fft_nd(moveaxis(x, src, dst), ff.FftType.IFFT, lengths[:-n]), dst, src)
    return _fft_nd(x, kind, lengths[-n:])


def _axis_check_1d(name: str, axis: Any) -> None:
    if isinstance(axis, (list, tuple)):
        full_name = f"jax.numpy.fft.{name}"
        raise ValueError(f"{full_name} does not support multiple axes. Please use {full_name}n. Got axis = {axis!r}.")


def _axes_check_2d(name: str, axes: Sequence[int]) -> Sequence[int]:
    if len(axes) != 2:
        raise ValueError(f"jax.numpy.fft.{name} only supports 2 axes. Got axes = {axes!r}.")
    return axes


def _one_axis(name: str, n: int | None, axis: int) -> tuple:
    _axis_check_1d(name, axis)
    return (None if n is None else (n,)), (axis,)


def fft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    return _transform("fft", ff.FftType.FFT, a, *_one_axis("fft", n, axis), norm)


def ifft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    return _transform("ifft", ff.FftType.IFFT, a, *_one_axis("ifft", n, axis), norm)


def rfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    return _transform("rfft", ff.FftType.RFFT, a, *_one_axis("rfft", n, axis), norm)


def irfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Inverse of rfft; output length ``n`` (default ``2 (m - 1)``)."""
    return _transform("irfft", ff.FftType.IRFFT, a, *_one_axis("irfft", n, axis), norm)


def fft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    return _transform("fft2", ff.FftType.FFT, a, s, _axes_check_2d("fft2", axes), norm)


def ifft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    return _transform("ifft2", ff.FftType.IFFT, a, s, _axes_check_2d("ifft2", axes), norm)


def rfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    return _transform("rfft2", ff.FftType.RFFT, a, s, _axes_check_2d("rfft2", axes), norm)


def irfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None) -> Any:
    return _transform("irfft2", ff.FftType.IRFFT, a, s, _axes_check_2d("irfft2", axes), norm)


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
    a = ew.conj(a) if dtypes.kind(get_aval(a).dtype) == "c" else a
    return _transform("hfft", ff.FftType.IRFFT, a, *_one_axis("hfft", n, axis), _SWAPPED_NORM.get(norm, norm))


def ihfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Inverse of hfft: ``conj(rfft(a, n)) / n`` for real ``a``."""
    return ew.conj(_transform("ihfft", ff.FftType.RFFT, a, *_one_axis("ihfft", n, axis), _SWAPPED_NORM.get(norm, norm)))


def _freq_args_check(name: str, n: Any, d: Any) -> None:
    if isinstance(n, (list, tuple)):
        raise ValueError(f"The n argument of jax.numpy.fft.{name} only takes an int. Got n = {list(n)}.")
    if isinstance(d, (list, tuple)):
        raise ValueError(f"The d argument of jax.numpy.fft.{name} only takes a single value. Got d = {list(d)}.")


def fftfreq(n: int, d: float = 1.0, *, dtype: Any = None, device: Any = None) -> Any:
    """Sample frequencies ``[0, 1, ..., n/2-1, -n/2, ..., -1] / (d n)``."""
    _freq_args_check("fftfreq", n, d)
    n = int(n)
    dt = dtypes.canonicalize(dtype) if dtype is not None else dtypes.default_float()
    k = st.iota(dtypes.int32, n)
    k = ew.select(ew.ge(k, ew._const(k, (n + 1) // 2)), ew.sub(k, ew._const(k, n)), k)
    return ew.div(ew.convert_element_type(k, dt), ew.convert_element_type(asarray_any(d * n), dt))


def rfftfreq(n: int, d: float = 1.0, *, dtype: Any = None, device: Any = None) -> Any:
    """Sample frequencies of rfft: ``[0, 1, ..., n//2] / (d n)``."""
    _freq_args_check("rfftfreq", n, d)
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
