"""dtypes: the supported set, x64 canonicalisation, weak types and JAX's type-promotion lattice."""
from __future__ import annotations

import functools
import warnings
from typing import Any

import ml_dtypes
import numpy as np

from .config import ExplicitX64Mode, config, hot as config_hot

bool_ = np.dtype(np.bool_)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
float16, float32, float64 = (np.dtype(t) for t in (np.float16, np.float32, np.float64))
complex64, complex128 = np.dtype(np.complex64), np.dtype(np.complex128)
# float0 is the dtype of tangents of integer values, as in JAX.
float0 = np.dtype([("float0", np.void, 0)])
# The narrow floats of ``ml_dtypes`` that JAX has (numpy gives their dtypes kind "V": use ``kind``).
bfloat16 = np.dtype(ml_dtypes.bfloat16)
FLOAT8 = tuple(np.dtype(getattr(ml_dtypes, n)) for n in (
    "float8_e3m4", "float8_e4m3", "float8_e4m3b11fnuz", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
    "float8_e5m2fnuz", "float8_e8m0fnu"))
(float8_e3m4, float8_e4m3, float8_e4m3b11fnuz, float8_e4m3fn, float8_e4m3fnuz, float8_e5m2, float8_e5m2fnuz,
 float8_e8m0fnu) = FLOAT8
CUSTOM_FLOATS = (bfloat16,) + FLOAT8
_CUSTOM_FLOAT_SET = frozenset(CUSTOM_FLOATS)
_CUSTOM_FLOAT_TYPES = frozenset(d.type for d in CUSTOM_FLOATS)
# The sub-byte integers of ``ml_dtypes`` that JAX has (one per byte on the host; numpy says kind "V").
INTN = tuple(np.dtype(getattr(ml_dtypes, n)) for n in ("int2", "uint2", "int4", "uint4"))
int2, uint2, int4, uint4 = INTN
_INTN_KIND = {int2: "i", int4: "i", uint2: "u", uint4: "u"}
_INTN_PARENTS = {"i": (np.signedinteger, np.integer, np.number, np.generic),
                 "u": (np.unsignedinteger, np.integer, np.number, np.generic)}

# The real dtypes every backend may claim. Complex values are pairs of real ones: a backend that does not list
# complex64/complex128 among its dtypes gets them split into (real, imaginary) parts (``complex_lowering``).
SUPPORTED = (bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, float32, float64)
COMPLEX = (complex64, complex128)
_SUPPORTED_SET = frozenset(SUPPORTED + COMPLEX + CUSTOM_FLOATS + INTN)
_X64_NARROW = {int64: int32, uint64: uint32, float64: float32, complex128: complex64}
_PARTS = {complex64: float32, complex128: float64}
_COMPLEX_OF = {float32: complex64, float64: complex128, float16: complex64, bfloat16: complex64}


def kind(dtype) -> str:
    """numpy's kind letter of ``dtype``, with "f" for the ``ml_dtypes`` floats and "i"/"u" for its sub-byte
    integers (numpy says "V")."""
    d = np.dtype(dtype)
    return "f" if d in _CUSTOM_FLOAT_SET else _INTN_KIND.get(d, d.kind)


def is_custom_float(dtype) -> bool:
    """Whether ``dtype`` is one of the ``ml_dtypes`` floats (bfloat16, float8_*)."""
    return np.dtype(dtype) in _CUSTOM_FLOAT_SET


def is_float(dtype) -> bool:
    return kind(dtype) == "f"


def is_int(dtype) -> bool:
    return kind(dtype) in "iu"


def is_unsigned(dtype) -> bool:
    return kind(dtype) == "u"


def is_bool(dtype) -> bool:
    return np.dtype(dtype).kind == "b"


def is_complex(dtype) -> bool:
    return np.dtype(dtype).kind == "c"


def real_dtype(dtype) -> np.dtype:
    """The dtype of the real and imaginary parts of a complex dtype (other dtypes map to themselves)."""
    d = np.dtype(dtype)
    return _PARTS.get(d, d)


def complex_dtype(dtype) -> np.dtype:
    """The complex dtype whose parts have the (floating) ``dtype``."""
    d = np.dtype(dtype)
    return d if d.kind == "c" else _COMPLEX_OF[d]


_FLOAT_PARENTS = (np.floating, np.inexact, np.number, np.generic)


