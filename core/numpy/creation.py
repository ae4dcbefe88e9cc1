"""Array creation: array/asarray, zeros/ones/full/empty (and *_like), arange, linspace, eye, ..."""
from __future__ import annotations

import builtins
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..array import Array
from ..backend import Device
from ..axis_types import on_mesh
from ..explicit_sharding import with_out_sharding
from ..placement import following_like
from ..primitives import elementwise as ew, structural as st
from ..prng_key_ops import key_array, key_full, keys_lifted
from ..prng_keys import KeyTy, is_key_array
from ..sharding import Sharding, SingleDeviceSharding
from ..trace import concrete_or_error, get_aval, is_tracer, is_tracing
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


def _result(x: Any, out_sharding: Any, device: Any = None) -> Any:
    """A creation function's result ``x`` (put on ``device`` already): laid out by ``out_sharding``; with neither,
    typed by the mesh (``on_mesh``)."""
    if out_sharding is None and device is None:
        return on_mesh(x)
    return with_out_sharding(x, out_sharding)


def array(object: Any, dtype=None, *args: Any, copy: bool = True, order: str | None = "K", ndmin: int = 0,
          device: Any = None, out_sharding: Any = None) -> Any:
    """``jnp.array``: lists, numpy arrays and scalars become device arrays (a Python scalar stays weakly typed);
    ``copy``, ``order`` and ``ndmin`` given positionally are deprecated, as in JAX."""
    if args:
        if len(args) > 3:
            raise TypeError(f"array() takes at most 5 positional arguments but {len(args) + 2} were given")
        for i, name in enumerate(["copy", "order", "ndmin"]):
            if i < len(args) and [copy, order, ndmin][i] != [True, "K", 0][i]:
                raise TypeError(f"array() got multiple values for argument '{name}'")
        copy, order, ndmin = (list(args) + [copy, order, ndmin][len(args):])[:3]
        warnings.warn("Passing the copy, order, and ndmin arguments to jnp.array positionally is deprecated. Use "
                      "keyword arguments instead.", DeprecationWarning, stacklevel=2)
    if order is not None and order != "K":
        raise NotImplementedError("Only implemented for order='K'")
    if device is not None and out_sharding is not None:
        raise ValueError(f"Only one of `device` or `out_sharding` can be set. Got device={device} and "
                         f"out_sharding={out_sharding}")
    device = out_sharding if device is None else device
    if device is not None:
        _check_off_context_mesh(device)
    if is_key_array(object):
        return key_array(object, dtype)
    out = asarray_any(object, _dtype(dtype))
    if copy and out is object and type(out) is Array:
        from ..parallel.partition import context_mesh
        context_mesh([out], "copy")  # (JAX's error for a copy of a committed Array under ``set_mesh``)
        out = out._copy()
    aval = get_aval(out)
    if ndmin > aval.ndim:
        out = st.reshape(out, (1,) * (ndmin - aval.ndim) + aval.shape)
    return on_mesh(out) if device is None else _put(out, device)


def _check_off_context_mesh(device: Any) -> None:
    """JAX's ValueError for ``jnp.array(..., device=d)`` (a device or SingleDeviceSharding) outside jit under
    ``set_mesh``: a copy constrained to one device inside a computation over the mesh's devices."""
    if isinstance(device, SingleDeviceSharding):
        device = next(iter(device.device_set))
    if not isinstance(device, Device) or is_tracing():
        return
    from ..parallel.partition import context_mesh
    mesh = context_mesh(())
    if mesh is not None:
        raise ValueError(f"Received incompatible devices for jitted computation. Got jit's context mesh with device "
                         f"ids {[d.id for d in mesh.devices.flat]} on platform {device.platform.upper()} and "
                         f"sharding_constraint inside jit with device ids [{device.id}] on platform "
                         f"{device.platform.upper()} at ")


def asarray(a: Any, dtype=None, order: str | None = None, *, copy: bool | None = None, device: Any = None,
            out_sharding: Any = None) -> Any:
    return array(a, dtype=dtype, copy=bool(copy), order=order, device=device, out_sharding=out_sharding)


def _check_forgot_shape_tuple(name: str, shape: Any, dtype: Any) -> None:
    """JAX's hint for ``jnp.zeros(2, 3)`` (meant ``jnp.zeros((2, 3))``)."""
    if isinstance(dtype, int) and isinstance(shape, int):
        raise TypeError(f"Cannot interpret '{dtype}' as a data type.\n\nDid you accidentally write "
                        f"`jax.numpy.{name}({shape}, {dtype})` when you meant `jax.numpy.{name}(({shape}, {dtype}))`, "
                        f"i.e. with a single tuple argument for the shape?")


