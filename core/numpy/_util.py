"""Argument handling shared by portax.numpy: conversion, dtype promotion and shape broadcasting."""
from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..config import called_from_user, config
from ..array import Array
from ..primitives import elementwise as ew, structural as st
from ..prng_key_ops import keys_lifted
from ..sharded import on_mesh
from ..sharding import current_mesh
from ..trace import get_aval, is_tracer, is_tracing


def asarray_any(x: Any, dtype=None, device: Any = None) -> Any:
    """Arrays/tracers pass through; scalars become weak arrays (on ``device``, else the default one; outside jit under
    ``set_mesh`` of Auto axes, replicated over its mesh, where JAX computes with them: ``axis_types.on_mesh``. Over
    Explicit axes they stay untyped operands, as host values passed to a jitted function); sequences are stacked."""
    if is_tracer(x) or hasattr(x, "_buf") or on_mesh(x):
        return x if dtype is None else ew.convert_element_type(x, dtype)
    out = _host_array(x, dtype, device)
    mesh = current_mesh()
    if device is not None or mesh.empty or mesh.abstract_mesh.explicit_axes or is_tracing():
        return out
    from ..axis_types import on_mesh as replicated_on_mesh
    return replicated_on_mesh(out)


def _host_array(x: Any, dtype, device: Any) -> Any:
    """``asarray_any`` of a host value (scalar, sequence, numpy array, object with ``__jax_array__``)."""
    if isinstance(x, (list, tuple)):
        if any(is_tracer(e) or hasattr(e, "_buf") or isinstance(e, (list, tuple)) for e in x):
            from .shape import stack
            if not x:
                return ew.constant(np.zeros((0,), dtype or dtypes.default_float()))
            return stack([asarray_any(e, dtype) for e in x])
        x = np.asarray(x)
        if x.dtype == np.float64 and dtype is None:
            dtype = dtypes.default_float()
        elif x.dtype == np.int64 and dtype is None:
            dtype = dtypes.default_int()
        elif x.dtype == np.complex128 and dtype is None:
            dtype = dtypes.complex_dtype(dtypes.default_float())
    if hasattr(x, "__jax_array__"):
        return asarray_any(x.__jax_array__(), dtype)
    if type(x) in (bool, int, float, complex):
        if dtype is not None:
            return ew.constant(np.asarray(x, dtypes.canonicalize(dtype)), device=device)
        return ew.constant(x, device=device)
    return ew.constant(np.asarray(x), dtype=dtype, device=device)


_WEAK_SCALARS = (int, float, complex)  # (bool is not weak: ``make_array`` gives True a strong type)


def promote_dtypes(*args: Any, scalar_shape: tuple = ()) -> list:
    """Convert arguments to their common (weak-aware) result dtype, as jnp's binary ops do (Python scalars placed
    at ``scalar_shape``)."""
    if _promoted(args):
        return list(args)
    device = next((a._device for a in args if type(a) is Array), None)  # where the operation runs: constants go there
    args = [a if type(a) in _WEAK_SCALARS else asarray_any(a, device=device) for a in args]
    dt, weak = dtypes.result_type_weak(*args)
    return [_scalar_as(a, dt, weak, scalar_shape, device) if type(a) in _WEAK_SCALARS else
            a if get_aval(a).dtype == dt and get_aval(a).weak_type == weak else
            ew.convert_element_type(a, dt, weak_type=weak) for a in args]


def _promoted(args: tuple, same_shape: bool = False, kinds: str = "") -> bool:
    """Whether the arguments are Arrays of one canonical dtype (of one of ``kinds``, if given), none weakly typed (and
    of one shape): their promotion (and broadcasting) is themselves."""
    for a in args:
        if type(a) is not Array or a.aval.weak_type or a.aval.dtype != args[0].aval.dtype or \
                (same_shape and a.aval.shape != args[0].aval.shape):
            return False
    if not args or (kinds and dtypes.kind(args[0].aval.dtype) not in kinds):
        return False
    return dtypes.canonicalize(args[0].aval.dtype) == args[0].aval.dtype


