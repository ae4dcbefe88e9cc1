"""The implementation of ``portax.numpy``: numpy's API as composition over lax primitives."""
from __future__ import annotations

import numpy as _np

from .. import dtype_api as _dtype_api, dtypes as _dtypes
from ..array_methods import ArrayMethods as _ArrayMethods
from ..primitives import elementwise as _ew
from ..prng_key_ops import key_result_type as _key_result_type
from . import fft, linalg  # noqa: F401  (jnp.fft and jnp.linalg)
from . import array_api as _array_api
from .array_api import __array_api_version__, __array_namespace_info__  # noqa: F401
from ._util import asarray_any as _asarray_any, broadcast_shapes, broadcast_to
from .creation import *  # noqa: F401,F403
from .creation import (arange, array, asarray, empty, empty_like, eye, full, full_like, identity, indices,  # noqa: F401
                       linspace, logspace, meshgrid, ones, ones_like, tri, zeros, zeros_like)
from .index_tricks import *  # noqa: F401,F403
from .indexing import _IndexUpdateHelper, getitem as _getitem, take, take_along_axis
from .linalg_ops import (dot, einsum, einsum_path, inner, kron, matmul, matvec, outer, tensordot, trace, vdot, vecdot,
                         vecmat)
from .padding import pad
from .misc import (allclose, argsort, argwhere, array_equal, array_equiv, astype, clip, cross, diag, diagflat, diagonal,
                   flatnonzero, isclose, nan_to_num, nonzero, packbits, searchsorted, select, sort, tril, triu,
                   unpackbits, unwrap, where)
from .polynomial import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
from .reductions import (all, any, argmax, argmin, cumprod, cumsum, max, mean, min, prod, std, sum, var)
from .setops import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .shape import (ravel, reshape, squeeze, swapaxes, transpose)
from .statistics import *  # noqa: F401,F403
from .ufuncs import *  # noqa: F401,F403
from .ufuncs import (add, bitwise_and, bitwise_or, bitwise_xor, divmod, equal, floor_divide, greater, greater_equal,
                     invert, left_shift, less, less_equal, multiply, negative, not_equal, positive, power, remainder,
                     right_shift, subtract, true_divide, absolute)
from .vectorize import vectorize


class _ScalarType:
    """``jnp.float32`` and friends: usable as a dtype, and callable to build an array."""

    def __init__(self, dtype):
        self.dtype = _np.dtype(dtype)
        self.__name__ = self.dtype.name

    def __call__(self, x=0):
        return array(x, dtype=self.dtype)

    def __repr__(self) -> str:
        return f"<class 'jax.numpy.{self.dtype.name}'>"

    def __eq__(self, other) -> bool:
        try:
            return _np.dtype(other) == self.dtype
        except (TypeError, ValueError):
            return False

    def __hash__(self) -> int:
        return hash(self.dtype)


bool_ = _ScalarType(_np.bool_)
int8, int16, int32, int64 = (_ScalarType(t) for t in (_np.int8, _np.int16, _np.int32, _np.int64))
uint8, uint16, uint32, uint64 = (_ScalarType(t) for t in (_np.uint8, _np.uint16, _np.uint32, _np.uint64))
float16, float32, float64 = (_ScalarType(t) for t in (_np.float16, _np.float32, _np.float64))
bfloat16 = _ScalarType(_dtypes.bfloat16)
(float8_e3m4, float8_e4m3, float8_e4m3b11fnuz, float8_e4m3fn, float8_e4m3fnuz, float8_e5m2, float8_e5m2fnuz,
 float8_e8m0fnu) = (_ScalarType(t) for t in _dtypes.FLOAT8)
int2, uint2, int4, uint4 = (_ScalarType(t) for t in _dtypes.INTN)
complex64, complex128 = _ScalarType(_np.complex64), _ScalarType(_np.complex128)
complex_ = complex128
float_ = float64
int_ = int64
uint = uint64
dtype = _np.dtype
inexact, floating, integer, signedinteger, unsignedinteger, number, bool = (
    _np.inexact, _np.floating, _np.integer, _np.signedinteger, _np.unsignedinteger, _np.number, _np.bool_)
