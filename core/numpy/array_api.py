"""Python array API (2023.12) pieces of ``jnp`` that are not numpy functions: the namespace version and
inspection object, and the ``to_device`` / ``__array_namespace__`` / ``__setitem__`` array methods."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes

__array_api_version__ = "2023.12"

_KINDS = {
    "bool": ("bool",),
    "signed integer": ("int8", "int16", "int32", "int64"),
    "unsigned integer": ("uint8", "uint16", "uint32", "uint64"),
    "real floating": ("float32", "float64"),
    "complex floating": ("complex64", "complex128"),
}
_KINDS["integral"] = _KINDS["signed integer"] + _KINDS["unsigned integer"]
_KINDS["numeric"] = _KINDS["integral"] + _KINDS["real floating"] + _KINDS["complex floating"]


def _supported(name: str) -> bool:
    """A dtype portax computes in under the current x64 setting (complex only once the dtype module has it)."""
    try:
        return dtypes.canonicalize(np.dtype(name)) == np.dtype(name)
    except TypeError:
        return False


class ArrayNamespaceInfo:
    """What ``__array_namespace_info__()`` returns: capabilities, devices and dtypes of ``portax.numpy``."""

    def capabilities(self) -> dict:
        return {"boolean indexing": False, "data-dependent shapes": False, "max dimensions": 64}

    def default_device(self) -> Any:
        from ..api import devices
        return devices()[0]

    def devices(self) -> list:
        from ..api import devices
        return devices()

    def default_dtypes(self, *, device: Any = None) -> dict:
        return {"real floating": dtypes.default_float(), "complex floating": _default_complex(),
                "integral": dtypes.default_int(), "indexing": dtypes.default_int()}

    def dtypes(self, *, device: Any = None, kind: str | tuple[str, ...] | None = None) -> dict:
        kinds = ("numeric", "bool") if kind is None else kind if isinstance(kind, tuple) else (kind,)
        unknown = [k for k in kinds if k not in _KINDS]
        if unknown:
            raise ValueError(f"unknown dtype kind {unknown[0]!r}; expected one of {sorted(_KINDS)}")
        return {n: np.dtype(n) for k in kinds for n in _KINDS[k] if _supported(n)}


def _default_complex() -> np.dtype | None:
    name = "complex128" if dtypes.default_float() == np.float64 else "complex64"
    return np.dtype(name) if _supported(name) else None


def __array_namespace_info__() -> ArrayNamespaceInfo:
    return ArrayNamespaceInfo()


def array_namespace(self, /, *, api_version: str | None = None):
    """``x.__array_namespace__()``: the ``portax.numpy`` module."""
    if api_version is not None and api_version not in ("2021.12", "2022.12", "2023.12"):
        raise ValueError(f"api_version={api_version!r} is not available; available versions are: "
                         f"['2021.12', '2022.12', '2023.12']")
    import portax.numpy
    return portax.numpy


def to_device(self, device: Any, /, *, stream: Any = None) -> Any:
    """``x.to_device(device)``: a copy of ``x`` on ``device`` (a Device or a backend name)."""
    if stream is not None:
        raise NotImplementedError("to_device: the stream argument is not supported")
    from ..api import device_put
    return device_put(self, device)


def setitem(self, key: Any, value: Any, /) -> None:
    raise TypeError(f"'{type(self).__name__}' object does not support item assignment. portax arrays are "
                    "immutable. Instead of ``x[idx] = y``, use ``x = x.at[idx].set(y)`` or another .at[] method.")