def issubdtype(a, b) -> bool:
    """``np.issubdtype``, with the ``ml_dtypes`` floats below ``np.floating`` and its sub-byte integers below
    ``np.signedinteger``/``np.unsignedinteger`` (as in JAX)."""
    a_type = a if isinstance(a, type) and issubclass(a, np.generic) else np.dtype(a).type
    b_type = b if isinstance(b, type) and issubclass(b, np.generic) else np.dtype(b).type
    if a_type in _CUSTOM_FLOAT_TYPES:
        return b_type is a_type or b_type in _FLOAT_PARENTS
    if np.dtype(a_type) in _INTN_KIND:
        return b_type is a_type or b_type in _INTN_PARENTS[_INTN_KIND[np.dtype(a_type)]]
    return bool(np.issubdtype(a_type, b))


def canonicalize(dtype) -> np.dtype:
    """Map a requested dtype to the one portax computes in (64-bit types narrow unless x64 is on)."""
    d = np.dtype(dtype)
    if d not in _SUPPORTED_SET:
        if d == float0:
            raise TypeError("float0s do not support any operations by design because they are not compatible with "
                            "non-trivial vector spaces. No implicit dtype conversion is done. You can use "
                            "np.zeros_like(arr, dtype=np.float) to cast a float0 array to a regular zeros array. \nIf "
                            "you didn't expect to get a float0 you might have accidentally taken a gradient with "
                            "respect to an integer argument.")
        raise TypeError(f"portax does not support dtype {d}")
    if not config_hot()[0][0]:  # x64 off
        return _X64_NARROW.get(d, d)
    return d


def canonicalize_explicit(dtype: Any, fun_name: str = "") -> np.dtype:
    """``canonicalize`` of a dtype the user asked for, per ``jax_explicit_x64_dtypes`` when it narrows: WARN warns,
    ERROR raises JAX's ValueError (ALLOW, 64-bit types without x64, portax does not have)."""
    d = np.dtype(dtype)
    narrow = canonicalize(d)
    if narrow == d:
        return d
    mode = config.jax_explicit_x64_dtypes
    requested = f" requested in {fun_name}" if fun_name else ""
    if mode == ExplicitX64Mode.ALLOW:
        raise NotImplementedError(f"jax_explicit_x64_dtypes=ALLOW: portax has no 64-bit dtype ({d}{requested}) "
                                  "without jax_enable_x64")
    if mode == ExplicitX64Mode.ERROR:
        raise ValueError(f"Explicitly requested dtype {d}{requested} is not available. To enable more dtypes, set the "
                         "jax_enable_x64 or allow_explicit_x64_dtypes configuration options.See "
                         "https://github.com/jax-ml/jax#current-gotchas for more.")
    warnings.warn(f"Explicitly requested dtype {d}{requested} is not available, and will be truncated to dtype "
                  f"{narrow.name}. To enable more dtypes, set the jax_enable_x64 configuration option or the "
                  "JAX_ENABLE_X64 shell environment variable. See https://github.com/jax-ml/jax#current-gotchas for "
                  "more.", stacklevel=4)
    return narrow


def default_int() -> np.dtype:
    return int64 if config_hot()[0][0] else int32  # (x64 from the hot values: one thread-local read)


def default_uint() -> np.dtype:
    return uint64 if config_hot()[0][0] else uint32


def default_float() -> np.dtype:
    return float64 if config_hot()[0][0] else float32


def python_scalar_dtype(x: Any) -> np.dtype:
    """The (weak) dtype a Python scalar gets."""
    if isinstance(x, bool):
        return bool_
    if isinstance(x, int):
        return default_int()
    if isinstance(x, float):
        return default_float()
    if isinstance(x, complex):
        return complex128 if config.enable_x64 else complex64
    raise TypeError(f"not a Python scalar: {type(x).__name__}")


def python_scalar_host(x: Any) -> np.ndarray:
    """A Python scalar as a 0-d array of the dtype it gets (``python_scalar_dtype``); a Python int out of that
    dtype's range raises JAX's OverflowError."""
    dtype = python_scalar_dtype(x)
    if type(x) is int and not _INT_RANGE[dtype][0] <= x <= _INT_RANGE[dtype][1]:
        raise OverflowError(f"Python int {x} too large to convert to {dtype}")  # JAX's message
    return np.asarray(x, dtype)


_INT_RANGE = {d: (int(np.iinfo(d).min), int(np.iinfo(d).max)) for d in (np.dtype(np.int32), np.dtype(np.int64))}


def dtype_of(x: Any) -> np.dtype:
    """The canonical dtype of an array-like or scalar, as portax would store it."""
    if isinstance(x, (bool, int, float, complex)):
        return python_scalar_dtype(x)
    dt = getattr(x, "dtype", None)
    if dt is None:
        dt = np.asarray(x).dtype
    return canonicalize(dt)


