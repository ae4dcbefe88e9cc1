"""Order statistics and data analysis: quantile/percentile/median (and nan-variants), cov, corrcoef,
histogram, bincount, digitize, interp, gradient, diff, trapezoid, convolve and correlate."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..primitives import elementwise as ew, structural as st
from ..trace import concrete_or_error, get_aval
from . import reductions as red, ufuncs as uf
from ._util import asarray_any, broadcast_to, canonicalize_axis, promote_to_inexact
from .creation import arange, full, linspace, ones_like, zeros
from .indexing import take, take_along_axis
from .linalg_ops import dot
from .misc import argsort, clip, searchsorted, sort, where
from .shape import concatenate, moveaxis, ravel, reshape

_METHODS = ("linear", "lower", "higher", "midpoint", "nearest", "inverted_cdf")


def _reduce_axes_last(a: Any, axis: Any) -> tuple:
    """Move the reduced axes to the end and merge them; returns (array, their positions, original shape)."""
    shape = get_aval(a).shape
    nd = len(shape)
    axes = tuple(range(nd)) if axis is None else tuple(
        canonicalize_axis(x, nd) for x in ((axis,) if isinstance(axis, (int, np.integer)) else axis))
    kept = [d for d in range(nd) if d not in axes]
    a = moveaxis(a, axes, tuple(range(nd - len(axes), nd))) if axes else a
    a = reshape(a, tuple(shape[d] for d in kept) + (-1,))
    return a, axes, shape


def _broadcast_weights(a: Any, weights: Any, axis: Any) -> tuple:
    """``a`` and ``weights`` promoted to inexact, with ``weights`` spread over the reduced axes, as JAX."""
    weights = asarray_any(weights)
    if dtypes.kind(get_aval(weights).dtype) == "c":
        raise ValueError("Weights cannot be complex types.")
    a, weights = promote_to_inexact(a, weights)
    shape, w_shape = get_aval(a).shape, get_aval(weights).shape
    if w_shape != shape:
        if axis is None:
            raise ValueError("Weights shape must match 'a' shape when axis is None.")
        axes = tuple(canonicalize_axis(x, len(shape)) for x in ((axis,) if np.ndim(axis) == 0 else axis))
        if w_shape != tuple(shape[x] for x in axes):
            raise ValueError(f"Weights shape {w_shape} must match reduction axes {tuple(shape[x] for x in axes)}")
        weights = st.broadcast_in_dim(weights, shape, axes)
    return a, weights


def _inverted_cdf(s: Any, w: Any, nan: Any, qb: Any, valid: Any) -> tuple:
    """Per row of the sorted ``s`` (weights ``w``): the index of the first entry whose cumulative weight
    reaches ``q`` of the total (negative or NaN weights and NaN data weigh 0), clipped to ``valid - 1``; and
    where the row has a bad weight."""
    bad_w = uf.logical_or(w < 0, uf.isnan(w))
    cw = red.cumsum(where(uf.logical_or(bad_w, nan), 0.0, w).astype(w.dtype), axis=-1)
    target = qb * cw[..., -1]
    idx = red.sum(cw < target[..., None], axis=-1).astype(qb.dtype)
    return clip(idx, 0, valid - 1), red.any(bad_w, axis=-1)


def _quantile(a: Any, q: Any, axis: Any, method: str, keepdims: bool, ignore_nan: bool,
              weights: Any = None) -> Any:
    if method not in _METHODS:
        raise ValueError("method can only be 'linear', 'lower', 'higher', 'midpoint', 'nearest' or 'inverted_cdf'")
    if weights is not None:
        if method != "inverted_cdf":
            raise NotImplementedError(f"{method} doesn't support weights. Only method 'inverted_cdf' supports "
                                      "weights.")
        a, weights = _broadcast_weights(asarray_any(a), weights, axis)
    (a,) = promote_to_inexact(asarray_any(a))
    if dtypes.kind(get_aval(a).dtype) == "c":
        raise ValueError("quantile does not support complex input, as the operation is poorly defined.")
    q = asarray_any(q).astype(get_aval(a).dtype)
    flat, axes, shape = _reduce_axes_last(a, axis)
    n = get_aval(flat).shape[-1]
    if weights is None:
        s = sort(flat, axis=-1)
    else:  # weights follow their entries into sorted order
        order = argsort(flat, axis=-1)
        s = take_along_axis(flat, order, axis=-1)
        weights = take_along_axis(_reduce_axes_last(weights, axis)[0], order, axis=-1)
    batch = get_aval(s).shape[:-1]
    nan = uf.isnan(flat)
    count = red.sum(~nan, axis=-1).astype(q.dtype) if ignore_nan else None
    q_shape = q.shape
    qb = reshape(q, q_shape + (1,) * len(batch))
    last = (count if ignore_nan else float(n)) - 1.0
    pos = broadcast_to(clip(qb * last, 0.0, max(n - 1, 0)), q_shape + batch)
    low, high = uf.floor(pos), uf.ceil(pos)
    if method == "nearest":
        low = high = uf.rint(pos)
    elif method == "lower":
        high = low
    elif method == "higher":
        low = high
    bad_weight = False
    if method == "inverted_cdf":
        w = ones_like(s) if weights is None else weights
        low, bad_weight = _inverted_cdf(s, w, uf.isnan(s), qb, count if ignore_nan else float(n))
        low = high = broadcast_to(low, q_shape + batch)
    nq, nb = len(q_shape), len(batch)

    def gather(idx):
        idx = moveaxis(idx.astype(dtypes.int32), tuple(range(nq)), tuple(range(nb, nb + nq)))
        vals = take_along_axis(s, reshape(idx, batch + (-1,)), axis=-1)
        vals = reshape(vals, batch + q_shape)
        return moveaxis(vals, tuple(range(nb, nb + nq)), tuple(range(nq)))

    lo_v, hi_v = gather(low), gather(high)
    if method == "midpoint":
        out = 0.5 * (lo_v + hi_v)
    elif method == "linear":
        frac = pos - low
        out = lo_v + frac * (hi_v - lo_v)
    else:
        out = lo_v
    bad = uf.logical_or((count == 0) if ignore_nan else red.any(nan, axis=-1), bad_weight)
    out = where(bad, np.nan, out)
    if keepdims:
        kept_shape = tuple(1 if d in axes else shape[d] for d in range(len(shape)))
        out = reshape(out, q_shape + kept_shape)
    return out


def _no_out(name: str, out: Any, overwrite_input: bool) -> None:
    if overwrite_input or out is not None:
        raise ValueError(f"jax.numpy.{name} does not support overwrite_input=True or out != None")


def quantile(a: Any, q: Any, axis: Any = None, out: None = None, overwrite_input: bool = False,
             method: str = "linear", keepdims: bool = False, *, weights: Any = None) -> Any:
    """Quantiles ``q`` (in [0, 1]) of ``a`` along ``axis``; the q axes come first, as numpy. ``weights``
    (method 'inverted_cdf' only) weigh each entry."""
    _no_out("quantile", out, overwrite_input)
    return _quantile(a, q, axis, method, keepdims, False, weights)


def nanquantile(a: Any, q: Any, axis: Any = None, out: None = None, overwrite_input: bool = False,
                method: str = "linear", keepdims: bool = False, *, weights: Any = None) -> Any:
    _no_out("nanquantile", out, overwrite_input)
    return _quantile(a, q, axis, method, keepdims, True, weights)


def percentile(a: Any, q: Any, axis: Any = None, out: None = None, overwrite_input: bool = False,
               method: str = "linear", keepdims: bool = False, *, weights: Any = None) -> Any:
    return quantile(a, uf.true_divide(q, 100.0), axis, out, overwrite_input, method=method,
                    keepdims=keepdims, weights=weights)


def nanpercentile(a: Any, q: Any, axis: Any = None, out: None = None, overwrite_input: bool = False,
                  method: str = "linear", keepdims: bool = False, *, weights: Any = None) -> Any:
    return nanquantile(a, uf.true_divide(q, 100.0), axis, out, overwrite_input, method=method,
                       keepdims=keepdims, weights=weights)


def median(a: Any, axis: Any = None, out: None = None, overwrite_input: bool = False, keepdims: bool = False) -> Any:
    return quantile(a, 0.5, axis, out, overwrite_input, keepdims=keepdims)


def nanmedian(a: Any, axis: Any = None, out: None = None, overwrite_input: bool = False, keepdims: bool = False) -> Any:
    return nanquantile(a, 0.5, axis, out, overwrite_input, keepdims=keepdims)


def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: int | None = None,
        fweights: Any = None, aweights: Any = None, dtype: Any = None) -> Any:
    """Covariance matrix of the variables in the rows (``rowvar``) or columns of ``m`` (and ``y``), computed in
    ``dtype`` if given."""
    (m,) = promote_to_inexact(asarray_any(m))
    if m.ndim > 2:
        raise ValueError("m has more than 2 dimensions")
    if dtype is not None and dtypes.kind(dtype) not in "fc":
        raise ValueError(f"cov: dtype must be a subclass of float or complex; got dtype={dtype!r}")
    if dtype is not None:
        m = m.astype(dtype)
    x = reshape(m, (1, -1)) if m.ndim < 2 else m
    if not rowvar and m.ndim != 1:  # a single-row 2-D m is one observation of each variable (numpy >= 2.2)
        x = x.T
    if y is not None:
        (y,) = promote_to_inexact(asarray_any(y))
        yy = reshape(y, (1, -1)) if y.ndim < 2 else y
        if not rowvar and yy.shape[0] != 1:
            yy = yy.T
        x = concatenate([x, yy.astype(x.dtype if dtype is None else dtype)], axis=0)
    if x.shape[0] == 0:
        return reshape(zeros((0,), x.dtype), (0, 0))
    if x.shape[1] == 0:  # no observations: NaN, as numpy and JAX
        return full(() if x.shape[0] == 1 else (x.shape[0],) * 2, np.nan, x.dtype)
    ddof = (0 if bias else 1) if ddof is None else ddof
    w = None
    if fweights is not None:
        w = asarray_any(fweights).astype(x.dtype)
    if aweights is not None:
        aw = asarray_any(aweights).astype(x.dtype)
        w = aw if w is None else w * aw
    if w is None:
        avg = red.mean(x, axis=1)
        w_sum = float(x.shape[1])
        fact = w_sum - ddof
    else:
        w_sum = red.sum(w)
        avg = red.sum(x * w, axis=1) / w_sum
        fact = w_sum - ddof if aweights is None else w_sum - ddof * red.sum(w * aw) / w_sum
    xc = x - avg[:, None]
    xw = xc if w is None else xc * w
    c = dot(xw, xc.T) / fact
    return reshape(c, ()) if c.shape == (1, 1) else c


def corrcoef(x: Any, y: Any = None, rowvar: bool = True, dtype: Any = None) -> Any:
    if dtype is not None and dtypes.kind(dtype) not in "fc":
        raise ValueError(f"corrcoef: dtype must be a subclass of float or complex; got dtype={dtype!r}")
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return c / c
    d = _diag(c)
    stddev = uf.sqrt(d)
    c = c / stddev[:, None] / stddev[None, :]
    return clip(c, -1.0, 1.0)


def _diag(c: Any) -> Any:
    from .misc import diagonal
    return diagonal(c)


def bincount(x: Any, weights: Any = None, minlength: int = 0, *, length: int | None = None) -> Any:
    """Occurrences of each value in the non-negative integer array ``x`` (weighted sums with ``weights``);
    ``length`` fixes the output size exactly (needed under jit; larger values are dropped), otherwise it is
    ``max(minlength, max(x) + 1)``."""
    x = asarray_any(x)
    if dtypes.is_bool(get_aval(x).dtype):
        x = ew.convert_element_type(x, dtypes.int32)
    if not dtypes.is_int(get_aval(x).dtype):
        raise TypeError(f"x argument to bincount must have an integer type; got {get_aval(x).dtype}")
    if get_aval(x).ndim != 1:
        raise ValueError("only 1-dimensional input supported.")
    if length is None:
        c = concrete_or_error(x, "The error occurred because of argument 'x' of jnp.bincount. "
                                 "To avoid this error, pass a static `length` argument.")
        length = max(int(minlength), max(0, int(np.max(c))) + 1 if c.size else 0)
    length = int(length)
    w = (zeros(x.shape, dtypes.default_int()) + 1) if weights is None else asarray_any(weights)
    return zeros((length,), get_aval(w).dtype).at[clip(x, 0, None)].add(w, mode="drop")


def histogram_bin_edges(a: Any, bins: Any = 10, range: Sequence | None = None, weights: Any = None) -> Any:
    if isinstance(bins, str):
        raise NotImplementedError("string values for `bins` are not implemented in portax")
    (a,) = promote_to_inexact(asarray_any(a))
    if np.ndim(bins) == 1 or (hasattr(bins, "aval") and get_aval(bins).ndim == 1):
        return asarray_any(bins).astype(a.dtype)
    bins = int(bins)
    if range is None:
        lo, hi = red.min(a), red.max(a)
    else:
        lo, hi = asarray_any(range[0]).astype(a.dtype), asarray_any(range[1]).astype(a.dtype)
    same = lo == hi
    lo = where(same, lo - 0.5, lo)
    hi = where(same, hi + 0.5, hi)
    return linspace(lo, hi, bins + 1, dtype=a.dtype)


def histogram(a: Any, bins: Any = 10, range: Sequence | None = None, weights: Any = None,
              density: bool | None = None) -> tuple:
    """``(hist, bin_edges)``; the last bin includes its right edge, values outside the range are ignored."""
    (a,) = promote_to_inexact(asarray_any(a))
    a = ravel(a)
    edges = histogram_bin_edges(a, bins, range)
    w = (zeros(a.shape, a.dtype) + 1) if weights is None else ravel(asarray_any(weights)).astype(a.dtype)
    n_edges = edges.shape[0]
    idx = searchsorted(edges, a, side="right")
    idx = where(a == edges[-1], n_edges - 1, idx)
    counts = zeros((n_edges,), w.dtype).at[idx].add(w, mode="drop")[1:]
    if density:
        widths = edges[1:] - edges[:-1]
        counts = counts / widths / red.sum(counts)
    return counts, edges


def histogramdd(sample: Any, bins: Any = 10, range: Sequence | None = None, weights: Any = None,
                density: bool | None = None) -> tuple:
    """``(hist, edges)`` of ``N`` points in ``D`` dimensions (``sample`` of shape ``(N, D)``)."""
    (sample,) = promote_to_inexact(asarray_any(sample))
    if sample.ndim != 2:
        raise ValueError(f"histogramdd: sample must be a 2-D array of shape (N, D), got {sample.shape}")
    d = sample.shape[1]
    bins_per_dim = [bins] * d if isinstance(bins, int) else list(bins)
    if len(bins_per_dim) != d:
        raise ValueError(f"histogramdd: got {len(bins_per_dim)} bin specifications for {d} dimensions")
    ranges = [None] * d if range is None else list(range)
    edges = [histogram_bin_edges(sample[:, i], b, r) for i, (b, r) in enumerate(zip(bins_per_dim, ranges))]
    indices = []
    for i, e in enumerate(edges):
        idx = searchsorted(e, sample[:, i], side="right")
        indices.append(where(sample[:, i] == e[-1], idx - 1, idx))
    shape = tuple(e.shape[0] + 1 for e in edges)
    from .index_tricks import ravel_multi_index
    flat = ravel_multi_index(indices, shape, mode="clip")
    w = None if weights is None else ravel(asarray_any(weights)).astype(sample.dtype)
    total = int(np.prod(shape))
    hist = bincount(flat, w, length=total).astype(sample.dtype)
    hist = reshape(hist, shape)[(slice(1, -1),) * d]
    if density:
        hist = hist / red.sum(hist)
        for i, e in enumerate(edges):
            width_shape = [1] * d
            width_shape[i] = e.shape[0] - 1
            hist = hist / reshape(e[1:] - e[:-1], tuple(width_shape))
    return hist, edges


def histogram2d(x: Any, y: Any, bins: Any = 10, range: Sequence | None = None, weights: Any = None,
                density: bool | None = None) -> tuple:
    """``(hist, xedges, yedges)`` of points ``(x[i], y[i])``."""
    from .shape import stack
    x, y = promote_to_inexact(asarray_any(x), asarray_any(y))
    try:
        n_bins = len(bins)
    except TypeError:
        n_bins = 1
    if n_bins not in (1, 2):  # one array of edges for both dimensions
        bins = [asarray_any(bins)] * 2
    hist, (ex, ey) = histogramdd(stack([x, y], axis=1), bins, range, weights, density)
    return hist, ex, ey


def digitize(x: Any, bins: Any, right: bool = False, *, method: str | None = None) -> Any:
    """Indices of the bins to which each value belongs (bins increasing or decreasing)."""
    x, bins = asarray_any(x), asarray_any(bins)
    if get_aval(bins).ndim != 1:
        raise ValueError(f"digitize: bins must be a 1-dimensional array; got bins={bins}")
    if get_aval(bins).shape[0] == 0:
        return zeros(get_aval(x).shape, dtypes.default_int())
    side = "left" if right else "right"
    inc = searchsorted(bins, x, side=side)
    dec = get_aval(bins).shape[0] - searchsorted(bins[::-1], x, side=side)
    return where(bins[-1] >= bins[0], inc, dec)


def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None, period: Any = None) -> Any:
    """Piecewise-linear interpolation of increasing sample points ``(xp, fp)`` at ``x``; ``fp`` may be complex and
    ``left``/``right`` may be 'extrapolate', as JAX."""
    x, xp, fp = asarray_any(x), asarray_any(xp), asarray_any(fp)
    if xp.shape != fp.shape or xp.ndim != 1:
        raise ValueError("xp and fp must be one-dimensional arrays of equal size")
    x, xp = promote_to_inexact(x, xp)
    (fp,) = promote_to_inexact(fp)
    extrapolate = []
    for name, v in (("left", left), ("right", right)):
        if isinstance(v, str) and v != "extrapolate":
            raise ValueError(f"the only valid string value of `{name}` is 'extrapolate', but got: {v!r}")
        extrapolate.append(isinstance(v, str))
    if dtypes.is_complex(x.dtype):
        raise ValueError("jnp.interp: complex x values not supported.")
    if period is not None:
        if np.ndim(period) != 0:
            raise ValueError(f"period must be a scalar; got {period}")
        period = uf.absolute(period)
        x, xp = uf.remainder(x, period), uf.remainder(xp, period)
        order = _argsort(xp)
        xp, fp = xp[order], fp[order]
        xp = concatenate([xp[-1:] - period, xp, xp[:1] + period])
        fp = concatenate([fp[-1:], fp, fp[:1]])
    i = clip(searchsorted(xp, x, side="right"), 1, xp.shape[0] - 1)
    df = fp[i] - fp[i - 1]
    dx = xp[i] - xp[i - 1]
    delta = x - xp[i - 1]
    dx0 = uf.absolute(dx) <= np.spacing(np.finfo(xp.dtype).eps)  # no NaN gradients when dx is tiny
    f = where(dx0, fp[i - 1], fp[i - 1] + (delta / where(dx0, 1, dx)) * df)
    if period is None:
        if not extrapolate[0]:
            f = where(x < xp[0], fp[0] if left is None else left, f)
        if not extrapolate[1]:
            f = where(x > xp[-1], fp[-1] if right is None else right, f)
    return f


def _argsort(x):
    from .misc import argsort
    return argsort(x)


def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    """The n-th discrete difference along ``axis`` (``n == 0``: ``a`` as is, without prepend/append, as JAX)."""
    a = asarray_any(a)
    if n == 0:
        return a
    nd = get_aval(a).ndim
    if nd == 0:
        raise ValueError(f"diff requires input that is at least one dimensional; got {a}")
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n}")
    axis = canonicalize_axis(axis, nd)
    parts = []
    for extra in (prepend, a, append):
        if extra is None:
            continue
        e = asarray_any(extra)
        if get_aval(e).ndim == 0:
            shape = list(get_aval(a).shape)
            shape[axis] = 1
            e = broadcast_to(e, tuple(shape))
        parts.append(e)
    a = concatenate(parts, axis) if len(parts) > 1 else a
    for _ in range(n):
        size = get_aval(a).shape[axis]
        hi = _slice(a, axis, 1, size)
        lo = _slice(a, axis, 0, size - 1)
        a = (hi != lo) if get_aval(a).dtype == dtypes.bool_ else hi - lo
    return a


def _slice(a: Any, axis: int, start: int, stop: int) -> Any:
    from ..primitives.structural import slice_in_dim
    return slice_in_dim(a, start, max(start, stop), 1, axis)


def ediff1d(ary: Any, to_end: Any = None, to_begin: Any = None) -> Any:
    a = ravel(asarray_any(ary))
    out = a[1:] - a[:-1]
    parts = ([ravel(asarray_any(to_begin)).astype(out.dtype)] if to_begin is not None else []) + [out] + (
        [ravel(asarray_any(to_end)).astype(out.dtype)] if to_end is not None else [])
    return concatenate(parts) if len(parts) > 1 else out


def trapezoid(y: Any, x: Any = None, dx: Any = 1.0, axis: int = -1) -> Any:
    """Integral of ``y`` by the trapezoidal rule (sample points ``x`` or spacing ``dx``, an array broadcasting
    against ``y``), as JAX."""
    if x is None:
        (y,) = promote_to_inexact(asarray_any(y))
        d = asarray_any(dx)
        if d.ndim > 0:
            d = moveaxis(st.expand_dims(d, tuple(range(y.ndim - d.ndim))), axis, -1)
    else:
        y, x = promote_to_inexact(asarray_any(y), asarray_any(x))
        d = diff(x) if x.ndim == 1 else moveaxis(diff(x, axis=axis), axis, -1)
    y = moveaxis(y, axis, -1)
    if d.ndim == 0 or d.shape[-1] == 1:  # dx constant along the axis
        d = d if d.ndim == 0 else d[..., 0]
        return d * (y.sum(-1) - 0.5 * (y[..., 0] + y[..., -1]))
    return 0.5 * (d * (y[..., 1:] + y[..., :-1])).sum(-1)


def gradient(f: Any, *varargs: Any, axis: int | Sequence[int] | None = None, edge_order: int | None = None) -> Any:
    """Central differences in the interior and one-sided first differences at the edges (edge_order=1),
    with scalar spacings or coordinate arrays."""
    if edge_order is not None and edge_order != 1:
        raise NotImplementedError("The 'edge_order' argument to jnp.gradient is not supported.")
    (f,) = promote_to_inexact(asarray_any(f))
    nd = f.ndim
    axes = tuple(range(nd)) if axis is None else tuple(canonicalize_axis(a, nd) for a in
                                                       ((axis,) if isinstance(axis, int) else axis))
    if not varargs:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacings = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError("Invalid number of spacing arguments passed to jnp.gradient")
    outs = []
    for ax, h in zip(axes, spacings):
        n = f.shape[ax]
        if n < 2:
            raise ValueError("Shape of array too small to calculate a numerical gradient, at least 2 elements "
                             "are required.")
        fm = moveaxis(f, ax, -1)
        if np.ndim(h) == 0 and not hasattr(h, "aval"):
            interior = (fm[..., 2:] - fm[..., :-2]) / (2.0 * h)
            first = (fm[..., 1:2] - fm[..., :1]) / h
            last = (fm[..., -1:] - fm[..., -2:-1]) / h
        else:
            xs = asarray_any(h).astype(f.dtype)
            dx = xs[1:] - xs[:-1]
            d1, d2 = dx[:-1], dx[1:]
            a_ = -d2 / (d1 * (d1 + d2))
            b_ = (d2 - d1) / (d1 * d2)
            c_ = d1 / (d2 * (d1 + d2))
            interior = a_ * fm[..., :-2] + b_ * fm[..., 1:-1] + c_ * fm[..., 2:]
            first = (fm[..., 1:2] - fm[..., :1]) / dx[0]
            last = (fm[..., -1:] - fm[..., -2:-1]) / dx[-1]
        g = concatenate([first, interior, last], axis=-1)
        outs.append(moveaxis(g, -1, ax))
    return outs[0] if len(outs) == 1 else outs


def _full_convolution(a: Any, v: Any, preferred_element_type: Any = None) -> Any:
    """``out[k] = sum_j a[j] v[k - j]`` for 1-D ``a`` and ``v`` (length n + m - 1), as a gather and a matvec."""
    n, m = a.shape[0], v.shape[0]
    padded = concatenate([zeros((m - 1,), a.dtype), a, zeros((m - 1,), a.dtype)])
    windows = take(padded, arange(n + m - 1)[:, None] + arange(m)[None, :])
    return dot(windows, v[::-1], preferred_element_type=preferred_element_type)


def _mode_slice(full: Any, n: int, m: int, mode: str, name: str) -> Any:
    if mode == "full":
        return full
    if mode == "same":
        start = (min(n, m) - 1) // 2
        return full[start:start + max(n, m)]
    if mode == "valid":
        start = min(n, m) - 1
        return full[start:start + max(n, m) - min(n, m) + 1]
    raise ValueError(f"{name}: mode must be one of 'full', 'same' or 'valid', got {mode!r}")


def _1d_pair(name: str, a: Any, v: Any, preferred_element_type: Any) -> tuple:
    """The operands promoted as JAX does: to an inexact dtype unless a ``preferred_element_type`` is given."""
    from ._util import promote_dtypes
    a, v = promote_dtypes(a, v) if preferred_element_type is not None else promote_to_inexact(a, v)
    if get_aval(a).ndim != 1 or get_aval(v).ndim != 1:
        raise ValueError(f"{name}() only supports 1-dimensional inputs, got shapes {a.shape} and {v.shape}")
    if a.shape[0] == 0 or v.shape[0] == 0:
        raise ValueError(f"{name}: inputs cannot be empty, got shapes {a.shape} and {v.shape}")
    return a, v


def convolve(a: Any, v: Any, mode: str = "full", *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """Discrete 1-D linear convolution, modes 'full', 'same' and 'valid' as numpy."""
    a, v = _1d_pair("convolve", a, v, preferred_element_type)
    n, m = a.shape[0], v.shape[0]
    return _mode_slice(_full_convolution(a, v, preferred_element_type), n, m, mode, "convolve")


def correlate(a: Any, v: Any, mode: str = "valid", *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """Cross-correlation of two 1-D sequences, ``c[k] = sum_n a[n + k] conj(v[n])``, as numpy."""
    a, v = _1d_pair("correlate", a, v, preferred_element_type)
    v = uf.conjugate(v)
    n, m = a.shape[0], v.shape[0]
    if m > n:
        return _mode_slice(_full_convolution(v, a[::-1], preferred_element_type), m, n, mode, "correlate")[::-1]
    return _mode_slice(_full_convolution(a, v[::-1], preferred_element_type), n, m, mode, "correlate")


__all__ = ["bincount", "convolve", "corrcoef", "correlate", "cov", "diff", "digitize", "ediff1d", "gradient",
           "histogram", "histogram2d", "histogram_bin_edges", "histogramdd", "interp", "median", "nanmedian",
           "nanpercentile", "nanquantile", "percentile", "quantile", "trapezoid"]