def _scalar_as(x: int | float | complex, dtype: np.dtype, weak: bool, shape: tuple, device: Any = None) -> Any:
    """A Python scalar as the Array it becomes (on ``device``, else the default one), converted to ``dtype`` on the
    host (no dispatch), as the ``convert_element_type`` primitive would (JAX's range check first; out of range of a
    narrower float is inf, with no warning), and broadcast to ``shape``."""
    host = dtypes.python_scalar_host(x)
    narrowing = dtypes.kind(dtype) in "fc" and dtype.itemsize < host.dtype.itemsize
    with np.errstate(over="ignore") if narrowing else contextlib.nullcontext():
        host = dtypes.convert_host(host, dtype)
    if shape:
        host, value = np.empty(shape, dtype), host
        np.copyto(host, value)
    return ew.constant(host, weak_type=weak, dtype=dtype, device=device)


_HOST_BROADCAST_SIZE = 4096  # elements: placing a scalar at a shape this small costs less than a broadcast program


def _eager_scalar_shape(args: tuple) -> tuple:
    """Outside tracing, the shape of the Arrays among ``args`` when the others are Python scalars and that one shape
    is small: the scalars are placed at it (saving a broadcast program per scalar); else ``()``."""
    shape, scalars = None, False
    for a in args:
        if type(a) is Array:
            if shape is None:
                shape = a.aval.shape
            elif a.aval.shape != shape:
                return ()
        elif type(a) in _WEAK_SCALARS:
            scalars = True
        else:
            return ()
    if not scalars or not shape or math.prod(shape) > _HOST_BROADCAST_SIZE or is_tracing():
        return ()
    return shape


def power_by_squaring(base: Any, n: int, mul: Callable[[Any, Any], Any]) -> Any:
    """``base`` to the static power ``n >= 1`` under the product ``mul``, by repeated squaring."""
    result = None
    while n:
        if n & 1:
            result = base if result is None else mul(result, base)
        n >>= 1
        if n:
            base = mul(base, base)
    return result


def promote_to_inexact(*args: Any, scalar_shape: tuple = ()) -> list:
    args = promote_dtypes(*args, scalar_shape=scalar_shape)
    out = []
    for a in args:
        aval = get_aval(a)
        if dtypes.kind(aval.dtype) not in "fc":
            a = ew.convert_element_type(a, dtypes.default_float(), weak_type=aval.weak_type)
        out.append(a)
    return out


def broadcast_shapes(*shapes: Sequence[int] | int) -> tuple:
    shapes = [(int(s),) if np.ndim(s) == 0 else tuple(s) for s in shapes]  # an int is a 1-d shape, as in JAX
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"Incompatible shapes for broadcasting: shapes={shapes}") from None


@keys_lifted("array")
def broadcast_to(array: Any, shape: int | Sequence[int]) -> Any:
    x = asarray_any(array)
    aval = get_aval(x)
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    if aval.shape == shape:
        return x
    nd = len(shape)
    if aval.ndim > nd:
        raise ValueError(f"Cannot broadcast to shape with fewer dimensions: arr_shape={aval.shape} shape={shape}")
    lead = nd - aval.ndim
    for i, s in enumerate(aval.shape):
        if s not in (1, shape[lead + i]):
            raise ValueError(f"Incompatible shapes for broadcasting: {aval.shape} and requested shape {shape}")
    return st.broadcast_in_dim(x, shape, tuple(range(lead, nd)))


# Frames that only pass a user's call on: array operators (``__radd__``, ...: ``_binop``'s ``op``, lambdas),
# ``ufunc.__call__`` and the key-array wrapper of ``prng_key_ops.keys_lifted``.
_SHIMS = {(os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), f)), name)
          for f, name in (("__init__.py", "<lambda>"), ("__init__.py", "op"), ("ufunc_objects.py", "__call__"),
                          (os.path.join(os.pardir, "prng_key_ops.py"), "wrapper"))}


def _is_shim(code: Any) -> bool:
    return (code.co_filename, code.co_name) in _SHIMS