def zeros(shape: Any, dtype=None, *, device: Any = None, out_sharding: Any = None) -> Any:
    _check_forgot_shape_tuple("zeros", shape, dtype)
    if isinstance(dtype, KeyTy):
        return key_full(shape, 0, dtype)
    return _result(_put(st.full(st.canonicalize_shape(shape), 0, _dtype(dtype, dtypes.default_float())), device),
                   out_sharding, device)


def ones(shape: Any, dtype=None, *, device: Any = None, out_sharding: Any = None) -> Any:
    _check_forgot_shape_tuple("ones", shape, dtype)
    if isinstance(dtype, KeyTy):
        return key_full(shape, 1, dtype)
    return _result(_put(st.full(st.canonicalize_shape(shape), 1, _dtype(dtype, dtypes.default_float())), device),
                   out_sharding, device)


def empty(shape: Any, dtype=None, *, device: Any = None, out_sharding: Any = None) -> Any:
    _check_forgot_shape_tuple("empty", shape, dtype)
    return zeros(shape, dtype, device=device, out_sharding=out_sharding)


def full(shape: Any, fill_value: Any, dtype=None, *, device: Any = None, out_sharding: Any = None) -> Any:
    if isinstance(dtype, KeyTy):
        return with_out_sharding(key_full(shape, fill_value, dtype), out_sharding)
    return _result(_put(_full(shape, fill_value, dtype), device), out_sharding, device)


def _full(shape: Any, fill_value: Any, dtype, weak_type: bool = False) -> Any:
    if dtype is not None and type(fill_value) in (bool, int, float, complex):  # lax.full: the scalar takes dtype
        return st.full(st.canonicalize_shape(shape), fill_value, _dtype(dtype), weak_type)
    fill = asarray_any(fill_value)
    dt = _dtype(dtype, get_aval(fill).dtype)
    fill = ew.convert_element_type(fill, dt, weak_type or dtype is None and get_aval(fill).weak_type)  # (as JAX)
    shape = st.canonicalize_shape(shape)
    if get_aval(fill).ndim:
        return broadcast_to(fill, shape)
    return st.broadcast_in_dim(fill, shape, ())


def _like(a, dtype, shape) -> tuple[tuple, Any, bool]:
    """Shape, dtype and weak type of a value made like ``a`` (weak when ``a`` is and no dtype is given, as JAX)."""
    aval = get_aval(asarray_any(a))
    return ((aval.shape if shape is None else st.canonicalize_shape(shape)), _dtype(dtype, aval.dtype),
            dtype is None and aval.weak_type)


def _made_like(make: Callable[[], Any], a: Any, dtype, shape: tuple, device: Any) -> Any:
    """``make()`` placed as ``_placed_like`` places it; made on the device of a committed Array ``a`` it is placed
    with (not made on the default device and moved: the default backend may lack its dtype)."""
    if device is not None:
        return _put(make(), device)
    with following_like(a, shape, dtype is None and get_aval(a).weak_type):
        return _placed_like(make(), a, dtype, device)


def _placed_like(val: Any, a: Any, dtype, device: Any) -> Any:
    """``val`` on ``device``, else, as JAX's ``lax.full_like``, where a concrete, strongly typed array ``a`` of the
    same shape is (its device or its sharding)."""
    if device is not None:
        return _put(val, device)
    if type(a) is Array and type(val) is Array and a.device is val.device:  # the common case, decided at once
        return val
    if is_tracer(a) and get_aval(a).sharding is not None and get_aval(a).shape == get_aval(val).shape:
        return with_out_sharding(val, get_aval(a).sharding)  # (a traced value's type: its sharding, as in JAX)
    sharding = getattr(a, "sharding", None)
    if (not isinstance(sharding, Sharding) or get_aval(a).shape != get_aval(val).shape
            or (dtype is None and get_aval(a).weak_type) or sharding == getattr(val, "sharding", None)):
        return val
    from ..api import device_put
    return device_put(val, sharding)


@keys_lifted("a")
def zeros_like(a: Any, dtype=None, shape=None, *, device: Any = None, out_sharding: Any = None) -> Any:
    s, d, weak = _like(a, dtype, shape)
    return _result(_made_like(lambda: st.full(s, 0, d, weak), a, dtype, s, device), out_sharding, device)


@keys_lifted("a")
def ones_like(a: Any, dtype=None, shape=None, *, device: Any = None, out_sharding: Any = None) -> Any:
    s, d, weak = _like(a, dtype, shape)
    return _result(_made_like(lambda: st.full(s, 1, d, weak), a, dtype, s, device), out_sharding, device)


@keys_lifted("prototype")
def empty_like(prototype: Any, dtype=None, shape=None, *, device: Any = None) -> Any:
    return zeros_like(prototype, dtype, shape, device=device)


