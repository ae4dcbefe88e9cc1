"""``Array``: a value living in a backend buffer on one device (``jax.Array``'s counterpart)."""
from __future__ import annotations

import abc
import sys
from typing import Any

import numpy as np

from . import dtypes, narrow_floats, profiler
from .array_methods import ArrayMethods, check_bool_conversion, check_integer_conversion, check_scalar_conversion
from .backend import Device
from .config import called_from_user, guard_transfer
from .ir import ShapedArray
from .placement import default_device


class ArrayImpl(ArrayMethods, metaclass=abc.ABCMeta):
    """An immutable array on a device. Results of portax operations are Arrays. (An abstract base class too: typed
    key arrays are registered as ``jax.Array``s, as in JAX, though portax computes with their data.) Named as JAX's
    concrete array class (``jax._src.array.ArrayImpl``), whose name Python's own errors show (``unsupported operand
    type(s) for +: 'ArrayImpl' and 'dict'``); ``Array`` (``jax.Array``) is this class."""

    __slots__ = ("_buf", "aval", "_device", "_host", "__weakref__")
    __array_priority__ = 100

    def __init__(self, buf: Any, aval: ShapedArray, device: Device):
        self._buf = buf
        self.aval = aval
        self._device = device
        self._host = None

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: len(self.aval.shape))
    size = property(lambda self: self.aval.size)
    weak_type = property(lambda self: self.aval.weak_type)

    @property
    def device(self) -> Device:
        return self._device

    def devices(self) -> set:
        return {self._device}

    def delete(self) -> None:
        """Release the buffer (as donation does); any later use raises RuntimeError."""
        self._buf = None
        self._host = None

    def is_deleted(self) -> bool:
        return self._buf is None

    def _copy(self) -> "Array":
        """A copy (``jnp.array(x, copy=True)``): another Array of the same immutable buffer, so deleting (donating)
        one leaves the other."""
        self._check_if_deleted()
        return Array(self._buf, self.aval, self._device)

    def _check_if_deleted(self) -> None:
        if self._buf is None:
            shape = f"{self.dtype.name}[{','.join(map(str, self.shape))}]"
            raise RuntimeError(f"Array has been deleted with shape={shape}.")

    def _value(self) -> np.ndarray:
        if self._host is None:
            self._check_if_deleted()
            # A CPU device's memory is the host's (no transfer, as in JAX); portax's own reads are not guarded.
            if self._device.platform != "cpu" and called_from_user(sys._getframe(1), _in_this_module):
                guard_transfer("device_to_host", f"aval={self.aval.str_short()}", explicit=False)
            start = profiler.clock() if profiler.session is not None else None
            host = get_host(self._buf, self.aval.dtype, self._device.backend)
            if start is not None:
                profiler.transfer("device_to_host", host.nbytes, start, self._device)
            if host.shape != self.aval.shape:
                host = host.reshape(self.aval.shape)
            host = host.view()
            host.flags.writeable = False
            self._host = host
        return self._host

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        v = self._value()
        if dtype is not None and np.dtype(dtype) != v.dtype:
            return v.astype(dtype)
        return v.copy() if copy else v

    def block_until_ready(self) -> "Array":
        self._check_if_deleted()
        block = getattr(self._device.backend, "block_until_ready", None)
        if block is not None:
            for buf in self._buf if self.aval.dtype.kind == "c" else (self._buf,):
                block(buf)
        return self

    def unsafe_buffer_pointer(self) -> int:
        """The address of this array's buffer in its device's memory (arrays sharing a buffer share it)."""
        self._check_if_deleted()
        pointer = getattr(self._device.backend, "buffer_pointer", None)
        if pointer is None:
            raise NotImplementedError(f"unsafe_buffer_pointer: backend {self._device.platform!r} does not expose "
                                      f"buffer addresses")
        return pointer(self._buf[0] if isinstance(self._buf, tuple) else self._buf)  # complex: (real, imag) parts

    def copy_to_host_async(self) -> None:
        self._value()

    def item(self, *args):
        return self._value().item(*args)

    def tolist(self):
        return self._value().tolist()

    def __bool__(self) -> bool:
        check_bool_conversion(self)
        return bool(self._value())

    def __int__(self) -> int:
        check_scalar_conversion(self)
        return int(self._value())

    def __float__(self) -> float:
        check_scalar_conversion(self)
        return float(self._value())

    def __index__(self) -> int:
        check_integer_conversion(self)
        return int(self._value())

    def __complex__(self) -> complex:
        check_scalar_conversion(self)
        return complex(self._value())

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    __hash__ = None  # unhashable (``hash(x)`` raises, ``isinstance(x, Hashable)`` is False), as JAX's ArrayImpl

    def __format__(self, spec: str) -> str:
        return format(self._value(), spec) if self.ndim == 0 else str(self)

    def __dlpack__(self, *, stream: Any = None, max_version: tuple | None = None, dl_device: tuple | None = None,
                   copy: bool | None = None):
        host = np.ascontiguousarray(self._value())
        if not host.flags.writeable and (max_version is None or max_version[0] < 1):
            host = host.copy()  # DLPack before 1.0 cannot mark a tensor read-only
        return host.__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self):
        return np.asarray(self._value()).__dlpack_device__()

    def __repr__(self) -> str:
        v = self._value()
        body = np.array2string(v, separator=", ", prefix="Array(")
        extra = ", weak_type=True" if self.weak_type else ""
        return f"Array({body}, dtype={self.dtype.name}{extra})"

    def __str__(self) -> str:
        return str(self._value())

    def __reduce__(self):
        return (make_array, (np.array(self._value()),))

    def __getstate__(self):
        return np.array(self._value())

    @property
    def is_fully_replicated(self) -> bool:
        return True

    @property
    def sharding(self):
        """``SingleDeviceSharding(self.device)``: the whole array lives on one device."""
        from .sharding import SingleDeviceSharding
        return SingleDeviceSharding(self._device)

    @property
    def addressable_shards(self) -> list:
        from .sharded import Shard
        return [Shard(self._device, (slice(None),) * self.ndim, self)]

    global_shards = addressable_shards  # one device, in this process
    is_fully_addressable = property(lambda self: True)

    def addressable_data(self, index: int) -> "ArrayImpl":
        """The data of addressable shard ``index``: the array itself (its one shard)."""
        return self.addressable_shards[index].data

    def on_device_size_in_bytes(self) -> int:
        return self.nbytes