def is_weakly_typed(x: Any) -> bool:
    if type(x) in (bool, int, float, complex):
        return True
    aval = getattr(x, "aval", None)
    return bool(aval is not None and aval.weak_type)


# --- type promotion: the least upper bound in JAX's lattice ---------------------------------------
# Nodes are dtypes plus the weak kinds 'i*' (Python int) and 'f*' (Python float).
_LATTICE = {
    "b": ["i*"],
    "i*": ["u8", "i8", "u2", "u4", "i2", "i4"], "u2": [], "u4": [], "i2": [], "i4": [],
    "u8": ["i16", "u16"], "u16": ["i32", "u32"], "u32": ["i64", "u64"], "u64": ["f*"],
    "i8": ["i16"], "i16": ["i32"], "i32": ["i64"], "i64": ["f*"],
    "f*": ["bf16", "f16", "c*"] + [d.name for d in FLOAT8], "bf16": ["f32"], "f16": ["f32"], "f32": ["f64", "c64"],
    "f64": ["c128"], "c*": ["c64"], "c64": ["c128"], "c128": [], **{d.name: [] for d in FLOAT8},
}
_NODE_OF = {bool_: "b", uint8: "u8", uint16: "u16", uint32: "u32", uint64: "u64", int8: "i8",
            int16: "i16", int32: "i32", int64: "i64", float16: "f16", float32: "f32", float64: "f64",
            complex64: "c64", complex128: "c128", bfloat16: "bf16", **{d: d.name for d in FLOAT8},
            int2: "i2", int4: "i4", uint2: "u2", uint4: "u4"}
_DTYPE_OF = {v: k for k, v in _NODE_OF.items()}


# In 'strict' mode (jax_numpy_dtype_promotion) only weak types promote: to their own or a higher kind.
_STRICT_WEAK = {"i*": (("i*", "f*", "c*"), "iufc"), "f*": (("f*", "c*"), "fc"), "c*": (("c*",), "c")}
_WEAK_PY_TYPE = {"i*": int, "f*": float, "c*": complex}


class TypePromotionError(ValueError):
    """Raised when JAX type promotion fails."""


@functools.lru_cache(None)
def _upper(node: str, strict: bool = False) -> frozenset:
    if strict:
        if node not in _STRICT_WEAK:
            return frozenset((node,))
        weak, kinds = _STRICT_WEAK[node]
        return frozenset(weak + tuple(n for n, d in _DTYPE_OF.items() if kind(d) in kinds))
    out = {node}
    for n in _LATTICE[node]:
        out |= _upper(n)
    return frozenset(out)


def _node(dtype: np.dtype, weak: bool) -> str:
    if weak and kind(dtype) in "iu":
        return "i*"
    if weak and kind(dtype) == "f":
        return "f*"
    if weak and dtype.kind == "c":
        return "c*"
    return _NODE_OF[dtype]


@functools.lru_cache(None)
def _lub(a: str, b: str, strict: bool) -> str | None:
    """The least upper bound of two nodes, or None when they have none (strict mode)."""
    common = _upper(a, strict) & _upper(b, strict)
    least = [n for n in common if all(m in _upper(n, strict) for m in common)]
    return least[0] if len(least) == 1 else None


def _no_promotion_path(nodes: list, strict: bool) -> TypePromotionError:
    names = tuple(str(_WEAK_PY_TYPE[n]) if n in _WEAK_PY_TYPE else str(_DTYPE_OF[n]) for n in dict.fromkeys(nodes))
    if strict:
        return TypePromotionError(
            f"Input dtypes {names} have no available implicit dtype promotion path when "
            "jax_numpy_dtype_promotion=strict. Try explicitly casting inputs to the desired output type, or set "
            "jax_numpy_dtype_promotion=standard.")
    if any(n in _DTYPE_OF and _DTYPE_OF[n] in FLOAT8 for n in nodes):
        return TypePromotionError(
            f"Input dtypes {names} have no available implicit dtype promotion path. To avoid unintended "
            "promotion, 8-bit floats do not support implicit promotion. If you'd like your inputs to be promoted "
            "to another type, you can do so explicitly using e.g. x.astype('float32')")
    if any(n in _DTYPE_OF and _DTYPE_OF[n] in _INTN_KIND for n in nodes):
        return TypePromotionError(
            f"Input dtypes {names} have no available implicit dtype promotion path. To avoid unintended "
            "promotion, 1-bit, 2-bit and 4-bit integers do not support implicit promotion. If you'd like your "
            "inputs to be promoted to another type, you can do so explicitly using e.g. x.astype('int32')")
    return TypePromotionError(f"Input dtypes {names} have no available implicit dtype promotion path. "
                              "Try explicitly casting inputs to the desired output type.")