@keys_lifted("a")
def full_like(a: Any, fill_value: Any, dtype=None, shape=None, *, device: Any = None,
              out_sharding: Any = None) -> Any:
    s, d, weak = _like(a, dtype, shape)
    return _result(_made_like(lambda: _full(s, fill_value, d, weak), a, dtype, s, device), out_sharding, device)


def arange(start: Any, stop: Any = None, step: Any = None, dtype=None, *, device: Any = None,
           out_sharding: Any = None) -> Any:
    """``jnp.arange`` with concrete bounds (its length is part of the shape)."""
    return _result(_put(_arange(start, stop, step, dtype), device), out_sharding, device)


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


def _to_inexact(dtype) -> np.dtype:
    """JAX's ``to_inexact_dtype``: 64-bit integers to float64, other integers and booleans to float32."""
    d = np.dtype(dtype)
    if dtypes.kind(d) in "fc":
        return d
    return dtypes.canonicalize(np.float64 if d.itemsize == 8 else np.float32)


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, retstep: bool = False, dtype=None,
             axis: int = 0, *, device: Any = None) -> Any:
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = asarray_any(start), asarray_any(stop)
    # as JAX, the bounds are not promoted together when ``dtype`` is given
    dt = dtypes.canonicalize(dtype) if dtype is not None else _to_inexact(dtypes.result_type(start, stop))
    ct = _to_inexact(dt)  # complex bounds interpolate in complex, as JAX
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
    out = _result(_put(ew.convert_element_type(out, dt) if dt != ct else out, device), None, device)
    if num == 0 or (num == 1 and endpoint):  # numpy's (and JAX's) step when no interval is spanned
        step = st.full((), np.nan, ct)
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
    if isinstance(k, int):  # a Python int past int32 puts the diagonal outside any matrix, as JAX's clip
        k = int(np.clip(k, np.iinfo(np.int32).min, np.iinfo(np.int32).max))
    k = ew.convert_element_type(asarray_any(k), dtypes.int32)  # k may be traced, as in JAX
    return _result(_put(ew.convert_element_type(ew.eq(ew.add(r, k), c), dt), device), None, device)


def identity(n: int, dtype=None) -> Any:
    return eye(n, dtype=dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype=None) -> Any:
    """Ones at and below the ``k``-th diagonal (``k`` may be traced); float32 by default, as JAX."""
    N, M = st.canonicalize_shape((N, N if M is None else M))
    dt = _dtype(dtype, dtypes.float32)
    offset = asarray_any(k)
    if not dtypes.is_int(get_aval(offset).dtype):
        raise TypeError(f"offset must be an integer, got {k!r}")
    wide = builtins.max(N, M) > np.iinfo(np.int32).max or get_aval(offset).dtype.itemsize > 4
    idx = dtypes.int64 if wide else dtypes.int32
    r = st.broadcasted_iota(idx, (N, M), 0)
    c = st.broadcasted_iota(idx, (N, M), 1)
    return on_mesh(ew.convert_element_type(ew.le(c, ew.add(r, ew.convert_element_type(offset, idx))), dt))


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
        return tuple(map(on_mesh, outs))
    from .shape import stack
    return on_mesh(stack(outs)) if outs else zeros((0,), dt)


def geomspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype=None, axis: int = 0) -> Any:
    """Numbers spaced evenly on a log scale between ``start`` and ``stop`` along ``axis`` (complex bounds follow
    the spiral between them), as JAX."""
    from .shape import moveaxis
    from .ufuncs import log10, sign
    start, stop = asarray_any(start), asarray_any(stop)
    dt = _to_inexact(dtypes.result_type(start, stop)) if dtype is None else dtypes.canonicalize(dtype)
    ct = _to_inexact(dt)
    start, stop = ew.convert_element_type(start, ct), ew.convert_element_type(stop, ct)
    s = sign(start)
    out = s * logspace(log10(start / s), log10(stop / s), num, endpoint=endpoint, base=10.0, dtype=ct, axis=0)
    return ew.convert_element_type(moveaxis(out, 0, axis), dt)


def copy(a: Any, order: str | None = None) -> Any:
    return array(a, copy=True)


def from_dlpack(x: Any, /, *, device: Any = None, copy: bool | None = None) -> Any:
    """An array from any object implementing ``__dlpack__`` (through the host)."""
    return _put(asarray_any(np.from_dlpack(x)), device)


def frombuffer(buffer: Any, dtype=float, count: int = -1, offset: int = 0) -> Any:
    return asarray(np.frombuffer(buffer, dtype=dtype, count=count, offset=offset))


def fromstring(string: str, dtype=float, count: int = -1, *, sep: str) -> Any:
    return asarray(np.fromstring(string, dtype=dtype, count=count, sep=sep))


def fromiter(iter: Any, dtype, count: int = -1, *, like: None = None) -> Any:
    return asarray_any(np.fromiter(iter, dtype=dtype, count=count))


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