generic = _np.generic
pi, e, inf, nan, euler_gamma = _np.pi, _np.e, _np.inf, _np.nan, _np.euler_gamma
newaxis = None
ndarray = _ArrayMethods
finfo, iinfo = _dtypes.finfo, _dtypes.iinfo
promote_types = _dtypes.promote_types


def result_type(*args):
    key_dtype = _key_result_type(args)
    if key_dtype is not None:
        return key_dtype
    return _dtypes.result_type(*[a.dtype if isinstance(a, _ScalarType) else a for a in args])


def issubdtype(arg1, arg2) -> bool:
    a1 = arg1.dtype if isinstance(arg1, _ScalarType) else arg1
    a2 = arg2.dtype if isinstance(arg2, _ScalarType) else arg2
    return _dtype_api.issubdtype(a1, a2)  # key dtypes under ``prng_key`` too


def can_cast(from_, to, casting: str = "safe") -> bool:
    f = from_.dtype if hasattr(from_, "dtype") and not isinstance(from_, type) else from_
    return _np.can_cast(_np.dtype(f), _np.dtype(to.dtype if isinstance(to, _ScalarType) else to), casting)


def isscalar(element) -> bool:
    """numpy's scalars and 0-d arrays (numpy's, portax's, tracers, ``__jax_array__`` objects), as JAX."""
    if _np.isscalar(element):
        return True
    if isinstance(element, _np.ndarray) or hasattr(element, "aval"):
        return element.ndim == 0
    return getattr(element, "__jax_array__", None) is not None and asarray(element).ndim == 0


def iscomplexobj(x) -> bool:
    if x is None:
        return False
    dtype = getattr(x, "dtype", None)
    return _np.dtype(dtype if dtype is not None else asarray(x).dtype).kind == "c"  # lists of tracers too, as JAX


def isrealobj(x) -> bool:
    return not iscomplexobj(x)


# --- array methods and operators on Array and Tracer ------------------------------------------------------------
_BINOP_TYPES = (int, float, complex, _np.generic, _np.ndarray, _ArrayMethods)


def _binop(f, symbol: str, reverse: bool = False, reject: tuple = ()):
    """An array operator as JAX's: ``f`` on arrays and scalars (or objects with ``__jax_array__``); a TypeError for
    the ``reject`` types (sequences, where ``+`` could mean concatenation); NotImplemented for other types, so that
    Python tries their reflected operator."""
    def op(self, other):
        m = getattr(other, "__jax_array__", None)
        if m is not None:
            other = m()
        if isinstance(other, _BINOP_TYPES):
            return f(other, self) if reverse else f(self, other)
        if type(other) in reject:
            names = (type(other).__name__, type(self).__name__) if reverse else \
                (type(self).__name__, type(other).__name__)
            raise TypeError(f"unsupported operand type(s) for {symbol}: {names[0]!r} and {names[1]!r}")
        return NotImplemented
    return op


def _binops(f, symbol: str, name: str, reject: tuple = ()) -> dict:
    return {f"__{name}__": _binop(f, symbol, reject=reject), f"__r{name}__": _binop(f, symbol, True, reject)}


def _reshape_method(self, *shape, order="C", out_sharding=None):
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    return reshape(self, shape, order, out_sharding=out_sharding)


def _transpose_method(self, *axes):
    if len(axes) == 1 and not isinstance(axes[0], int):
        axes = axes[0]
    return transpose(self, axes or None)


def _iter(self):
    if not self.shape:
        raise TypeError("iteration over a 0-d array")
    return (self[i] for i in range(self.shape[0]))


def _byteswap(self):
    """``Array.byteswap``: each element's bytes reversed (complex values part by part), as JAX."""
    if _dtypes.is_complex(self.dtype):
        return _ew.complex(_byteswap(real(self)), _byteswap(imag(self)))
    if self.dtype.itemsize == 1:
        return _ew.asarray(self)
    return _ew.bitcast_convert_type(flip(_ew.bitcast_convert_type(self, _dtypes.uint8), -1), self.dtype)