@functools.lru_cache(4096)
def _promote(pairs: tuple, x64: bool, strict: bool = False) -> tuple:
    nodes = [_node(*p) for p in pairs]
    node = nodes[0]
    for n in nodes[1:]:
        node = _lub(node, n, strict)
        if node is None:
            raise _no_promotion_path(nodes, strict)
    if node == "i*":
        return default_int(), True
    if node == "f*":
        return default_float(), True
    if node == "c*":
        return complex_dtype(default_float()), True
    return canonicalize(_DTYPE_OF[node]), False


def _dtype_and_weak(x: Any) -> tuple[np.dtype, bool]:
    if x is int or x is float or x is complex:  # Python scalar types are weak, as in JAX
        return python_scalar_dtype(x()), True
    if isinstance(x, (np.dtype, type, str)):  # canonicalised before promotion, as in JAX (uint64 is uint32 in x32)
        return canonicalize(x), False
    return dtype_of(x), is_weakly_typed(x)


def promote_types(a, b) -> np.dtype:
    """``jnp.promote_types``: promotion of two dtypes (the Python types int, float and complex are weak)."""
    return _promote((_dtype_and_weak(a), _dtype_and_weak(b)), config.enable_x64,
                    config.numpy_dtype_promotion == "strict")[0]


def result_type_weak(*args: Any) -> tuple[np.dtype, bool]:
    """Promote values (arrays, tracers, scalars, dtypes) to a common (dtype, weak_type)."""
    pairs = tuple([_dtype_and_weak(x) for x in args])
    if not pairs:
        return default_float(), True
    context = config_hot()[0]  # (x64, rank promotion, dtype promotion, ...) in one read
    return _promote(pairs, context[0], context[2] == "strict")


def result_type(*args: Any) -> np.dtype:
    return result_type_weak(*args)[0]


def convert_host(value: Any, dtype) -> np.ndarray:
    """``convert_element_type`` on a host value, with the primitive's semantics: float to integer truncates
    and saturates (NaN becomes 0), anything to bool tests ``!= 0``."""
    x = np.asarray(value)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.asarray(x != 0)
    if kind(dtype) in "iu" and kind(x.dtype) == "f":
        # compare in float64 before casting: float(int64 max) rounds up to 2**63, which would wrap
        info = iinfo(dtype)
        with np.errstate(invalid="ignore"):
            y = np.trunc(np.where(np.isnan(x), 0, x).astype(np.float64))
            hi, lo = y >= float(info.max), y <= float(info.min)
            safe = np.where(hi | lo, 0, y).astype(dtype)
        return np.asarray(np.where(hi, info.max, np.where(lo, info.min, safe)).astype(dtype))
    return np.asarray(x.astype(dtype))


def finfo(dtype) -> np.finfo:
    """Machine limits of a float or complex dtype, as ``jnp.finfo``: of the dtype asked for (not canonicalised);
    ``ml_dtypes.finfo`` for bfloat16 and the float8 types."""
    d = dtype.dtype if isinstance(getattr(dtype, "dtype", None), np.dtype) else dtype  # jnp.bfloat16, arrays
    return ml_dtypes.finfo(d) if np.dtype(d) in _CUSTOM_FLOAT_SET else np.finfo(d)


def iinfo(dtype) -> np.iinfo:
    """Machine limits of an integer dtype, as ``jnp.iinfo`` (not canonicalised); ``ml_dtypes.iinfo`` for the
    sub-byte integers."""
    d = dtype.dtype if isinstance(getattr(dtype, "dtype", None), np.dtype) else dtype  # jnp.int4, arrays
    return ml_dtypes.iinfo(d) if np.dtype(d) in _INTN_KIND else np.iinfo(d)


def short_name(dtype: np.dtype) -> str:
    """JAX's short dtype names used in printed IR (f32, i32, bool, ...)."""
    if dtype == bool_:
        return "bool"
    if dtype == float0:
        return "float0"
    if dtype == bfloat16:
        return "bf16"
    if dtype in _CUSTOM_FLOAT_SET:
        return dtype.name.replace("float", "f")
    if dtype in _INTN_KIND:
        return dtype.name[0] + dtype.name[-1]
    return {"f": "f", "i": "i", "u": "u", "c": "c"}[dtype.kind] + str(dtype.itemsize * 8)