def _called_by_user(frame: Any) -> bool:
    """Whether the jnp function whose arguments are handled in ``frame`` (or its callers in this module) was called
    by user code (not by portax's, which broadcasts ranks freely as JAX's does)."""
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    return frame is not None and called_from_user(frame.f_back, _is_shim)


def _check_rank_promotion(name: str, shapes: list) -> None:
    """``jax_numpy_rank_promotion``: 'warn' or 'raise' on implicit rank promotion (scalars are exempt) in a jnp
    function called by user code."""
    mode = config.numpy_rank_promotion
    if mode == "allow" or len({len(s) for s in shapes if s}) < 2 or not _called_by_user(sys._getframe(1)):
        return
    if mode == "warn":
        warnings.warn(f"Following NumPy automatic rank promotion for {name} on shapes "
                      f"{' '.join(map(str, shapes))}. Set the jax_numpy_rank_promotion config option to 'allow' to "
                      "disable this warning; for more information, see "
                      "https://docs.jax.dev/en/latest/rank_promotion_warning.html.")
    else:
        raise ValueError(f"Operands could not be broadcast together for {name} on shapes "
                         f"{' '.join(map(str, shapes))} and with the config option jax_numpy_rank_promotion='raise'. "
                         "For more information, see https://docs.jax.dev/en/latest/rank_promotion_warning.html.")


def promote_shapes(*args: Any, name: str | None = None) -> list:
    """Broadcast the arguments to their common shape (numpy's rules; ``name``: check rank promotion for it)."""
    shapes = [get_aval(a).shape for a in args]
    if all(s == shapes[0] for s in shapes):
        return list(args)
    if name is not None:
        _check_rank_promotion(name, shapes)
    shape = _broadcast_aval_shapes(shapes)
    return [a if s == shape else _broadcast_checked(a, s, shape) for a, s in zip(args, shapes)]


def _broadcast_aval_shapes(shapes: list) -> tuple:
    """``broadcast_shapes`` of abstract values' shapes (tuples of ints), in Python (which raises its error)."""
    nd = max(map(len, shapes))
    out = []
    for sizes in zip(*[(1,) * (nd - len(s)) + s for s in shapes]):
        size = 1
        for d in sizes:
            if d != 1:
                if size != 1 and d != size:
                    return broadcast_shapes(*shapes)
                size = d
        out.append(size)
    return tuple(out)


def _broadcast_checked(x: Any, x_shape: tuple, shape: tuple) -> Any:
    """``broadcast_to(x, shape)`` for a shape ``broadcast_shapes`` gave: an Array or tracer binds the primitive
    directly (other values, such as key arrays, take ``broadcast_to``)."""
    if type(x) is not Array and not is_tracer(x):
        return broadcast_to(x, shape)
    return st.broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=tuple(range(len(shape) - len(x_shape),
                                                                                       len(shape))))


def promote_args(name: str, *args: Any) -> list:
    if _promoted(args, same_shape=True):
        return list(args)
    return promote_shapes(*promote_dtypes(*args, scalar_shape=_eager_scalar_shape(args)), name=name)


def promote_args_inexact(name: str, *args: Any) -> list:
    if _promoted(args, same_shape=True, kinds="fc"):
        return list(args)
    return promote_shapes(*promote_to_inexact(*args, scalar_shape=_eager_scalar_shape(args)), name=name)


def canonicalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise ValueError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    return axis % ndim if ndim else 0


def check_arraylike(name: str, *args: Any) -> None:
    for a in args:
        if not (is_tracer(a) or hasattr(a, "_buf") or isinstance(a, (np.ndarray, np.generic, bool, int, float))
                or hasattr(a, "__jax_array__")):
            if isinstance(a, (list, tuple)):
                raise TypeError(f"{name} requires ndarray or scalar arguments, got {type(a).__name__} at position "
                                f"{args.index(a)}.")
            raise TypeError(f"{name} requires ndarray or scalar arguments, got {type(a).__name__}.")
