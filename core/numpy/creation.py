"""Array creation: array/asarray, zeros/ones/full/empty (and *_like), arange, linspace, eye, ..."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..primitives import elementwise as ew, structural as st
from ..trace import concrete_or_error, get_aval
from ._util import asarray_any, broadcast_shapes, broadcast_to, canonicalize_axis


def _dtype(dtype, default=None):
    if dtype is None:
        return default
    return dtypes.canonicalize(dtype)


def _put(x: Any, device: Any) -> Any:
    """``x`` on ``device`` (a Device or a backend name) when one is given: the ``device=`` of creation functions."""
    if device is None:
        return x
    from ..api import device_put
    return device_put(x, device)


def array(object: Any, dtype=None, copy: bool = True, order: str | None = None, ndmin: int = 0, *,
          device: Any = None) -> Any:
    """``jnp.array``: lists, numpy arrays and scalars become device arrays (a Python scalar stays weakly typed)."""
    out = asarray_any(object, _dtype(dtype))
    aval = get_aval(out)
    if ndmin > aval.ndim:
        out = st.reshape(out, (1,) * (ndmin - aval.ndim) + aval.shape)
    return _put(out, device)


def asarray(a: Any, dtype=None, order: str | None = None, *, copy: bool | None = None, device: Any = None) -> Any:
    return array(a, dtype=dtype, copy=bool(copy), order=order, device=device)


def zeros(shape: Any, dtype=None, *, device: Any = None) -> Any:
    return _put(st.full(st.canonicalize_shape(shape), 0, _dtype(dtype, dtypes.default_float())), device)


def ones(shape: Any, dtype=None, *, device: Any = None) -> Any:
    return _put(st.full(st.canonicalize_shape(shape), 1, _dtype(dtype, dtypes.default_float())), device)


def empty(shape: Any, dtype=None, *, device: Any = None) -> Any:
    return zeros(shape, dtype, device=device)


def full(shape: Any, fill_value: Any, dtype=None, *, device: Any = None) -> Any:
    fill = asarray_any(fill_value)
    dt = _dtype(dtype, get_aval(fill).dtype)
    shape = st.canonicalize_shape(shape)
    if get_aval(fill).ndim:
        from ._util import broadcast_to
        return _put(broadcast_to(ew.convert_element_type(fill, dt), shape), device)
    return _put(st.broadcast_in_dim(ew.convert_element_type(fill, dt), shape, ()), device)


def _like(a, dtype, shape):
    aval = get_aval(asarray_any(a))
    return (aval.shape if shape is None else st.canonicalize_shape(shape)), _dtype(dtype, aval.dtype)


def zeros_like(a: Any, dtype=None, shape=None, *, device: Any = None) -> Any:
    s, d = _like(a, dtype, shape)
    return _put(st.full(s, 0, d), device)


def ones_like(a: Any, dtype=None, shape=None, *, device: Any = None) -> Any:
    s, d = _like(a, dtype, shape)
    return _put(st.full(s, 1, d), device)


def empty_like(a: Any, dtype=None, shape=None, *, device: Any = None) -> Any:
    return zeros_like(a, dtype, shape, device=device)


def full_like(a: Any, fill_value: Any, dtype=None, shape=None, *, device: Any = None) -> Any:
    s, d = _like(a, dtype, shape)
    return full(s, fill_value, d, device=device)


def arange(start: Any, stop: Any = None, step: Any = None, dtype=None, *, device: Any = None) -> Any:
    """``jnp.arange`` with concrete bounds (its length is part of the shape)."""
    return _put(_arange(start, stop, step, dtype), device)


def _arange(start: Any, stop: Any, step: Any, dtype) -> Any:
    ctx = "It arose in jnp.arange: its arguments must be concrete, since they set the output shape."
    if any(np.iscomplexobj(v) for v in (start, stop, step) if v is not None):
        raise ValueError("Passing complex start/stop/step to jnp.arange is no longer supported starting in JAX "
                         "v0.10.0.")
    start_v = concrete_or_error(start, ctx)
    stop_v = None if stop is None else concrete_or_error(stop, ctx)
    step_v = None if step is None else concrete_or_error(step, ctx)
    ref = np.arange(start_v, stop_v, step_v) if stop is not None or step is not None else np.arange(start_v)
    if dtype is None:
        dtype = dtypes.default_float() if dtypes.kind(ref.dtype) == "f" else dtypes.default_int()
    dt = dtypes.canonicalize(dtype)
    if stop is None and step is None:
        return st.iota(dt, len(ref))
    n = len(ref)
    s0 = start_v
    stp = 1 if step_v is None else step_v
    if dtypes.kind(dt) in "iu" and float(s0) == int(s0) and float(stp) == int(stp):
        io = st.iota(dt, n)
        if not n:
            return io
        return ew.add(ew.mul(io, ew.convert_element_type(int(stp), dt)), ew.convert_element_type(int(s0), dt))
    return asarray_any(np.arange(start_v, stop_v, step_v).astype(dt))


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, retstep: bool = False, dtype=None,
             axis: int = 0, *, device: Any = None) -> Any:
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = asarray_any(start), asarray_any(stop)
    dt = _dtype(dtype, dtypes.default_float() if dtypes.kind(get_aval(start).dtype) != "f" else
                dtypes.result_type(start, stop))
    ct = dt if dtypes.kind(dt) == "f" else dtypes.default_float()
    bounds = broadcast_shapes(get_aval(start).shape, get_aval(stop).shape)
    start, stop = (broadcast_to(ew.convert_element_type(v, ct), bounds) for v in (start, stop))
    axis = canonicalize_axis(axis, len(bounds) + 1)
    shape = bounds[:axis] + (num,) + bounds[axis:]
    div = (num - 1) if endpoint else num
    step = ew.div(ew.sub(stop, start), ew.convert_element_type(max(div, 1), ct))
    io = st.broadcast_in_dim(ew.convert_element_type(st.iota(dtypes.int32, num), ct), shape, (axis,))
    along = [d for d in range(len(shape)) if d != axis]  # start, stop and step spread along ``axis``
    out = ew.add(st.broadcast_in_dim(start, shape, along), ew.mul(io, st.broadcast_in_dim(step, shape, along)))
    if endpoint and num > 1:
        out = st.concatenate([st.slice_in_dim(out, 0, num - 1, 1, axis), st.expand_dims(stop, (axis,))], axis)
    if dtypes.kind(dt) in "iu":  # integer samples round down, as numpy and JAX
        out = ew.floor(out)
    out = _put(ew.convert_element_type(out, dt) if dt != ct else out, device)
    return (out, step) if retstep else out


def logspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, base: float = 10.0, dtype=None,
             axis: int = 0) -> Any:
    from .ufuncs import power
    lin = linspace(start, stop, num, endpoint, axis=axis)
    out = power(asarray_any(float(base)), lin)
    return out if dtype is None else ew.convert_element_type(out, dtypes.canonicalize(dtype))


def eye(N: int, M: int | None = None, k: int = 0, dtype=None, *, device: Any = None) -> Any:
    (n,), (m,) = st.canonicalize_shape(N), st.canonicalize_shape(N if M is None else M)
    if n < 0 or m < 0:
        raise ValueError(f"negative dimensions are not allowed, got {N} and {M}")
    N, M = n, m
    dt = _dtype(dtype, dtypes.default_float())
    r = st.broadcasted_iota(dtypes.int32, (N, M), 0)
    c = st.broadcasted_iota(dtypes.int32, (N, M), 1)
    k = ew.convert_element_type(asarray_any(k), dtypes.int32)  # k may be traced, as in JAX
    return _put(ew.convert_element_type(ew.eq(ew.add(r, k), c), dt), device)


def identity(n: int, dtype=None) -> Any:
    return eye(n, dtype=dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype=None) -> Any:
    M = N if M is None else M
    dt = _dtype(dtype, dtypes.default_float())
    r = st.broadcasted_iota(dtypes.int32, (N, M), 0)
    c = st.broadcasted_iota(dtypes.int32, (N, M), 1)
    return ew.convert_element_type(ew.le(c, ew.add(r, ew.convert_element_type(int(k), dtypes.int32))), dt)


def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> list:
    from ._util import broadcast_to
    arrays = [st.reshape(asarray_any(x), (-1,)) if get_aval(asarray_any(x)).ndim != 1 else asarray_any(x) for x in xi]
    n = len(arrays)
    shapes = [get_aval(a).shape[0] for a in arrays]
    if indexing == "xy" and n >= 2:
        shapes[0], shapes[1] = shapes[1], shapes[0]
    out = []
    for i, a in enumerate(arrays):
        pos = i
        if indexing == "xy" and n >= 2 and i < 2:
            pos = 1 - i
        shape = [1] * n
        shape[pos] = get_aval(a).shape[0]
        r = st.reshape(a, tuple(shape))
        out.append(r if sparse else broadcast_to(r, tuple(shapes)))
    return out


def indices(dimensions: Sequence[int], dtype=None, sparse: bool = False) -> Any:
    dt = _dtype(dtype, dtypes.default_int())
    dims = tuple(int(d) for d in dimensions)
    outs = []
    for i, d in enumerate(dims):
        if sparse:
            shape = [1] * len(dims)
            shape[i] = d
            outs.append(st.broadcasted_iota(dt, tuple(shape), i))
        else:
            outs.append(st.broadcasted_iota(dt, dims, i))
    if sparse:
        return tuple(outs)
    from .shape import stack
    return stack(outs) if outs else zeros((0,), dt)


def geomspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype=None, axis: int = 0) -> Any:
    """Numbers spaced evenly on a log scale between ``start`` and ``stop`` (same signs), along ``axis``."""
    from .shape import moveaxis
    from .ufuncs import exp, log, sign, absolute
    start, stop = asarray_any(start), asarray_any(stop)
    s = sign(start)
    out = s * exp(linspace(log(absolute(start)), log(absolute(stop)), num, endpoint=endpoint))
    if num > 0:
        out = out.at[0].set(start.astype(out.dtype))
    if num > 1 and endpoint:
        out = out.at[-1].set(stop.astype(out.dtype))
    out = moveaxis(out, 0, axis)
    return out if dtype is None else out.astype(dtypes.canonicalize(dtype))


def copy(a: Any, order: str | None = None) -> Any:
    return array(a, copy=True)


def from_dlpack(x: Any, /, *, device: Any = None, copy: bool | None = None) -> Any:
    """An array from any object implementing ``__dlpack__`` (through the host)."""
    return _put(asarray_any(np.from_dlpack(x)), device)


def frombuffer(buffer: Any, dtype=float, count: int = -1, offset: int = 0) -> Any:
    return asarray_any(np.frombuffer(buffer, dtype=dtype, count=count, offset=offset))


def fromstring(string: str, dtype=float, count: int = -1, *, sep: str) -> Any:
    return asarray_any(np.fromstring(string, dtype=dtype, count=count, sep=sep))


def fromiter(iterable: Any, dtype, count: int = -1) -> Any:
    return asarray_any(np.fromiter(iterable, dtype=dtype, count=count))


def fromfile(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("jnp.fromfile() is not implemented because it may be non-pure and thus unsafe for use "
                              "with JIT and other JAX transformations. Consider using jnp.asarray(np.fromfile(...)) "
                              "instead, although care should be taken if np.fromfile is used within jax "
                              "transformations.")


def load(file: Any, *args: Any, **kwargs: Any) -> Any:
    """``numpy.load``, with arrays converted to portax arrays."""
    out = np.load(file, *args, **kwargs)
    return asarray_any(out) if isinstance(out, np.ndarray) and out.dtype != object else out


save, savez = np.save, np.savez


__all__ = ["arange", "array", "asarray", "copy", "empty", "empty_like", "eye", "from_dlpack", "frombuffer",
           "fromfile", "fromiter", "fromstring", "full", "full_like", "geomspace", "identity", "indices", "linspace",
           "load", "logspace", "meshgrid", "ones", "ones_like", "save", "savez", "tri", "zeros", "zeros_like"]