def _view(self, dtype=None, type=None):
    """``Array.view``: the bits of the array as ``dtype``; a different item size changes the last axis (booleans
    count as 8 bits; complex values as their real and imaginary parts), as JAX."""
    if type is not None:
        raise NotImplementedError("`type` argument of array.view() is not supported.")
    if dtype is None:
        return self
    dtype = _dtypes.canonicalize(dtype.dtype if isinstance(dtype, _ScalarType) else dtype)
    bits_in, bits_out = (_dtypes.iinfo(d).bits if d in _dtypes.INTN else d.itemsize * 8 for d in (self.dtype, dtype))
    if self.ndim == 0:
        if bits_in != bits_out:
            raise ValueError("view() of a 0d array is only supported if the itemsize is unchanged.")
        return _view(expand_dims(self, 0), dtype).squeeze()
    if (self.shape[-1] * bits_in) % bits_out != 0:
        raise ValueError("When changing to a larger dtype, its size must be a divisor of the total size in bytes of "
                         "the last axis of the array.")
    if self.dtype == dtype:
        return self
    if self.dtype == bool_:
        return _view(self.astype(uint8), dtype)
    if _dtypes.is_complex(self.dtype):
        parts = zeros((*self.shape[:-1], self.shape[-1] * 2), _dtypes.real_dtype(self.dtype))
        return _view(parts.at[..., 0::2].set(real(self)).at[..., 1::2].set(imag(self)), dtype)
    if dtype == bool_:
        return _view(self, uint8).astype(bool_)
    if _dtypes.is_complex(dtype):
        out = _view(self, _dtypes.real_dtype(dtype)).astype(dtype)
        return out[..., 0::2] + 1j * out[..., 1::2]
    if bits_in < bits_out:
        factor = bits_out // bits_in
        return _ew.bitcast_convert_type(reshape(self, (*self.shape[:-1], self.shape[-1] // factor, factor)), dtype)
    out = _ew.bitcast_convert_type(self, dtype)
    return reshape(out, (*out.shape[:-2], out.shape[-2] * out.shape[-1])) if bits_in > bits_out else out


def _contains(self, other):
    """``item in array`` as JAX: a 1-d array and a scalar query only."""
    if other is None or isinstance(other, str):
        raise TypeError(f"Array.__contains__: unsupported operand type {type(other)}.")
    query = asarray(other)
    if self.ndim != 1:
        raise ValueError(f"Array.__contains__: search array must be one-dimensional, got arr.shape={self.shape}.")
    if query.ndim != 0:
        raise ValueError(f"Array.__contains__: query value must be a scalar, got query.shape={query.shape}")
    return any(self == query)


_ArrayMethods.install({
    **_binops(add, "+", "add", (tuple, list)), **_binops(subtract, "-", "sub"),
    **_binops(multiply, "*", "mul", (tuple, list)), **_binops(true_divide, "/", "truediv"),
    **_binops(floor_divide, "//", "floordiv"), **_binops(remainder, "%", "mod"), **_binops(divmod, "divmod", "divmod"),
    **_binops(power, "**", "pow"), **_binops(matmul, "@", "matmul"), **_binops(bitwise_and, "&", "and"),
    **_binops(bitwise_or, "|", "or"), **_binops(bitwise_xor, "^", "xor"), **_binops(left_shift, "<<", "lshift"),
    **_binops(right_shift, ">>", "rshift"),
    "__eq__": _binop(equal, "==", reject=(dict, list, set, tuple)),
    "__ne__": _binop(not_equal, "==", reject=(dict, list, set, tuple)),
    "__lt__": _binop(less, "<"), "__le__": _binop(less_equal, "<="), "__gt__": _binop(greater, ">"),
    "__ge__": _binop(greater_equal, ">="),
    "__neg__": negative, "__pos__": positive, "__abs__": absolute, "__invert__": invert,
    "__getitem__": _getitem, "__iter__": _iter,
    "at": property(_IndexUpdateHelper), "T": property(lambda self: transpose(self)),
    "mT": property(lambda self: swapaxes(self, -1, -2)), "real": property(real),
    "imag": property(imag),
    "sum": sum, "prod": prod, "mean": mean, "var": var, "std": std, "max": max, "min": min, "all": all, "any": any,
    "argmax": argmax, "argmin": argmin, "cumsum": cumsum, "cumprod": cumprod, "reshape": _reshape_method,
    "transpose": _transpose_method, "ravel": ravel, "flatten": ravel, "squeeze": squeeze, "swapaxes": swapaxes,
    "astype": astype, "dot": dot, "clip": clip, "round": round, "sort": sort, "argsort": argsort,
    "take": take, "conj": conjugate, "conjugate": conjugate, "diagonal": diagonal, "trace": trace,
    "nonzero": nonzero, "repeat": repeat, "copy": lambda self: copy(self), "view": _view, "__contains__": _contains,
    "__copy__": lambda self: copy(self), "__deepcopy__": lambda self, memo: copy(self),
    "argpartition": argpartition,
    "choose": lambda self, choices, out=None, mode="raise": choose(self, choices, out, mode),
    "compress": lambda self, condition, axis=None, **kw: compress(condition, self, axis, **kw),
    "searchsorted": searchsorted, "ptp": ptp, "byteswap": _byteswap, "itemsize": property(lambda self: self.dtype.itemsize),
    "__round__": lambda self, ndigits=None: round(self, ndigits or 0),
    "__array_namespace__": _array_api.array_namespace, "to_device": _array_api.to_device,
    "__setitem__": _array_api.setitem,
})

# The namespace's ufunc objects (``jnp.add.reduce``, ``jnp.multiply.outer``, ...); array operators keep the functions.
from .ufunc_objects import (add, bitwise_and, bitwise_or, bitwise_xor, frompyfunc, logaddexp, logaddexp2,  # noqa: E402
                            logical_and, logical_or, logical_xor, maximum, minimum, multiply, negative, subtract, ufunc)


# --- more dtype names and numpy helpers -------------------------------------------------------------------------
double, single = float64, float32
csingle, cdouble = complex64, complex128
object_, character, flexible, complexfloating = _np.object_, _np.character, _np.flexible, _np.complexfloating
ComplexWarning = _np.exceptions.ComplexWarning
get_printoptions, set_printoptions, printoptions = _np.get_printoptions, _np.set_printoptions, _np.printoptions


_DTYPE_KINDS = {"bool": "b", "signed integer": "i", "unsigned integer": "u", "integral": "iu",
                "real floating": "f", "complex floating": "c", "numeric": "iufc"}


def isdtype(dtype, kind) -> bool:
    """Array API ``isdtype``: whether ``dtype`` belongs to ``kind`` (a dtype, a kind name, or a tuple); the
    ``ml_dtypes`` floats are real floating and the sub-byte integers integral, as JAX."""
    d = _np.dtype(dtype.dtype if isinstance(dtype, _ScalarType) else dtype)
    for k in kind if isinstance(kind, tuple) else (kind,):
        if isinstance(k, str) and k in _DTYPE_KINDS:
            if _dtypes.kind(d) in _DTYPE_KINDS[k]:
                return True
            continue
        try:
            if d == _np.dtype(k.dtype if isinstance(k, _ScalarType) else k):
                return True
        except TypeError as e:
            if isinstance(k, str):
                raise ValueError(f"Unrecognized kind={k!r} expected one of {list(_DTYPE_KINDS)}, or a compatible "
                                 f"input for jnp.dtype()") from None
            raise TypeError(f"Expected kind to be a dtype, string, or tuple; got kind={k!r}") from e
    return False


def iterable(y) -> bool:
    return _np.iterable(y)


def array_repr(arr, max_line_width=None, precision=None, suppress_small=None) -> str:
    return repr(arr) if hasattr(arr, "aval") else _np.array_repr(arr, max_line_width, precision, suppress_small)


def array_str(a, max_line_width=None, precision=None, suppress_small=None) -> str:
    return _np.array_str(_np.asarray(a), max_line_width, precision, suppress_small)


def sort_complex(a):
    """Sort along the last axis (complex numbers by real part, then imaginary part), then convert to complex:
    complex128 for 64-bit inputs, else complex64, as JAX."""
    a = sort(asarray(a), axis=-1)
    wide = a.dtype in (_np.dtype(_np.int64), _np.dtype(_np.uint64), _np.dtype(_np.float64), _np.dtype(_np.complex128))
    return a.astype(complex128 if wide else complex64)


__all__ = [_n for _n, _v in list(globals().items()) if not _n.startswith("_") and _n != "annotations" and
           not isinstance(_v, type(_np))]