Array = ArrayImpl  # ``jax.Array``: portax has one concrete array class


def _in_this_module(code: Any) -> bool:
    return code.co_filename == __file__


def make_array(value: Any, weak_type: bool | None = None, device: Device | None = None, dtype=None) -> Array:
    """Place a Python/numpy value on ``device`` (``placement.default_device``) as an Array with canonical dtype."""
    host, weak_type = host_value(value, weak_type, dtype)
    if device is None:
        device = default_device()
    return Array(put_host(host, device), ShapedArray(host.shape, host.dtype, weak_type), device)


def host_value(value: Any, weak_type: bool | None = None, dtype=None) -> tuple[np.ndarray, bool]:
    """The host array (canonical dtype) and weak type ``make_array`` places on a device."""
    if weak_type is None:
        weak_type = type(value) in (int, float, complex)
    if dtype is None:
        if type(value) in (bool, int, float, complex):
            value = dtypes.python_scalar_host(value)
            dtype = value.dtype
        else:
            dtype = np.asarray(value).dtype
            if dtypes.kind(dtype) in "OUSV" and dtype != dtypes.float0:
                raise TypeError(f"Value {value!r:.100} with type {type(value).__name__} is not a valid JAX type")
            dtype = dtypes.canonicalize(dtype)  # (float0: JAX's error)
    else:
        dtype = dtypes.canonicalize(dtype)
    return np.asarray(value, dtype=dtype), weak_type


def put_host(host: np.ndarray, device: Device) -> Any:
    """The backend buffer(s) of a host array: complex values are a (real, imaginary) pair of buffers, narrow
    floats the backend does not compute in are their storage integers (``narrow_floats``)."""
    put = device.backend.put
    start = profiler.clock() if profiler.session is not None else None
    if host.dtype.kind == "c":
        buf = (put(np.array(host.real), device), put(np.array(host.imag), device))
    elif narrow_floats.is_stored(host.dtype, device.backend):
        buf = put(narrow_floats.storage_bits(host), device)
    else:
        buf = put(host, device)
    if start is not None:
        profiler.transfer("host_to_device", host.nbytes, start, device)
    return buf


def get_host(buf: Any, dtype: np.dtype, backend: Any) -> np.ndarray:
    """The host array of the backend buffer(s) of a ``dtype`` value (the inverse of ``put_host``)."""
    if dtype.kind == "c":
        return join_parts(backend.get(buf[0]), backend.get(buf[1]), dtype)
    host = np.asarray(backend.get(buf))
    return host.view(dtype) if narrow_floats.is_stored(dtype, backend) else host


def join_parts(re: Any, im: Any, dtype: np.dtype) -> np.ndarray:
    """A host complex array from its parts."""
    out = np.empty(np.shape(re), dtype)
    out.real, out.imag = np.asarray(re).reshape(out.shape), np.asarray(im).reshape(out.shape)
    return out


def to_device(x: Array, device: Device) -> Array:
    """Copy an Array to another device (through the host when backends differ)."""
    x._check_if_deleted()
    if x._device is device:
        return x
    backend = device.backend
    move = getattr(backend, "transfer", None)
    if move is not None and x._device.backend is backend:
        start = profiler.clock() if profiler.session is not None else None
        buf = tuple(move(b, device) for b in x._buf) if x.aval.dtype.kind == "c" else move(x._buf, device)
        if start is not None:
            profiler.transfer("device_to_device", x.nbytes, start, device)
        return Array(buf, x.aval, device)
    return Array(put_host(np.asarray(x._value()), device), x.aval, device)


def is_array(x: Any) -> bool:
    return isinstance(x, Array)
