"""The implementation of ``portax.numpy``: numpy's API as composition over lax primitives."""
from __future__ import annotations

import builtins as _builtins

import numpy as _np

from .. import dtype_api as _dtype_api, dtypes as _dtypes
from ..array_methods import ArrayMethods as _ArrayMethods
from ..primitives import elementwise as _ew
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
    return _dtypes.result_type(*[a.dtype if isinstance(a, _ScalarType) else a for a in args])


def issubdtype(arg1, arg2) -> bool:
    a1 = arg1.dtype if isinstance(arg1, _ScalarType) else arg1
    a2 = arg2.dtype if isinstance(arg2, _ScalarType) else arg2
    return _dtype_api.issubdtype(a1, a2)  # key dtypes under ``prng_key`` too


def can_cast(from_, to, casting: str = "safe") -> bool:
    f = from_.dtype if hasattr(from_, "dtype") and not isinstance(from_, type) else from_
    return _np.can_cast(_np.dtype(f), _np.dtype(to.dtype if isinstance(to, _ScalarType) else to), casting)


def isscalar(element) -> bool:
    return _np.isscalar(element) or (hasattr(element, "aval") and element.aval.ndim == 0)


def iscomplexobj(x) -> bool:
    dtype = getattr(x, "dtype", None)
    return _np.dtype(dtype).kind == "c" if dtype is not None else _np.iscomplexobj(x)


def isrealobj(x) -> bool:
    return not iscomplexobj(x)


# --- array methods and operators on Array and Tracer ------------------------------------------------------------
def _rev(f):
    return lambda self, other: f(other, self)


def _reshape_method(self, *shape, order="C"):
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    return reshape(self, shape, order)


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


_ArrayMethods.install({
    "__add__": add, "__radd__": _rev(add), "__sub__": subtract, "__rsub__": _rev(subtract),
    "__mul__": multiply, "__rmul__": _rev(multiply), "__truediv__": true_divide, "__rtruediv__": _rev(true_divide),
    "__floordiv__": floor_divide, "__rfloordiv__": _rev(floor_divide), "__mod__": remainder,
    "__rmod__": _rev(remainder), "__divmod__": divmod, "__rdivmod__": _rev(divmod), "__pow__": power,
    "__rpow__": _rev(power), "__matmul__": matmul, "__rmatmul__": _rev(matmul), "__neg__": negative,
    "__pos__": positive, "__abs__": absolute, "__invert__": invert, "__and__": bitwise_and,
    "__rand__": _rev(bitwise_and), "__or__": bitwise_or, "__ror__": _rev(bitwise_or), "__xor__": bitwise_xor,
    "__rxor__": _rev(bitwise_xor), "__lshift__": left_shift, "__rlshift__": _rev(left_shift),
    "__rshift__": right_shift, "__rrshift__": _rev(right_shift), "__eq__": equal, "__ne__": not_equal,
    "__lt__": less, "__le__": less_equal, "__gt__": greater, "__ge__": greater_equal,
    "__getitem__": _getitem, "__iter__": _iter,
    "at": property(_IndexUpdateHelper), "T": property(lambda self: transpose(self)),
    "mT": property(lambda self: swapaxes(self, -1, -2)), "real": property(real),
    "imag": property(imag),
    "sum": sum, "prod": prod, "mean": mean, "var": var, "std": std, "max": max, "min": min, "all": all, "any": any,
    "argmax": argmax, "argmin": argmin, "cumsum": cumsum, "cumprod": cumprod, "reshape": _reshape_method,
    "transpose": _transpose_method, "ravel": ravel, "flatten": ravel, "squeeze": squeeze, "swapaxes": swapaxes,
    "astype": astype, "dot": dot, "clip": clip, "round": round, "sort": sort, "argsort": argsort,
    "take": take, "conj": conjugate, "conjugate": conjugate, "diagonal": diagonal, "trace": trace,
    "nonzero": nonzero, "repeat": repeat, "copy": lambda self: _ew.asarray(self), "view": lambda self, dtype=None: (
        self if dtype is None else _ew.bitcast_convert_type(self, dtype)),
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


def isdtype(dtype, kind) -> bool:
    """Array API ``isdtype``: whether ``dtype`` belongs to ``kind`` (a dtype, a kind name, or a tuple)."""
    d = dtype.dtype if isinstance(dtype, _ScalarType) else _np.dtype(dtype)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return _builtins.any(_np.isdtype(d, k.dtype if isinstance(k, _ScalarType) else k) for k in kinds)


def iterable(y) -> bool:
    return _np.iterable(y)


def array_repr(arr, max_line_width=None, precision=None, suppress_small=None) -> str:
    return repr(arr) if hasattr(arr, "aval") else _np.array_repr(arr, max_line_width, precision, suppress_small)


def array_str(a, max_line_width=None, precision=None, suppress_small=None) -> str:
    return _np.array_str(_np.asarray(a), max_line_width, precision, suppress_small)


def sort_complex(a):
    """Sort by real part, then imaginary part; the result is complex."""
    a = asarray(a)
    return sort(a if iscomplexobj(a) else a.astype(promote_types(a.dtype, complex64)), axis=-1)


__all__ = [_n for _n, _v in list(globals().items()) if not _n.startswith("_") and _n != "annotations" and
           not isinstance(_v, type(_np))]
