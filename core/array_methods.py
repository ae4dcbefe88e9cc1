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
