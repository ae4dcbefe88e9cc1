"""Argument handling shared by portax.numpy: conversion, dtype promotion and shape broadcasting."""
from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..config import called_from_user, config
from ..array import make_array
from ..primitives import elementwise as ew, structural as st
from ..prng_key_ops import keys_lifted
from ..trace import get_aval, is_tracer


def asarray_any(x: Any, dtype=None) -> Any:
    """Arrays/tracers pass through; scalars become weak arrays; sequences are stacked."""
    if is_tracer(x) or hasattr(x, "_buf"):
        return x if dtype is None else ew.convert_element_type(x, dtype)
    if isinstance(x, (list, tuple)):
        if any(is_tracer(e) or hasattr(e, "_buf") or isinstance(e, (list, tuple)) for e in x):
            from .shape import stack
            if not x:
                return make_array(np.zeros((0,), dtype or dtypes.default_float()))
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
            return make_array(np.asarray(x, dtypes.canonicalize(dtype)))
        return make_array(x)
    return make_array(np.asarray(x), dtype=dtype)


def promote_dtypes(*args: Any) -> list:
    """Convert arguments to their common (weak-aware) result dtype, as jnp's binary ops do."""
    args = [asarray_any(a) for a in args]
    dt, weak = dtypes.result_type_weak(*args)
    return [a if get_aval(a).dtype == dt and get_aval(a).weak_type == weak else
            ew.convert_element_type(a, dt, weak_type=weak) for a in args]


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


def promote_to_inexact(*args: Any) -> list:
    args = promote_dtypes(*args)
    out = []
    for a in args:
        aval = get_aval(a)
        if dtypes.kind(aval.dtype) not in "fc":
            a = ew.convert_element_type(a, dtypes.default_float(), weak_type=aval.weak_type)
        out.append(a)
    return out


def broadcast_shapes(*shapes: Sequence[int]) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise ValueError(f"Incompatible shapes for broadcasting: shapes={[tuple(s) for s in shapes]}") from None


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
    shape = broadcast_shapes(*shapes)
    return [broadcast_to(a, shape) for a in args]


def promote_args(name: str, *args: Any) -> list:
    return promote_shapes(*promote_dtypes(*args), name=name)


def promote_args_inexact(name: str, *args: Any) -> list:
    return promote_shapes(*promote_to_inexact(*args), name=name)


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
