"""The common base of ``Array`` and ``Tracer``; ``portax.numpy`` installs operators and methods on it."""
from __future__ import annotations


class ArrayMethods:
    """Operators (``+``, ``@``, ``[]``, ...) and methods (``.sum()``, ``.reshape()``, ...) of arrays.

    They are composition over lax, defined by the numpy library, which calls ``install`` on import.
    """

    __slots__ = ()
    nbytes = property(lambda self: self.size * self.dtype.itemsize)

    @classmethod
    def install(cls, table: dict) -> None:
        for name, fn in table.items():
            setattr(cls, name, fn)


# JAX's checks before an array (or tracer) becomes a Python scalar (``int(x)``, ``operator.index(x)``, ``bool(x)``).
def check_scalar_conversion(x: ArrayMethods) -> None:
    if x.ndim > 0:
        raise TypeError(f"Only scalar arrays can be converted to Python scalars; got arr.ndim={x.ndim}")


def check_integer_conversion(x: ArrayMethods) -> None:
    if not (x.shape == () and x.dtype.kind in "iu"):
        raise TypeError("Only integer scalar arrays can be converted to a scalar index.")


def check_bool_conversion(x: ArrayMethods) -> None:
    if x.size == 0:
        raise ValueError("The truth value of an empty array is ambiguous. Use `array.size > 0` to check that an array "
                         "is not empty.")
    if x.size > 1:
        raise ValueError("The truth value of an array with more than one element is ambiguous. Use a.any() or a.all()")
