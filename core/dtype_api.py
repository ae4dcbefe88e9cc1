"""``jax.dtypes`` over portax's dtype set: canonicalisation, JAX's ``issubdtype`` (with the abstract ``extended`` and
``prng_key`` categories), ``result_type`` through the promotion lattice of ``dtypes``, and small helpers.

portax's one kind of extended dtype is the dtype of typed PRNG key arrays (``core.prng_keys.KeyTy``, whose scalar
type is ``prng_key``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .dtypes import (TypePromotionError, bfloat16, finfo, float0, float8_e3m4, float8_e4m3,  # noqa: F401
                     float8_e4m3b11fnuz, float8_e4m3fn, float8_e4m3fnuz, float8_e5m2, float8_e5m2fnuz, float8_e8m0fnu,
                     iinfo)  # re-exported as jax.dtypes has them


class extended(np.generic):
    """Scalar class of extended dtypes (abstract)."""


class prng_key(extended):
    """Scalar class of PRNG key dtypes (``random.key(0).dtype``)."""


_PY_SCALAR_TYPES = (bool, int, float, complex)


def _as_np_dtype(dtype: Any) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"dtype {dtype!r} not understood") from e


def canonicalize_dtype(dtype: Any, allow_extended_dtype: bool = False) -> np.dtype:
    """The dtype portax stores ``dtype`` as: 64-bit types narrow to 32 bits unless x64 is enabled."""
    if isinstance(dtype, type) and issubclass(dtype, extended):
        if not allow_extended_dtype:
            raise ValueError(f"Internal: canonicalize_dtype called on extended dtype {dtype} "
                             "with allow_extended_dtype=False")
        return dtype
    d = _as_np_dtype(dtype)
    return dtypes.canonicalize(d) if d in dtypes.SUPPORTED + dtypes.COMPLEX + dtypes.CUSTOM_FLOATS + dtypes.INTN else d


def _scalar_type(x: Any) -> type:
    if isinstance(x, type) and issubclass(x, np.generic):
        return x
    if isinstance(getattr(x, "type", None), type) and issubclass(x.type, extended):  # a key dtype
        return x.type
    return np.dtype(x).type


def issubdtype(a: Any, b: Any) -> bool:
    """Whether ``a`` is ``b`` or below it in the scalar type hierarchy (``extended``/``prng_key`` included; a key
    dtype ``b`` only has the equal key dtype below it)."""
    if not isinstance(b, type) and isinstance(getattr(b, "type", None), type) and issubclass(b.type, extended):
        return not isinstance(a, type) and a == b
    a_type = _scalar_type(a)
    if issubclass(a_type, extended) or (isinstance(b, type) and issubclass(b, extended)):
        return isinstance(b, type) and issubclass(a_type, b)
    return dtypes.issubdtype(a_type, _scalar_type(b))


def _dtype(x: Any) -> np.dtype:
    """The canonical dtype of a value, a Python scalar type, a scalar type or a dtype."""
    if x is None:
        raise ValueError(f"Invalid argument to dtype: {x}.")
    if isinstance(x, type) and x in _PY_SCALAR_TYPES:
        return dtypes.python_scalar_dtype(x())
    if isinstance(x, (type, str, np.dtype)):
        return canonicalize_dtype(x)
    return dtypes.dtype_of(x)


def result_type(*args: Any, return_weak_type_flag: bool = False) -> np.dtype | tuple[np.dtype, bool]:
    """JAX's promotion of the arguments' dtypes (weak types and x64 as in JAX); ``None`` is the default float."""
    if not args:
        raise ValueError("at least one array or dtype is required")
    out = dtypes.result_type_weak(*(dtypes.default_float() if a is None else a for a in args))
    return out if return_weak_type_flag else out[0]


def scalar_type_of(x: Any) -> type:
    """The Python scalar type (bool, int, float or complex) of a value's dtype."""
    kind = dtypes.kind(_dtype(x))
    for k, t in (("b", bool), ("iu", int), ("f", float), ("c", complex)):
        if kind in k:
            return t
    raise TypeError(f"Invalid scalar value {x}")


def itemsize_bits(dtype: Any) -> int:
    """Number of bits per element of ``dtype``."""
    if dtype is None:
        raise ValueError("dtype cannot be None.")
    d = _as_np_dtype(dtype)
    if dtypes.kind(d) not in "biufc":
        raise ValueError(f"unexpected input: dtype={dtype!r}")
    return dtypes.iinfo(d).bits if d in dtypes.INTN else 8 * d.itemsize


__all__ = ["TypePromotionError", "bfloat16", "canonicalize_dtype", "extended", "finfo", "float0", "float8_e3m4",
           "float8_e4m3", "float8_e4m3b11fnuz", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
           "float8_e8m0fnu", "iinfo", "issubdtype",
           "itemsize_bits", "prng_key", "result_type", "scalar_type_of"]
