"""Tangent-space helpers shared by the jvp and transpose interpreters: symbolic zeros and addition."""
from __future__ import annotations

from typing import Any

from . import dtypes
from .ir import ShapedArray
from .trace import get_aval


class Zero:
    """A symbolic zero tangent/cotangent of a given aval: never materialised unless needed."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    @staticmethod
    def from_value(x: Any) -> "Zero":
        return Zero(get_aval(x).at_least_vspace())

    def __repr__(self) -> str:
        return f"Zero({self.aval.str_short()})"


def zeros_like_aval(aval: ShapedArray) -> Any:
    from .primitives.structural import full
    dtype = aval.dtype if aval.dtype != dtypes.float0 else dtypes.bool_
    return full(aval.shape, 0, dtype, weak_type=aval.weak_type)


def instantiate(t: Any) -> Any:
    return zeros_like_aval(t.aval) if type(t) is Zero else t


def add_tangents(a: Any, b: Any) -> Any:
    if type(a) is Zero:
        return b
    if type(b) is Zero:
        return a
    from .explicit_sharding import summing_cotangents
    from .primitives.elementwise import add_p
    with summing_cotangents():
        return add_p.bind(a, b)
